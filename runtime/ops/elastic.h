// Elastic operations: the weight-entangled layers of Once-for-All and BigNAS supernets, whose
// children are sub-shapes of one set of weights rather than choices among separate modules
// (../shared/reference/algorithms-wave2.md §1.1–1.4, 1.8). A narrow layer is the first channels
// of the wide one, a small depthwise kernel the centre of the largest (through OFA's kernel
// transformation matrices, or cropped as BigNAS does), and batch norm and squeeze-and-excitation
// are sliced alike. ElasticMBConv is OFA's MobileNetV3 block built from them: it runs at any of
// its kernel sizes and expansion ratios, sorts its middle channels by importance between
// progressive-shrinking phases, and cuts itself down to a stand-alone block of one shape.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <vector>

#include "compiler/ir/ir.h"
#include "compiler/ir/primitives.h"
#include "runtime/ops/modules.h"

namespace cella::runtime {

/// OFA's make_divisible, shared with the compiler's cost of `mbv3` (compiler/ir/primitives.h).
using ir::make_divisible;

/// How a smaller depthwise kernel comes from the largest: its centre (BigNAS, AttentiveNAS;
/// OFA's KERNEL_TRANSFORM_MODE None), or OFA's kernel transformation (the centre, then a learnt
/// linear map per step down the kernel list, 7→5 then 5→3, each shared by the layer's channels
/// and initialised to the identity).
enum class KernelTransform { Crop, Ofa };

/// The k×k centre of a [C, 1, K, K] depthwise weight (K, k odd).
torch::Tensor centre_crop(const torch::Tensor& weight, std::int64_t k);

/// The activation of an MBConv block's expand and depthwise layers (Swish: BigNAS's).
enum class Activation { Relu, Hswish, Swish };

struct ElasticMBConvOptions {
  std::int64_t in = 16, out = 16, stride = 1;
  std::vector<std::int64_t> kernels{3, 5, 7};  ///< odd, increasing
  std::vector<std::int64_t> expands{3, 4, 6};  ///< increasing; {1} is a block without expansion
  /// A 1×1 expand layer before the depthwise one (OFA has none where the largest expansion is 1;
  /// a block that has one keeps it at expansion 1).
  bool expand_layer = true;
  bool se = false;  ///< squeeze-and-excitation after the depthwise layer
  Activation act = Activation::Relu;
  KernelTransform transform = KernelTransform::Ofa;
  /// Batch norms with γ and β (an elastic supernet's); a plain `mbv3` candidate in a supernet of
  /// separate candidates has them without, as every other candidate there (lower::Module::affine).
  bool affine = true;
};

/// The block an `mbv3` call describes on `in` channels (compiler/ir/primitives.cpp): one shape,
/// the call's kernel and expansion, unless `elastic` gives the lists of an elastic layer
/// (ir::Unit::elastic; the call is then its largest sub-shape).
ElasticMBConvOptions mbv3_options(const ir::PrimCall& call, std::int64_t in, bool affine,
                                  const std::vector<ir::ElasticDim>& elastic = {});

/// OFA's DynamicMBConvLayer: 1×1 expand (in → mid) BN act, k×k depthwise (stride) BN act,
/// squeeze-and-excitation (reduce to make_divisible(mid / 4), ReLU, expand, hard sigmoid),
/// 1×1 project (mid → out) BN, and the identity shortcut where the stride is 1 and in == out.
/// `mid(e)` = make_divisible(round(in · e)); a child at (k, e) uses the first mid(e) middle
/// channels of every layer and the k×k active filter of the depthwise one. Parameters are the
/// largest child's, plus one transformation matrix per step down the kernel list under
/// KernelTransform::Ofa (`kernel_7to5`: 25×25, `kernel_5to3`: 9×9).
class ElasticMBConvImpl : public torch::nn::Cloneable<ElasticMBConvImpl> {
 public:
  explicit ElasticMBConvImpl(ElasticMBConvOptions options);
  void reset() override;

  /// The block as the child (k, e) computes it; k and e from the options' lists. An input with
  /// fewer channels than the block's `in` uses the first input channels of the expand layer (and
  /// the middle width make_divisible(round(x.size(1) · e)), as AttentiveNAS's elastic-width
  /// block); `out` > 0 makes only the first `out` output channels (BigNAS's elastic widths).
  torch::Tensor child(const torch::Tensor& x, std::int64_t k, std::int64_t e, std::int64_t out = 0);
  /// At the largest kernel and expansion (the one forward, so that a plain `mbv3` is an AnyModule).
  torch::Tensor forward(const torch::Tensor& x);

  /// Middle channels at expansion e (on `in` input channels; 0: the block's).
  std::int64_t mid(std::int64_t e, std::int64_t in = 0) const;
  /// Hidden units of the squeeze-and-excitation over `channels` middle channels.
  std::int64_t se_mid(std::int64_t channels) const;
  bool residual() const { return options.stride == 1 && options.in == options.out; }
  /// The depthwise filter of the first `channels` middle channels at kernel k: [channels, 1, k, k].
  torch::Tensor active_filter(std::int64_t channels, std::int64_t k) const;
  /// The transformation matrix from kernel `from` to the next smaller one of the list.
  torch::Tensor& transform_matrix(std::int64_t from);

  /// OFA's re_organize_middle_weights: sorts the middle channels by the L1 norm of the project
  /// layer's input weights (the consumer's, not the channel's own filter), permuting every layer
  /// that holds them (expand output and BN, depthwise filter and BN, SE reduce input and expand
  /// output) alike, and the SE hidden units by the L1 norm of the SE expand weights. Under
  /// `nested` ≥ 1 the widths of the `nested` + 1 largest expansions already trained stay nested:
  /// channels beyond a smaller width are sorted behind it (OFA's expand_ratio_stage). The full
  /// block computes the same function before and after.
  void sort_channels(int nested);

  /// A stand-alone block of the child (k, e): a block whose lists hold only k and e, with the
  /// active weights sliced out (the kernel transformation applied) and the batch norms' first
  /// channels' parameters and running statistics. It computes what this block computes for
  /// (k, e) in evaluation mode; `in` and `out` (0: the block's) narrow it as child() does.
  std::shared_ptr<ElasticMBConvImpl> extract(std::int64_t k, std::int64_t e, std::int64_t in = 0,
                                             std::int64_t out = 0) const;

  ElasticMBConvOptions options;
  torch::Tensor expand_weight;     ///< [mid_max, in, 1, 1]; undefined without expansion
  BatchNorm expand_bn{nullptr};    ///< mid_max channels
  torch::Tensor depthwise_weight;  ///< [mid_max, 1, K, K]
  BatchNorm depthwise_bn{nullptr};
  torch::Tensor se_reduce_weight, se_reduce_bias;  ///< [se_max, mid_max], [se_max]
  torch::Tensor se_expand_weight, se_expand_bias;  ///< [mid_max, se_max], [mid_max]
  torch::Tensor project_weight;                    ///< [out, mid_max, 1, 1]
  BatchNorm project_bn{nullptr};
  /// Per step down the kernel list (largest first), its transformation matrix (Ofa only).
  std::vector<torch::Tensor> transforms;
  /// In training, the probability of dropping a residual block's branch per image, the kept ones
  /// scaled by 1 / (1 - p) (BigNAS's drop-connect, which the sandwich sets for its largest child
  /// only); 0: off. Not a parameter and not saved: a pass's setting.
  double drop_connect = 0;
};
TORCH_MODULE(ElasticMBConv);

/// Runs `seq`, the modules build_module made of `op`, on an input that may have fewer channels
/// than it was built for, and at `width` instead of `largest` output channels (0: as built): the
/// layers of a width-elastic supernet (ir::Stage::widths). Convolutions and linear layers use the
/// first input channels of their weights and, where the call's `out` is `largest`, the first
/// `width` output channels (ir::at_width); batch norms and `mbv3` blocks slice themselves;
/// everything else runs as it is.
torch::Tensor run_narrowed(torch::nn::Sequential& seq, const ir::Op& op, torch::Tensor x, std::int64_t largest,
                           std::int64_t width);

}  // namespace cella::runtime
