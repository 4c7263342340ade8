// `split hierarchical` (HEP-NAS, Li et al., AAAI 2025): at each split point the current
// sub-supernet bipartitions every edge of the next hierarchy (the edges into one node) by
// gradient matching; all combinations become children, which train round-robin one epoch at a
// time with search-space mutual distillation against the frozen parent and siblings; the best
// is kept and split next.
#include <fmt/format.h>

#include "runtime/search/strategy.h"

namespace cella::runtime {

class Hierarchical final : public Strategy {
 public:
  Hierarchical() : Strategy(ir::SplitStrategy::Hierarchical) {}
  int run(SearchContext& ctx) const override {
    const ir::SplitPlan& sp = ctx.split();
    const ir::Schedule& schedule = ctx.schedule();
    const std::vector<std::vector<int>> hierarchies = ir::split_hierarchies(ctx.cell());
    int current = 0;
    for (std::size_t k = 0; k < sp.at.size() && k < hierarchies.size(); ++k) {
      ctx.train(current, schedule.split_epoch(k), {});  // plain cross-entropy, as the reference

      std::vector<int> edges;
      std::vector<Partition> parts;
      nlohmann::json split = nlohmann::json::array();
      for (int e : hierarchies[k]) {
        std::vector<int> cands = ctx.enabled(ctx.node(current), e);
        if (cands.size() < 2) continue;
        auto m = ctx.match(current, e, 2, {});
        edges.push_back(e);
        parts.push_back(m.first);
        split.push_back(m.second);
      }
      std::vector<Mask> masks = ctx.holding_masks(
          current, hierarchy_children(ctx.sites(), ctx.node(current).state.net->mask(), edges, parts));
      std::vector<int> kids;
      for (const Mask& m : masks) kids.push_back(ctx.add_child(current, m, schedule.reinit(k), "hierarchical", split));
      ctx.log(fmt::format("node {}: hierarchy {} ({} edges) split into {} sub-supernets", current, k, edges.size(),
                          kids.size()));
      // Round-robin, one epoch at a time; the parent and the siblings are frozen teachers.
      const std::int64_t start = schedule.split_epoch(k);
      // Siblings train on the same batches (so the teachers' logits of a batch are shared).
      const std::uint64_t kids_seed = ctx.seed() + 7919 * static_cast<std::uint64_t>(current + 1);
      ctx.clear_teacher_cache();
      auto loss_of = [&](int id) -> LossFn {
        return [&, id](const torch::Tensor& logits, const torch::Tensor& y, const torch::Tensor& x,
                       const torch::Tensor& idx, const Mixing& mix) {
          if (sp.distill == ir::Distill::None) return torch::cross_entropy_loss(logits, y);
          auto frozen = [&](int j) { return ctx.teacher_logits(j, id, x, idx, mix); };
          torch::Tensor t;
          std::vector<torch::Tensor> sibs;
          if (sp.distill == ir::Distill::Smd || sp.distill == ir::Distill::Parent) t = frozen(current);
          if (sp.distill == ir::Distill::Smd || sp.distill == ir::Distill::Mutual)
            for (int j : kids)
              if (j != id) sibs.push_back(frozen(j));
          return distillation_loss(logits, y, t, sibs, sp.distill);
        };
      };
      // Siblings that teach one another take turns (`rounds sequential`, the reference), or each
      // round starts from copies of them frozen at its start (`rounds simultaneous`); without
      // sibling teachers each child's rounds depend on nothing but itself. Children that need
      // not take turns train on different ranks at once when there are several processes.
      const bool siblings_teach = sp.distill == ir::Distill::Smd || sp.distill == ir::Distill::Mutual;
      const bool in_turn = siblings_teach && sp.rounds == ir::Rounds::Sequential;
      if (!in_turn) ctx.say_dealt(kids);
      for (std::int64_t ep = start; ep < schedule.children_end(k); ++ep) {
        if (in_turn) {
          for (int id : kids) ctx.train(id, ep + 1, loss_of(id), kids_seed);
        } else if (siblings_teach) {
          ctx.train_round(kids, ep + 1, loss_of, kids_seed);
        } else {
          ctx.train_apart(kids, ep + 1, loss_of, kids_seed);
        }
      }
      for (int id : kids) ctx.score(id, schedule.children_end(k));
      current = ctx.keep_best(kids, "kept node");
    }
    ctx.train(current, schedule.total(), {});  // what the timeline has after the last split
    ctx.node(current).record.leaf = true;
    return current;
  }
};

std::unique_ptr<Strategy> make_hierarchical() { return std::make_unique<Hierarchical>(); }

}  // namespace cella::runtime
