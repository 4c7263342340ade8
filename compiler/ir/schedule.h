// A search plan's epochs laid out: the phases every lineage of the split tree goes through (the
// supernet, each split's children, the training between split points, the leaves) and, for each
// epoch of a lineage, its learning rate, Gumbel temperature, whether the architecture weights
// learn and whether weight steps distil. The runtime trains by it and `cella show --emit
// schedule` prints it: both read this one resolution of the plan.
//
// Epochs are counted along a lineage, from the root's first epoch to a leaf's last, and never
// reset: a child goes on from its parent's epoch, also when it is re-initialised. The plan's
// `split.at` points lie on the plain timeline of `supernet.epochs` (training outside the
// children's phases, as HEP-NAS's and GM-NAS's `split_ckpts` do); a hierarchical split's
// `child_epochs` come on top of it.
//
// Progressive shrinking (`sampler progressive_shrinking`) divides the supernet's training into
// its six phases, each a fresh start at its own learning rate (shrinking_lr_scale).
//
// The learning rate follows one cosine from the start, over `supernet.cosine_epochs` when set
// (periodic past its end, as PyTorch's CosineAnnealingLR, which HEP-NAS's code runs past its
// end), else up to the first fresh start or the lineage's end. A phase that starts fresh (the
// plan's `fresh_schedule` or `restart`) begins a new cosine from the initial learning rate
// that ends at the next fresh start or the lineage's end, with fresh optimizer state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compiler/ir/plan.h"

namespace cella::ir {

struct Program;
struct Cell;

/// The hierarchies of `cell` (the edges into one node, in node order) that have an edge with a
/// choice: what a hierarchical split splits, one per split point.
std::vector<std::vector<int>> split_hierarchies(const Cell& cell);

enum class PhaseKind {
  Supernet,  ///< the root, before the first split
  Children,  ///< a hierarchical split's children, round-robin, before the best is kept
  Between,   ///< training between two split points (every child, or the kept one)
  Final,     ///< after the last split: the leaves (or the kept child) until the end
};

struct Phase {
  PhaseKind kind = PhaseKind::Supernet;
  int level = -1;                   ///< the split point it follows (0-based); -1 for the supernet
  std::int64_t begin = 0, end = 0;  ///< lineage epochs [begin, end)
  bool fresh = false;               ///< fresh optimizer state and a new cosine at `begin`
  bool reinit = false;              ///< the nodes start from fresh weights (split.restart)
  bool distill = false;             ///< weight steps distil from frozen teachers
  double lr_scale = 1;              ///< its initial learning rate, as a fraction of the plan's
  int shrinking = -1;               ///< progressive shrinking's phase (0-5), or -1
  std::int64_t epochs() const { return end - begin; }
};

/// One cosine (or constant) piece of the learning-rate schedule: epochs [begin, begin + length).
struct Segment {
  std::int64_t begin = 0, length = 0;
};

class Schedule {
 public:
  /// The schedule of a plan (checked by sema: increasing split points within supernet.epochs).
  explicit Schedule(const SearchPlan& plan);
  /// The schedule of a plan's supernet alone, trained for `epochs` (`cella train`).
  static Schedule supernet_only(const SearchPlan& plan, std::int64_t epochs);

  /// The phases of a lineage in order; empty ones are left out.
  const std::vector<Phase>& phases() const { return phases_; }
  /// The epochs of a whole lineage, root to leaf.
  std::int64_t total() const { return total_; }
  /// Where the first fresh start is (the end of the first cosine piece), or total() if none.
  std::int64_t first_fresh() const;
  /// The lineage epoch at which split `level` happens, and the end of its children's phase
  /// (the same epoch when the split has none).
  std::int64_t split_epoch(std::size_t level) const;
  std::int64_t children_end(std::size_t level) const;
  /// Whether the children of split `level` start from fresh weights (split.restart).
  bool reinit(std::size_t level) const;

  /// The phase epoch `epoch` (0-based) belongs to.
  const Phase& phase_at(std::int64_t epoch) const;
  /// The cosine piece epoch `epoch` belongs to.
  Segment segment_at(std::int64_t epoch) const;
  /// Whether epoch `epoch` starts fresh: the optimizers' state is cleared before it.
  bool fresh_at(std::int64_t epoch) const;
  double lr(std::int64_t epoch) const;
  /// Gumbel-softmax temperature: linear from tau_max to tau_min over the epoch's cosine piece.
  double tau(std::int64_t epoch) const;
  /// Whether the architecture weights learn in epoch `epoch` (from `supernet.arch_warmup` on,
  /// counted along the lineage).
  bool arch_steps(std::int64_t epoch) const { return epoch >= arch_warmup_; }
  /// The weight of the confidence term in epoch `epoch`'s architecture loss: split.final_confidence
  /// in the final phase (after the last split point), else 0.
  double arch_confidence(std::int64_t epoch) const;

 private:
  Schedule() = default;
  void add(Phase p);

  std::vector<Phase> phases_;
  std::vector<std::int64_t> split_epochs_, children_ends_;
  std::vector<bool> reinit_;
  std::int64_t total_ = 0;
  std::int64_t first_length_ = 0;  ///< the first piece's cosine length (supernet.cosine_epochs or derived)
  std::int64_t arch_warmup_ = 0;
  double final_confidence_ = 0;
  ConfidenceEpochs confidence_epochs_ = ConfidenceEpochs::Final;
  std::int64_t fresh_length_ = 0;  ///< split.fresh_cosine_epochs (0: to the next fresh start)
  double lr0_ = 0, tau_max_ = 1, tau_min_ = 1;
  LrSchedule lr_schedule_;
};

/// The learning rate `epoch` epochs into a piece of `length` epochs that starts at `lr`, under
/// `schedule`: constant, cosine (cosine_lr) or exponential (lr·decay^epoch, never below min_lr).
double scheduled_lr(const LrSchedule& schedule, double lr, std::int64_t epoch, std::int64_t length);

/// The learning rate `epoch` epochs into a cosine of `length` epochs from `lr` to `min_lr`,
/// periodic past its end as PyTorch's CosineAnnealingLR.
double cosine_lr(double lr, double min_lr, std::int64_t epoch, std::int64_t length);

/// `cella show --emit schedule`: the resolved plan epoch by epoch (which nodes train, the
/// learning rate, architecture steps, distillation), with a header saying what it follows.
std::string schedule_text(const Program& program);
/// The same for `plan` as a run changed it (`--smoke` shrinks the program's plan).
std::string schedule_text(const Program& program, const SearchPlan& plan);

}  // namespace cella::ir
