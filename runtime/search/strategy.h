// Split strategies: what a search splits, when, and which sub-supernet it keeps. One class per
// strategy in runtime/search/strategies/, one row per strategy in strategies.def, over a
// SearchContext (context.h) that owns the tree, the training, the checkpoints and the timers.
#pragma once

#include <memory>
#include <vector>

#include "compiler/ir/plan.h"
#include "runtime/search/context.h"

namespace cella::runtime {

class Strategy {
 public:
  virtual ~Strategy() = default;
  /// The plan's `split NAME`.
  virtual ir::SplitStrategy kind() const = 0;
  /// Trains and splits from the root (made already) to the end of the plan; returns the node the
  /// final architecture is derived from.
  virtual int run(SearchContext& context) const = 0;
};

/// The strategy of `kind`, from strategies.def.
const Strategy& strategy_of(ir::SplitStrategy kind);

}  // namespace cella::runtime
