// Text, JSON and DOT dumps of the IR. Their output is pinned by golden tests: keep it stable.
#include "compiler/ir/dump.h"

#include "compiler/ir/arch.h"
#include "compiler/ir/plan.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <map>
#include <nlohmann/json.hpp>

namespace cella::ir {

namespace {

// `sum`, `concat`, or a choice `[sum, concat]`.
std::string combine_text(const std::vector<Combine>& modes) {
  return modes.size() > 1 ? "[" + combine_names(modes) + "]" : combine_names(modes);
}

// A plan enum's word, as the plan spells it.
template <class E>
std::string word(E value) {
  return std::string(name_of(value));
}

std::string shape_str(const Shape& s) {
  return s.flat ? fmt::format("[{}]", s.channels) : fmt::format("{}@1/{}", s.channels, s.reduction);
}

// `k [3, 5, 7] x e [3, 4, 6]`
std::string elastic_text(const std::vector<ElasticDim>& dims) {
  std::vector<std::string> parts;
  for (const ElasticDim& d : dims) parts.push_back(fmt::format("{} [{}]", d.param, fmt::join(d.values, ", ")));
  return fmt::format("{}", fmt::join(parts, " x "));
}

std::string names(const std::vector<Op>& ops) {
  std::string s = "[";
  for (std::size_t i = 0; i < ops.size(); ++i) s += (i ? ", " : "") + ops[i].name;
  return s + "]";
}

std::string output_str(const CellOutput& o) {
  if (o.kind == CellOutput::Kind::Node) return fmt::format("node {}", o.nodes.at(0));
  if (o.kind == CellOutput::Kind::Unused) return fmt::format("unused of [{}]", fmt::join(o.nodes, ", "));
  return fmt::format("concat [{}]", fmt::join(o.nodes, ", "));
}

// `conv >> bn`: the primitives of an op, without arguments, for pictures.
std::string short_ops(const Op& op) {
  std::string s;
  for (std::size_t i = 0; i < op.seq.size(); ++i) s += (i ? " >> " : "") + op.seq[i].prim;
  return s.empty() ? "identity" : s;
}

const char* share_name(ShareMode m) { return m == ShareMode::All ? "all" : m == ShareMode::Stage ? "stage" : "none"; }

const char* kind_name(UnitKind k) { return k == UnitKind::Fixed ? "fixed" : k == UnitKind::Cell ? "cell" : "choice"; }

nlohmann::json scalar_json(const Scalar& v) {
  return std::visit([](auto x) { return nlohmann::json(x); }, v);
}

nlohmann::json op_json(const Op& op) {
  nlohmann::json seq = nlohmann::json::array();
  for (const PrimCall& c : op.seq) {
    nlohmann::json args = nlohmann::json::object();
    for (const auto& [n, v] : c.args) args[n] = scalar_json(v);
    seq.push_back({{"prim", c.prim}, {"args", args}});
  }
  return {{"name", op.name}, {"seq", seq}};
}

nlohmann::json plan_json(const SearchPlan& s) {
  nlohmann::json smoke = nlohmann::json::object();
  for (const auto& [name, text] : s.smoke) smoke[name] = text;
  auto opt = [](const Optimizer& o) {
    return nlohmann::json{{"kind", o.kind},
                          {"lr", o.lr},
                          {"momentum", o.momentum},
                          {"weight_decay", o.weight_decay},
                          {"nesterov", o.nesterov}};
  };
  const SupernetPlan& sn = s.supernet;
  const SplitPlan& sp = s.split;
  return {
      {"name", s.name},
      {"seed", s.seed},
      {"data",
       {{"name", s.data.name},
        {"path", s.data.path},
        {"subset", s.data.subset},
        {"train_portion", s.data.train_portion}}},
      {"supernet",
       {{"epochs", sn.epochs},
        {"batch", sn.batch},
        {"optimizer", opt(sn.optimizer)},
        {"schedule", {{"kind", word(sn.schedule.kind)}, {"min_lr", sn.schedule.min_lr}}},
        {"clip", sn.clip},
        {"method", sn.method},
        {"path", word(sn.path)},
        {"tau_max", sn.tau_max},
        {"tau_min", sn.tau_min},
        {"arch",
         {{"lr", sn.arch.lr},
          {"beta1", sn.arch.beta1},
          {"beta2", sn.arch.beta2},
          {"weight_decay", sn.arch.weight_decay},
          {"unrolled", sn.arch.unrolled},
          {"every", sn.arch.every},
          {"binary_gates", word(sn.arch.binary_gates)}}},
        {"latency", {{"source", word(sn.latency.source)}, {"weight", sn.latency.weight}, {"ref", sn.latency.ref}}},
        {"arch_warmup", sn.arch_warmup},
        {"cosine_epochs", sn.cosine_epochs}}},
      {"split",
       {{"strategy", strategy_word(sp)},
        {"at", sp.at},
        {"cell", sp.cell},
        {"edges", sp.edges},
        {"batches", sp.batches},
        {"branches", sp.branches},
        {"groups", sp.group_sizes},
        {"variant", word(sp.variant)},
        {"criterion", sp.criterion},
        {"child_epochs", sp.child_epochs},
        {"select", word(sp.select)},
        {"distill", word(sp.distill)},
        {"rounds", word(sp.rounds)},
        {"restart", word(sp.restart)},
        {"select_images", sp.select_images},
        {"select_samples", sp.select_samples},
        {"select_sample_images", sp.select_sample_images},
        {"fresh_schedule", word(sp.fresh_schedule)},
        {"final_confidence", sp.final_confidence},
        {"confidence_epochs", word(sp.confidence_epochs)},
        {"fresh_cosine_epochs", sp.fresh_cosine_epochs}}},
      {"retrain",
       {{"enabled", s.retrain.enabled},
        {"epochs", s.retrain.epochs},
        {"batch", s.retrain.batch},
        {"optimizer", opt(s.retrain.optimizer)},
        {"schedule", {{"kind", word(s.retrain.schedule.kind)}, {"min_lr", s.retrain.schedule.min_lr}}},
        {"drop_path", s.retrain.drop_path},
        {"drop_path_schedule", word(s.retrain.drop_path_schedule)},
        {"crop_padding", s.retrain.crop_padding},
        {"flip", s.retrain.flip},
        {"cutout", s.retrain.cutout}}},
      {"specialize",
       {{"objectives", s.specialize.objectives},
        {"constraints", s.specialize.constraints},
        {"tactic", word(s.specialize.tactic)},
        {"budget", s.specialize.budget},
        {"population", s.specialize.population},
        {"sample_size", s.specialize.sample_size},
        {"inner_evaluations", s.specialize.inner_evaluations},
        {"latency_batch", s.specialize.latency_batch},
        {"initial", word(s.specialize.initial)},
        {"resolution", s.specialize.resolution},
        {"search_resolution", s.specialize.search_resolution}}},
      {"smoke", smoke},
  };
}

}  // namespace

std::string dump_text(const Program& p) {
  std::string out;
  for (const Cell& c : p.cells) {
    const CellProps& cp = c.props();
    out += fmt::format("cell {}: inputs {}, nodes {}, output {}{}\n", cp.name, cp.inputs, c.num_nodes() - cp.inputs,
                       output_str(cp.output), cp.reduction ? ", reduction" : "");
    for (int v = 0; v < c.num_nodes(); ++v) {
      const NodeProps& n = c.node(v);
      if (n.kind == NodeKind::Input) {
        out += fmt::format("  node {}: input\n", v);
        continue;
      }
      out += fmt::format("  node {}: {}", v, combine_text(n.combines));
      if (n.select) out += fmt::format(", select {}", n.select);
      if (!n.ops.empty()) out += ", ops " + names(n.ops);
      out += "\n";
    }
    std::map<std::string, std::string> expansions;
    for (int e = 0; e < c.num_edges(); ++e) {
      const EdgeProps& ep = c.edge(e);
      out += fmt::format("  edge {} {}: hierarchy {}, stride {}{}, {}\n", e, c.edge_name(e), ep.hierarchy, ep.stride,
                         ep.optional ? ", optional" : "", names(ep.candidates));
      for (const Op& op : ep.candidates)
        expansions.emplace(fmt::format("{} (stride {})", op.name, ep.stride), op.expansion());
    }
    for (int v = 0; v < c.num_nodes(); ++v)
      for (const Op& op : c.node(v).ops) expansions.emplace(op.name, op.expansion());
    if (!cp.constraint_text.empty()) out += fmt::format("  constraint {}\n", cp.constraint_text);
    for (const auto& [name, exp] : expansions) out += fmt::format("  op {} = {}\n", name, exp);
  }
  if (p.network) {
    const Network& n = *p.network;
    std::vector<std::string> params;
    for (const auto& [k, v] : n.params) params.push_back(k + "=" + to_string(v));
    out += fmt::format("network {}({}): input {}, share {}\n", n.name, fmt::join(params, ", "), shape_str(n.input),
                       share_name(n.share));
    if (!n.resolutions.empty()) out += fmt::format("  resolutions {}\n", fmt::join(n.resolutions, "|"));
    for (std::size_t i = 0; i < n.units.size(); ++i) {
      const Unit& u = n.units[i];
      out += fmt::format("  {} {} {}: {} -> {}", i, u.name, kind_name(u.kind), shape_str(u.in), shape_str(u.out));
      if (u.kind == UnitKind::Fixed) out += " = " + u.op.expansion();
      if (u.kind == UnitKind::Cell)
        out += fmt::format(", cell {} width {}, group {}", p.cells[u.cell].props().name, u.width, u.group);
      if (u.kind == UnitKind::Choice && u.elastic.empty())
        out += fmt::format(", stride {}, group {}, {}", u.stride, u.group, names(u.choices));
      if (u.kind == UnitKind::Choice && !u.elastic.empty())
        out += fmt::format(", stride {}, group {}, elastic {} of {}", u.stride, u.group, elastic_text(u.elastic),
                           u.choices.back().expansion());
      if (u.stage >= 0) out += fmt::format(", stage {}", u.stage);
      out += "\n";
    }
    for (std::size_t s = 0; s < n.stages.size(); ++s) {
      out += fmt::format("  stage {} {}: depth {}", s, n.stages[s].body, fmt::join(n.stages[s].depths, "|"));
      if (!n.stages[s].widths.empty()) out += fmt::format(", width {}", fmt::join(n.stages[s].widths, "|"));
      out += "\n";
    }
    if (const auto& a = n.auxiliary)
      out += fmt::format("  auxiliary after unit {}: {} -> {} = {}, weight {}\n", a->after, shape_str(a->in),
                         shape_str(a->out), a->op.expansion(), a->weight);
  }
  if (p.search) out += "search " + plan_json(*p.search).dump() + "\n";
  return out;
}

nlohmann::json dump_json(const Program& p) {
  nlohmann::json j;
  j["cells"] = nlohmann::json::array();
  for (const Cell& c : p.cells) {
    const CellProps& cp = c.props();
    nlohmann::json nodes = nlohmann::json::array(), edges = nlohmann::json::array();
    for (int v = 0; v < c.num_nodes(); ++v) {
      const NodeProps& n = c.node(v);
      nlohmann::json nj = {{"id", v},
                           {"kind", n.kind == NodeKind::Input ? "input" : "intermediate"},
                           {"combine", combine_text(n.combines)},
                           {"select", n.select}};
      nlohmann::json ops = nlohmann::json::array();
      for (const Op& op : n.ops) ops.push_back(op_json(op));
      nj["ops"] = ops;
      nodes.push_back(nj);
    }
    for (int e = 0; e < c.num_edges(); ++e) {
      const EdgeProps& ep = c.edge(e);
      nlohmann::json cands = nlohmann::json::array();
      for (const Op& op : ep.candidates) cands.push_back(op_json(op));
      edges.push_back({{"index", e},
                       {"name", c.edge_name(e)},
                       {"source", c.source(e)},
                       {"target", c.target(e)},
                       {"hierarchy", ep.hierarchy},
                       {"stride", ep.stride},
                       {"optional", ep.optional},
                       {"candidates", cands}});
    }
    j["cells"].push_back({{"name", cp.name},
                          {"inputs", cp.inputs},
                          {"reduction", cp.reduction},
                          {"output",
                           {{"kind", cp.output.kind == CellOutput::Kind::Node     ? "node"
                                     : cp.output.kind == CellOutput::Kind::Concat ? "concat"
                                                                                  : "unused"},
                            {"nodes", cp.output.nodes}}},
                          {"nodes", nodes},
                          {"edges", edges},
                          {"hierarchies", c.hierarchies},
                          {"constraint", cp.constraint_text}});
  }
  if (p.network) {
    const Network& n = *p.network;
    nlohmann::json params = nlohmann::json::object();
    for (const auto& [k, v] : n.params) params[k] = scalar_json(v);
    nlohmann::json units = nlohmann::json::array();
    for (const Unit& u : n.units) {
      nlohmann::json uj = {
          {"name", u.name},
          {"kind", kind_name(u.kind)},
          {"role", u.role},
          {"in", {{"channels", u.in.channels}, {"reduction", u.in.reduction}, {"flat", u.in.flat}}},
          {"out", {{"channels", u.out.channels}, {"reduction", u.out.reduction}, {"flat", u.out.flat}}},
          {"stage", u.stage},
          {"group", u.group}};
      if (u.kind == UnitKind::Fixed) uj["op"] = op_json(u.op);
      if (u.kind == UnitKind::Cell) {
        uj["cell"] = p.cells[u.cell].props().name;
        uj["width"] = u.width;
      }
      if (u.kind == UnitKind::Choice) {
        nlohmann::json cands = nlohmann::json::array();
        for (const Op& op : u.choices) cands.push_back(op_json(op));
        uj["choices"] = cands;
        uj["stride"] = u.stride;
        if (!u.elastic.empty()) {
          nlohmann::json dims = nlohmann::json::array();
          for (const ElasticDim& d : u.elastic) dims.push_back({{"param", d.param}, {"values", d.values}});
          uj["elastic"] = dims;
        }
      }
      units.push_back(uj);
    }
    nlohmann::json stages = nlohmann::json::array();
    for (const Stage& s : n.stages) {
      nlohmann::json sj = {{"body", s.body}, {"units", s.units}, {"depths", s.depths}};
      if (!s.widths.empty()) sj["widths"] = s.widths;
      stages.push_back(sj);
    }
    nlohmann::json groups = nlohmann::json::array();
    for (const CellGroup& g : n.cell_groups)
      groups.push_back({{"name", g.name}, {"cell", p.cells[g.cell].props().name}, {"units", g.units}});
    j["network"] = {{"name", n.name},
                    {"params", params},
                    {"share", share_name(n.share)},
                    {"units", units},
                    {"stages", stages},
                    {"cell_groups", groups},
                    {"layer_groups", n.layer_groups},
                    {"depth_groups", n.depth_groups}};
    if (!n.width_groups.empty()) j["network"]["width_groups"] = n.width_groups;
    if (!n.resolutions.empty()) j["network"]["resolutions"] = n.resolutions;
    if (const auto& a = n.auxiliary)
      j["network"]["auxiliary"] = {{"after", a->after}, {"op", a->op.expansion()}, {"weight", a->weight}};
  }
  if (p.search) j["search"] = plan_json(*p.search);
  return j;
}

std::string dump_dot(const Program& p) {
  std::string out =
      "digraph cella {\n  rankdir=LR;\n  node [shape=circle, fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", "
      "fontsize=10];\n";
  for (std::size_t ci = 0; ci < p.cells.size(); ++ci) {
    const Cell& c = p.cells[ci];
    out += fmt::format("  subgraph cluster_{} {{\n    labelloc=b;\n    label=\"cell {}{}\";\n", ci, c.props().name,
                       c.props().reduction ? " (reduction)" : "");
    for (int v = 0; v < c.num_nodes(); ++v) {
      const NodeProps& n = c.node(v);
      std::string label = std::to_string(v);
      if (!n.ops.empty()) label += "\\n" + names(n.ops);
      out +=
          fmt::format("    c{}_n{} [label=\"{}\"{}];\n", ci, v, label, n.kind == NodeKind::Input ? ", shape=box" : "");
    }
    const CellOutput& o = c.props().output;
    if (o.kind != CellOutput::Kind::Node) {
      out += fmt::format("    c{}_out [label=\"{}\", shape=box];\n", ci,
                         o.kind == CellOutput::Kind::Concat ? "concat" : "concat unused");
      for (int v : o.nodes) out += fmt::format("    c{}_n{} -> c{}_out [style=dashed];\n", ci, v, ci);
    }
    for (int e = 0; e < c.num_edges(); ++e) {
      const EdgeProps& ep = c.edge(e);
      std::string label = fmt::format("e{}: ", e);
      for (std::size_t k = 0; k < ep.candidates.size(); ++k) label += (k ? "\\n" : "") + ep.candidates[k].name;
      out += fmt::format("    c{}_n{} -> c{}_n{} [label=\"{}\"{}];\n", ci, c.source(e), ci, c.target(e), label,
                         ep.optional ? ", style=dotted" : "");
    }
    out += "  }\n";
  }
  if (p.network) {
    const Network& n = *p.network;
    out += fmt::format("  subgraph cluster_network {{\n    label=\"network {}\";\n    node [shape=box];\n", n.name);
    for (std::size_t i = 0; i < n.units.size(); ++i) {
      const Unit& u = n.units[i];
      std::string label = u.kind == UnitKind::Cell
                              ? fmt::format("{}\\n{} (C={})", u.name, p.cells[u.cell].props().name, u.width)
                          : u.kind == UnitKind::Choice ? fmt::format("{}\\nchoice of {}", u.name, u.choices.size())
                                                       : fmt::format("{}\\n{}", u.name, short_ops(u.op));
      out += fmt::format("    u{} [label=\"{}\"];\n", i, label);
      if (i) out += fmt::format("    u{} -> u{};\n", i - 1, i);
    }
    out += "  }\n";
  }
  return out + "}\n";
}

std::string arch_dot(const Program& p, const Arch& a) {
  // A network of cells reads left to right. A chain of layers (OFA's, BigNAS's: 20 to 30 of them)
  // drawn so is one row too wide to read: it goes top to bottom, one row per stage.
  const bool chain = p.network && p.network->cell_groups.empty();
  std::string out = fmt::format(
      "digraph architecture {{\n  rankdir={};\n  node [shape=circle, fontname=\"Helvetica\"];\n"
      "  edge [fontname=\"Helvetica\", fontsize=10];\n",
      chain ? "TB" : "LR");
  if (!p.network) return out + "}\n";
  const Network& n = *p.network;
  for (std::size_t g = 0; g < n.cell_groups.size() && g < a.cells.size(); ++g) {
    const Cell& c = p.cells[n.cell_groups[g].cell];
    const CellChoice& ch = a.cells[g];
    const int inputs = c.props().inputs;
    out += fmt::format("  subgraph cluster_{} {{\n    labelloc=b;\n    label=\"{}{}\";\n", g, n.cell_groups[g].name,
                       c.props().reduction ? " (reduction)" : "");
    for (int v = 0; v < c.num_nodes(); ++v) {
      if (v < inputs) {
        // The papers' names for a cell's inputs: the outputs of the two cells before it.
        std::string label = inputs == 1 ? std::to_string(v) : fmt::format("c_{{k-{}}}", inputs - v);
        out +=
            fmt::format("    g{}_n{} [label=\"{}\", shape=box, style=filled, fillcolor=\"#dce6f2\"];\n", g, v, label);
        continue;
      }
      std::string label = std::to_string(v);
      const NodeProps& np = c.node(v);
      if (v < static_cast<int>(ch.node_op.size()) && ch.node_op[v] >= 0 &&
          ch.node_op[v] < static_cast<int>(np.ops.size()))
        label += "\\n" + np.ops[ch.node_op[v]].name;
      if (combine_of(c, ch, v) == Combine::Concat) label += "\\nconcat";
      out += fmt::format("    g{}_n{} [label=\"{}\"];\n", g, v, label);
    }
    for (int e = 0; e < c.num_edges() && e < static_cast<int>(ch.edge_op.size()); ++e) {
      const int k = real_op(c, ch, e);
      if (k < 0) continue;  // absent or `none`: no edge drawn
      out += fmt::format("    g{}_n{} -> g{}_n{} [label=\"{}\"];\n", g, c.source(e), g, c.target(e),
                         c.edge(e).candidates[k].name);
    }
    out += fmt::format("    g{}_out [label=\"{}\", shape=box, style=filled, fillcolor=\"#f2e6dc\"];\n", g,
                       inputs == 1 ? "out" : "c_{k}");
    for (int v : output_nodes(c, ch)) out += fmt::format("    g{}_n{} -> g{}_out [style=dashed];\n", g, v, g);
    out += "  }\n";
  }
  // The network: the units that run, each choice layer with its chosen candidate.
  const std::string resolution =
      n.resolutions.empty() ? ""
                            : fmt::format(", {0}x{0} input", n.resolutions.at(static_cast<std::size_t>(a.resolution)));
  out += fmt::format("  subgraph cluster_network {{\n    label=\"network {}{}\";\n    node [shape=box];\n", n.name,
                     resolution);
  std::map<int, std::vector<std::size_t>> rows;  // stage -> its units that run, one row each
  int prev = -1;
  for (std::size_t i = 0; i < n.units.size(); ++i) {
    const Unit& u = n.units[i];
    if (!unit_runs(p, static_cast<int>(i), a)) continue;  // deeper than the chosen depth
    std::string label;
    if (u.kind == UnitKind::Cell)
      label = fmt::format("{}\\n{} (C={})", u.name, p.cells[u.cell].props().name, u.width);
    else if (u.kind == UnitKind::Choice && u.group >= 0 && u.group < static_cast<int>(a.layers.size()))
      label = fmt::format("{}\\n{}", u.name, u.choices[a.layers[u.group]].name);
    else
      label = fmt::format("{}\\n{}", u.name, short_ops(u.op));
    if (u.stage >= 0 && n.stages[u.stage].width_group >= 0)
      label += fmt::format(" w{}", unit_width(p, static_cast<int>(i), a));
    out += fmt::format("    u{} [label=\"{}\"];\n", i, label);
    if (prev >= 0) out += fmt::format("    u{} -> u{};\n", prev, i);
    prev = static_cast<int>(i);
    if (chain && u.stage >= 0) rows[u.stage].push_back(i);
  }
  for (const auto& [stage, units] : rows)
    if (units.size() > 1) {
      out += "    { rank=same;";
      for (std::size_t i : units) out += fmt::format(" u{};", i);
      out += " }\n";
    }
  out += "  }\n";
  return out + "}\n";
}

}  // namespace cella::ir
