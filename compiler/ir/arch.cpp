// Architecture checks and encodings.
#include "compiler/ir/arch.h"

#include "compiler/ir/subspace.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <nlohmann/json.hpp>

namespace cella::ir {

namespace {

int op_index(const std::vector<Op>& ops, std::string_view name) {
  for (std::size_t i = 0; i < ops.size(); ++i)
    if (ops[i].name == name) return static_cast<int>(i);
  return -1;
}

std::string names_of(const std::vector<Op>& ops) {
  std::string s;
  for (std::size_t i = 0; i < ops.size(); ++i) s += (i ? ", " : "") + ops[i].name;
  return s;
}

const Network& net_of(const Program& p) { return *p.network; }

// Where the mode `name` stands among a node's modes, or -1.
int combine_index(const std::vector<Combine>& modes, std::string_view name) {
  auto it = std::find(modes.begin(), modes.end(), combine_named(name));
  return it == modes.end() ? -1 : static_cast<int>(it - modes.begin());
}

Arch empty_arch(const Program& p) {
  const Network& n = net_of(p);
  Arch a;
  for (const CellGroup& g : n.cell_groups) {
    const Cell& c = p.cells[g.cell];
    CellChoice ch;
    ch.edge_op.assign(c.num_edges(), -1);
    ch.node_op.assign(c.num_nodes(), -1);
    ch.node_combine.assign(c.num_nodes(), -1);
    a.cells.push_back(ch);
  }
  a.layers.assign(n.layer_groups.size(), 0);
  a.depths.assign(n.depth_groups.size(), 0);
  a.widths.assign(n.width_groups.size(), 0);
  return a;
}

// The two cell groups of a DARTS-style network: (normal, reduce), or nullopt.
std::optional<std::pair<int, int>> darts_groups(const Program& p) {
  const Network& n = net_of(p);
  if (n.cell_groups.size() != 2 || !n.layer_groups.empty() || !n.depth_groups.empty() || n.resolutions.size() > 1)
    return std::nullopt;
  int normal = -1, reduce = -1;
  for (int g = 0; g < 2; ++g) {
    const Cell& c = p.cells[n.cell_groups[g].cell];
    (c.props().reduction ? reduce : normal) = g;
  }
  if (normal < 0 || reduce < 0) return std::nullopt;
  return std::make_pair(normal, reduce);
}

bool nb201_like(const Program& p) {
  if (!p.network) return false;
  const Network& n = *p.network;
  if (n.cell_groups.size() != 1 || !n.layer_groups.empty() || !n.depth_groups.empty() || n.resolutions.size() > 1)
    return false;
  const Cell& c = p.cells[n.cell_groups[0].cell];
  for (int v = 0; v < c.num_nodes(); ++v)
    if (!c.node(v).ops.empty()) return false;
  return c.props().inputs == 1;
}

// Whether an architecture decides anything about node v's inputs. A node whose incoming edges
// are all fixed (one candidate, never absent: NASNet's block joining its two chosen inputs) is
// left out of genotypes, whose pairs list only the decided inputs.
bool chooses_inputs(const Cell& c, int v) {
  if (c.node(v).select > 0) return true;
  for (int e : c.in_edges(v))
    if (c.edge(e).optional || c.edge(e).candidates.size() > 1) return true;
  return false;
}

// A genotype's concat list, `[2, 3, 4, 5]` or `range(2, 6)`; nullopt if it has none or it is
// written otherwise.
std::optional<std::vector<int>> genotype_concat(std::string_view text, std::string_view key) {
  std::size_t at = text.find(std::string(key) + "=");
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(at + key.size() + 1);
  std::vector<int> nums;
  std::size_t end = rest.find_first_of("])");
  if (end == std::string_view::npos) return std::nullopt;
  for (std::size_t i = 0; i < end;) {
    if (!std::isdigit(static_cast<unsigned char>(rest[i]))) {
      ++i;
      continue;
    }
    int x = 0;
    auto [ptr, ec] = std::from_chars(rest.data() + i, rest.data() + end, x);
    nums.push_back(x);
    i = static_cast<std::size_t>(ptr - rest.data());
  }
  if (rest.starts_with("[")) return nums;
  if (rest.starts_with("range(") && nums.size() == 2) {
    std::vector<int> r;
    for (int x = nums[0]; x < nums[1]; ++x) r.push_back(x);
    return r;
  }
  return std::nullopt;
}

// A genotype's list of quoted words, `key=['sum', 'concat']`; nullopt if it has none.
std::optional<std::vector<std::string>> genotype_words(std::string_view text, std::string_view key) {
  std::size_t at = text.find(std::string(key) + "=[");
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(at + key.size() + 2);
  rest = rest.substr(0, rest.find(']'));
  std::vector<std::string> words;
  for (std::size_t q = rest.find('\''); q != std::string_view::npos; q = rest.find('\'', q)) {
    std::size_t end = rest.find('\'', q + 1);
    if (end == std::string_view::npos) break;
    words.emplace_back(rest.substr(q + 1, end - q - 1));
    q = end + 1;
  }
  return words;
}

}  // namespace

std::optional<std::string> check_choice(const Cell& cell, const CellChoice& ch) {
  const std::string& name = cell.props().name;
  if (static_cast<int>(ch.edge_op.size()) != cell.num_edges())
    return fmt::format("cell '{}' has {} edges, the architecture gives {}", name, cell.num_edges(), ch.edge_op.size());
  int present = 0;
  for (int e = 0; e < cell.num_edges(); ++e) {
    int op = ch.edge_op[e];
    const EdgeProps& ep = cell.edge(e);
    if (op < -1 || op >= static_cast<int>(ep.candidates.size()))
      return fmt::format("edge {} of cell '{}' has no candidate {}", cell.edge_name(e), name, op);
    present += op >= 0;
  }
  for (int v = cell.props().inputs; v < cell.num_nodes(); ++v) {
    const NodeProps& np = cell.node(v);
    std::vector<int> in = cell.in_edges(v);
    if (np.select > 0) {
      int chosen = 0;
      for (int e : in) {
        if (ch.edge_op[e] < 0) continue;
        ++chosen;
        if (cell.edge(e).candidates[ch.edge_op[e]].is_zero(1))
          return fmt::format("node {} of cell '{}' selects edge {} with '{}'; a selected edge needs a real operation",
                             v, name, cell.edge_name(e), cell.edge(e).candidates[ch.edge_op[e]].name);
      }
      if (chosen != np.select)
        return fmt::format("node {} of cell '{}' must keep exactly {} inputs, the architecture keeps {}", v, name,
                           np.select, chosen);
    } else {
      for (int e : in)
        if (ch.edge_op[e] < 0 && !cell.edge(e).optional)
          return fmt::format("edge {} of cell '{}' needs an operation", cell.edge_name(e), name);
    }
    if (!np.ops.empty()) {
      int op = v < static_cast<int>(ch.node_op.size()) ? ch.node_op[v] : -1;
      if (op < 0 || op >= static_cast<int>(np.ops.size()))
        return fmt::format("node {} of cell '{}' needs one of its operations ({})", v, name, names_of(np.ops));
    }
    if (np.chooses_combine()) {
      int k = v < static_cast<int>(ch.node_combine.size()) ? ch.node_combine[v] : -1;
      if (k < 0 || k >= static_cast<int>(np.combines.size()))
        return fmt::format("node {} of cell '{}' needs a combine mode ({})", v, name, combine_names(np.combines));
    }
  }
  const auto& allowed = cell.props().allowed_edge_counts;
  if (present < static_cast<int>(allowed.size()) && !allowed[present])
    return fmt::format("cell '{}' with {} edges breaks its constraint '{}'", name, present,
                       cell.props().constraint_text);
  return std::nullopt;
}

std::optional<std::string> check_arch(const Program& p, const Arch& a) {
  if (!p.network) return std::string("the file has no network");
  const Network& n = *p.network;
  if (a.cells.size() != n.cell_groups.size() || a.layers.size() != n.layer_groups.size() ||
      a.depths.size() != n.depth_groups.size() || a.widths.size() != n.width_groups.size())
    return std::string("the architecture does not match the network's decisions");
  for (std::size_t g = 0; g < a.cells.size(); ++g)
    if (auto err = check_choice(p.cells[n.cell_groups[g].cell], a.cells[g])) return err;
  for (std::size_t l = 0; l < a.layers.size(); ++l) {
    const Unit& u = n.units[n.layer_groups[l]];
    if (a.layers[l] < 0 || a.layers[l] >= static_cast<int>(u.choices.size()))
      return fmt::format("layer {} has no candidate {}", u.name, a.layers[l]);
  }
  for (std::size_t d = 0; d < a.depths.size(); ++d) {
    const Stage& s = n.stages[n.depth_groups[d]];
    if (a.depths[d] < 0 || a.depths[d] >= static_cast<int>(s.depths.size()))
      return fmt::format("stage {} has no depth choice {}", n.depth_groups[d], a.depths[d]);
  }
  for (std::size_t w = 0; w < a.widths.size(); ++w) {
    const Stage& s = n.stages[n.width_groups[w]];
    if (a.widths[w] < 0 || a.widths[w] >= static_cast<int>(s.widths.size()))
      return fmt::format("stage {} has no width choice {}", n.width_groups[w], a.widths[w]);
  }
  if (a.resolution < 0 || a.resolution >= std::max<int>(1, static_cast<int>(n.resolutions.size())))
    return fmt::format("the network has no resolution choice {}", a.resolution);
  return std::nullopt;
}

std::int64_t unit_width(const Program& program, int unit, const Arch& arch) {
  const Network& n = *program.network;
  const Unit& u = n.units[static_cast<std::size_t>(unit)];
  if (u.stage < 0) return u.out.channels;
  const Stage& st = n.stages[static_cast<std::size_t>(u.stage)];
  if (st.width_group < 0) return u.out.channels;
  return st.widths[static_cast<std::size_t>(arch.widths.at(static_cast<std::size_t>(st.width_group)))];
}

int real_op(const Cell& cell, const CellChoice& choice, int edge) {
  const int k = choice.edge_op[edge];
  return k < 0 || cell.edge(edge).candidates[k].is_zero(1) ? -1 : k;
}

Combine combine_of(const Cell& cell, const CellChoice& choice, int v) {
  const std::vector<Combine>& modes = cell.node(v).combines;
  const int k = v < static_cast<int>(choice.node_combine.size()) ? choice.node_combine[v] : -1;
  return modes[k >= 0 && k < static_cast<int>(modes.size()) ? k : 0];
}

bool unit_runs(const Program& program, int unit, const Arch& arch) {
  const Network& n = *program.network;
  const Unit& u = n.units[unit];
  if (u.stage < 0) return true;
  const Stage& st = n.stages[u.stage];
  return st.depth_group < 0 || u.depth_index < st.depths[arch.depths[st.depth_group]];
}

std::vector<int> output_nodes(const Cell& cell, const CellChoice& choice) {
  const CellOutput& o = cell.props().output;
  if (o.kind != CellOutput::Kind::Unused) return o.nodes;
  std::vector<bool> used(cell.num_nodes(), false);
  for (int e = 0; e < cell.num_edges(); ++e)
    if (real_op(cell, choice, e) >= 0) used[cell.source(e)] = true;
  std::vector<int> out;
  for (int v : o.nodes)
    if (!used[v]) out.push_back(v);
  return out;
}

bool connects_input(const Cell& cell, const CellChoice& ch) {
  std::vector<bool> live(cell.num_nodes(), false);
  for (int v = 0; v < cell.props().inputs; ++v) live[v] = true;
  // Edges are indexed by target node; one pass in node order suffices when edges go forward,
  // and repeating until nothing changes covers any DAG.
  for (bool changed = true; changed;) {
    changed = false;
    for (int e = 0; e < cell.num_edges(); ++e) {
      if (real_op(cell, ch, e) < 0 || !live[cell.source(e)] || live[cell.target(e)]) continue;
      live[cell.target(e)] = changed = true;
    }
  }
  for (int o : output_nodes(cell, ch))
    if (live[o]) return true;
  return false;
}

std::vector<ArchFormat> formats(const Program& p) {
  std::vector<ArchFormat> out;
  if (nb201_like(p)) out.push_back(ArchFormat::Nb201);
  if (p.network && darts_groups(p)) out.push_back(ArchFormat::Darts);
  out.push_back(ArchFormat::Json);
  if (p.network && !elastic_encoding(p, empty_arch(p)).empty()) out.push_back(ArchFormat::Flat);
  return out;
}

std::string to_nb201(const Program& p, const Arch& a) {
  const Cell& c = p.cells[net_of(p).cell_groups[0].cell];
  std::string s;
  for (int v = c.props().inputs; v < c.num_nodes(); ++v) {
    if (v > c.props().inputs) s += "+";
    s += "|";
    for (int e : c.in_edges(v)) {
      if (a.cells[0].edge_op[e] < 0) continue;
      s += fmt::format("{}~{}|", c.edge(e).candidates[a.cells[0].edge_op[e]].name, c.source(e));
    }
  }
  return s;
}

std::string to_genotype(const Program& p, const Arch& a) {
  auto groups = *darts_groups(p);
  auto part = [&](int g) {
    const Cell& c = p.cells[net_of(p).cell_groups[g].cell];
    std::string pairs;
    for (int v = c.props().inputs; v < c.num_nodes(); ++v) {
      if (!chooses_inputs(c, v)) continue;
      for (int e : c.in_edges(v)) {
        int op = a.cells[g].edge_op[e];
        if (op < 0) continue;
        pairs += fmt::format("{}('{}', {})", pairs.empty() ? "" : ", ", c.edge(e).candidates[op].name, c.source(e));
      }
    }
    return std::make_pair(pairs, fmt::format("{}", fmt::join(output_nodes(c, a.cells[g]), ", ")));
  };
  // cella's extension: the combine modes of the nodes that choose one.
  auto modes = [&](std::string_view key, int g) {
    const Cell& c = p.cells[net_of(p).cell_groups[g].cell];
    std::vector<std::string> words;
    for (int v = c.props().inputs; v < c.num_nodes(); ++v)
      if (c.node(v).chooses_combine()) words.push_back(fmt::format("'{}'", combine_name(combine_of(c, a.cells[g], v))));
    return words.empty() ? std::string() : fmt::format(", {}_combine=[{}]", key, fmt::join(words, ", "));
  };
  auto [n, nc] = part(groups.first);
  auto [r, rc] = part(groups.second);
  return fmt::format("Genotype(normal=[{}], normal_concat=[{}]{}, reduce=[{}], reduce_concat=[{}]{})", n, nc,
                     modes("normal", groups.first), r, rc, modes("reduce", groups.second));
}

nlohmann::json to_json(const Program& p, const Arch& a) {
  const Network& n = net_of(p);
  nlohmann::json j = nlohmann::json::object();
  nlohmann::json cells = nlohmann::json::object();
  for (std::size_t g = 0; g < n.cell_groups.size(); ++g) {
    const Cell& c = p.cells[n.cell_groups[g].cell];
    nlohmann::json edges = nlohmann::json::object(), nodes = nlohmann::json::object();
    for (int e = 0; e < c.num_edges(); ++e) {
      int op = a.cells[g].edge_op[e];
      edges[c.edge_name(e)] = op < 0 ? nlohmann::json(nullptr) : nlohmann::json(c.edge(e).candidates[op].name);
    }
    for (int v = 0; v < c.num_nodes(); ++v)
      if (!c.node(v).ops.empty() && a.cells[g].node_op[v] >= 0)
        nodes[std::to_string(v)] = c.node(v).ops[a.cells[g].node_op[v]].name;
    nlohmann::json combine = nlohmann::json::object();
    for (int v = 0; v < c.num_nodes(); ++v)
      if (c.node(v).chooses_combine()) combine[std::to_string(v)] = combine_name(combine_of(c, a.cells[g], v));
    nlohmann::json cell = {{"edges", edges}};
    if (!nodes.empty()) cell["nodes"] = nodes;
    if (!combine.empty()) cell["combine"] = combine;
    cells[n.cell_groups[g].name] = cell;
  }
  if (!cells.empty()) j["cells"] = cells;
  if (!n.layer_groups.empty()) {
    nlohmann::json layers = nlohmann::json::object();
    for (std::size_t l = 0; l < n.layer_groups.size(); ++l) {
      const Unit& u = n.units[n.layer_groups[l]];
      layers[u.name] = u.choices[a.layers[l]].name;
    }
    j["layers"] = layers;
  }
  if (!n.depth_groups.empty()) {
    nlohmann::json depths = nlohmann::json::object();
    for (std::size_t d = 0; d < n.depth_groups.size(); ++d) {
      const Stage& s = n.stages[n.depth_groups[d]];
      depths[fmt::format("stages.{}", n.depth_groups[d])] = s.depths[a.depths[d]];
    }
    j["depths"] = depths;
  }
  if (!n.width_groups.empty()) {
    nlohmann::json widths = nlohmann::json::object();
    for (std::size_t w = 0; w < n.width_groups.size(); ++w)
      widths[fmt::format("stages.{}", n.width_groups[w])] = n.stages[n.width_groups[w]].widths[a.widths[w]];
    j["widths"] = widths;
  }
  if (!n.resolutions.empty()) j["resolution"] = n.resolutions[a.resolution];
  return j;
}

std::string to_flat(const Program& p, const Arch& a) {
  std::vector<std::int64_t> flat = elastic_encoding(p, a);
  if (!net_of(p).resolutions.empty()) flat.push_back(net_of(p).resolutions[a.resolution]);
  return fmt::format("[{}]", fmt::join(flat, ", "));
}

std::string to_text(const Program& p, const Arch& a) {
  auto f = formats(p);
  if (f.front() == ArchFormat::Nb201) return to_nb201(p, a);
  if (f.front() == ArchFormat::Darts) return to_genotype(p, a);
  return to_json(p, a).dump();
}

namespace {

std::variant<Arch, std::string> parse_nb201(const Program& p, std::string_view text) {
  if (!nb201_like(p))
    return std::string("this space has no NAS-Bench-201 form (it needs one shared 1-input cell); use JSON");
  const Cell& c = p.cells[net_of(p).cell_groups[0].cell];
  Arch a = empty_arch(p);
  std::vector<std::string> groups;
  std::string cur;
  for (char ch : text) {
    if (ch == '+') {
      groups.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(ch);
    }
  }
  groups.push_back(cur);
  int nodes = c.num_nodes() - c.props().inputs;
  if (static_cast<int>(groups.size()) != nodes)
    return fmt::format("expected {} '+'-separated node groups, found {}", nodes, groups.size());
  for (int gi = 0; gi < nodes; ++gi) {
    int v = c.props().inputs + gi;
    std::string_view g = groups[gi];
    std::size_t pos = 0;
    while (pos < g.size()) {
      std::size_t bar = g.find('|', pos);
      std::string_view tok = g.substr(pos, bar == std::string_view::npos ? std::string_view::npos : bar - pos);
      pos = bar == std::string_view::npos ? g.size() : bar + 1;
      if (tok.empty()) continue;
      std::size_t tilde = tok.rfind('~');
      if (tilde == std::string_view::npos) return fmt::format("'{}' is not of the form op~input", tok);
      std::string_view op = tok.substr(0, tilde), src_text = tok.substr(tilde + 1);
      int src = -1;
      auto [ptr, ec] = std::from_chars(src_text.data(), src_text.data() + src_text.size(), src);
      if (ec != std::errc() || ptr != src_text.data() + src_text.size())
        return fmt::format("'{}' is not a node number", src_text);
      int e = c.find_edge(src, v);
      if (e < 0) return fmt::format("cell '{}' has no edge {}<-{}", c.props().name, v, src);
      int idx = op_index(c.edge(e).candidates, op);
      if (idx < 0)
        return fmt::format("edge {} has no candidate '{}' (it has {})", c.edge_name(e), op,
                           names_of(c.edge(e).candidates));
      if (a.cells[0].edge_op[e] >= 0) return fmt::format("edge {} is given twice", c.edge_name(e));
      a.cells[0].edge_op[e] = idx;
    }
  }
  return a;
}

std::variant<Arch, std::string> parse_genotype(const Program& p, std::string_view text) {
  auto groups = darts_groups(p);
  if (!groups)
    return std::string("this space has no DARTS genotype form (it needs a normal and a reduction cell); use JSON");
  Arch a = empty_arch(p);
  auto parse_part = [&](std::string_view key, int g) -> std::optional<std::string> {
    std::string k = std::string(key) + "=[";
    std::size_t at = text.find(k);
    if (at == std::string_view::npos) return fmt::format("the genotype has no '{}' list", key);
    std::size_t end = text.find(']', at);
    if (end == std::string_view::npos) return fmt::format("the '{}' list is not closed", key);
    std::string_view body = text.substr(at + k.size(), end - at - k.size());
    const Cell& c = p.cells[net_of(p).cell_groups[g].cell];
    std::vector<std::pair<std::string, int>> pairs;
    std::size_t pos = 0;
    while ((pos = body.find('(', pos)) != std::string_view::npos) {
      std::size_t close = body.find(')', pos);
      if (close == std::string_view::npos) return std::string("unbalanced parentheses in the genotype");
      std::string_view pair = body.substr(pos + 1, close - pos - 1);
      std::size_t q1 = pair.find('\''), q2 = pair.find('\'', q1 + 1), comma = pair.find(',', q2);
      if (q1 == std::string_view::npos || q2 == std::string_view::npos || comma == std::string_view::npos)
        return fmt::format("'({})' is not of the form ('op', input)", pair);
      std::string op(pair.substr(q1 + 1, q2 - q1 - 1));
      std::string num(pair.substr(comma + 1));
      num.erase(0, num.find_first_not_of(' '));
      num.erase(num.find_last_not_of(' ') + 1);
      int src = -1;
      auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), src);
      if (ec != std::errc() || ptr != num.data() + num.size()) return fmt::format("'{}' is not a node number", num);
      pairs.emplace_back(op, src);
      pos = close + 1;
    }
    // Pairs come per intermediate node, `select` of them each, in node order; nodes whose
    // inputs are fixed take them without a pair.
    std::size_t i = 0;
    for (int v = c.props().inputs; v < c.num_nodes(); ++v) {
      if (!chooses_inputs(c, v)) {
        for (int e : c.in_edges(v)) a.cells[g].edge_op[e] = 0;
        continue;
      }
      int k = c.node(v).select > 0 ? c.node(v).select : static_cast<int>(c.in_edges(v).size());
      for (int j = 0; j < k; ++j, ++i) {
        if (i >= pairs.size())
          return fmt::format("the '{}' list has {} pairs, too few for cell '{}'", key, pairs.size(), c.props().name);
        auto& [op, src] = pairs[i];
        int e = c.find_edge(src, v);
        if (e < 0) return fmt::format("cell '{}' has no edge {}<-{}", c.props().name, v, src);
        int idx = op_index(c.edge(e).candidates, op);
        if (idx < 0) return fmt::format("edge {} has no candidate '{}'", c.edge_name(e), op);
        if (a.cells[g].edge_op[e] >= 0) return fmt::format("node {} takes input {} twice", v, src);
        a.cells[g].edge_op[e] = idx;
      }
    }
    if (i != pairs.size())
      return fmt::format("the '{}' list has {} pairs, too many for cell '{}'", key, pairs.size(), c.props().name);
    std::vector<int> choosing;
    for (int v = c.props().inputs; v < c.num_nodes(); ++v)
      if (c.node(v).chooses_combine()) choosing.push_back(v);
    if (auto words = genotype_words(text, std::string(key) + "_combine")) {
      if (words->size() != choosing.size())
        return fmt::format("{}_combine lists {} modes; cell '{}' has {} nodes that choose one", key, words->size(),
                           c.props().name, choosing.size());
      for (std::size_t j = 0; j < choosing.size(); ++j) {
        const int v = choosing[j];
        const int k = combine_index(c.node(v).combines, (*words)[j]);
        if (k < 0)
          return fmt::format("node {} of cell '{}' combines with {}, not '{}'", v, c.props().name,
                             combine_names(c.node(v).combines), (*words)[j]);
        a.cells[g].node_combine[v] = k;
      }
    } else {
      for (int v : choosing) {
        const int k = combine_index(c.node(v).combines, "sum");
        if (k < 0)
          return fmt::format("node {} of cell '{}' cannot add; the genotype needs a {}_combine list", v, c.props().name,
                             key);
        a.cells[g].node_combine[v] = k;
      }
    }
    // The concat list is the space's to compute; one that disagrees names another network.
    if (auto given = genotype_concat(text, std::string(key) + "_concat");
        given && !check_choice(c, a.cells[g]) && *given != output_nodes(c, a.cells[g]))
      return fmt::format("{}_concat=[{}] differs from what cell '{}' concatenates for these pairs: [{}]", key,
                         fmt::join(*given, ", "), c.props().name, fmt::join(output_nodes(c, a.cells[g]), ", "));
    return std::nullopt;
  };
  if (auto err = parse_part("normal", groups->first)) return *err;
  if (auto err = parse_part("reduce", groups->second)) return *err;
  return a;
}

// Sets `a.resolution` from `pixels`, which the input wrote as `given` ("" where it wrote none):
// required where the network has several resolutions. Returns an error, or nullopt.
std::optional<std::string> read_resolution(const Network& n, std::optional<std::int64_t> pixels,
                                           const std::string& given, Arch& a) {
  if (given.empty() && n.resolutions.size() <= 1) return std::nullopt;
  if (auto r = pixels ? resolution_index(n, *pixels) : std::nullopt) {
    a.resolution = *r;
    return std::nullopt;
  }
  return fmt::format("{}: the network's resolutions are {}",
                     given.empty() ? "the architecture has no resolution" : "no resolution " + given,
                     fmt::join(n.resolutions, ", "));
}

std::variant<Arch, std::string> parse_json(const Program& p, std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::string("the architecture is not a JSON object");
  const Network& n = net_of(p);
  Arch a = empty_arch(p);
  const nlohmann::json& cells = j.contains("cells") ? j["cells"] : nlohmann::json::object();
  for (std::size_t g = 0; g < n.cell_groups.size(); ++g) {
    const Cell& c = p.cells[n.cell_groups[g].cell];
    const std::string& gname = n.cell_groups[g].name;
    if (!cells.is_object() || !cells.contains(gname))
      return fmt::format("the architecture has no entry for cell '{}'", gname);
    const nlohmann::json& cj = cells[gname];
    if (!cj.is_object() || !cj.contains("edges") || !cj["edges"].is_object())
      return fmt::format("cell '{}' has no \"edges\" object", gname);
    for (auto& [key, val] : cj["edges"].items()) {
      int e = -1;
      for (int i = 0; i < c.num_edges(); ++i)
        if (c.edge_name(i) == key) e = i;
      if (e < 0) return fmt::format("cell '{}' has no edge {}", gname, key);
      if (val.is_null()) continue;
      if (!val.is_string()) return fmt::format("edge {} must name an operation", key);
      int idx = op_index(c.edge(e).candidates, val.get<std::string>());
      if (idx < 0) return fmt::format("edge {} has no candidate '{}'", key, val.get<std::string>());
      a.cells[g].edge_op[e] = idx;
    }
    if (cj.contains("nodes") && cj["nodes"].is_object()) {
      for (auto& [key, val] : cj["nodes"].items()) {
        int v = -1;
        for (int i = 0; i < c.num_nodes(); ++i)
          if (std::to_string(i) == key) v = i;
        if (v < 0 || !val.is_string()) return fmt::format("cell '{}' has no node {}", gname, key);
        int idx = op_index(c.node(v).ops, val.get<std::string>());
        if (idx < 0) return fmt::format("node {} has no operation '{}'", key, val.get<std::string>());
        a.cells[g].node_op[v] = idx;
      }
    }
    if (cj.contains("combine") && cj["combine"].is_object()) {
      for (auto& [key, val] : cj["combine"].items()) {
        int v = -1;
        for (int i = 0; i < c.num_nodes(); ++i)
          if (std::to_string(i) == key && c.node(i).chooses_combine()) v = i;
        if (v < 0) return fmt::format("node {} of cell '{}' does not choose a combine mode", key, gname);
        int k = val.is_string() ? combine_index(c.node(v).combines, val.get<std::string>()) : -1;
        if (k < 0)
          return fmt::format("node {} combines with {}, not {}", key, combine_names(c.node(v).combines), val.dump());
        a.cells[g].node_combine[v] = k;
      }
    }
  }
  for (std::size_t l = 0; l < n.layer_groups.size(); ++l) {
    const Unit& u = n.units[n.layer_groups[l]];
    if (!j.contains("layers") || !j["layers"].is_object() || !j["layers"].contains(u.name) ||
        !j["layers"][u.name].is_string())
      return fmt::format("the architecture has no operation for layer {}", u.name);
    int idx = op_index(u.choices, j["layers"][u.name].get<std::string>());
    if (idx < 0) return fmt::format("layer {} has no candidate '{}'", u.name, j["layers"][u.name].get<std::string>());
    a.layers[l] = idx;
  }
  for (std::size_t d = 0; d < n.depth_groups.size(); ++d) {
    std::string key = fmt::format("stages.{}", n.depth_groups[d]);
    const Stage& s = n.stages[n.depth_groups[d]];
    if (!j.contains("depths") || !j["depths"].contains(key) || !j["depths"][key].is_number_integer())
      return fmt::format("the architecture has no depth for {}", key);
    auto it = std::find(s.depths.begin(), s.depths.end(), j["depths"][key].get<std::int64_t>());
    if (it == s.depths.end()) return fmt::format("{} cannot have depth {}", key, j["depths"][key].dump());
    a.depths[d] = static_cast<int>(it - s.depths.begin());
  }
  for (std::size_t w = 0; w < n.width_groups.size(); ++w) {
    std::string key = fmt::format("stages.{}", n.width_groups[w]);
    const Stage& s = n.stages[n.width_groups[w]];
    if (!j.contains("widths") || !j["widths"].contains(key) || !j["widths"][key].is_number_integer())
      return fmt::format("the architecture has no width for {}", key);
    auto it = std::find(s.widths.begin(), s.widths.end(), j["widths"][key].get<std::int64_t>());
    if (it == s.widths.end())
      return fmt::format("{} cannot have width {} (it has {})", key, j["widths"][key].dump(),
                         fmt::join(s.widths, ", "));
    a.widths[w] = static_cast<int>(it - s.widths.begin());
  }
  const bool integer = j.contains("resolution") && j["resolution"].is_number_integer();
  if (auto err = read_resolution(n, integer ? std::optional(j["resolution"].get<std::int64_t>()) : std::nullopt,
                                 j.contains("resolution") ? j["resolution"].dump() : "", a))
    return *err;
  return a;
}

// DyNAS-T's flat encoding (elastic_encoding), optionally followed by the resolution in pixels.
std::variant<Arch, std::string> parse_flat(const Program& p, std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  const Network& n = net_of(p);
  const std::size_t length = elastic_encoding(p, empty_arch(p)).size();
  if (j.is_discarded() || !j.is_array() ||
      !std::all_of(j.begin(), j.end(), [](const nlohmann::json& x) { return x.is_number_integer(); }))
    return std::string("a flat architecture encoding is a list of integers");
  if (length == 0) return std::string("only a space of elastic layers has a flat encoding");
  if (j.size() != length && j.size() != length + 1)
    return fmt::format("the flat encoding of this space has {} integers (and the resolution after them), not {}",
                       length, j.size());
  std::vector<std::int64_t> flat = j.get<std::vector<std::int64_t>>();
  std::optional<std::int64_t> pixels;
  if (flat.size() > length) {
    pixels = flat.back();
    flat.pop_back();
  }
  auto a = decode_elastic(p, flat);
  if (auto* err = std::get_if<std::string>(&a)) return *err;
  Arch arch = std::get<Arch>(a);
  if (auto err = read_resolution(n, pixels, pixels ? std::to_string(*pixels) : "", arch)) return *err;
  return arch;
}

}  // namespace

std::optional<int> resolution_index(const Network& n, std::int64_t pixels) {
  auto it = std::find(n.resolutions.begin(), n.resolutions.end(), pixels);
  if (it == n.resolutions.end()) return std::nullopt;
  return static_cast<int>(it - n.resolutions.begin());
}

namespace {

// The layer groups the flat encoding describes: the elastic layers, when every other layer has
// one candidate (a width-elastic stem or head, BigNAS); empty when some other layer chooses.
std::vector<std::size_t> encoded_layers(const Network& n) {
  std::vector<std::size_t> out;
  for (std::size_t l = 0; l < n.layer_groups.size(); ++l) {
    const Unit& u = n.units[n.layer_groups[l]];
    if (!u.elastic.empty())
      out.push_back(l);
    else if (u.choices.size() > 1)
      return {};
  }
  return out;
}

}  // namespace

std::vector<std::int64_t> elastic_encoding(const Program& p, const Arch& a) {
  const Network& n = net_of(p);
  const std::vector<std::size_t> elastic = encoded_layers(n);
  if (elastic.empty()) return {};
  std::vector<std::int64_t> out;
  const std::size_t dims = n.units[n.layer_groups[elastic.front()]].elastic.size();
  for (std::size_t dim = 0; dim < dims; ++dim)
    for (std::size_t l : elastic) {
      const Unit& u = n.units[n.layer_groups[l]];
      if (dim >= u.elastic.size()) return {};
      const PrimCall& call = u.choices[a.layers[l]].seq[0];
      out.push_back(call.int_arg(u.elastic[dim].param, 0));
    }
  for (std::size_t d = 0; d < n.depth_groups.size(); ++d)
    out.push_back(n.stages[n.depth_groups[d]].depths[a.depths[d]]);
  for (std::size_t w = 0; w < n.width_groups.size(); ++w)
    out.push_back(n.stages[n.width_groups[w]].widths[a.widths[w]]);
  return out;
}

std::variant<Arch, std::string> decode_elastic(const Program& p, const std::vector<std::int64_t>& flat) {
  const Network& n = net_of(p);
  Arch a = empty_arch(p);
  const std::vector<std::size_t> elastic = encoded_layers(n);
  const std::size_t layers = elastic.size(), length = elastic_encoding(p, a).size();
  if (flat.size() != length || layers == 0)
    return fmt::format("the flat encoding of this space has {} integers, not {}", length, flat.size());
  const std::size_t dims = n.units[n.layer_groups[elastic.front()]].elastic.size();
  for (std::size_t l = 0; l < layers; ++l) {
    const Unit& u = n.units[n.layer_groups[elastic[l]]];
    int found = -1;
    for (std::size_t c = 0; c < u.choices.size() && found < 0; ++c) {
      bool all = true;
      for (std::size_t dim = 0; dim < dims; ++dim)
        all = all && u.choices[c].seq[0].int_arg(u.elastic[dim].param, 0) == flat[dim * layers + l];
      if (all) found = static_cast<int>(c);
    }
    if (found < 0) {
      std::vector<std::string> values;
      for (std::size_t dim = 0; dim < dims; ++dim)
        values.push_back(fmt::format("{} {}", u.elastic[dim].param, flat[dim * layers + l]));
      return fmt::format("layer {} cannot have {}", u.name, fmt::join(values, " and "));
    }
    a.layers[elastic[l]] = found;
  }
  for (std::size_t d = 0; d < n.depth_groups.size(); ++d) {
    const Stage& s = n.stages[n.depth_groups[d]];
    const std::int64_t want = flat[dims * layers + d];
    auto it = std::find(s.depths.begin(), s.depths.end(), want);
    if (it == s.depths.end())
      return fmt::format("stage {} cannot have depth {} (it has {})", n.depth_groups[d], want,
                         fmt::join(s.depths, ", "));
    a.depths[d] = static_cast<int>(it - s.depths.begin());
  }
  for (std::size_t w = 0; w < n.width_groups.size(); ++w) {
    const Stage& s = n.stages[n.width_groups[w]];
    const std::int64_t want = flat[dims * layers + n.depth_groups.size() + w];
    auto it = std::find(s.widths.begin(), s.widths.end(), want);
    if (it == s.widths.end())
      return fmt::format("stage {} cannot have width {} (it has {})", n.width_groups[w], want,
                         fmt::join(s.widths, ", "));
    a.widths[w] = static_cast<int>(it - s.widths.begin());
  }
  return a;
}

namespace {

// Published architectures by the names their papers' code gives them (quark0/darts
// cnn/genotypes.py), so that `--arch DARTS_V2` reproduces the counts the docs quote.
constexpr std::pair<std::string_view, std::string_view> kPublishedGenotypes[] = {
    {"DARTS_V1",
     "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1), "
     "('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], normal_concat=[2, 3, 4, "
     "5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), "
     "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, "
     "5])"},
    {"DARTS_V2",
     "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
     "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, "
     "5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
     "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, "
     "5])"},
};

}  // namespace

std::variant<Arch, std::string> parse_arch(const Program& p, std::string_view text) {
  if (!p.network) return std::string("the file has no network");
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  for (const auto& [name, genotype] : kPublishedGenotypes)
    if (text == name) text = genotype;
  if (text == "largest" || text == "smallest") {
    // The ends of an elastic space: every choice a size (a sub-shape, a depth, a width, a
    // resolution), so that its last value is the largest. Among separate operations or cells
    // no order says which is largest.
    if (formats(p).back() != ArchFormat::Flat)
      return fmt::format("--arch {}: only a space of elastic layers has a largest and a smallest architecture", text);
    return text == "largest" ? largest_arch(p) : smallest_arch(p);
  }
  std::variant<Arch, std::string> r;
  if (text.starts_with("|"))
    r = parse_nb201(p, text);
  else if (text.starts_with("Genotype("))
    r = parse_genotype(p, text);
  else if (text.starts_with("{"))
    r = parse_json(p, text);
  else if (text.starts_with("["))
    r = parse_flat(p, text);
  else
    return std::string(
        "an architecture is an NB201 string (|op~0|+...), a DARTS Genotype(...) or a published one's name (DARTS_V1, "
        "DARTS_V2), a JSON object or, for an elastic space, its flat encoding [3, 5, ...]");
  if (auto* a = std::get_if<Arch>(&r))
    if (auto err = check_arch(p, *a)) return *err;
  return r;
}

}  // namespace cella::ir
