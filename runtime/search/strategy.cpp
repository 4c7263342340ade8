// The strategies of strategies.def, by kind.
#include "runtime/search/strategy.h"

#include <fmt/format.h>

#include <stdexcept>

namespace cella::runtime {

#define CELLA_STRATEGY(factory) std::unique_ptr<Strategy> factory();
#include "runtime/search/strategies/strategies.def"
#undef CELLA_STRATEGY

const Strategy& strategy_of(ir::SplitStrategy kind) {
  static const std::vector<std::unique_ptr<Strategy>> all = [] {
    std::vector<std::unique_ptr<Strategy>> v;
#define CELLA_STRATEGY(factory) v.push_back(factory());
#include "runtime/search/strategies/strategies.def"
#undef CELLA_STRATEGY
    return v;
  }();
  for (const auto& s : all)
    if (s->kind() == kind) return *s;
  throw std::logic_error(fmt::format("no strategy implements split {}", ir::name_of(kind)));
}

}  // namespace cella::runtime
