// BigNAS's training step for elastic supernets (../shared/reference/algorithms-wave2.md §1.6):
// the sandwich rule (the largest child, the smallest and N random ones each step) with in-place
// distillation (the largest child's detached logits are the others' soft targets), regularisation
// of the largest child only, zero-initialised residual batch norms, and the batch-norm
// calibration every evaluation of a child needs. The pieces the `sandwich` training method is
// made of; here on an ElasticNet.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <random>
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
