// OFA's progressive shrinking (`sampler progressive_shrinking`; ../shared/reference/
// algorithms-wave2.md §1.5) for supernets of elastic layers: the full network first, then
// children with elastic kernels, then depths, then expansions, each phase its own epochs
// (`phases`), a fresh optimizer and OFA's learning rate for it (ir::Schedule), its children drawn
// within the phase's share of every list and distilled from the full network as the first phase
// left it (the teacher, in training mode, kept in checkpoints); channels sorted before each
// expansion phase. The step itself is runtime/train/sandwich.h's.
#include <torch/torch.h>

#include "runtime/train/methods/elastic_method.h"

namespace cella::runtime {

namespace {

// The phase epoch `epoch` is in, and whether it is the phase's first.
std::pair<std::size_t, bool> phase_of(const ir::SupernetPlan& plan, std::int64_t epoch) {
  std::int64_t begin = 0;
  for (std::size_t k = 0; k < plan.elastic.phases.size(); ++k) {
    const std::int64_t end = begin + plan.elastic.phases[k];
    if (epoch < end) return {k, epoch == begin};
    begin = end;
  }
  return {plan.elastic.phases.empty() ? 0 : plan.elastic.phases.size() - 1, false};
}

class ProgressiveShrinking : public ElasticMethod {
 public:
  std::string_view name() const override { return "progressive_shrinking"; }

  void epoch_begins(SupernetState& s, const ir::SupernetPlan& plan) const override {
    const auto [phase, first] = phase_of(plan, s.epoch);
    // The teacher is the full network as the first phase left it: taken when a later phase
    // begins (a resumed run reads it from its checkpoint instead).
    if (phase > 0 && !s.teacher) s.teacher = frozen_copy(s.net);
    if (first && progressive_shrinking_phases().at(phase).sort_nested >= 0)
      sort_channels(s.net, progressive_shrinking_phases()[phase].sort_nested);
  }

 protected:
  ChildrenStep children_step(SupernetState& s, const ir::SupernetPlan& plan, const torch::Tensor& x,
                             const torch::Tensor& y, std::mt19937_64& rng) const override {
    const ShrinkingPhase& phase = progressive_shrinking_phases().at(phase_of(plan, s.epoch).first);
    return shrinking_step(s.net, s.teacher ? &s.teacher : nullptr, phase, x, y, *s.optimizer, rng,
                          plan.elastic.label_smoothing, plan.elastic.kd_ratio);
  }

  ElasticChoices choices(const SupernetState& s, const ir::SupernetPlan& plan) const override {
    return progressive_shrinking_phases().at(phase_of(plan, s.epoch).first).choices;
  }
};

}  // namespace

std::unique_ptr<TrainingMethod> make_progressive_shrinking() { return std::make_unique<ProgressiveShrinking>(); }

}  // namespace cella::runtime
