// The level-by-level loop of exhaustive and gradient-matching splits.
#include "runtime/search/strategies/levels.h"

namespace cella::runtime {

int split_every_level(SearchContext& ctx, const SplitNodeFn& split_node, const std::string& made_by) {
  const ir::Schedule& schedule = ctx.schedule();
  std::vector<int> level{0};
  for (std::size_t k = 0; k < ctx.split().at.size(); ++k) {
    std::vector<int> next;
    for (int id : level) {
      ctx.train(id, schedule.split_epoch(k), {});
      auto children = split_node(ctx, id, k);
      if (!children) {
        next.push_back(id);
        continue;
      }
      for (const Mask& m : children->first)
        next.push_back(ctx.add_child(id, m, schedule.reinit(k), made_by, children->second));
    }
    level = next;
  }
  for (int id : level) {
    ctx.train(id, schedule.total(), {});
    ctx.score(id, schedule.total());
    ctx.node(id).record.leaf = true;
  }
  return ctx.keep_best(level, "selected leaf");
}

}  // namespace cella::runtime
