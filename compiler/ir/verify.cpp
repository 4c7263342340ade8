// IR invariants: edge order and indices, hierarchies, outputs, units and decision groups.
#include "compiler/ir/verify.h"

#include <fmt/format.h>

#include "compiler/ir/analysis.h"

namespace cella::ir {

std::vector<std::string> verify(const Program& p) {
  std::vector<std::string> errs;
  for (const Cell& c : p.cells) {
    const std::string& n = c.props().name;
    if (static_cast<int>(boost::num_edges(c.graph)) != c.num_edges())
      errs.push_back(fmt::format("{}: edge list and graph disagree", n));
    for (int v = 0; v < c.num_nodes(); ++v)
      if (c.node(v).id != v) errs.push_back(fmt::format("{}: node {} has id {}", n, v, c.node(v).id));
    for (int e = 0; e < c.num_edges(); ++e) {
      const EdgeProps& ep = c.edge(e);
      if (ep.index != e) errs.push_back(fmt::format("{}: edge {} has index {}", n, e, ep.index));
      if (ep.candidates.empty()) errs.push_back(fmt::format("{}: edge {} has no candidates", n, c.edge_name(e)));
      if (c.target(e) < c.props().inputs)
        errs.push_back(fmt::format("{}: edge {} ends at an input", n, c.edge_name(e)));
      if (e > 0 && std::make_pair(c.target(e - 1), c.source(e - 1)) >= std::make_pair(c.target(e), c.source(e)))
        errs.push_back(fmt::format("{}: edges {} and {} are out of order", n, e - 1, e));
      if (ep.hierarchy < 0 || ep.hierarchy >= static_cast<int>(c.hierarchies.size()))
        errs.push_back(fmt::format("{}: edge {} has no hierarchy", n, e));
    }
    for (int o : c.props().output.nodes)
      if (o < 0 || o >= c.num_nodes()) errs.push_back(fmt::format("{}: output node {} does not exist", n, o));
    if (find_cycle(c)) errs.push_back(fmt::format("{}: cycle", n));
    if (static_cast<int>(c.props().allowed_edge_counts.size()) != c.num_edges() + 1)
      errs.push_back(fmt::format("{}: constraint table has the wrong size", n));
  }
  if (p.network) {
    const Network& net = *p.network;
    Shape cur = net.input;
    for (std::size_t i = 0; i < net.units.size(); ++i) {
      const Unit& u = net.units[i];
      if (u.kind == UnitKind::Cell && (u.cell < 0 || u.cell >= static_cast<int>(p.cells.size())))
        errs.push_back(fmt::format("unit {}: bad cell index", i));
      if (u.kind == UnitKind::Cell && p.cells[u.cell].props().inputs == 1 && !(u.in == cur))
        errs.push_back(fmt::format("unit {}: input shape does not follow from the previous unit", i));
      if (u.kind == UnitKind::Choice && u.choices.empty()) errs.push_back(fmt::format("unit {}: empty choice", i));
      if (!u.elastic.empty()) {
        std::size_t product = 1;
        for (const ElasticDim& d : u.elastic) product *= d.values.size();
        if (u.kind != UnitKind::Choice || u.choices.size() != product)
          errs.push_back(fmt::format("unit {}: an elastic layer with {} candidates for {} combinations", i,
                                     u.choices.size(), product));
        for (const Op& op : u.choices)
          if (op.seq.size() != 1 || !op.seq[0].elastic.empty())
            errs.push_back(fmt::format("unit {}: elastic candidate '{}' is not one plain primitive", i, op.name));
      }
      cur = u.out;
    }
    for (std::size_t g = 0; g < net.cell_groups.size(); ++g)
      for (int u : net.cell_groups[g].units)
        if (net.units[u].group != static_cast<int>(g) || net.units[u].cell != net.cell_groups[g].cell)
          errs.push_back(fmt::format("cell group {}: unit {} disagrees", g, u));
    for (std::size_t l = 0; l < net.layer_groups.size(); ++l)
      if (net.units[net.layer_groups[l]].kind != UnitKind::Choice)
        errs.push_back(fmt::format("layer group {} is not a choice", l));
  }
  return errs;
}

}  // namespace cella::ir
