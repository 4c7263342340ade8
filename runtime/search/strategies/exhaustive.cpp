// `split exhaustive` (Few-Shot NAS, Zhao et al., ICML 2021): at split point k every current
// sub-supernet splits edge `edges[k]` into one child per candidate it keeps.
#include <fmt/format.h>

#include "runtime/search/strategies/levels.h"
#include "runtime/search/strategy.h"

namespace cella::runtime {

class Exhaustive final : public Strategy {
 public:
  Exhaustive() : Strategy(ir::SplitStrategy::Exhaustive) {}
  int run(SearchContext& ctx) const override {
    return split_every_level(
        ctx,
        [](SearchContext& c, int id, std::size_t k) {
          int e = c.split().edges[k];
          std::vector<Mask> children =
              c.holding_masks(id, exhaustive_children(c.node(id).state.net->mask(), c.group(), e));
          c.log(fmt::format("node {}: exhaustive split of edge {} into {} sub-supernets", id, c.cell().edge_name(e),
                            children.size()));
          return std::make_optional(std::make_pair(children, nlohmann::json{{"edge", c.cell().edge_name(e)}}));
        },
        "exhaustive");
  }
};

std::unique_ptr<Strategy> make_exhaustive() { return std::make_unique<Exhaustive>(); }

}  // namespace cella::runtime
