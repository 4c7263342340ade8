// Running a plan's strategy over a search context, and reading a finished search's split tree:
// the sub-supernet that holds an architecture, a node's checkpoint, the tree as Graphviz.
#include "runtime/search/search.h"

#include <fmt/format.h>

#include <algorithm>

#include "runtime/search/context.h"
#include "runtime/search/files.h"
#include "runtime/search/strategy.h"

namespace cella::runtime {

SearchResult run_search(std::shared_ptr<const ir::Program> program, const ir::SearchPlan& plan, const DataSplits& data,
                        const SearchOptions& options) {
  SearchContext context(std::move(program), plan, data, options);
  context.start();
  return context.finish(strategy_of(plan.split).run(context));
}

namespace {

// Node `id`'s mask: the whole supernet with every split site restricted as the tree says.
Mask node_mask(const ir::Program& program, const SplitTree& tree, int id) {
  Mask m = Mask::full(program);
  const ir::SplitSites sites(program, tree.cell);
  const auto& index = tree.nodes.at(id).mask_index;
  for (int s = 0; s < sites.size() && s < static_cast<int>(index.size()); ++s)
    m = sites.restrict(m, s, index[static_cast<std::size_t>(s)]);
  return m;
}

}  // namespace

bool node_holds(const ir::Program& program, const SplitTree& tree, int id, const ir::Arch& arch) {
  return ir::holds(program, node_mask(program, tree, id), arch);
}

int owning_node(const ir::Program& program, const SplitTree& tree, const ir::Arch& arch) {
  const ir::SplitSites sites(program, tree.cell);
  if (sites.size() == 0) return 0;  // the root alone: a chain of plain choice layers is never split
  // Among equally deep holders, an edge the architecture leaves out is best judged by the
  // sub-supernet that keeps `none` there: leaving an edge out computes what `none` does.
  auto zero_matches = [&](const ir::Mask& m) {
    int n = 0;
    if (sites.elastic()) return n;
    const int g = sites.cell_group();
    const ir::Cell& cell = program.cells[program.network->cell_groups[g].cell];
    for (int e = 0; e < cell.num_edges(); ++e) {
      if (arch.cells[g].edge_op[e] >= 0) continue;
      for (std::size_t k = 0; k < m.cells[g][e].size(); ++k)
        if (m.cells[g][e][k] && cell.edge(e).candidates[k].is_zero(1)) {
          ++n;
          break;
        }
    }
    return n;
  };
  int best = 0, best_level = -1, best_zeros = -1;
  for (const TreeNode& n : tree.nodes) {
    const int id = n.id, level = n.level;
    ir::Mask m = node_mask(program, tree, id);
    if (level < best_level || !ir::holds(program, m, arch)) continue;
    const int zeros = zero_matches(m);
    if (level > best_level || zeros > best_zeros) {
      best = id;
      best_level = level;
      best_zeros = zeros;
    }
  }
  return best;
}

SupernetState load_node(std::shared_ptr<const ir::Program> program, const ir::SupernetPlan& plan, const SplitTree& tree,
                        int id, const std::string& dir) {
  std::int64_t e = newest_checkpoint(dir, id);
  if (e < 0)
    throw std::runtime_error(fmt::format("{}: no checkpoint of sub-supernet {} (node-{}-e<epoch>.pt)", dir, id, id));
  SupernetState s = make_supernet(program, node_mask(*program, tree, id), plan, 0);
  load_state(s, checkpoint_path(dir, id, e, "pt"));
  return s;
}

bool has_node_checkpoint(const std::string& dir, int id) { return newest_checkpoint(dir, id) >= 0; }

std::string tree_dot(const SplitTree& tree) {
  std::string out = "digraph split_tree {\n  node [shape=box, fontname=\"Helvetica\", fontsize=10];\n";
  for (const TreeNode& n : tree.nodes) {
    std::string label = fmt::format("node {}", n.id);
    if (n.valid_acc) label += fmt::format("\\nvalid {:.2f}%", *n.valid_acc);
    if (n.parent >= 0) {
      const TreeNode& parent = tree.nodes[n.parent];
      for (std::size_t e = 0; e < n.mask.size() && e < parent.mask.size(); ++e) {
        const auto& [edge, names] = n.mask[e];
        if (!names.empty() && parent.mask[e].second.size() != names.size())
          label += fmt::format("\\n{}: {}", edge, fmt::join(names, ", "));
      }
    }
    bool kept = n.kept || tree.selected == n.id;
    out += fmt::format("  n{} [label=\"{}\"{}];\n", n.id, label, kept ? ", style=bold, color=darkgreen" : "");
    if (n.parent >= 0) out += fmt::format("  n{} -> n{};\n", n.parent, n.id);
  }
  return out + "}\n";
}

}  // namespace cella::runtime
