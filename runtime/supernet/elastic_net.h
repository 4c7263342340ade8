// An elastic supernet: OFA's MobileNetV3 network (../shared/reference/algorithms-wave2.md §1.2)
// over ElasticMBConv blocks (ops/elastic.h), whose children are an architecture's sub-shapes of
// one set of weights: per block a kernel size and an expansion ratio, per stage a depth (its first
// blocks), and an input resolution. What the language will lower an elastic space to; the sandwich
// and progressive-shrinking methods train it.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "runtime/ops/elastic.h"

namespace cella::runtime {

struct ElasticStageSpec {
  std::int64_t width = 24, stride = 1;
  std::vector<std::int64_t> depths{2, 3, 4};  ///< increasing; a child runs the first d blocks
  bool se = false;
  Activation act = Activation::Relu;
};

/// The shape of an elastic network: OFA's stem (3×3 conv, stride 2, BN, h-swish), a fixed first
/// block (expansion 1, 3×3, ReLU), the elastic stages, and OFA's head (1×1 conv to `head_width`,
/// BN, h-swish; global pooling; 1×1 conv to `feature_width` without BN, h-swish; dropout; linear).
struct ElasticNetSpec {
  std::int64_t in_channels = 3, classes = 1000;
  std::int64_t stem_width = 16, first_width = 16;
  std::vector<ElasticStageSpec> stages;
  std::vector<std::int64_t> kernels{3, 5, 7}, expands{3, 4, 6};
  std::vector<std::int64_t> resolutions;  ///< increasing; empty: the input's own size only
  std::int64_t head_width = 960, feature_width = 1280;
  double dropout = 0.1;
  KernelTransform transform = KernelTransform::Ofa;
  /// Block slots per stage in an architecture (0: the largest depth of any stage). A network
  /// extracted for one architecture keeps its space's, so that the same ElasticArch runs both.
  std::int64_t slots = 0;
  /// OFA's MobileNetV3 space (stages 24/40/80/112/160, kernels {3, 5, 7}, expansions {3, 4, 6},
  /// depths {2, 3, 4}, resolutions 128 to 224 step 4) for `classes` classes of 3-channel images.
  static ElasticNetSpec ofa_mbv3(std::int64_t classes = 1000);
  /// Block slots per stage.
  std::int64_t slot_count() const;
};

/// An architecture of an elastic space: a kernel size and an expansion per block slot (every
/// stage has slot_count() slots; those beyond a stage's depth are not run but keep values, as in
/// DyNAS-T's encoding), a depth per stage and a resolution (0: the input's own).
struct ElasticArch {
  std::vector<std::int64_t> kernels, expands, depths;
  std::int64_t resolution = 0;

  /// The largest and smallest children (BigNAS's sandwich), and a uniformly drawn one.
  static ElasticArch largest(const ElasticNetSpec& spec);
  static ElasticArch smallest(const ElasticNetSpec& spec);
  static ElasticArch uniform(const ElasticNetSpec& spec, std::mt19937_64& rng);
  /// Drawn uniformly within narrower lists (a progressive-shrinking phase's): a kernel and an
  /// expansion per slot, a depth per stage from `depths[stage]`, and one of the space's resolutions.
  static ElasticArch uniform_within(const ElasticNetSpec& spec, const std::vector<std::int64_t>& kernels,
                                    const std::vector<std::int64_t>& expands,
                                    const std::vector<std::vector<std::int64_t>>& depths, std::mt19937_64& rng);
  /// DyNAS-T's flat encoding: the kernels, then the expansions, then the depths (for OFA's space
  /// 20 + 20 + 5 = 45 integers); the resolution is not part of it.
  std::vector<std::int64_t> flat() const;
  /// `k3e4,k5e6|...` per stage, the first `depth` blocks, then `@resolution`.
  std::string to_text() const;
  bool operator==(const ElasticArch&) const = default;
};

class ElasticNetImpl : public torch::nn::Cloneable<ElasticNetImpl> {
 public:
  explicit ElasticNetImpl(ElasticNetSpec spec);
  void reset() override;
  /// The child `arch` on `x` (resized to arch.resolution when that differs from its size).
  torch::Tensor forward(const torch::Tensor& x, const ElasticArch& arch);
  /// The block of stage `s`, slot `b`.
  ElasticMBConv block(std::size_t s, std::size_t b) const;
  /// OFA's re_organize_middle_weights on every elastic block (ElasticMBConvImpl::sort_channels).
  void sort_channels(int nested);
  /// A network of the child `arch` alone: stages of arch.depths blocks, each cut to its kernel and
  /// expansion (ElasticMBConvImpl::extract), the stem and head copied, one resolution. It computes
  /// what this network computes for `arch` in evaluation mode.
  std::shared_ptr<ElasticNetImpl> extract(const ElasticArch& arch) const;
  /// Checks that `arch` is one of this space's; throws std::invalid_argument saying what is not.
  void check(const ElasticArch& arch) const;

  const ElasticNetSpec& spec() const { return spec_; }
  /// The dropout before the classifier (BigNAS regularises the largest child only).
  void set_dropout(double p) { spec_.dropout = p; }

 private:
  ElasticNetSpec spec_;
  torch::Tensor stem_weight_;
  BatchNorm stem_bn_{nullptr};
  ElasticMBConv first_{nullptr};
  std::vector<std::vector<ElasticMBConv>> blocks_;
  torch::Tensor head_weight_;
  BatchNorm head_bn_{nullptr};
  torch::Tensor feature_weight_;
  torch::nn::Linear classifier_{nullptr};
};
TORCH_MODULE(ElasticNet);

}  // namespace cella::runtime
