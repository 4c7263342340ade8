// What a forward pass lets an observer see: the input of every activation function, of every
// batch norm and of the global average pooling. Training-free scores (runtime/score) read the
// network through it, as their reference codes read PyTorch models through forward hooks, which
// LibTorch's C++ modules do not have. Outside a scoring pass nothing observes, and the cost is
// one thread-local read per call.
#pragma once

#include <ATen/core/Tensor.h>

namespace cella::runtime {

class ForwardObserver {
 public:
  virtual ~ForwardObserver() = default;
  /// The input of an activation function (ReLU, ReLU6, h-swish, swish): NASWOT's binary codes.
  /// An input shared by several operations that each begin with a ReLU is reported once per
  /// operation, as each has its own ReLU in the reference networks.
  virtual void activation(const torch::Tensor& input) {}
  /// The input of a batch norm: Zen-NAS corrects its score by their batch variances.
  virtual void batch_norm(const torch::Tensor& input) {}
  /// The input of a global average pooling (squeeze-and-excitation's included): the last one of
  /// a pass is the feature map the head pools, Zen-NAS's "pre-GAP" output.
  virtual void pooling(const torch::Tensor& input) {}
};

/// This thread's observer; null when nothing observes.
ForwardObserver* forward_observer();

/// Makes `observer` this thread's for the scope's life.
class ObservingScope {
 public:
  explicit ObservingScope(ForwardObserver& observer);
  ~ObservingScope();
  ObservingScope(const ObservingScope&) = delete;
  ObservingScope& operator=(const ObservingScope&) = delete;

 private:
  ForwardObserver* saved_;
};

/// The activation functions as the networks apply them: reported to the observer, then applied.
torch::Tensor observed_relu(const torch::Tensor& x);
torch::Tensor observed_relu6(const torch::Tensor& x);
torch::Tensor observed_hswish(const torch::Tensor& x);
torch::Tensor observed_swish(const torch::Tensor& x);

/// Reports `x` as an activation's input (for an activation computed once and shared).
inline void observe_activation(const torch::Tensor& x) {
  if (ForwardObserver* o = forward_observer()) o->activation(x);
}

}  // namespace cella::runtime
