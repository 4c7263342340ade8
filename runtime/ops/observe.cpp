// The thread's forward observer (observe.h).
#include "runtime/ops/observe.h"

#include <ATen/Functions.h>

namespace cella::runtime {

namespace {
thread_local ForwardObserver* current = nullptr;
}  // namespace

ForwardObserver* forward_observer() { return current; }

ObservingScope::ObservingScope(ForwardObserver& observer) : saved_(current) { current = &observer; }
ObservingScope::~ObservingScope() { current = saved_; }

torch::Tensor observed_relu(const torch::Tensor& x) {
  observe_activation(x);
  return at::relu(x);
}

torch::Tensor observed_relu6(const torch::Tensor& x) {
  observe_activation(x);
  return at::relu6(x);
}

torch::Tensor observed_hswish(const torch::Tensor& x) {
  observe_activation(x);
  return at::hardswish(x);
}

torch::Tensor observed_swish(const torch::Tensor& x) {
  observe_activation(x);
  return at::silu(x);
}

}  // namespace cella::runtime
