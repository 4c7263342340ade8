// A plugin that adds the operation `gelu_conv(k, out, stride)`: a convolution followed by GELU.
// Build it as a shared library linked against LibTorch only (not against cella's runtime: the
// registry it fills lives in cella-runtime), then pass it to cella with --plugin.
#include <torch/nn/cloneable.h>
#include <torch/nn/functional/activation.h>
#include <torch/nn/modules/conv.h>

#include "runtime/ops/registry.h"
#include "runtime/split/split.h"

namespace {

// A module in LibTorch's style: options in the constructor, submodules registered in reset(),
// Cloneable so that sub-supernets can copy it.
class GeluConvImpl : public torch::nn::Cloneable<GeluConvImpl> {
 public:
  GeluConvImpl(std::int64_t in, std::int64_t out, std::int64_t k, std::int64_t stride)
      : in_(in), out_(out), k_(k), stride_(stride) {
    reset();
  }
  void reset() override {
    conv_ = register_module(
        "conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in_, out_, k_).stride(stride_).padding(k_ / 2).bias(false)));
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
                         {"name": "stride", "type": "int", "default": 1}],
              "cost": [{"conv": "k"}]},
             {"name": "random_partition", "kind": "criterion",
              "summary": "a seeded random similarity: GM-NAS's random-partition ablation"},
             {"name": "smooth_darts", "kind": "method", "samples_paths": false,
              "summary": "DARTS with random smoothing of the weights (my_method.cpp)"},
             {"name": "random_edge", "kind": "strategy",
              "summary": "Few-Shot NAS splitting a randomly drawn edge (my_strategy.cpp)"}])json";
}

// The module factories, called by the runtime with the arguments and the input's channels.
extern "C" void cella_register_ops(cella::runtime::Registry& registry) {
  registry.add_factory("gelu_conv", [](const cella::ir::PrimCall& call, const cella::runtime::BuildContext& ctx) {
    std::int64_t k = call.int_arg("k", 3), out = call.int_arg("out", ctx.in_channels),
                 stride = call.int_arg("stride", 1);
    return torch::nn::AnyModule(GeluConv(ctx.in_channels, out, k, stride));
  });
}

// A split criterion: the similarity of an edge's candidates, from which the partition keeps
// similar candidates together. This one is random (seeded by the search), the baseline against
// which GM-NAS measures gradient matching; a real one would look at `parent`'s weights or run it
// on `train`.
extern "C" void cella_register_criteria(cella::runtime::CriterionRegistry& registry) {
  registry.add("random_partition",
               [](cella::runtime::SupernetState& parent, const cella::ir::SupernetPlan&, const cella::runtime::Dataset&,
                  int group, int edge, const cella::runtime::GradientMatchOptions& options) {
                 const std::vector<bool>& enabled = parent.net->mask().cells[group][edge];
                 const auto k = static_cast<std::int64_t>(enabled.size());
                 torch::Generator gen = at::detail::createCPUGenerator(options.seed);
                 torch::Tensor r = torch::rand({k, k}, gen, torch::kFloat64);
                 torch::Tensor s = (r + r.t()) / 2;
                 s.fill_diagonal_(1.0);
                 for (std::int64_t i = 0; i < k; ++i)
                   if (!enabled[i]) {
                     s[i].zero_();
                     s.select(1, i).zero_();
                   }
                 return s;
               });
}
