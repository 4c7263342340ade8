// A training method from a plugin: `weights smooth_darts`, DARTS with random smoothing in the
// spirit of SDARTS-RS (Chen and Hsieh, "Stabilizing Differentiable Architecture Search via
// Perturbation-based Regularization", ICML 2020): during weight steps the softmax weights of
// every edge get uniform noise in [-0.3, 0.3], so the weights are trained to do well in a
// neighbourhood of α rather than at α alone; architecture steps and evaluation use the plain
// softmax. (SDARTS' code grows ε over training; this example keeps it fixed.)
//
// It is built into the same library as my_ops.cpp. The method is declared in
// cella_plugin_signatures ({"kind": "method"}) and added from cella_register_methods. It is a
// TrainingMethod (runtime/train/method.h) and uses the functions the built-in weighted methods
// share (runtime/train/methods/weighted.h).
#include "compiler/ir/plan.h"
#include "runtime/train/methods/weighted.h"

namespace {

using namespace cella::runtime;

class SmoothDarts : public TrainingMethod {
 public:
  std::string_view name() const override { return "smooth_darts"; }
  bool learns_architecture() const override { return true; }
  bool samples_paths() const override { return false; }

  Mixing step_mixing(const SupernetState& s, const cella::ir::SupernetPlan&, Step step, std::uint64_t seed,
                     double) const override {
    torch::Generator gen = at::detail::createCPUGenerator(seed);
    return weighted_mixing(s, [&](const std::vector<int>& ops, const torch::Tensor& logits) {
      torch::Tensor w = logits.softmax(-1);
      if (step == Step::Weights) w = w + (torch::rand(w.sizes(), gen) * 2 - 1) * kEpsilon;
      return Mix{ops, w};
    });
  }

  Mixing judging_mixing(const SupernetState& s, const cella::ir::SupernetPlan&, std::mt19937_64&) const override {
    return weighted_mixing(s, [](const std::vector<int>& ops, const torch::Tensor& logits) {
      return Mix{ops, logits.softmax(-1)};
    });
  }

  cella::ir::Arch derive(SupernetState& s, const cella::ir::SupernetPlan&, const DataSplits&, std::uint64_t,
                         std::int64_t, const ProgressFn&) const override {
    return strongest_arch(s);
  }

 private:
  static constexpr double kEpsilon = 0.3;
};

}  // namespace

extern "C" void cella_register_methods(MethodRegistry& registry) { registry.add(std::make_unique<SmoothDarts>()); }
