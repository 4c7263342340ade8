// `split exhaustive` (Few-Shot NAS, Zhao et al., ICML 2021): at split point k every current
// sub-supernet splits site `edges[k]` (an edge of the split cell, or an elastic layer's first
// dimension) into one child per value it keeps.
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
          const int site = c.split().edges[k];
          std::vector<Mask> children =
              c.holding_masks(id, exhaustive_children(c.sites(), c.node(id).state.net->mask(), site));
          c.log(fmt::format("node {}: exhaustive split of {} {} into {} sub-supernets", id,
                            c.sites().elastic() ? "layer" : "edge", c.sites().name(site), children.size()));
          return std::make_optional(std::make_pair(children, nlohmann::json{{"edge", c.sites().name(site)}}));
        },
        "exhaustive");
  }
};

std::unique_ptr<Strategy> make_exhaustive() { return std::make_unique<Exhaustive>(); }

}  // namespace cella::runtime
