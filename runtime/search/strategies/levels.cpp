// The level-by-level loop of exhaustive and gradient-matching splits.
#include "runtime/search/strategies/levels.h"

namespace cella::runtime {

int split_every_level(SearchContext& ctx, const SplitNodeFn& split_node, const std::string& made_by) {
  const ir::Schedule& schedule = ctx.schedule();
  std::vector<int> level{0};
  for (std::size_t k = 0; k < ctx.split().at.size(); ++k) {
    // The nodes of a level are independent: with several processes they train on different ranks.
    ctx.say_dealt(level);
    ctx.train_apart(level, schedule.split_epoch(k));
    std::vector<int> next;
    for (int id : level) {
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
  ctx.say_dealt(level);
  ctx.train_apart(level, schedule.total());
  for (int id : level) {
    ctx.score(id, schedule.total());
    ctx.node(id).record.leaf = true;
  }
  return ctx.keep_best(level, "selected leaf");
}

}  // namespace cella::runtime
