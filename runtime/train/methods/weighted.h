// What the methods that weigh candidates by architecture weights share (DARTS, GDAS, SNAS):
// the mixing of every edge, node and layer from α and the DARTS rule for the final
// architecture. Each method says how one edge's logits become the weights of a step. A plugin's
// method calls the free functions below (examples/custom_op_plugin/my_method.cpp) rather than
// deriving from WeightedMethod, whose type information lives in the runtime.
#pragma once

#include "runtime/train/method.h"

namespace cella::runtime {

class WeightedMethod : public TrainingMethod {
 public:
  bool learns_architecture() const override { return true; }
  bool samples_paths() const override { return false; }
  Mixing step_mixing(const SupernetState& state, const ir::SupernetPlan& plan, Step step, std::uint64_t seed,
                     double tau) const override;
  /// The masked softmax of α: the weighted supernet.
  Mixing judging_mixing(const SupernetState& state, const ir::SupernetPlan& plan, std::mt19937_64& rng) const override;
  /// strongest_arch: the DARTS rule on the masked softmax.
  ir::Arch derive(SupernetState& state, const ir::SupernetPlan& plan, const DataSplits& data, std::uint64_t seed,
                  std::int64_t samples, const ProgressFn& progress) const override;

 protected:
  /// One edge (or layer) of a training step: the enabled candidates `ops` and their α `logits`;
  /// noise comes from `gen`.
  virtual Mix weigh(const std::vector<int>& ops, const torch::Tensor& logits, Step step, torch::Generator& gen,
                    double tau) const = 0;
};

/// The mixing of a weighted method: `weigh(ops, logits)` for every edge and layer (its enabled
/// candidates and their α), equal weights on node operations (which have no α).
Mixing weighted_mixing(const SupernetState& state,
                       const std::function<Mix(const std::vector<int>&, const torch::Tensor&)>& weigh);

/// Gumbel-softmax of `logits` at temperature `tau` (noise from `gen`): SNAS's and GDAS's
/// relaxed sample.
torch::Tensor gumbel_softmax(const torch::Tensor& logits, torch::Generator& gen, double tau);

}  // namespace cella::runtime
