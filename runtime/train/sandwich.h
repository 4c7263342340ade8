// BigNAS's and OFA's training steps for elastic supernets (../shared/reference/algorithms-wave2.md
// §1.5, §1.6), on a supernet of the language's elastic layers (runtime/supernet/network.h).
// BigNAS: the sandwich rule (the largest child, the smallest and N random ones each step) with
// in-place distillation (the largest child's detached logits are the others' soft targets),
// regularisation of the largest child only, zero-initialised residual batch norms. OFA:
// progressive shrinking's phases and step (children drawn within a phase's share of every list,
// distilled from the full network). The pieces the `sandwich` and `progressive_shrinking`
// training methods are made of. Every evaluation of a child with inherited weights needs its
// batch norms calibrated first (recalibrate_batch_norm, runtime/train/trainer.h).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "compiler/ir/arch.h"
#include "runtime/supernet/network.h"

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

/// Which share of every list children are drawn from: per elastic parameter its `n` largest
/// values (absent or 0: all), every stage's `depths` largest depths (0: all). Resolutions are
/// always all of them.
struct ElasticChoices {
  std::map<std::string, std::size_t> largest;
  std::size_t depths = 0;
  bool operator==(const ElasticChoices&) const = default;
};

/// A child drawn as OFA's and BigNAS's sample_active_subnet draws one: every layer's value of
/// every elastic parameter, every stage's depth and the resolution uniformly and independently
/// (a plain choice layer: one of its candidates). Not uniform over architectures (ir::sample is):
/// a stage is as often shallow as deep. Under `mask` (a sub-supernet of a split) only the values
/// it leaves are drawn, the `n` largest of them; on the whole space the draws are the same as
/// without one.
ir::Arch draw_child(const ir::Program& program, const ElasticChoices& choices, std::mt19937_64& rng,
                    const ir::Mask* mask = nullptr);

struct SandwichOptions {
  std::int64_t random_children = 2;  ///< N: BigNAS/AttentiveNAS train 2 random children besides the two ends
  double label_smoothing = 0.1;      ///< the largest child's cross-entropy
  double clip_value = 1.0;           ///< gradient values clipped to ±this before the step (0: off)
  /// The other children learn from the largest's detached logits (BigNAS); off, from the labels
  /// with the largest's label smoothing (the ablation).
  bool inplace_distillation = true;
  /// BigNAS's drop-connect on the largest child: the rate of the last block (set_drop_connect).
  double drop_connect = 0;
};

/// What one step ran: the children in order, each child's loss, and the first child's loss and
/// logits (detached), which a trainer's meter counts.
struct ChildrenStep {
  std::vector<ir::Arch> children;
  std::vector<double> losses;
  torch::Tensor first_loss, first_logits;
};

/// The children of one sandwich step: the largest, the smallest, then `random_children` drawn
/// from `rng` (draw_child over every list).
std::vector<ir::Arch> sandwich_children(const ir::Program& program, std::int64_t random_children, std::mt19937_64& rng,
                                        const ir::Mask* mask = nullptr);

/// One step: zero the gradients; the largest child, with the network's dropout, on
/// label-smoothed cross-entropy, backward; its logits detached are the soft targets of every other
/// child (dropout off: regularisation on the largest only), each backward in turn, so the
/// gradients add up unscaled (AttentiveNAS); clip the gradient values; one optimizer step. Each
/// child sees the batch at its own resolution (BigNAS). The network is left in training mode.
ChildrenStep sandwich_step(Network& net, const torch::Tensor& x, const torch::Tensor& y,
                           torch::optim::Optimizer& optimizer, std::mt19937_64& rng, const SandwichOptions& options);

/// One phase of OFA's progressive shrinking (§1.5): the share of the lists children are drawn
/// from, how many children each step sums, and where the phase starts by sorting channels
/// (`sort_nested` ≥ 0: sort_channels(net, sort_nested) first).
struct ShrinkingPhase {
  std::string name;
  ElasticChoices choices;
  std::int64_t children = 1;
  int sort_nested = -1;
};

/// OFA's phases: the full network's (the largest of everything, one child), then elastic kernel
/// (every kernel), depth in two steps (the two largest depths, then all), expansion in two (the
/// two largest, sorted plainly; then all, sorted with the first width kept nested), with 1, 2, 2,
/// 4 and 4 children per step. Resolutions stay elastic in every phase, as OFA's loader.
const std::vector<ShrinkingPhase>& progressive_shrinking_phases();

/// One progressive-shrinking step: `phase.children` children drawn within the phase, all at the
/// first one's resolution; the teacher's logits (OFA's full network, in training mode: batch
/// statistics; no gradient) at that resolution; then the children, each on label-smoothed
/// cross-entropy plus `kd_ratio` times the soft-target cross-entropy against the teacher, each
/// backward in turn (summed, not averaged: OFA), one optimizer step. Without a teacher (the full
/// network's own phase) the distillation term is off.
ChildrenStep shrinking_step(Network& net, Network* teacher, const ShrinkingPhase& phase, const torch::Tensor& x,
                            const torch::Tensor& y, torch::optim::Optimizer& optimizer, std::mt19937_64& rng,
                            double label_smoothing = 0.1, double kd_ratio = 1.0);

/// OFA's re_organize_middle_weights on every elastic layer (ElasticMBConvImpl::sort_channels).
void sort_channels(Network& net, int nested);

/// BigNAS's zero-initialised residual batch norms: γ = 0 in the project batch norm of every
/// elastic block with an identity shortcut, so that each such block starts as the identity.
void zero_residual_batch_norms(Network& net);

/// Sets the probability of every dropout in the network (BigNAS regularises the largest child
/// only), returning the ones it had, for restore_dropout.
std::vector<double> set_dropout(Network& net, double p);
void restore_dropout(Network& net, const std::vector<double>& saved);

/// BigNAS's drop-connect as AttentiveNAS sets it for the largest child: of the network's n
/// MBConv blocks (elastic or not, in unit order), block i gets `rate` · i / n if it is in one of
/// the last two stages that hold such blocks, else 0 (ElasticMBConvImpl::drop_connect; only
/// residual blocks use it). `rate` 0 turns it off everywhere. Returns the rates set, in order.
std::vector<double> set_drop_connect(Network& net, double rate);

}  // namespace cella::runtime
