// The level-by-level loop of exhaustive and gradient-matching splits.
#include "runtime/search/strategies/levels.h"

namespace cella::runtime {

int split_every_level(SearchContext& ctx, const SplitNodeFn& split_node, const std::string& made_by) {
  const ir::SplitPlan& sp = ctx.split();
  std::vector<int> level{0};
  for (std::size_t k = 0; k < sp.at.size(); ++k) {
    std::vector<int> next;
    bool last = k + 1 == sp.at.size();
    bool restart = sp.restart == ir::Restart::All || (sp.restart == ir::Restart::Final && last);
    for (int id : level) {
      ctx.train(id, sp.at[k], {});
      auto children = split_node(ctx, id, k);
      if (!children) {
        next.push_back(id);
        continue;
      }
      for (const Mask& m : children->first) next.push_back(ctx.add_child(id, m, restart, made_by, children->second));
    }
    level = next;
  }
  for (int id : level) {
    ctx.train(id, ctx.node(id).state.epoch + sp.child_epochs, {});
    ctx.score(id);
    ctx.node(id).record.leaf = true;
  }
  return ctx.keep_best(level, "selected leaf");
}

}  // namespace cella::runtime
