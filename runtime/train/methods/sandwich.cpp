// BigNAS's sandwich rule (`sampler sandwich`; ../shared/reference/algorithms-wave2.md §1.6) for
// supernets of elastic layers: every step trains the largest child on the labels and the
// smallest and `children` random ones on the largest's detached logits (in-place distillation),
// dropout on the largest only, gradient values clipped; residual blocks start as the identity.
// The step itself is runtime/train/sandwich.h's.
#include <torch/torch.h>

#include "runtime/train/methods/elastic_method.h"

namespace cella::runtime {

namespace {

class Sandwich : public ElasticMethod {
 public:
  std::string_view name() const override { return "sandwich"; }

  void initialise(SupernetState& s, const ir::SupernetPlan& plan) const override {
    if (plan.elastic.zero_init_residual) zero_residual_batch_norms(s.net);
  }

 protected:
  ChildrenStep children_step(SupernetState& s, const ir::SupernetPlan& plan, const torch::Tensor& x,
                             const torch::Tensor& y, std::mt19937_64& rng) const override {
    const SandwichOptions o{plan.elastic.children, plan.elastic.label_smoothing, plan.elastic.clip_value,
                            plan.elastic.inplace_distillation, plan.elastic.drop_connect};
    return sandwich_step(s.net, x, y, *s.optimizer, rng, o);
  }
};

}  // namespace

std::unique_ptr<TrainingMethod> make_sandwich() { return std::make_unique<Sandwich>(); }

}  // namespace cella::runtime
