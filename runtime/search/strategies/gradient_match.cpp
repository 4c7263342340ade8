// `split gradient_match` (GM-NAS, Hu et al., ICLR 2022): at each split point every current
// sub-supernet scores each edge it has not split by the plan's criterion, partitions it into
// `branches` groups, and splits the edge whose best partition costs least.
#include <fmt/format.h>

#include "runtime/search/strategies/levels.h"
#include "runtime/search/strategy.h"

namespace cella::runtime {

class GradientMatch final : public Strategy {
 public:
  GradientMatch() : Strategy(ir::SplitStrategy::GradientMatch) {}
  int run(SearchContext& ctx) const override {
    return split_every_level(
        ctx,
        [](SearchContext& c, int id, std::size_t) -> std::optional<std::pair<std::vector<Mask>, nlohmann::json>> {
          const ir::SplitPlan& sp = c.split();
          // The unsplit edge whose best partition costs least.
          std::optional<std::pair<Partition, nlohmann::json>> best;
          int best_edge = -1;
          for (int e = 0; e < c.cell().num_edges(); ++e) {
            const auto on = static_cast<std::int64_t>(c.enabled(c.node(id), e).size());
            if (on != static_cast<std::int64_t>(c.cell().edge(e).candidates.size()) || on < sp.branches) continue;
            auto m = c.match(id, e, sp.branches, sp.group_sizes);
            if (m.first.groups.empty()) continue;
            if (!best || m.first.cost < best->first.cost) {
              best = m;
              best_edge = e;
            }
          }
          if (!best) {
            c.log(fmt::format("node {}: no edge left to split", id));
            return std::nullopt;
          }
          std::vector<Mask> children =
              c.holding_masks(id, partition_children(c.node(id).state.net->mask(), c.group(), best_edge, best->first));
          c.log(fmt::format("node {}: edge {} split by {} into {}", id, c.cell().edge_name(best_edge),
                            c.criterion_words(), best->second["groups"].dump()));
          return std::make_pair(children, best->second);
        },
        "gradient_match");
  }
};

std::unique_ptr<Strategy> make_gradient_match() { return std::make_unique<GradientMatch>(); }

}  // namespace cella::runtime
