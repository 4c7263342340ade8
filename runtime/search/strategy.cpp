// The registry of split strategies: the built-ins of strategies.def, then plugins'.
#include "runtime/search/strategy.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "compiler/ir/primitives.h"

namespace cella::runtime {

#define CELLA_STRATEGY(factory) std::unique_ptr<Strategy> factory();
#include "runtime/search/strategies/strategies.def"
#undef CELLA_STRATEGY

StrategyRegistry& StrategyRegistry::instance() {
  static StrategyRegistry* registry = [] {
    auto* r = new StrategyRegistry;
#define CELLA_STRATEGY(factory) r->add(factory());
#include "runtime/search/strategies/strategies.def"
#undef CELLA_STRATEGY
    return r;
  }();
  return *registry;
}

void StrategyRegistry::add(std::unique_ptr<Strategy> strategy) {
  const std::string name = strategy->name();
  const auto& declared = ir::plugin_strategies();
  if (!ir::plan_value<ir::SplitStrategy>(name) && std::find(declared.begin(), declared.end(), name) == declared.end())
    throw std::invalid_argument(
        fmt::format("split strategy '{}' is not declared in the plugin's signatures ({{\"name\": \"{}\", "
                    "\"kind\": \"strategy\"}})",
                    name, name));
  insert(std::move(strategy), "split strategy");
}

const Strategy& strategy_of(const ir::SplitPlan& split) {
  const std::string name = ir::strategy_word(split);
  const Strategy* s = StrategyRegistry::instance().find(name);
  if (!s) throw std::invalid_argument(fmt::format("split strategy '{}' is declared but no plugin registered it", name));
  return *s;
}

}  // namespace cella::runtime
