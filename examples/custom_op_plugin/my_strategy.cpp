// A split strategy from a plugin: `split random_edge`, Few-Shot NAS with the edge to split drawn
// at random. At each split point every current sub-supernet splits one edge of the split cell,
// drawn uniformly (seeded by the search's seed, the node and the split point) among the edges
// that still keep two or more candidates, into one child per candidate; the leaves train to
// the end of `supernet.epochs` and the best is selected. It answers whether the choice of edge matters,
// the baseline Few-Shot NAS's fixed order and GM-NAS's chosen edge are measured against.
//
// It is built into the same library as my_ops.cpp: declared in cella_plugin_signatures
// ({"kind": "strategy"}) and added from cella_register_strategies. It is a Strategy
// (runtime/search/strategy.h) and uses the level-by-level loop the built-in exhaustive and
// gradient-matching strategies share (runtime/search/strategies/levels.h).
#include <fmt/format.h>

#include <random>

#include "runtime/search/strategies/levels.h"
#include "runtime/search/strategy.h"

namespace {

using namespace cella::runtime;

class RandomEdge : public Strategy {
 public:
  RandomEdge() : Strategy("random_edge") {}
  int run(SearchContext& ctx) const override {
    return split_every_level(
        ctx,
        [](SearchContext& c, int id, std::size_t k) -> std::optional<std::pair<std::vector<Mask>, nlohmann::json>> {
          // The sites (compiler/ir/split_sites.h): the split cell's edges, or elastic layers.
          const cella::ir::SplitSites& sites = c.sites();
          std::vector<int> open;
          for (int s = 0; s < sites.size(); ++s)
            if (c.kept(c.node(id), s).size() >= 2) open.push_back(s);
          if (open.empty()) return std::nullopt;
          std::mt19937_64 rng(c.seed() * 7919 + static_cast<std::uint64_t>(id) * 131 + k);
          const int s = open[std::uniform_int_distribution<std::size_t>(0, open.size() - 1)(rng)];
          std::vector<Mask> children = c.holding_masks(id, exhaustive_children(sites, c.node(id).state.net->mask(), s));
          c.log(fmt::format("node {}: random_edge split of {} {} into {} sub-supernets", id,
                            sites.elastic() ? "layer" : "edge", sites.name(s), children.size()));
          return std::make_pair(children, nlohmann::json{{"edge", sites.name(s)}});
        },
        "random_edge");
  }
};

}  // namespace

extern "C" void cella_register_strategies(StrategyRegistry& registry) { registry.add(std::make_unique<RandomEdge>()); }
