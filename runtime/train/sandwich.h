// BigNAS's and OFA's training steps for elastic supernets (../shared/reference/algorithms-wave2.md
// §1.5, §1.6). BigNAS:
// the sandwich rule (the largest child, the smallest and N random ones each step) with in-place
// distillation (the largest child's detached logits are the others' soft targets), regularisation
// of the largest child only, zero-initialised residual batch norms, and the batch-norm
// calibration every evaluation of a child needs. OFA: progressive shrinking's phases and step
// (children drawn within a phase's lists, distilled from the full network). The pieces the
// `sandwich` and `progressive_shrinking` training methods are made of; here on an ElasticNet.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "runtime/supernet/elastic_net.h"

namespace torch::optim {
class Optimizer;
}

namespace cella::runtime {

/// In-place distillation: the soft-target cross-entropy −mean_b Σ_c softmax(teacher)_c ·
/// log_softmax(student)_c, temperature 1, the teacher's logits detached (no hard labels: BigNAS's
/// children learn from the largest child only).
torch::Tensor inplace_distillation_loss(const torch::Tensor& student, const torch::Tensor& teacher);

/// Cross-entropy with label smoothing ε: (1 − ε)·CE + ε·mean over classes of −log p.
torch::Tensor label_smoothing_loss(const torch::Tensor& logits, const torch::Tensor& labels, double epsilon);

struct SandwichOptions {
  std::int64_t random_children = 2;  ///< N: BigNAS/AttentiveNAS train 2 random children besides the two ends
  double label_smoothing = 0.1;      ///< the largest child's cross-entropy
  double dropout = 0.2;              ///< before the classifier, the largest child only
  double clip_value = 1.0;           ///< gradient values clipped to ±this before the step (0: off)
};

/// What one sandwich step ran: the children in order (largest, smallest, then the random ones)
/// and each child's loss.
struct SandwichStep {
  std::vector<ElasticArch> children;
  std::vector<double> losses;
};

/// Draws the children of one sandwich step: the largest, the smallest, then `random_children`
/// drawn uniformly from `rng`.
std::vector<ElasticArch> sandwich_children(const ElasticNetSpec& spec, std::int64_t random_children,
                                           std::mt19937_64& rng);

/// One step: zero the gradients; the largest child at the largest resolution, with dropout, on
/// label-smoothed cross-entropy, backward; its logits detached are the soft targets of every other
/// child (dropout off), each backward in turn, so the gradients add up unscaled (AttentiveNAS);
/// clip the gradient values; one optimizer step. The network is left in training mode.
SandwichStep sandwich_step(ElasticNetImpl& net, const torch::Tensor& x, const torch::Tensor& y,
                           torch::optim::Optimizer& optimizer, std::mt19937_64& rng, const SandwichOptions& options);

/// One phase of OFA's progressive shrinking (§1.5): the choices children are drawn from (each
/// list a subset of the space's), how many children each step sums, and where the phase starts
/// by sorting channels (`sort_nested` ≥ 0: ElasticNetImpl::sort_channels(sort_nested) first).
struct ShrinkingPhase {
  std::string name;
  std::vector<std::int64_t> kernels, expands;
  std::vector<std::vector<std::int64_t>> depths;  ///< per stage
  std::int64_t children = 1;
  int sort_nested = -1;
};

/// OFA's phases for a space: the full network's (largest everything, one child), then elastic
/// kernel (all kernels), depth in two steps (the two largest depths, then all), expansion in two
/// (the two largest, sorted plainly; then all, sorted with the first width kept nested), with 1,
/// 2, 2, 4 and 4 children per step. Resolutions stay elastic in every phase, as OFA's loader.
std::vector<ShrinkingPhase> progressive_shrinking_phases(const ElasticNetSpec& spec);

/// A child drawn uniformly within `phase`'s lists (kernel and expansion per slot, depth per
/// stage) and the space's resolutions.
ElasticArch shrinking_child(const ElasticNetSpec& spec, const ShrinkingPhase& phase, std::mt19937_64& rng);

/// One progressive-shrinking step: `phase.children` children drawn within the phase, all at the
/// first one's resolution; the teacher's logits (OFA's full network, in training mode: batch
/// statistics; no gradient) at that resolution; then the children, each on label-smoothed cross-entropy plus `kd_ratio`
/// times the soft-target cross-entropy against the teacher, each backward in turn (summed, not averaged: OFA), one
/// optimizer step. Without a teacher (the full network's own phase) the distillation term is off.
SandwichStep shrinking_step(ElasticNetImpl& net, ElasticNetImpl* teacher, const ShrinkingPhase& phase,
                            const torch::Tensor& x, const torch::Tensor& y, torch::optim::Optimizer& optimizer,
                            std::mt19937_64& rng, double label_smoothing = 0.1, double kd_ratio = 1.0);

/// BigNAS's zero-initialised residual batch norms: γ = 0 in the project batch norm of every block
/// with an identity shortcut, so that each such block starts as the identity.
void zero_residual_batch_norms(ElasticNetImpl& net);

/// Batch-norm calibration of child `arch` (OFA's set_running_statistics): every batch norm's
/// running statistics restarted and set to the cumulative average of `batches` batches of
/// `batch` images of `images` (from the first, wrapping around) under the child, in training mode
/// without gradients; the network is then in evaluation mode. Every evaluation of a child with
/// inherited weights needs one: running statistics are shared by all children.
void calibrate_batch_norm(ElasticNetImpl& net, const ElasticArch& arch, const torch::Tensor& images,
                          std::int64_t batches, std::int64_t batch);

}  // namespace cella::runtime
