// Counting, enumerating, sampling and canonicalising architectures.
#include "compiler/passes/space.h"

#include <unordered_map>

#include <set>

#include <numeric>

#include <bit>

#include <fmt/format.h>

#include <functional>

#include <algorithm>
#include <map>
#include <unordered_set>

#include "compiler/ir/analysis.h"
#include "compiler/ir/subspace.h"

namespace cella::passes {

using ir::Cell;
using ir::CellChoice;

namespace {

std::vector<BigInt> multiply(const std::vector<BigInt>& a, const std::vector<BigInt>& b) {
  std::vector<BigInt> r(a.size() + b.size() - 1, 0);
  for (std::size_t i = 0; i < a.size(); ++i)
    for (std::size_t j = 0; j < b.size(); ++j) r[i + j] += a[i] * b[j];
  return r;
}

int nonzero_candidates(const Cell& c, int e) {
  int n = 0;
  for (const ir::Op& op : c.edge(e).candidates) n += !op.is_zero(1);
  return n;
}

// Elementary symmetric polynomial e_k of xs.
BigInt elementary(const std::vector<BigInt>& xs, int k) {
  std::vector<BigInt> e(k + 1, 0);
  e[0] = 1;
  for (const BigInt& x : xs)
    for (int j = k; j >= 1; --j) e[j] += e[j - 1] * x;
  return e[k];
}

bool allowed(const Cell& c, int present) {
  const auto& a = c.props().allowed_edge_counts;
  return present >= static_cast<int>(a.size()) || a[present];
}

}  // namespace

std::vector<BigInt> edge_count_polynomial(const Cell& c) {
  std::vector<BigInt> poly{1};
  for (int v = c.props().inputs; v < c.num_nodes(); ++v) {
    const ir::NodeProps& np = c.node(v);
    std::vector<int> in = c.in_edges(v);
    std::vector<BigInt> node{1};
    if (np.select > 0) {
      std::vector<BigInt> nz;
      for (int e : in) nz.push_back(nonzero_candidates(c, e));
      node.assign(np.select + 1, 0);
      node[np.select] = elementary(nz, np.select);
    } else {
      for (int e : in) {
        BigInt k = c.edge(e).candidates.size();
        node = multiply(node, c.edge(e).optional ? std::vector<BigInt>{1, k} : std::vector<BigInt>{0, k});
      }
    }
    if (!np.ops.empty())
      for (BigInt& x : node) x *= np.ops.size();
    for (BigInt& x : node) x *= np.combines.size();
    poly = multiply(poly, node);
  }
  return poly;
}

namespace {

// Product of many factors by halving, so the cost stays near-linear in the number of bits.
BigInt product(std::vector<BigInt> xs) {
  if (xs.empty()) return 1;
  while (xs.size() > 1) {
    std::vector<BigInt> next;
    for (std::size_t i = 0; i + 1 < xs.size(); i += 2) next.push_back(xs[i] * xs[i + 1]);
    if (xs.size() % 2) next.push_back(xs.back());
    xs.swap(next);
  }
  return xs[0];
}

}  // namespace

BigInt cell_size(const Cell& c) {
  const auto& allowed_counts = c.props().allowed_edge_counts;
  if (std::find(allowed_counts.begin(), allowed_counts.end(), false) == allowed_counts.end()) {
    // No constraint: every node decides independently.
    std::vector<BigInt> factors;
    for (int v = c.props().inputs; v < c.num_nodes(); ++v) {
      const ir::NodeProps& np = c.node(v);
      std::vector<int> in = c.in_edges(v);
      if (np.select > 0) {
        std::vector<BigInt> nz;
        for (int e : in) nz.push_back(nonzero_candidates(c, e));
        factors.push_back(elementary(nz, np.select));
      } else {
        for (int e : in) {
          std::size_t k = c.edge(e).candidates.size();
          factors.push_back(BigInt(c.edge(e).optional ? k + 1 : k));
        }
      }
      if (!np.ops.empty()) factors.push_back(BigInt(np.ops.size()));
      if (np.chooses_combine()) factors.push_back(BigInt(np.combines.size()));
    }
    return product(std::move(factors));
  }
  std::vector<BigInt> poly = edge_count_polynomial(c);
  BigInt total = 0;
  for (std::size_t k = 0; k < poly.size(); ++k)
    if (allowed(c, static_cast<int>(k))) total += poly[k];
  return total;
}

void enumerate_cell(const Cell& c, const std::function<bool(const CellChoice&)>& fn) {
  CellChoice ch;
  ch.edge_op.assign(c.num_edges(), -1);
  ch.node_op.assign(c.num_nodes(), -1);
  ch.node_combine.assign(c.num_nodes(), -1);
  const int I = c.props().inputs, N = c.num_nodes();
  bool stop = false;
  std::function<void(int)> node = [&](int v) {
    if (stop) return;
    if (v == N) {
      int present = 0;
      for (int op : ch.edge_op) present += op >= 0;
      if (allowed(c, present) && !fn(ch)) stop = true;
      return;
    }
    const ir::NodeProps& np = c.node(v);
    std::vector<int> in = c.in_edges(v);
    auto with_combine = [&] {
      if (!np.chooses_combine()) return node(v + 1);
      for (int k = 0; k < static_cast<int>(np.combines.size()) && !stop; ++k) {
        ch.node_combine[v] = k;
        node(v + 1);
      }
      ch.node_combine[v] = -1;
    };
    auto with_node_op = [&] {
      if (np.ops.empty()) return with_combine();
      for (int o = 0; o < static_cast<int>(np.ops.size()) && !stop; ++o) {
        ch.node_op[v] = o;
        with_combine();
      }
      ch.node_op[v] = -1;
    };
    if (np.select > 0) {
      for (const std::vector<int>& pick : ir::k_subsets(static_cast<int>(in.size()), np.select)) {
        std::function<void(std::size_t)> assign = [&](std::size_t i) {
          if (stop) return;
          if (i == pick.size()) return with_node_op();
          int e = in[pick[i]];
          for (int op = 0; op < static_cast<int>(c.edge(e).candidates.size()) && !stop; ++op) {
            if (c.edge(e).candidates[op].is_zero(1)) continue;
            ch.edge_op[e] = op;
            assign(i + 1);
          }
          ch.edge_op[e] = -1;
        };
        assign(0);
      }
      return;
    }
    std::function<void(std::size_t)> assign = [&](std::size_t i) {
      if (stop) return;
      if (i == in.size()) return with_node_op();
      int e = in[i];
      if (c.edge(e).optional) {
        ch.edge_op[e] = -1;
        assign(i + 1);
      }
      for (int op = 0; op < static_cast<int>(c.edge(e).candidates.size()) && !stop; ++op) {
        ch.edge_op[e] = op;
        assign(i + 1);
      }
      ch.edge_op[e] = -1;
    };
    assign(0);
  };
  node(I);
}

std::string canonical(const Cell& c, const CellChoice& ch) {
  std::vector<std::string> str(c.num_nodes());
  for (int v = 0; v < c.props().inputs; ++v) str[v] = std::to_string(v);
  for (int v : ir::topological_order(c)) {
    if (v < c.props().inputs) continue;
    std::vector<std::string> terms;
    for (int e : c.in_edges(v)) {
      int op = ch.edge_op[e];
      if (op < 0) continue;
      const ir::Op& o = c.edge(e).candidates[op];
      const std::string& src = str[c.source(e)];
      if (o.is_zero(1) || src == "#")
        terms.push_back("#");
      else if (o.is_identity(1))
        terms.push_back(src);
      else
        terms.push_back("(" + src + ")@" + o.name);
    }
    std::sort(terms.begin(), terms.end());
    std::string s;
    if (terms.empty())
      s = "#";
    else if (ir::combine_of(c, ch, v) == ir::Combine::Concat)
      s = fmt::format("cat({})", fmt::join(terms, ","));
    else
      s = fmt::format("{}", fmt::join(terms, "+"));
    if (!c.node(v).ops.empty() && ch.node_op[v] >= 0 && s != "#") {
      const ir::Op& nop = c.node(v).ops[ch.node_op[v]];
      if (nop.is_zero(1))
        s = "#";
      else if (!nop.is_identity(1))
        s = "(" + s + ")@" + nop.name;
    }
    str[v] = s;
  }
  if (c.props().output.kind == ir::CellOutput::Kind::Node) return str[c.props().output.nodes[0]];
  std::vector<std::string> parts;
  for (int v : ir::output_nodes(c, ch)) parts.push_back(str[v]);
  std::sort(parts.begin(), parts.end());
  return fmt::format("cat({})", fmt::join(parts, ","));
}

namespace {

// The distinct networks one stage of choice layers gives: the words of non-identity operation
// names its layers spell, where a layer that offers an identity may be skipped, over every depth
// the stage allows. Two architectures that spell the same word are the same network (canonical()
// below), so this is the stage's unique count. Counted on the automaton whose states are the sets
// of layer positions a prefix can have reached; it is acyclic, as positions only grow.
BigInt distinct_chain_words(const ir::Network& n, const ir::Stage& st) {
  const int L = static_cast<int>(st.depths.back());
  std::vector<std::set<std::string>> names(L);
  std::vector<bool> skippable(L, false);
  std::set<std::string> alphabet;
  for (int d = 0; d < L; ++d) {
    const ir::Unit& u = n.units[st.units[d]];
    for (const ir::Op& op : u.choices) {
      if (op.is_identity(u.in.channels)) {
        skippable[d] = true;
      } else {
        names[d].insert(op.name);
        alphabet.insert(op.name);
      }
    }
  }
  auto close = [&](std::set<int> s) {
    for (int i = 0; i < L; ++i)
      if (s.count(i) && skippable[i]) s.insert(i + 1);
    return s;
  };
  std::map<std::set<int>, BigInt> memo;
  std::function<BigInt(const std::set<int>&)> words = [&](const std::set<int>& state) -> BigInt {
    if (auto it = memo.find(state); it != memo.end()) return it->second;
    BigInt total = 0;
    for (std::int64_t depth : st.depths)
      if (state.count(static_cast<int>(depth))) {
        total = 1;  // the word read so far ends here
        break;
      }
    for (const std::string& a : alphabet) {
      std::set<int> next;
      for (int i : state)
        if (i < L && names[i].count(a)) next.insert(i + 1);
      if (!next.empty()) total += words(close(next));
    }
    return memo[state] = total;
  };
  return words(close({0}));
}

// Whether a stage is choice layers only (the stages distinct_chain_words() counts).
bool choice_layers_only(const ir::Network& n, const ir::Stage& st) {
  for (int u : st.units)
    if (n.units[u].kind != ir::UnitKind::Choice) return false;
  return !st.units.empty();
}

}  // namespace

std::string canonical(const ir::Program& p, const ir::Arch& a) {
  const ir::Network& n = *p.network;
  std::string s;
  for (std::size_t g = 0; g < n.cell_groups.size(); ++g)
    s += (g ? ";" : "") + canonical(p.cells[n.cell_groups[g].cell], a.cells[g]);
  // The chain: each active layer's operation, identities left out.
  std::vector<std::string> chain;
  for (std::size_t si = 0; si < n.stages.size(); ++si) {
    const ir::Stage& st = n.stages[si];
    std::int64_t depth = st.depths.back();
    if (st.depth_group >= 0) depth = st.depths[a.depths[st.depth_group]];
    for (std::int64_t d = 0; d < depth; ++d) {
      const ir::Unit& u = n.units[st.units[d]];
      if (u.kind != ir::UnitKind::Choice) continue;
      const ir::Op& op = u.choices[a.layers[u.group]];
      if (!op.is_identity(u.in.channels)) chain.push_back(op.name);
    }
    if (st.width_group >= 0) chain.push_back(fmt::format("w{}", st.widths[a.widths[st.width_group]]));
    chain.push_back("|");
  }
  s += "/" + fmt::format("{}", fmt::join(chain, " "));
  if (!n.resolutions.empty()) s += fmt::format("@{}", n.resolutions[a.resolution]);
  return s;
}

namespace {

// Which depth-choice stage, if any, owns the decisions of a unit: choice layers always, a cell
// only when its group is that unit alone.
int owning_stage(const ir::Network& n, const ir::Unit& u) {
  if (u.stage < 0 || n.stages[u.stage].depth_group < 0) return -1;
  if (u.kind == ir::UnitKind::Choice) return u.stage;
  if (u.kind == ir::UnitKind::Cell && n.cell_groups[u.group].units.size() == 1) return u.stage;
  return -1;
}

}  // namespace

namespace {

// Unique architectures of a cell whose only choices are which edges exist and which operation
// each node runs (NAS-Bench-101): every edge an optional identity, one input, the last node the
// output, every other node choosing from the same real operations. Two encodings are the same
// architecture when their graphs, pruned to the nodes on an input-output path, are isomorphic
// with the operations as labels (NAS-Bench-101's definition); encodings without such a path are
// not architectures. Counted without enumerating labellings: each edge set is pruned and its
// shape put in canonical form (the least adjacency over orders of the inner nodes); per shape,
// Burnside's lemma over its automorphisms counts the labellings that differ:
// (1/|Aut|) Σ_σ L^cycles(σ). NAS-Bench-101's 2^21 edge sets take about a second.
std::optional<BigInt> unique_node_dags(const Cell& c) {
  const int N = c.num_nodes(), out = N - 1, E = c.num_edges();
  if (c.props().inputs != 1 || N < 2 || N > 8 || E > 28) return std::nullopt;
  if (c.props().output.kind != ir::CellOutput::Kind::Node || c.props().output.nodes.front() != out) return std::nullopt;
  for (int e = 0; e < E; ++e) {
    const ir::EdgeProps& ep = c.edge(e);
    if (!ep.optional || ep.candidates.size() != 1 || !ep.candidates[0].is_identity(1)) return std::nullopt;
  }
  std::vector<std::string> labels;
  for (int v = 1; v < out; ++v) {
    const ir::NodeProps& np = c.node(v);
    if (np.select > 0 || np.ops.empty()) return std::nullopt;
    std::vector<std::string> names;
    for (const ir::Op& op : np.ops) {
      if (op.is_zero(1) || op.is_identity(1)) return std::nullopt;
      names.push_back(op.name);
    }
    if (v == 1) labels = names;
    if (names != labels) return std::nullopt;
  }
  if (!c.node(out).ops.empty() || c.node(out).select > 0) return std::nullopt;
  const BigInt L = labels.empty() ? BigInt(1) : BigInt(labels.size());

  // A pruned graph: k inner nodes, vertex 0 the input, k + 1 the output; bit i*(k+2)+j: i -> j.
  auto canonical_shape = [](int k, std::uint64_t adj) {
    const int V = k + 2;
    std::vector<int> perm(static_cast<std::size_t>(k));
    std::iota(perm.begin(), perm.end(), 1);
    std::uint64_t best = ~std::uint64_t{0};
    do {
      std::vector<int> to(static_cast<std::size_t>(V));  // old vertex -> new
      to[0] = 0;
      to[static_cast<std::size_t>(V - 1)] = V - 1;
      for (int i = 0; i < k; ++i) to[static_cast<std::size_t>(perm[static_cast<std::size_t>(i)])] = i + 1;
      std::uint64_t m = 0;
      for (int i = 0; i < V; ++i)
        for (int j = 0; j < V; ++j)
          if (adj >> (i * V + j) & 1)
            m |= std::uint64_t{1} << (to[static_cast<std::size_t>(i)] * V + to[static_cast<std::size_t>(j)]);
      best = std::min(best, m);
    } while (std::next_permutation(perm.begin(), perm.end()));
    return best;
  };
  std::unordered_map<std::uint64_t, std::uint64_t> canonical_of;  // (k, raw adjacency) -> canonical
  std::set<std::pair<int, std::uint64_t>> shapes;
  std::vector<int> src(static_cast<std::size_t>(E)), dst(static_cast<std::size_t>(E));
  for (int e = 0; e < E; ++e) {
    src[static_cast<std::size_t>(e)] = c.source(e);
    dst[static_cast<std::size_t>(e)] = c.target(e);
  }
  const std::vector<int> order = ir::topological_order(c);
  for (std::uint64_t set = 0; set < (std::uint64_t{1} << E); ++set) {
    if (!allowed(c, std::popcount(set))) continue;
    // Nodes reachable from the input, and nodes that reach the output.
    std::uint32_t from_in = 1, to_out = 1u << out;
    for (int v : order)
      for (int e = 0; e < E; ++e)
        if ((set >> e & 1) && dst[static_cast<std::size_t>(e)] == v &&
            (from_in >> src[static_cast<std::size_t>(e)] & 1))
          from_in |= 1u << v;
    for (auto it = order.rbegin(); it != order.rend(); ++it)
      for (int e = 0; e < E; ++e)
        if ((set >> e & 1) && src[static_cast<std::size_t>(e)] == *it &&
            (to_out >> dst[static_cast<std::size_t>(e)] & 1))
          to_out |= 1u << *it;
    const std::uint32_t kept = from_in & to_out;
    if (!(kept >> out & 1)) continue;  // no input-output path
    std::vector<int> index(static_cast<std::size_t>(N), -1);
    int k = 0;
    index[0] = 0;
    for (int v = 1; v < out; ++v)
      if (kept >> v & 1) index[static_cast<std::size_t>(v)] = ++k;
    index[static_cast<std::size_t>(out)] = k + 1;
    const int V = k + 2;
    std::uint64_t adj = 0;
    for (int e = 0; e < E; ++e) {
      const int a = index[static_cast<std::size_t>(src[static_cast<std::size_t>(e)])],
                b = index[static_cast<std::size_t>(dst[static_cast<std::size_t>(e)])];
      if ((set >> e & 1) && a >= 0 && b >= 0) adj |= std::uint64_t{1} << (a * V + b);
    }
    const std::uint64_t key = adj * 8 + static_cast<std::uint64_t>(k);
    auto it = canonical_of.find(key);
    if (it == canonical_of.end()) it = canonical_of.emplace(key, canonical_shape(k, adj)).first;
    shapes.emplace(k, it->second);
  }
  BigInt total = 0;
  for (const auto& [k, adj] : shapes) {
    const int V = k + 2;
    std::vector<int> perm(static_cast<std::size_t>(k));
    std::iota(perm.begin(), perm.end(), 1);
    BigInt fixed = 0;
    std::int64_t automorphisms = 0;
    do {
      auto image = [&](int v) { return v == 0 || v == V - 1 ? v : perm[static_cast<std::size_t>(v - 1)]; };
      bool same = true;
      for (int i = 0; i < V && same; ++i)
        for (int j = 0; j < V && same; ++j) same = (adj >> (i * V + j) & 1) == (adj >> (image(i) * V + image(j)) & 1);
      if (!same) continue;
      ++automorphisms;
      int cycles = 0;
      std::vector<bool> seen(static_cast<std::size_t>(V));
      for (int v = 1; v <= k; ++v) {
        if (seen[static_cast<std::size_t>(v)]) continue;
        ++cycles;
        for (int w = v; !seen[static_cast<std::size_t>(w)]; w = image(w)) seen[static_cast<std::size_t>(w)] = true;
      }
      BigInt labelled = 1;
      for (int i = 0; i < cycles; ++i) labelled *= L;
      fixed += labelled;
    } while (std::next_permutation(perm.begin(), perm.end()));
    total += fixed / automorphisms;
  }
  return total;
}

}  // namespace

std::optional<BigInt> swap_free_size(const Cell& c) {
  for (bool ok : c.props().allowed_edge_counts)
    if (!ok) return std::nullopt;
  const int I = c.props().inputs;
  std::vector<bool> in_output(c.num_nodes(), false);
  for (int v : c.props().output.nodes) in_output[v] = true;
  // A node's choices: which `select` inputs it keeps with a real operation each, or an operation
  // (or absence) on every input.
  auto choices = [&](int v) {
    std::vector<int> in = c.in_edges(v);
    if (c.node(v).select > 0) {
      std::vector<BigInt> real;
      for (int e : in) real.push_back(nonzero_candidates(c, e));
      return elementary(real, c.node(v).select);
    }
    BigInt m = 1;
    for (int e : in) m *= static_cast<int>(c.edge(e).candidates.size()) + (c.edge(e).optional ? 1 : 0);
    return m;
  };
  BigInt total = cell_size(c), swapped = total;
  bool any = false;
  for (int t = I; t < c.num_nodes(); ++t) {
    // NAS-Bench-101's output node gives its inputs widths in node order; a sum, or a concatenation
    // projected back to the width (whose weights permute with its inputs), does not care.
    if (ir::concatenates_at_output(c) && t == c.props().output.nodes.front()) continue;
    // The inputs of t that could trade places: each feeds only t, through the same fixed
    // candidate, has no operation of its own and is not part of the output; grouped by what
    // they choose among.
    std::map<std::string, std::vector<int>> groups;
    for (int e : c.in_edges(t)) {
      const int u = c.source(e);
      const ir::EdgeProps& ep = c.edge(e);
      int outs = 0;
      for (int f = 0; f < c.num_edges(); ++f) outs += c.source(f) == u;
      if (u < I || outs != 1 || in_output[u] || !c.node(u).ops.empty() || ep.optional || ep.candidates.size() != 1)
        continue;
      std::string key = fmt::format("{}|{}|{}|{}", ep.candidates[0].name, ep.stride, c.node(u).select,
                                    static_cast<int>(c.node(u).combines.front()) + 10 * c.node(u).combines.size());
      for (int f : c.in_edges(u)) {
        key += fmt::format("|{}:{}:{}:", c.source(f), c.edge(f).stride, c.edge(f).optional);
        for (const ir::Op& op : c.edge(f).candidates) key += op.name + ",";
      }
      groups[key].push_back(u);
    }
    for (const auto& [key, nodes] : groups) {
      const int k = static_cast<int>(nodes.size());
      if (k < 2) continue;
      any = true;
      const BigInt m = choices(nodes.front());
      BigInt ordered = 1, multisets = 1;
      for (int i = 0; i < k; ++i) {
        ordered *= m;
        multisets = multisets * (m + i) / (i + 1);  // C(m+k-1, k), exact at every step
      }
      swapped = swapped / ordered * multisets;
    }
  }
  if (!any) return std::nullopt;
  return swapped;
}

SpaceSize count(const ir::Program& p, bool with_unique) {
  SpaceSize out;
  out.raw = 1;
  if (!p.network) return out;
  const ir::Network& n = *p.network;
  std::map<int, BigInt> per_cell;
  std::map<int, std::optional<BigInt>> unique_cell, swap_free_cell;
  for (const ir::CellGroup& g : n.cell_groups) {
    if (per_cell.count(g.cell)) continue;
    const Cell& c = p.cells[g.cell];
    per_cell[g.cell] = cell_size(c);
    // Cells of node operations and optional plain edges count by graph isomorphism whatever
    // their size (NAS-Bench-101's definition); the others by enumeration, when small enough.
    std::optional<BigInt> uniq = with_unique ? unique_node_dags(c) : std::nullopt;
    if (with_unique && !uniq && per_cell[g.cell] <= kEnumerateLimit) {
      std::unordered_set<std::string> seen;
      enumerate_cell(c, [&](const CellChoice& ch) {
        seen.insert(canonical(c, ch));
        return true;
      });
      uniq = BigInt(seen.size());
    }
    unique_cell[g.cell] = uniq;
    swap_free_cell[g.cell] = swap_free_size(c);
    out.cells.push_back(CellCount{c.props().name, per_cell[g.cell], uniq, swap_free_cell[g.cell]});
  }
  // Without symmetric duplicates: the cells' counts so reduced, where cells are decided once
  // (outside depth choices, which sum over cells).
  bool swaps = false, simple = true;
  BigInt swap_free = 1;
  for (const ir::CellGroup& g : n.cell_groups) {
    const std::optional<BigInt>& reduced = swap_free_cell[g.cell];
    swaps = swaps || reduced;
    simple = simple && owning_stage(n, n.units[g.units[0]]) < 0;
    swap_free *= reduced ? *reduced : per_cell[g.cell];
  }
  // Decisions outside depth-choice stages multiply once; inside, sum over the depths.
  BigInt raw = 1;
  std::optional<BigInt> unique = BigInt(1);
  for (std::size_t g = 0; g < n.cell_groups.size(); ++g) {
    const ir::Unit& first = n.units[n.cell_groups[g].units[0]];
    if (owning_stage(n, first) >= 0) continue;
    raw *= per_cell[n.cell_groups[g].cell];
    if (unique && unique_cell[n.cell_groups[g].cell])
      *unique *= *unique_cell[n.cell_groups[g].cell];
    else
      unique.reset();
  }
  bool chain_has_identity = false;
  for (const ir::Stage& st : n.stages) {
    // A stage of choice layers counts its distinct networks exactly, however large: its identity
    // layers merge architectures only inside it. Other stages fall back to enumeration below.
    const bool chain_only = choice_layers_only(n, st);
    BigInt stage_sum = 0;
    for (std::int64_t depth : st.depths) {
      BigInt prod = 1;
      for (std::int64_t d = 0; d < depth; ++d) {
        const ir::Unit& u = n.units[st.units[d]];
        if (u.kind == ir::UnitKind::Choice) {
          prod *= u.choices.size();
          for (const ir::Op& op : u.choices)
            chain_has_identity = chain_has_identity || (!chain_only && op.is_identity(u.in.channels));
        } else if (u.kind == ir::UnitKind::Cell && owning_stage(n, u) >= 0) {
          prod *= per_cell[u.cell];
          if (!unique_cell[u.cell] || *unique_cell[u.cell] != per_cell[u.cell]) chain_has_identity = true;
        }
      }
      if (st.depth_group < 0) {
        stage_sum = prod;
        break;
      }
      stage_sum += prod;
    }
    // A width choice multiplies the stage's networks: every width is a different network.
    const std::size_t widths = std::max<std::size_t>(1, st.widths.size());
    raw *= stage_sum * widths;
    if (unique) *unique *= (chain_only && with_unique ? distinct_chain_words(n, st) : stage_sum) * widths;
  }
  out.raw = raw;
  out.resolutions = std::max<int>(1, static_cast<int>(n.resolutions.size()));
  if (swaps && simple) {
    BigInt cells_raw = 1;
    for (const ir::CellGroup& g : n.cell_groups) cells_raw *= per_cell[g.cell];
    out.without_swaps = raw / cells_raw * swap_free;
  }
  if (!with_unique) {
    unique.reset();
    out.unique_note = "not computed";
  }
  if (unique && chain_has_identity) {
    // Identity layers make different encodings equal: count distinct canonical forms.
    if (raw <= kEnumerateLimit) {
      std::unordered_set<std::string> seen;
      enumerate(
          p, kEnumerateLimit,
          [&](const ir::Arch& a) {
            seen.insert(canonical(p, a));
            return true;
          },
          /*every_resolution=*/false);
      unique = BigInt(seen.size());
    } else {
      unique.reset();
      out.unique_note = "the chain has identity layers and the space is too large to enumerate";
    }
  }
  if (!unique && out.unique_note.empty())
    out.unique_note = fmt::format("a cell space is larger than {} and is not enumerated", kEnumerateLimit);
  out.unique = unique;
  return out;
}

bool enumerate(const ir::Program& p, std::uint64_t limit, const std::function<bool(const ir::Arch&)>& fn,
               bool every_resolution) {
  if (!p.network) return false;
  const ir::Network& n = *p.network;
  // Domains of every decision.
  std::vector<std::vector<CellChoice>> cells;
  BigInt product = 1;
  for (const ir::CellGroup& g : n.cell_groups) {
    const Cell& c = p.cells[g.cell];
    if (cell_size(c) > limit) return false;
    std::vector<CellChoice> all;
    enumerate_cell(c, [&](const CellChoice& ch) {
      all.push_back(ch);
      return true;
    });
    product *= all.size();
    cells.push_back(std::move(all));
  }
  for (int u : n.layer_groups) product *= n.units[u].choices.size();
  for (int s : n.depth_groups) product *= n.stages[s].depths.size();
  for (int s : n.width_groups) product *= n.stages[s].widths.size();
  const int resolutions = every_resolution ? std::max<int>(1, static_cast<int>(n.resolutions.size())) : 1;
  product *= resolutions;
  if (product > BigInt(limit) * 64) return false;
  ir::Arch a;
  a.cells.resize(cells.size());
  a.layers.assign(n.layer_groups.size(), 0);
  a.depths.assign(n.depth_groups.size(), 0);
  a.widths.assign(n.width_groups.size(), 0);
  std::vector<std::size_t> ci(cells.size(), 0);
  auto active = [&](int layer) {
    const ir::Unit& u = n.units[n.layer_groups[layer]];
    const ir::Stage& st = n.stages[u.stage];
    if (st.depth_group < 0) return true;
    return u.depth_index < st.depths[a.depths[st.depth_group]];
  };
  std::uint64_t emitted = 0;
  while (true) {
    for (std::size_t g = 0; g < cells.size(); ++g) a.cells[g] = cells[g][ci[g]];
    bool canonical_layers = true;  // inactive layers stay at candidate 0, so each architecture appears once
    for (std::size_t l = 0; l < a.layers.size(); ++l)
      canonical_layers = canonical_layers && (active(static_cast<int>(l)) || a.layers[l] == 0);
    if (canonical_layers) {
      if (++emitted > limit) return false;
      if (!fn(a)) return true;
    }
    // Odometer: the resolution, depths, widths, then layers, then cells.
    if (++a.resolution < resolutions) continue;
    a.resolution = 0;
    std::size_t k = 0;
    for (; k < a.depths.size(); ++k) {
      if (++a.depths[k] < static_cast<int>(n.stages[n.depth_groups[k]].depths.size())) break;
      a.depths[k] = 0;
    }
    if (k < a.depths.size()) continue;
    std::size_t w = 0;
    for (; w < a.widths.size(); ++w) {
      if (++a.widths[w] < static_cast<int>(n.stages[n.width_groups[w]].widths.size())) break;
      a.widths[w] = 0;
    }
    if (w < a.widths.size()) continue;
    std::size_t l = 0;
    for (; l < a.layers.size(); ++l) {
      if (++a.layers[l] < static_cast<int>(n.units[n.layer_groups[l]].choices.size())) break;
      a.layers[l] = 0;
    }
    if (l < a.layers.size()) continue;
    std::size_t g = 0;
    for (; g < ci.size(); ++g) {
      if (++ci[g] < cells[g].size()) break;
      ci[g] = 0;
    }
    if (g == ci.size()) return true;
  }
}

}  // namespace cella::passes
