// A plugin that adds the operation `gelu_conv(k, out, stride)`: a convolution followed by GELU.
// Build it as a shared library linked against LibTorch only (not against cella's runtime: the
// registry it fills lives in cella-runtime), then pass it to cella with --plugin.
#include <torch/nn/cloneable.h>
#include <torch/nn/functional/activation.h>
#include <torch/nn/modules/conv.h>

#include "runtime/ops/registry.h"

namespace {

// A module in LibTorch's style: options in the constructor, submodules registered in reset(),
// Cloneable so that sub-supernets can copy it.
class GeluConvImpl : public torch::nn::Cloneable<GeluConvImpl> {
 public:
  GeluConvImpl(std::int64_t in, std::int64_t out, std::int64_t k, std::int64_t stride) : in_(in), out_(out), k_(k), stride_(stride) {
    reset();
  }
  void reset() override {
    conv_ = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_, out_, k_).stride(stride_).padding(k_ / 2).bias(false)));
  }
  torch::Tensor forward(const torch::Tensor& x) { return torch::gelu(conv_(x)); }

 private:
  std::int64_t in_, out_, k_, stride_;
  torch::nn::Conv2d conv_{nullptr};
};
TORCH_MODULE(GeluConv);

}  // namespace

// The signatures, read by `cella check` as well as by the runtime. `out` defaults to the input's
// channels; `stride` lets cella bind it on reduction edges.
extern "C" const char* cella_plugin_signatures() {
  return R"json([{"name": "gelu_conv", "summary": "k x k convolution followed by GELU (example plugin)",
              "params": [{"name": "k", "type": "int"},
                         {"name": "out", "type": "int", "from_input": true},
                         {"name": "stride", "type": "int", "default": 1}]}])json";
}

// The module factories, called by the runtime with the arguments and the input's channels.
extern "C" void cella_register_ops(cella::runtime::Registry& registry) {
  registry.add_factory("gelu_conv", [](const cella::ir::PrimCall& call, const cella::runtime::BuildContext& ctx) {
    std::int64_t k = call.int_arg("k", 3), out = call.int_arg("out", ctx.in_channels), stride = call.int_arg("stride", 1);
    return torch::nn::AnyModule(GeluConv(ctx.in_channels, out, k, stride));
  });
}
