// Cell types: statements -> a checked DAG on boost::adjacency_list.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "compiler/frontend/printer.h"
#include "compiler/ir/analysis.h"
#include "compiler/sema/internal.h"

namespace cella::sema {

using diag::Kind;
using diag::SourceRange;

namespace {

/// The most edges one `edges all` statement makes (446 nodes after one input make 99,681).
constexpr std::int64_t kMaxEdgesAll = 100'000;

struct EdgeDraft {
  int src, dst;
  Value ops;
  bool optional;
  bool from_all;
  SourceRange range;  // the `edge` keyword or the ops expression
};

struct NodeDraft {
  std::optional<Value> ops;
  std::optional<std::vector<ir::Combine>> combine;
  std::optional<std::int64_t> select;
  SourceRange range;
};

// The modes of a `combine` statement or node option: `sum`, `concat`, or a list of both (a
// choice); nullopt after reporting a bad one.
std::optional<std::vector<ir::Combine>> combine_modes(const ast::CellStmt& s, diag::DiagnosticEngine& diags) {
  std::vector<ir::Combine> out;
  for (std::size_t i = 0; i < s.combine.size(); ++i) {
    const std::string& w = s.combine[i];
    const std::optional<ir::Combine> c = ir::combine_named(w);
    if (!c) {
      diags.report(Kind::InvalidValue, s.combine_ranges[i], fmt::format("unknown combine mode '{}'", w));
      if (std::string m = diag::closest_match(w, {"sum", "concat"}); !m.empty())
        diags.note(fmt::format("did you mean '{}'?", m));
      else
        diags.note("a node combines its inputs with `sum` or `concat`, or chooses with `[sum, concat]`");
      return std::nullopt;
    }
    if (std::find(out.begin(), out.end(), *c) != out.end()) {
      diags.report(Kind::InvalidValue, s.combine_ranges[i], fmt::format("combine mode '{}' is listed twice", w));
      return std::nullopt;
    }
    out.push_back(*c);
  }
  return out;
}

// The statements of a cell, its bases' first.
bool collect(const ast::CellDecl& decl, const Globals& globals, diag::DiagnosticEngine& diags,
             std::vector<const ast::CellStmt*>& out, std::vector<std::string>& chain) {
  if (!decl.base.empty()) {
    if (std::find(chain.begin(), chain.end(), decl.base) != chain.end() || decl.base == decl.name) {
      diags.report(Kind::RecursiveDefinition, decl.base_range, fmt::format("cell '{}' extends itself", decl.name));
      return false;
    }
    auto it = globals.cells.find(decl.base);
    if (it == globals.cells.end()) {
      std::vector<std::string> names;
      for (const auto& [n, _] : globals.cells) names.push_back(n);
      diags.report(Kind::UnknownName, decl.base_range, fmt::format("unknown cell '{}'", decl.base));
      if (std::string m = diag::closest_match(decl.base, names); !m.empty())
        diags.note(fmt::format("did you mean '{}'?", m));
      return false;
    }
    chain.push_back(decl.name);
    if (!collect(*it->second, globals, diags, out, chain)) return false;
    // A statement that may appear once replaces the base's (a NASNet cell that keeps its base's
    // edges and hard-wires another output); twice in one cell is still an error.
    using K = ast::CellStmtKind;
    auto replaced = [&](const ast::CellStmt* base) {
      if (base->kind == K::Node || base->kind == K::Edge || base->kind == K::Constraint) return false;
      return std::any_of(decl.stmts.begin(), decl.stmts.end(),
                         [&](const ast::CellStmt& own) { return own.kind == base->kind; });
    };
    std::erase_if(out, replaced);
  }
  for (const ast::CellStmt& s : decl.stmts) out.push_back(&s);
  return true;
}

// Nodes named by `node X`: an integer, a range or a list of integers.
std::optional<std::vector<std::int64_t>> node_list(const ast::Expr& e, Evaluator& ev) {
  auto v = ev.eval(e, {});
  if (!v) return std::nullopt;
  if (v->kind == Value::Kind::Int) return std::vector<std::int64_t>{v->i};
  if (v->kind == Value::Kind::List) {
    std::vector<std::int64_t> out;
    for (const Value& x : v->list) {
      if (x.kind != Value::Kind::Int) {
        ev.diags().report(Kind::TypeMismatch, e.range, "nodes are named by integers");
        return std::nullopt;
      }
      out.push_back(x.i);
    }
    return out;
  }
  ev.diags().report(Kind::TypeMismatch, e.range,
                    fmt::format("expected a node number, a range or a list, got {}", kind_word(v->kind)));
  return std::nullopt;
}

bool check_choice(const Value& ops, SourceRange range, diag::DiagnosticEngine& diags, bool required) {
  if (ops.list.empty()) {
    diags.report(Kind::EmptyChoice, range, "this choice has no candidates");
    diags.note("list at least one operation, e.g. [none, skip_connect]");
    return false;
  }
  if (ops.list.size() == 1 && required) {
    diags.report(Kind::SingleChoice, range, "this choice has a single candidate, so there is nothing to choose");
  }
  return true;
}

// `output unused`: keeps the listed nodes an architecture may leave unused (every edge out of
// them may be absent) at the output's resolution, and makes sure the output is never empty (one
// of them has no edge out). A reduction cell's inputs are at twice the output's resolution and
// are never concatenated (TF-slim would reduce them first; NASNet-A's reduction cells read both).
bool unused_output(ir::Cell& cell, const ast::CellDecl& decl, SourceRange range, diag::DiagnosticEngine& diags) {
  const std::vector<int> downsampling = ir::node_downsampling(cell);
  const int out_downsampling = *std::max_element(downsampling.begin(), downsampling.end());
  std::vector<int> kept;
  bool never_read = false;
  for (int v : cell.props().output.nodes) {
    if (downsampling[v] != out_downsampling) continue;
    bool may_be_unused = true, has_out = false;
    for (int e = 0; e < cell.num_edges(); ++e) {
      if (cell.source(e) != v) continue;
      has_out = true;
      const ir::EdgeProps& ep = cell.edge(e);
      bool may_be_absent = ep.optional || cell.node(cell.target(e)).select > 0;
      for (const ir::Op& op : ep.candidates) may_be_absent = may_be_absent || op.is_zero(1);
      may_be_unused = may_be_unused && may_be_absent;
    }
    if (may_be_unused) kept.push_back(v);
    never_read = never_read || !has_out;
  }
  if (!never_read) {
    diags.report(Kind::EmptyOutput, range,
                 fmt::format("`output unused` of cell '{}' may be empty: every node it lists may be read by an edge",
                             decl.name));
    diags.note("include a node no edge leaves (NASNet: the last block), so that some state is always unused");
    return false;
  }
  cell.props().output.nodes = std::move(kept);
  return true;
}

}  // namespace

std::optional<ir::Cell> build_cell(const ast::CellDecl& decl, const Globals& globals, Evaluator& ev) {
  diag::DiagnosticEngine& diags = ev.diags();
  std::size_t errors_before = diags.error_count();
  std::vector<const ast::CellStmt*> stmts;
  std::vector<std::string> chain;
  if (!collect(decl, globals, diags, stmts, chain)) return std::nullopt;

  using K = ast::CellStmtKind;
  std::optional<std::int64_t> inputs, nodes;
  SourceRange inputs_range, nodes_range;
  std::optional<Value> node_ops_all;
  std::vector<ir::Combine> combine{ir::Combine::Sum};
  std::optional<std::int64_t> select_all;
  SourceRange select_range;
  const ast::Expr* output = nullptr;
  bool reduction = false;
  std::vector<const ast::Expr*> constraints;
  std::map<K, SourceRange> seen_once;
  std::vector<EdgeDraft> edges;
  std::map<std::pair<int, int>, std::size_t> edge_at;  // (src, dst) -> index in `edges`
  std::map<std::int64_t, NodeDraft> node_drafts;
  const ast::CellStmt* edges_all = nullptr;

  auto once = [&](const ast::CellStmt& s, std::string_view word) {
    auto [it, fresh] = seen_once.emplace(s.kind, s.range);
    if (!fresh) {
      diags.report(Kind::DuplicateStatement, s.range, fmt::format("'{}' appears twice in cell '{}'", word, decl.name));
      diags.note("first given here", it->second);
    }
    return fresh;
  };

  // Pass 1: sizes first, since edges and nodes refer to them.
  for (const ast::CellStmt* s : stmts) {
    if (s->kind == K::Inputs && once(*s, "inputs")) {
      inputs = ev.eval_int(*s->a, {}, "the number of inputs", 1, 16);
      inputs_range = s->range;
    } else if (s->kind == K::Nodes && once(*s, "nodes")) {
      nodes = ev.eval_int(*s->a, {}, "the number of nodes", 1, 1'000'000);
      nodes_range = s->range;
      if (s->b) {
        node_ops_all = ev.eval_ops(*s->b, {});
        if (node_ops_all && !check_choice(*node_ops_all, s->b->range, diags, true)) node_ops_all.reset();
      }
    }
  }
  if (!seen_once.count(K::Inputs)) {
    diags.report(Kind::MissingStatement, decl.name_range,
                 fmt::format("cell '{}' does not say how many inputs it has", decl.name));
    diags.note("add `inputs 1` (NAS-Bench-201) or `inputs 2` (DARTS: the two previous cells)");
  }
  if (!seen_once.count(K::Nodes)) {
    diags.report(Kind::MissingStatement, decl.name_range,
                 fmt::format("cell '{}' does not say how many nodes it has", decl.name));
    diags.note("add `nodes N`: the intermediate nodes, numbered after the inputs");
  }
  if (!inputs || !nodes) return std::nullopt;
  const int I = static_cast<int>(*inputs), N = static_cast<int>(*inputs + *nodes);

  auto check_node = [&](std::int64_t v, SourceRange r, bool allow_input) {
    if (v < 0 || v >= N) {
      diags.report(Kind::UnknownNode, r, fmt::format("cell '{}' has no node {}", decl.name, v));
      diags.note(
          fmt::format("its nodes are 0..{}: inputs 0..{}, then intermediate nodes {}..{}", N - 1, I - 1, I, N - 1));
      return false;
    }
    if (!allow_input && v < I) {
      diags.report(Kind::EdgeIntoInput, r,
                   fmt::format("node {} is an input of cell '{}'; nothing can flow into it", v, decl.name));
      return false;
    }
    return true;
  };

  // Pass 2: everything else, in order.
  for (const ast::CellStmt* s : stmts) {
    switch (s->kind) {
      case K::Inputs:
      case K::Nodes: break;
      case K::Node: {
        auto list = node_list(*s->a, ev);
        if (!list) break;
        std::optional<Value> ops;
        if (s->b) {
          ops = ev.eval_ops(*s->b, {});
          if (ops && !check_choice(*ops, s->b->range, diags, false)) ops.reset();
        }
        std::optional<std::int64_t> sel;
        if (s->node_select) sel = ev.eval_int(*s->node_select, {}, "select", 1, 1'000'000);
        std::optional<std::vector<ir::Combine>> modes;
        if (!s->combine.empty()) modes = combine_modes(*s, diags);
        for (std::int64_t v : *list) {
          if (!check_node(v, s->a->range, false)) continue;
          NodeDraft& d = node_drafts[v];
          d.range = s->a->range;
          if (ops) d.ops = ops;
          if (modes) d.combine = modes;
          if (sel) d.select = sel;
        }
        break;
      }
      case K::Edge: {
        // `edge A -> B`, where A and B are nodes, ranges or lists: an edge from every source to
        // every target (NASNet's block inputs: `edge 0..3 -> [11, 12] : ops`).
        auto srcs = node_list(*s->a, ev);
        auto dsts = node_list(*s->b, ev);
        auto ops = ev.eval_ops(*s->c, {});
        if (!srcs || !dsts || !ops) break;
        bool okn = true;
        for (std::int64_t a : *srcs) okn = check_node(a, s->a->range, true) && okn;
        for (std::int64_t b : *dsts) okn = check_node(b, s->b->range, false) && okn;
        if (!okn) break;
        if (!check_choice(*ops, s->c->range, diags, false)) break;
        for (std::int64_t a : *srcs)
          for (std::int64_t b : *dsts) {
            if (a == b) {
              diags.report(Kind::Cycle, s->range.to(s->b->range),
                           fmt::format("edge {} -> {} joins a node to itself", a, b));
              continue;
            }
            auto key = std::make_pair(static_cast<int>(a), static_cast<int>(b));
            auto it = edge_at.find(key);
            if (it != edge_at.end() && !edges[it->second].from_all) {
              diags.report(Kind::DuplicateEdge, s->range, fmt::format("edge {} -> {} is declared twice", a, b));
              diags.note("first declared here", edges[it->second].range);
              continue;
            }
            EdgeDraft d{key.first, key.second, *ops, s->optional, false, s->range};
            if (it != edge_at.end()) {
              edges[it->second] = std::move(d);  // an explicit edge refines `edges all`
            } else {
              edge_at.emplace(key, edges.size());
              edges.push_back(std::move(d));
            }
          }
        break;
      }
      case K::EdgesAll: {
        if (!once(*s, "edges all")) break;
        edges_all = s;
        // Every node from every earlier one: quadratic in the nodes, so bounded (the biggest
        // published cells have tens of edges; a typo in `nodes` must not exhaust the memory).
        if (const std::int64_t n = (std::int64_t{N} * (N - 1) - std::int64_t{I} * (I - 1)) / 2; n > kMaxEdgesAll) {
          diags.report(Kind::ValueOutOfRange, s->range,
                       fmt::format("`edges all` would give cell '{}' {} edges; it makes at most {}", decl.name, n,
                                   kMaxEdgesAll));
          diags.note("use fewer nodes, or explicit `edge A -> B : ops` statements for a sparse cell");
          break;
        }
        auto ops = ev.eval_ops(*s->c, {});
        if (!ops || !check_choice(*ops, s->c->range, diags, !s->optional)) break;
        for (int dst = I; dst < N; ++dst)
          for (int src = 0; src < dst; ++src) {
            if (edge_at.count({src, dst})) continue;
            edge_at.emplace(std::make_pair(src, dst), edges.size());
            edges.push_back(EdgeDraft{src, dst, *ops, s->optional, true, s->c->range});
          }
        break;
      }
      case K::Combine:
        if (!once(*s, "combine")) break;
        if (auto modes = combine_modes(*s, diags)) combine = std::move(*modes);
        break;
      case K::Select:
        if (!once(*s, "select")) break;
        select_all = ev.eval_int(*s->a, {}, "select", 1, 1'000'000);
        select_range = s->a->range;
        break;
      case K::Output:
        if (once(*s, "output")) output = s->a.get();
        break;
      case K::Reduction:
        if (once(*s, "reduction")) reduction = true;
        break;
      case K::Constraint: constraints.push_back(s->a.get()); break;
    }
  }

  // The output.
  ir::CellOutput out;
  out.kind = ir::CellOutput::Kind::Node;
  out.nodes = {N - 1};
  if (output) {
    const bool unused_call = output->kind == ast::ExprKind::Call && output->text == "unused";
    if ((output->kind == ast::ExprKind::Name && output->text == "unused") || unused_call) {
      // `output unused` considers every node, `output unused(2..6)` only those listed; sema
      // keeps those an architecture may leave unused once the edges are known (below).
      out.kind = ir::CellOutput::Kind::Unused;
      out.nodes.clear();
      if (unused_call && output->args.size() != 1) {
        diags.report(Kind::WrongArgumentCount, output->range, "`unused(...)` takes one list of nodes");
        diags.note("write `output unused` (every node) or `output unused(2..6)` (only these nodes)");
      } else if (unused_call) {
        if (auto list = node_list(*output->args[0].value, ev))
          for (std::int64_t v : *list)
            if (check_node(v, output->args[0].value->range, true)) out.nodes.push_back(static_cast<int>(v));
      } else {
        for (int v = 0; v < N; ++v) out.nodes.push_back(v);
      }
    } else if (output->kind == ast::ExprKind::Name && (output->text == "last" || output->text == "concat")) {
      if (output->text == "concat") {
        out.kind = ir::CellOutput::Kind::Concat;
        out.nodes.clear();
        for (int v = I; v < N; ++v) out.nodes.push_back(v);
      }
    } else if (output->kind == ast::ExprKind::Name && !globals.opsets.count(output->text)) {
      diags.report(Kind::InvalidValue, output->range, fmt::format("unknown cell output '{}'", output->text));
      if (std::string m = diag::closest_match(output->text, {"last", "concat", "unused"}); !m.empty())
        diags.note(fmt::format("did you mean '{}'?", m));
      else
        diags.note(
            "write `output last`, `output concat`, `output unused`, a node number or a list of nodes to concatenate");
    } else if (auto list = node_list(*output, ev)) {
      out.nodes.clear();
      for (std::int64_t v : *list)
        if (check_node(v, output->range, true)) out.nodes.push_back(static_cast<int>(v));
      if (output->kind == ast::ExprKind::List || output->kind == ast::ExprKind::Range)
        out.kind = ir::CellOutput::Kind::Concat;
    }
  }

  if (diags.error_count() > errors_before) return std::nullopt;

  // Build the graph.
  ir::Cell cell;
  ir::CellProps& props = cell.props();
  props.name = decl.name;
  props.inputs = I;
  props.reduction = reduction;
  props.output = out;
  props.range = decl.name_range;
  for (int v = 0; v < N; ++v) {
    ir::NodeProps np;
    np.id = v;
    np.kind = v < I ? ir::NodeKind::Input : ir::NodeKind::Intermediate;
    np.combines = combine;
    np.select = v < I ? 0 : static_cast<int>(select_all.value_or(0));
    if (v >= I && node_ops_all) np.ops = ev.expand_all(*node_ops_all, {});
    if (auto it = node_drafts.find(v); it != node_drafts.end()) {
      np.range = it->second.range;
      if (it->second.ops) np.ops = ev.expand_all(*it->second.ops, {});
      if (it->second.combine) np.combines = *it->second.combine;
      if (it->second.select) np.select = static_cast<int>(*it->second.select);
    }
    boost::add_vertex(np, cell.graph);
  }
  std::map<int, ir::Candidates> all_by_stride;  // `edges all` shares one opset: expand it once per stride
  std::stable_sort(edges.begin(), edges.end(), [](const EdgeDraft& a, const EdgeDraft& b) {
    return a.dst != b.dst ? a.dst < b.dst : a.src < b.src;
  });
  for (std::size_t i = 0; i < edges.size(); ++i) {
    const EdgeDraft& d = edges[i];
    ir::EdgeProps ep;
    ep.index = static_cast<int>(i);
    ep.stride = reduction && d.src < I ? 2 : 1;
    ep.optional = d.optional;
    ep.range = d.range;
    Bindings bind;
    bind.stride = ep.stride;
    if (auto it = all_by_stride.find(ep.stride); d.from_all && it != all_by_stride.end()) {
      ep.candidates = it->second;
    } else {
      ep.candidates = ev.expand_all(d.ops, bind);
      if (d.from_all) all_by_stride.emplace(ep.stride, ep.candidates);
    }
    auto [e, _] = boost::add_edge(static_cast<ir::Vertex>(d.src), static_cast<ir::Vertex>(d.dst), ep, cell.graph);
    cell.edges.push_back(e);
  }
  // Hierarchies: edges grouped by target node, in node order.
  for (int v = I; v < N; ++v) {
    std::vector<int> h = cell.in_edges(v);
    if (h.empty()) continue;
    for (int e : h) cell.graph[cell.edges[e]].hierarchy = static_cast<int>(cell.hierarchies.size());
    cell.hierarchies.push_back(std::move(h));
  }
  if (diags.error_count() > errors_before) return std::nullopt;

  // Structure: cycles, reachability, selection.
  if (auto cyc = ir::find_cycle(cell)) {
    const ir::EdgeProps& ep = cell.edge(*cyc);
    diags.report(Kind::Cycle, ep.range,
                 fmt::format("the edges of cell '{}' form a cycle through edge {} -> {}", decl.name, cell.source(*cyc),
                             cell.target(*cyc)));
    diags.note("cells are directed acyclic graphs; remove or reverse one edge of the cycle");
    return std::nullopt;
  }
  if (props.output.kind == ir::CellOutput::Kind::Unused && !unused_output(cell, decl, output->range, diags))
    return std::nullopt;
  SourceRange where = edges_all ? edges_all->range : decl.name_range;
  std::vector<bool> from_input = ir::reachable_from_inputs(cell);
  std::vector<bool> to_output = ir::reaches_output(cell);
  for (int v = 0; v < N; ++v) {
    SourceRange r = node_drafts.count(v) ? node_drafts[v].range : where;
    if (v >= I && !from_input[v]) {
      diags.report(Kind::UnreachableNode, r,
                   fmt::format("node {} of cell '{}' has no path from an input", v, decl.name));
      diags.note(fmt::format("add an edge into node {}, e.g. `edge 0 -> {} : ...`", v, v));
    } else if (!to_output[v]) {
      diags.report(Kind::DeadNode, r, fmt::format("node {} of cell '{}' does not reach the cell output", v, decl.name));
      diags.note("its result would be computed and thrown away; add an edge from it or include it in `output`");
    }
  }
  for (int v = I; v < N; ++v) {
    const ir::NodeProps& np = cell.node(v);
    int indeg = static_cast<int>(cell.in_edges(v).size());
    if (np.select > indeg) {
      SourceRange r = node_drafts.count(v) && node_drafts[v].select ? node_drafts[v].range : select_range;
      diags.report(Kind::ImpossibleSelect, r,
                   fmt::format("node {} of cell '{}' must select {} inputs but has only {} incoming edge{}", v,
                               decl.name, np.select, indeg, indeg == 1 ? "" : "s"));
    }
  }

  // Constraints: which numbers of present edges they allow.
  const int E = cell.num_edges();
  props.allowed_edge_counts.assign(E + 1, true);
  for (const ast::Expr* c : constraints) {
    if (!props.constraint_text.empty()) props.constraint_text += " and ";
    if (!props.constraint_range.valid()) props.constraint_range = c->range;
    props.constraint_text += frontend::print(*c);
    for (int k = 0; k <= E; ++k) {
      Env env{{"edges", Value::make_int(k)}, {"nodes", Value::make_int(N - I)}};
      auto v = ev.eval(*c, env);
      if (!v) return std::nullopt;
      if (v->kind != Value::Kind::Bool) {
        diags.report(Kind::TypeMismatch, c->range,
                     fmt::format("a constraint must be true or false, got {}", kind_word(v->kind)));
        return std::nullopt;
      }
      props.allowed_edge_counts[k] = props.allowed_edge_counts[k] && v->b;
    }
  }
  if (diags.error_count() > errors_before) return std::nullopt;
  return cell;
}

}  // namespace cella::sema
