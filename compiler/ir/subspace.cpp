// Masks, the holding test and the uniform sampler.
#include "compiler/ir/subspace.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace cella::ir {

namespace {

// Enabled candidates of edge `e`: all of them, or only the real (non-zero) ones.
std::vector<int> enabled_ops(const Cell& c, const std::vector<bool>& row, int e, bool real_only) {
  std::vector<int> out;
  for (std::size_t k = 0; k < row.size(); ++k)
    if (row[k] && !(real_only && c.edge(e).candidates[k].is_zero(1))) out.push_back(static_cast<int>(k));
  return out;
}

bool count_allowed(const Cell& c, int present) {
  const auto& a = c.props().allowed_edge_counts;
  return present >= static_cast<int>(a.size()) || a[present];
}

bool has_constraint(const Cell& c) {
  const auto& a = c.props().allowed_edge_counts;
  return std::find(a.begin(), a.end(), false) != a.end();
}

// Why the cell's masked choices are empty, or nullopt. Also checks that some reachable number
// of present edges satisfies the cell's constraint.
std::optional<std::string> cell_empty(const Cell& c, const std::vector<std::vector<bool>>& edges,
                                      const std::vector<std::vector<bool>>& nodes,
                                      const std::vector<std::vector<bool>>& combines) {
  const std::string& name = c.props().name;
  std::vector<bool> reachable{true};  // reachable[k]: some choice so far has k present edges
  auto add = [&](const std::vector<bool>& node_counts) {
    std::vector<bool> next(reachable.size() + node_counts.size() - 1, false);
    for (std::size_t i = 0; i < reachable.size(); ++i)
      for (std::size_t j = 0; j < node_counts.size(); ++j)
        next[i + j] = next[i + j] || (reachable[i] && node_counts[j]);
    reachable.swap(next);
  };
  for (int v = c.props().inputs; v < c.num_nodes(); ++v) {
    const NodeProps& np = c.node(v);
    std::vector<int> in = c.in_edges(v);
    if (np.select > 0) {
      int real = 0;
      for (int e : in) real += !enabled_ops(c, edges[e], e, true).empty();
      if (real < np.select)
        return fmt::format("node {} of cell '{}' must keep {} inputs, but only {} of its edges keep a real operation",
                           v, name, np.select, real);
      std::vector<bool> counts(np.select + 1, false);
      counts[np.select] = true;
      add(counts);
    } else {
      for (int e : in) {
        bool any = !enabled_ops(c, edges[e], e, false).empty();
        if (!any && !c.edge(e).optional)
          return fmt::format("edge {} of cell '{}' keeps no candidate", c.edge_name(e), name);
        add({c.edge(e).optional, any});
      }
    }
    if (!np.ops.empty() && enabled_candidates(nodes[v]).empty())
      return fmt::format("node {} of cell '{}' keeps no operation", v, name);
    if (enabled_candidates(combines[v]).empty())
      return fmt::format("node {} of cell '{}' keeps no combine mode", v, name);
  }
  if (has_constraint(c)) {
    bool any = false;
    for (std::size_t k = 0; k < reachable.size(); ++k)
      any = any || (reachable[k] && count_allowed(c, static_cast<int>(k)));
    if (!any)
      return fmt::format("no choice of cell '{}' that the mask keeps satisfies its constraint '{}'", name,
                         c.props().constraint_text);
  }
  return std::nullopt;
}

// The inputs node `v` keeps under `select`: subsets of its edges weighted by how many choices they
// carry, so that the draw is uniform; each kept edge one of its real operations. Returns the
// subsets' total weight when `draw` is false (nothing drawn).
double select_inputs(const Cell& c, const std::vector<std::vector<bool>>& edges, int v, CellChoice* draw,
                     std::mt19937_64* rng) {
  const std::vector<int> in = c.in_edges(v);
  std::vector<std::vector<int>> real(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) real[i] = enabled_ops(c, edges[in[i]], in[i], true);
  std::vector<std::vector<int>> picks = k_subsets(static_cast<int>(in.size()), c.node(v).select);
  std::vector<double> weights;
  double total = 0;
  for (const auto& pick : picks) {
    double w = 1;
    for (int i : pick) w *= static_cast<double>(real[i].size());
    weights.push_back(w);
    total += w;
  }
  if (!draw) return total;
  std::discrete_distribution<std::size_t> which(weights.begin(), weights.end());
  for (int i : picks[which(*rng)])
    draw->edge_op[in[i]] = real[i][std::uniform_int_distribution<std::size_t>(0, real[i].size() - 1)(*rng)];
  return total;
}

// A cell's edges in groups whose numbers of present edges add up: a `select` node's inputs
// (exactly `select` of them), or one free edge (absent where optional, else one of its
// operations). `weight[d]`: how many ways the group has d present edges.
struct EdgeGroup {
  int node = -1;  ///< a select node, or -1
  int edge = -1;  ///< a free edge, or -1
  std::vector<double> weight;
};

std::vector<EdgeGroup> edge_groups(const Cell& c, const std::vector<std::vector<bool>>& edges) {
  std::vector<EdgeGroup> out;
  for (int v = c.props().inputs; v < c.num_nodes(); ++v) {
    const int select = c.node(v).select;
    if (select > 0) {
      EdgeGroup g{v, -1, std::vector<double>(static_cast<std::size_t>(select) + 1, 0.0)};
      g.weight[static_cast<std::size_t>(select)] = select_inputs(c, edges, v, nullptr, nullptr);
      out.push_back(g);
      continue;
    }
    for (int e : c.in_edges(v))
      out.push_back(
          {-1, e, {c.edge(e).optional ? 1.0 : 0.0, static_cast<double>(enabled_ops(c, edges[e], e, false).size())}});
  }
  return out;
}

// Under a constraint that few choices satisfy, rejection would draw for long (NAS-Bench-101's
// cell with `edges <= 0` keeps one edge set in 2^21): instead the number of present edges is
// drawn by how many allowed choices have it, then each group's share of it, last group first,
// by how many choices of the groups before it make up the rest. Uniform too. Returns false (and
// draws nothing) where rejection accepts at least one draw in a thousand.
bool draw_edges_exactly(const Cell& c, const std::vector<std::vector<bool>>& edges, CellChoice& ch,
                        std::mt19937_64& rng) {
  const std::vector<EdgeGroup> groups = edge_groups(c, edges);
  std::vector<std::vector<double>> prefix{{1.0}};  // prefix[i][k]: ways for groups < i to have k present
  for (const EdgeGroup& g : groups) {
    const std::vector<double>& p = prefix.back();
    std::vector<double> next(p.size() + g.weight.size() - 1, 0.0);
    for (std::size_t i = 0; i < p.size(); ++i)
      for (std::size_t d = 0; d < g.weight.size(); ++d) next[i + d] += p[i] * g.weight[d];
    prefix.push_back(std::move(next));
  }
  std::vector<double> allowed(prefix.back().size(), 0.0);
  double total = 0, kept = 0;
  for (std::size_t k = 0; k < allowed.size(); ++k) {
    total += prefix.back()[k];
    if (count_allowed(c, static_cast<int>(k))) kept += allowed[k] = prefix.back()[k];
  }
  if (kept >= 1e-3 * total || kept <= 0) return false;
  auto k = static_cast<std::int64_t>(std::discrete_distribution<std::size_t>(allowed.begin(), allowed.end())(rng));
  for (std::size_t i = groups.size(); i-- > 0;) {
    const EdgeGroup& g = groups[i];
    std::vector<double> w(g.weight.size(), 0.0);
    for (std::size_t d = 0; d < g.weight.size(); ++d)
      if (k - static_cast<std::int64_t>(d) >= 0 &&
          k - static_cast<std::int64_t>(d) < static_cast<std::int64_t>(prefix[i].size()))
        w[d] = prefix[i][static_cast<std::size_t>(k) - d] * g.weight[d];
    const std::size_t d = std::discrete_distribution<std::size_t>(w.begin(), w.end())(rng);
    k -= static_cast<std::int64_t>(d);
    if (g.node >= 0) {
      select_inputs(c, edges, g.node, &ch, &rng);
    } else if (d == 1) {
      std::vector<int> options = enabled_ops(c, edges[g.edge], g.edge, false);
      ch.edge_op[g.edge] = options[std::uniform_int_distribution<std::size_t>(0, options.size() - 1)(rng)];
    }
  }
  return true;
}

// The operation and combine mode of every node that chooses them, uniformly.
void draw_node(const Cell& c, const std::vector<std::vector<bool>>& nodes,
               const std::vector<std::vector<bool>>& combines, int v, CellChoice& ch, std::mt19937_64& rng) {
  const NodeProps& np = c.node(v);
  if (!np.ops.empty()) {
    std::vector<int> ops = enabled_candidates(nodes[v]);
    ch.node_op[v] = ops[std::uniform_int_distribution<std::size_t>(0, ops.size() - 1)(rng)];
  }
  if (np.chooses_combine()) {
    std::vector<int> modes = enabled_candidates(combines[v]);
    ch.node_combine[v] = modes[std::uniform_int_distribution<std::size_t>(0, modes.size() - 1)(rng)];
  }
}

// One uniformly random choice of the cell among those the mask rows keep (the cell is not empty).
CellChoice sample_cell(const Cell& c, const std::vector<std::vector<bool>>& edges,
                       const std::vector<std::vector<bool>>& nodes, const std::vector<std::vector<bool>>& combines,
                       std::mt19937_64& rng) {
  CellChoice ch;
  const bool constrained = has_constraint(c);
  ch.edge_op.assign(c.num_edges(), -1);
  ch.node_op.assign(c.num_nodes(), -1);
  ch.node_combine.assign(c.num_nodes(), -1);
  if (constrained && draw_edges_exactly(c, edges, ch, rng)) {
    for (int v = c.props().inputs; v < c.num_nodes(); ++v) draw_node(c, nodes, combines, v, ch, rng);
    return ch;
  }
  // Rejection keeps the draw uniform under a constraint that many choices satisfy; cell_empty
  // has checked that some choice satisfies it.
  for (int attempt = 0; attempt < 1000000; ++attempt) {
    ch.edge_op.assign(c.num_edges(), -1);
    ch.node_op.assign(c.num_nodes(), -1);
    ch.node_combine.assign(c.num_nodes(), -1);
    for (int v = c.props().inputs; v < c.num_nodes(); ++v) {
      const NodeProps& np = c.node(v);
      std::vector<int> in = c.in_edges(v);
      if (np.select > 0) {
        select_inputs(c, edges, v, &ch, &rng);
      } else {
        for (int e : in) {
          std::vector<int> options = enabled_ops(c, edges[e], e, false);
          if (c.edge(e).optional) options.insert(options.begin(), -1);
          ch.edge_op[e] = options[std::uniform_int_distribution<std::size_t>(0, options.size() - 1)(rng)];
        }
      }
      draw_node(c, nodes, combines, v, ch, rng);
    }
    if (!constrained) return ch;
    int present = 0;
    for (int op : ch.edge_op) present += op >= 0;
    if (count_allowed(c, present)) return ch;
  }
  throw std::invalid_argument(
      fmt::format("cell '{}': no choice satisfying its constraint was drawn in a million tries", c.props().name));
}

// Whether layer group `l`'s unit runs under the architecture's depths.
bool layer_active(const Network& n, const Arch& a, std::size_t l) {
  const Unit& u = n.units[n.layer_groups[l]];
  if (u.stage < 0) return true;
  const Stage& st = n.stages[u.stage];
  return st.depth_group < 0 || u.depth_index < st.depths[a.depths[st.depth_group]];
}

}  // namespace

std::vector<int> enabled_candidates(const std::vector<bool>& row) {
  std::vector<int> out;
  for (std::size_t k = 0; k < row.size(); ++k)
    if (row[k]) out.push_back(static_cast<int>(k));
  return out;
}

std::vector<int> enabled_or_all(const std::vector<std::vector<bool>>* rows, std::size_t row, std::size_t size) {
  if (rows && row < rows->size()) return enabled_candidates((*rows)[row]);
  std::vector<int> all(size);
  for (std::size_t i = 0; i < size; ++i) all[i] = static_cast<int>(i);
  return all;
}

namespace {

// The architecture at one end of every list the mask leaves.
Arch at_end(const Program& p, bool largest, const Mask* mask) {
  const Network& n = *p.network;
  auto end = [&](const std::vector<int>& on) { return largest ? on.back() : on.front(); };
  Arch a;
  for (std::size_t l = 0; l < n.layer_groups.size(); ++l)
    a.layers.push_back(end(enabled_or_all(mask ? &mask->layers : nullptr, l,
                                          n.units[static_cast<std::size_t>(n.layer_groups[l])].choices.size())));
  for (std::size_t d = 0; d < n.depth_groups.size(); ++d)
    a.depths.push_back(end(enabled_or_all(mask ? &mask->depths : nullptr, d,
                                          n.stages[static_cast<std::size_t>(n.depth_groups[d])].depths.size())));
  a.resolution = n.resolutions.empty() ? 0 : largest ? static_cast<int>(n.resolutions.size()) - 1 : 0;
  for (std::size_t w = 0; w < n.width_groups.size(); ++w)
    a.widths.push_back(end(enabled_or_all(mask ? &mask->widths : nullptr, w,
                                          n.stages[static_cast<std::size_t>(n.width_groups[w])].widths.size())));
  return a;
}

}  // namespace

Arch largest_arch(const Program& program, const Mask* mask) { return at_end(program, true, mask); }

Arch smallest_arch(const Program& program, const Mask* mask) { return at_end(program, false, mask); }

std::vector<std::vector<int>> k_subsets(int n, int k) {
  std::vector<std::vector<int>> out;
  if (k > n) return out;
  std::vector<int> idx(k);
  for (int i = 0; i < k; ++i) idx[i] = i;
  while (true) {
    out.push_back(idx);
    int i = k - 1;
    while (i >= 0 && idx[i] == n - k + i) --i;
    if (i < 0) return out;
    ++idx[i];
    for (int j = i + 1; j < k; ++j) idx[j] = idx[j - 1] + 1;
  }
}

Mask Mask::full(const Program& p) {
  Mask m;
  const Network& n = *p.network;
  for (const CellGroup& g : n.cell_groups) {
    const Cell& c = p.cells[g.cell];
    std::vector<std::vector<bool>> edges, nodes, combines;
    for (int e = 0; e < c.num_edges(); ++e) edges.emplace_back(c.edge(e).candidates.size(), true);
    for (int v = 0; v < c.num_nodes(); ++v) nodes.emplace_back(c.node(v).ops.size(), true);
    for (int v = 0; v < c.num_nodes(); ++v) combines.emplace_back(c.node(v).combines.size(), true);
    m.cells.push_back(edges);
    m.nodes.push_back(nodes);
    m.combines.push_back(combines);
  }
  for (int u : n.layer_groups) m.layers.emplace_back(n.units[u].choices.size(), true);
  for (int s : n.depth_groups) m.depths.emplace_back(n.stages[s].depths.size(), true);
  for (int s : n.width_groups) m.widths.emplace_back(n.stages[s].widths.size(), true);
  return m;
}

Mask Mask::of_arch(const Program& p, const Arch& a) {
  Mask m = full(p);
  for (std::size_t g = 0; g < m.cells.size(); ++g) {
    for (std::size_t e = 0; e < m.cells[g].size(); ++e)
      for (std::size_t k = 0; k < m.cells[g][e].size(); ++k)
        m.cells[g][e][k] = static_cast<int>(k) == a.cells[g].edge_op[e];
    for (std::size_t v = 0; v < m.nodes[g].size(); ++v)
      for (std::size_t k = 0; k < m.nodes[g][v].size(); ++k)
        m.nodes[g][v][k] = static_cast<int>(k) == a.cells[g].node_op[v];
    const Cell& c = p.cells[p.network->cell_groups[g].cell];
    for (std::size_t v = 0; v < m.combines[g].size(); ++v)
      if (c.node(static_cast<int>(v)).chooses_combine())
        for (std::size_t k = 0; k < m.combines[g][v].size(); ++k)
          m.combines[g][v][k] = static_cast<int>(k) == a.cells[g].node_combine.at(v);
  }
  for (std::size_t l = 0; l < m.layers.size(); ++l)
    for (std::size_t k = 0; k < m.layers[l].size(); ++k) m.layers[l][k] = static_cast<int>(k) == a.layers[l];
  for (std::size_t d = 0; d < m.depths.size(); ++d)
    for (std::size_t k = 0; k < m.depths[d].size(); ++k) m.depths[d][k] = static_cast<int>(k) == a.depths[d];
  for (std::size_t w = 0; w < m.widths.size(); ++w)
    for (std::size_t k = 0; k < m.widths[w].size(); ++k) m.widths[w][k] = static_cast<int>(k) == a.widths[w];
  return m;
}

namespace {

// The last index of `size` that row `group` of `rows` leaves on (all of them without rows), or -1.
int last_on(const std::vector<std::vector<bool>>& rows, int group, std::size_t size) {
  if (rows.empty()) return static_cast<int>(size) - 1;
  const std::vector<bool>& on = rows[static_cast<std::size_t>(group)];
  for (std::size_t k = size; k-- > 0;)
    if (on[k]) return static_cast<int>(k);
  return -1;
}

}  // namespace

int deepest_depth(const Program& program, const Mask& mask, int group) {
  const Network& n = *program.network;
  return last_on(mask.depths, group, n.stages[static_cast<std::size_t>(n.depth_groups[group])].depths.size());
}

int widest_width(const Program& program, const Mask& mask, int group) {
  const Network& n = *program.network;
  return last_on(mask.widths, group, n.stages[static_cast<std::size_t>(n.width_groups[group])].widths.size());
}

bool holds(const Program& p, const Mask& m, const Arch& a) {
  const Network& n = *p.network;
  if (a.cells.size() != m.cells.size() || a.layers.size() != m.layers.size() ||
      a.depths.size() != n.depth_groups.size() || a.widths.size() != n.width_groups.size())
    return false;
  for (std::size_t g = 0; g < a.cells.size(); ++g) {
    const CellChoice& ch = a.cells[g];
    for (std::size_t e = 0; e < m.cells[g].size() && e < ch.edge_op.size(); ++e)
      if (ch.edge_op[e] >= 0 && !m.cells[g][e].at(static_cast<std::size_t>(ch.edge_op[e]))) return false;
    for (std::size_t v = 0; v < m.nodes[g].size() && v < ch.node_op.size(); ++v)
      if (ch.node_op[v] >= 0 && !m.nodes[g][v].at(static_cast<std::size_t>(ch.node_op[v]))) return false;
    for (std::size_t v = 0; v < m.combines[g].size() && v < ch.node_combine.size(); ++v)
      if (ch.node_combine[v] >= 0 && !m.combines[g][v].at(static_cast<std::size_t>(ch.node_combine[v]))) return false;
  }
  for (std::size_t l = 0; l < a.layers.size(); ++l)
    if (layer_active(n, a, l) && !m.layers[l].at(static_cast<std::size_t>(a.layers[l]))) return false;
  for (std::size_t d = 0; d < a.depths.size() && d < m.depths.size(); ++d)
    if (!m.depths[d].at(static_cast<std::size_t>(a.depths[d]))) return false;
  for (std::size_t w = 0; w < a.widths.size() && w < m.widths.size(); ++w)
    if (!m.widths[w].at(static_cast<std::size_t>(a.widths[w]))) return false;
  return true;
}

std::optional<std::string> why_empty(const Program& p, const Mask& m) {
  const Network& n = *p.network;
  for (std::size_t g = 0; g < n.cell_groups.size(); ++g)
    if (auto why = cell_empty(p.cells[n.cell_groups[g].cell], m.cells[g], m.nodes[g], m.combines[g])) return why;
  for (std::size_t l = 0; l < n.layer_groups.size(); ++l)
    if (enabled_candidates(m.layers[l]).empty())
      return fmt::format("layer {} keeps no candidate", n.units[n.layer_groups[l]].name);
  for (std::size_t d = 0; d < m.depths.size(); ++d)
    if (enabled_candidates(m.depths[d]).empty()) return fmt::format("stage {} keeps no depth", n.depth_groups[d]);
  for (std::size_t w = 0; w < m.widths.size(); ++w)
    if (enabled_candidates(m.widths[w]).empty()) return fmt::format("stage {} keeps no width", n.width_groups[w]);
  return std::nullopt;
}

Arch sample(const Program& p, const Mask& m, std::mt19937_64& rng) {
  if (auto why = why_empty(p, m)) throw std::invalid_argument(*why);
  const Network& n = *p.network;
  Arch a;
  for (std::size_t g = 0; g < n.cell_groups.size(); ++g)
    a.cells.push_back(sample_cell(p.cells[n.cell_groups[g].cell], m.cells[g], m.nodes[g], m.combines[g], rng));
  for (std::size_t l = 0; l < n.layer_groups.size(); ++l) {
    std::vector<int> ops = enabled_candidates(m.layers[l]);
    a.layers.push_back(ops[std::uniform_int_distribution<std::size_t>(0, ops.size() - 1)(rng)]);
  }
  for (std::size_t g = 0; g < n.depth_groups.size(); ++g) {
    const Stage& st = n.stages[n.depth_groups[g]];
    // Uniform over architectures: a depth weighs as many architectures as its layers allow.
    std::vector<double> weights;
    for (std::size_t di = 0; di < st.depths.size(); ++di) {
      const std::int64_t depth = st.depths[di];
      double w = g < m.depths.size() && !m.depths[g][di] ? 0 : 1;
      for (std::int64_t i = 0; i < depth; ++i) {
        const Unit& u = n.units[st.units[i]];
        if (u.kind == UnitKind::Choice) w *= static_cast<double>(enabled_candidates(m.layers[u.group]).size());
      }
      weights.push_back(w);
    }
    a.depths.push_back(static_cast<int>(std::discrete_distribution<std::size_t>(weights.begin(), weights.end())(rng)));
  }
  for (std::size_t l = 0; l < n.layer_groups.size(); ++l)
    if (!layer_active(n, a, l)) a.layers[l] = enabled_candidates(m.layers[l]).front();
  if (n.resolutions.size() > 1)
    a.resolution = static_cast<int>(std::uniform_int_distribution<std::size_t>(0, n.resolutions.size() - 1)(rng));
  // Drawn last, so that spaces without width choices draw what they drew before widths existed.
  for (std::size_t w = 0; w < n.width_groups.size(); ++w) {
    const std::vector<int> on = enabled_or_all(&m.widths, w, n.stages[n.width_groups[w]].widths.size());
    a.widths.push_back(on[std::uniform_int_distribution<std::size_t>(0, on.size() - 1)(rng)]);
  }
  return a;
}

Arch sample(const Program& p, std::mt19937_64& rng) { return sample(p, Mask::full(p), rng); }

}  // namespace cella::ir
