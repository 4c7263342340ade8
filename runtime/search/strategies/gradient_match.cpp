// `split gradient_match` (GM-NAS, Hu et al., ICLR 2022): at each split point every current
// sub-supernet scores each site it has not split (an edge of the split cell by the plan's
// criterion; an elastic layer's first dimension, as GM-NAS's OFA code splits kernel sizes),
// partitions it into `branches` groups, and splits the site whose best partition costs least.
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
          const ir::SplitSites& sites = c.sites();
          const char* what = sites.elastic() ? "layer" : "edge";
          // The unsplit site whose best partition costs least.
          std::optional<std::pair<Partition, nlohmann::json>> best;
          int best_site = -1;
          for (int s = 0; s < sites.size(); ++s) {
            const auto on = static_cast<std::int64_t>(c.kept(c.node(id), s).size());
            if (on != sites.values(s) || on < sp.branches) continue;
            auto m = c.match(id, s, sp.branches, sp.group_sizes);
            if (m.first.groups.empty()) continue;
            if (!best || m.first.cost < best->first.cost) {
              best = m;
              best_site = s;
            }
          }
          if (!best) {
            c.log(fmt::format("node {}: no {} left to split", id, what));
            return std::nullopt;
          }
          std::vector<Mask> children =
              c.holding_masks(id, partition_children(sites, c.node(id).state.net->mask(), best_site, best->first));
          c.log(fmt::format("node {}: {} {} split by {} into {}", id, what, sites.name(best_site), c.criterion_words(),
                            best->second["groups"].dump()));
          return std::make_pair(children, best->second);
        },
        "gradient_match");
  }
};

std::unique_ptr<Strategy> make_gradient_match() { return std::make_unique<GradientMatch>(); }

}  // namespace cella::runtime
