// What the elastic supernets' methods (`sampler sandwich`, `sampler progressive_shrinking`) share:
// each step trains several children of one set of weights and takes its own optimizer step
// (runtime/train/sandwich.h); epochs are judged on the largest child; the final architecture is
// the best of a few sampled ones, as path sampling's, and of the largest and smallest children.
#pragma once

#include <torch/types.h>

#include <random>

#include "runtime/train/methods/sampling.h"
#include "runtime/train/sandwich.h"

namespace cella::runtime {

class ElasticMethod : public TrainingMethod {
 public:
  bool learns_architecture() const override { return false; }
  bool samples_paths() const override { return true; }
  // The steps sum their children's gradients in one process (no all-reduce yet).
  bool trains_data_parallel() const override { return false; }

  std::optional<std::pair<torch::Tensor, torch::Tensor>> weight_step(SupernetState& s, const ir::SupernetPlan& plan,
                                                                     const torch::Tensor& x, const torch::Tensor& y,
                                                                     std::uint64_t seed) const override {
    torch::manual_seed(seed);  // dropout's draws, so that a resumed run replays the step
    std::mt19937_64 rng(seed);
    ChildrenStep step = children_step(s, plan, x, y, rng);
    return std::make_pair(step.first_loss, step.first_logits);
  }

  // A child as the steps draw them (not used for weight steps, which weight_step takes).
  Mixing step_mixing(const SupernetState& s, const ir::SupernetPlan& plan, Step, std::uint64_t seed,
                     double) const override {
    std::mt19937_64 rng(seed);
    return mixing_of(s.net->program(), draw_child(s.net->program(), choices(s, plan), rng, &s.net->mask()));
  }

  Mixing judging_mixing(const SupernetState& s, const ir::SupernetPlan&, std::mt19937_64&) const override {
    return mixing_of(s.net->program(), ir::largest_arch(s.net->program(), &s.net->mask()));
  }

  // The sampled children and the largest and smallest ones, which every sandwich step trains
  // (and which a few uniform draws over a space of 10^19 architectures would not meet).
  ir::Arch derive(SupernetState& s, const ir::SupernetPlan&, const DataSplits& data, std::uint64_t seed,
                  std::int64_t samples, const ProgressFn& progress) const override {
    const ir::Program& p = s.net->program();
    return best_of_samples(s, data, seed, samples, progress,
                           {ir::largest_arch(p, &s.net->mask()), ir::smallest_arch(p, &s.net->mask())});
  }

 protected:
  /// One step's children, losses and optimizer step.
  virtual ChildrenStep children_step(SupernetState& s, const ir::SupernetPlan& plan, const torch::Tensor& x,
                                     const torch::Tensor& y, std::mt19937_64& rng) const = 0;
  /// The share of the lists children are drawn from now.
  virtual ElasticChoices choices(const SupernetState&, const ir::SupernetPlan&) const { return {}; }
};

}  // namespace cella::runtime
