// Split strategies: what a search splits, when, and which sub-supernet it keeps. One class per
// strategy in runtime/search/strategies/, one row per built-in in strategies.def, over a
// SearchContext (context.h) that owns the tree, the training, the checkpoints and the timers.
// A plugin adds one with `extern "C" void cella_register_strategies(StrategyRegistry&)` after
// declaring its name in the signatures (`{"name": "...", "kind": "strategy"}`);
// examples/custom_op_plugin/my_strategy.cpp is one.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/ir/plan.h"
#include "runtime/plugins/named_registry.h"
#include "runtime/search/context.h"

namespace cella::runtime {

class Strategy {
 public:
  /// A strategy called `split NAME` in plans (a plugin's).
  explicit Strategy(std::string name) : name_(std::move(name)) {}
  /// A built-in strategy, named by its plan word.
  explicit Strategy(ir::SplitStrategy builtin) : Strategy(std::string(ir::name_of(builtin))) {}
  virtual ~Strategy() = default;
  /// The plan's `split NAME`.
  const std::string& name() const { return name_; }
  /// Trains and splits from the root (made already) to the end of the plan; returns the node the
  /// final architecture is derived from.
  virtual int run(SearchContext& context) const = 0;

 private:
  std::string name_;
};

class StrategyRegistry : public NamedRegistry<Strategy> {
 public:
  /// The registry, with every built-in strategy of strategies.def in it.
  static StrategyRegistry& instance();
  /// Throws std::invalid_argument if the name is taken or, for a plugin's, was not declared to
  /// the compiler (ir::plugin_strategies).
  void add(std::unique_ptr<Strategy> strategy);
};

/// The strategy a plan splits with. Throws std::invalid_argument for a name nothing registered.
const Strategy& strategy_of(const ir::SplitPlan& split);

}  // namespace cella::runtime
