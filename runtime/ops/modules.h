// LibTorch modules for the primitives that LibTorch lacks: zero, a faster 1x1 convolution,
// factorized reduce, global average pooling, NAS-Bench-201's residual block and MobileNet's
// inverted residual. Each is Cloneable, so sub-supernets can be copied with clone().
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

namespace cella::runtime {

/// Zeros of the output's shape (the `none` candidate); strided like the edge it sits on.
class ZeroImpl : public torch::nn::Cloneable<ZeroImpl> {
 public:
  explicit ZeroImpl(std::int64_t stride = 1) : stride_(stride) {}
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& x);
  std::int64_t stride_;
};
TORCH_MODULE(Zero);

/// A 1x1 convolution (any stride, no padding, one group): the parameters, initialisation and
/// results of torch::nn::Conv2d, computed by LibTorch's GEMM kernel (thnn_conv2d) instead of
/// oneDNN, which is 1.2-7x slower for 1x1 convolutions with few channels or large maps
/// (bench/README.md); small maps with many channels stay on oneDNN.
class PointwiseConvImpl : public torch::nn::Cloneable<PointwiseConvImpl> {
 public:
  PointwiseConvImpl(std::int64_t in, std::int64_t out, std::int64_t stride = 1, bool bias = false)
      : in_(in), out_(out), stride_(stride), bias_(bias) {
    reset();
  }
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  std::int64_t in_, out_, stride_;
  bool bias_;
  torch::Tensor weight, bias;
};
TORCH_MODULE(PointwiseConv);

/// Batch norm over channels (torch::nn::BatchNorm2d, whose parameters, buffers and results it
/// has), which in a data-parallel step (runtime/distributed: a `Sharded` scope open) takes its
/// statistics over the whole global batch rather than this rank's share, so that several ranks
/// compute what one process computes on the whole batch (PyTorch's SyncBatchNorm). Its own class
/// rather than a subclass of BatchNorm2dImpl: LibTorch does not export what a subclass's virtual
/// table needs.
class BatchNormImpl : public torch::nn::Cloneable<BatchNormImpl> {
 public:
  explicit BatchNormImpl(const torch::nn::BatchNorm2dOptions& options) : options(options) { reset(); }
  /// The parameters and buffers of BatchNorm2d, registered in its order under its names (so that
  /// checkpoints and exported names are the same).
  void reset() override;
  void reset_running_stats();
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::BatchNorm2dOptions options;
  torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;
};
TORCH_MODULE(BatchNorm);

/// ReLU, a k x k convolution (PointwiseConv when 1x1), batch norm: NAS-Bench-201's and DARTS'
/// ReLUConvBN.
torch::nn::Sequential relu_conv_bn(std::int64_t in, std::int64_t out, std::int64_t k, std::int64_t stride,
                                   std::int64_t pad, bool affine);

/// DARTS' FactorizedReduce: ReLU, two offset 1x1 convolutions of stride 2, concatenated, BN.
class FactorizedReduceImpl : public torch::nn::Cloneable<FactorizedReduceImpl> {
 public:
  FactorizedReduceImpl(std::int64_t in, std::int64_t out, bool affine) : in_(in), out_(out), affine_(affine) {
    reset();
  }
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  std::int64_t in_, out_;
  bool affine_;
  PointwiseConv conv1_{nullptr}, conv2_{nullptr};
  BatchNorm bn_{nullptr};
};
TORCH_MODULE(FactorizedReduce);

/// A 1xk convolution striding along the width, then a kx1 one striding along the height
/// (DARTS' conv_7x1_1x7 without its ReLU and BN); children "0" and "1" as an nn.Sequential's.
class ConvPairImpl : public torch::nn::Cloneable<ConvPairImpl> {
 public:
  ConvPairImpl(std::int64_t in, std::int64_t out, std::int64_t k, std::int64_t stride)
      : in_(in), out_(out), k_(k), stride_(stride) {
    reset();
  }
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x) { return column_(row_(x)); }
  std::int64_t in_, out_, k_, stride_;
  torch::nn::Conv2d row_{nullptr}, column_{nullptr};
};
TORCH_MODULE(ConvPair);

class GlobalAvgPoolImpl : public torch::nn::Cloneable<GlobalAvgPoolImpl> {
 public:
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& x);
};
TORCH_MODULE(GlobalAvgPool);

/// NAS-Bench-201's ResNetBasicblock: two ReLU-conv3x3-BN and a shortcut (avg-pool + 1x1 conv
/// when strided, ReLU-conv1x1-BN when only the width changes). Its BNs are always affine.
class ResBlockImpl : public torch::nn::Cloneable<ResBlockImpl> {
 public:
  ResBlockImpl(std::int64_t in, std::int64_t out, std::int64_t stride) : in_(in), out_(out), stride_(stride) {
    reset();
  }
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  std::int64_t in_, out_, stride_;
  torch::nn::Sequential conv_a_{nullptr}, conv_b_{nullptr}, shortcut_{nullptr};
};
TORCH_MODULE(ResBlock);

/// MobileNetV2 inverted residual: 1x1 expand (if e > 1), kxk depthwise, optional
/// squeeze-and-excitation, 1x1 project; a residual connection when shape is kept.
class MBConvImpl : public torch::nn::Cloneable<MBConvImpl> {
 public:
  MBConvImpl(std::int64_t in, std::int64_t out, std::int64_t k, std::int64_t e, std::int64_t stride, bool se,
             bool affine)
      : in_(in), out_(out), k_(k), e_(e), stride_(stride), se_(se), affine_(affine) {
    reset();
  }
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  std::int64_t in_, out_, k_, e_, stride_;
  bool se_, affine_;
  torch::nn::Sequential body_{nullptr}, squeeze_{nullptr};
  PointwiseConv project_{nullptr};
  BatchNorm project_bn_{nullptr};
};
TORCH_MODULE(MBConv);

}  // namespace cella::runtime
