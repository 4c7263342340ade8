// Networks: parameters (with --set), units and stages, shape checks through every layer.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <map>
#include <set>

#include "compiler/ir/analysis.h"
#include "compiler/sema/internal.h"

namespace cella::sema {

using diag::Kind;
using diag::SourceRange;

namespace {

std::string shape_text(const ir::Shape& s) {
  if (s.flat) return fmt::format("a vector of {}", s.channels);
  return fmt::format("{} channels at 1/{} resolution", s.channels, s.reduction);
}

class NetworkBuilder {
 public:
  NetworkBuilder(const ast::NetworkDecl& decl, const Globals& globals, Evaluator& ev, std::vector<ir::Cell>& cells,
                 const Options& options, std::int64_t classes)
      : decl_(decl),
        globals_(globals),
        ev_(ev),
        diags_(ev.diags()),
        cells_(cells),
        options_(options),
        classes_(classes) {}

  std::optional<ir::Network> build(ir::Shape input) {
    std::size_t before = diags_.error_count();
    net_.name = decl_.name;
    net_.range = decl_.name_range;
    net_.input = input;
    if (!bind_params()) return std::nullopt;
    cur_ = input;
    const ast::NetStmt* head = nullptr;
    for (const ast::NetStmt& s : decl_.stmts) {
      switch (s.kind) {
        case ast::NetStmtKind::Stem: fixed(s, "stem"); break;
        case ast::NetStmtKind::Layer: fixed(s, "layer"); break;
        case ast::NetStmtKind::Head:
          head = &s;
          fixed(s, "head");
          break;
        case ast::NetStmtKind::Auxiliary: auxiliary(s); break;
        case ast::NetStmtKind::Stage: stage(s); break;
        case ast::NetStmtKind::Resolution: resolution(s); break;
        case ast::NetStmtKind::Share: share(s); break;
      }
      if (diags_.error_count() > before) return std::nullopt;
    }
    if (!head) {
      diags_.report(Kind::MissingStatement, decl_.name_range, fmt::format("network '{}' has no head", decl_.name));
      diags_.note("end the network with e.g. `head global_avg_pool >> linear(classes)`");
      return std::nullopt;
    }
    if (!cur_.flat) {
      diags_.report(Kind::ShapeError, head->value->range,
                    fmt::format("the network ends in {}, not in a vector of class scores", shape_text(cur_)));
      diags_.note("end the head with `global_avg_pool >> linear(classes)`");
      return std::nullopt;
    }
    if (net_.auxiliary && net_.auxiliary->out.channels != cur_.channels) {
      diags_.report(Kind::ShapeError, net_.auxiliary->range,
                    fmt::format("the auxiliary head gives {} scores, the network's head {}",
                                net_.auxiliary->out.channels, cur_.channels));
      diags_.note("end the auxiliary head with `linear(classes)`");
      return std::nullopt;
    }
    if (!net_.width_groups.empty() && !check_narrowing()) return std::nullopt;
    make_groups();
    return std::move(net_);
  }

 private:
  bool bind_params() {
    std::set<std::string> names;
    for (const ast::Param& p : decl_.params) {
      if (!names.insert(p.name).second) {
        diags_.report(Kind::DuplicateParameter, p.range, fmt::format("parameter '{}' is listed twice", p.name));
        return false;
      }
    }
    for (const auto& [name, text] : options_.overrides) {
      if (name.find('.') != std::string::npos || names.count(name)) continue;
      if (name == "seed" || name == "data" || name == "split") continue;  // search settings, handled there
      std::vector<std::string> all(names.begin(), names.end());
      diags_.report(Kind::BadOverride, {},
                    fmt::format("--set {}: network '{}' has no parameter '{}'", name, decl_.name, name));
      if (std::string m = diag::closest_match(name, all); !m.empty())
        diags_.note(fmt::format("did you mean '{}'?", m));
      else if (!all.empty())
        diags_.note(fmt::format("its parameters are: {}", fmt::join(all, ", ")));
    }
    for (const ast::Param& p : decl_.params) {
      std::optional<Value> v;
      auto over = std::find_if(options_.overrides.rbegin(), options_.overrides.rend(),
                               [&](const auto& o) { return o.first == p.name; });
      if (over != options_.overrides.rend()) {
        v = parse_override(over->second);
        if (!v) {
          diags_.report(Kind::BadOverride, {},
                        fmt::format("--set {}={}: the value is not a number or true/false", p.name, over->second));
          return false;
        }
        v->range = p.range;
      } else if (p.default_value) {
        v = ev_.eval(*p.default_value, env_);
      } else if (p.name == "classes") {
        v = Value::make_int(classes_, p.range);  // the data set's
      } else {
        diags_.report(Kind::MissingArgument, p.range, fmt::format("network parameter '{}' has no value", p.name));
        diags_.note(fmt::format("give it a default (`{} = 16`) or set it: `--set {}=16`", p.name, p.name));
        return false;
      }
      if (!v) return false;
      if (v->kind != Value::Kind::Int && v->kind != Value::Kind::Float && v->kind != Value::Kind::Bool) {
        diags_.report(Kind::TypeMismatch, p.range,
                      fmt::format("network parameter '{}' must be a number or boolean", p.name));
        return false;
      }
      ir::Scalar s = v->kind == Value::Kind::Int     ? ir::Scalar{v->i}
                     : v->kind == Value::Kind::Float ? ir::Scalar{v->f}
                                                     : ir::Scalar{v->b};
      net_.params.emplace_back(p.name, s);
      env_.emplace_back(p.name, *v);
    }
    return diags_.error_count() == 0 || true;
  }

  std::optional<ir::Op> op_of(const ast::Expr& e, const Bindings& bind, std::string name) {
    auto v = ev_.eval(e, env_);
    if (!v) return std::nullopt;
    if (v->kind != Value::Kind::Op) {
      diags_.report(Kind::TypeMismatch, e.range, fmt::format("expected an operation, got {}", kind_word(v->kind)));
      return std::nullopt;
    }
    return ev_.expand(*v->op, bind, std::move(name), e.range);
  }

  // Applies `op` to the current shape; reports and returns false if it does not fit.
  bool flow(const ir::Op& op, SourceRange where, ir::Shape& out) {
    auto r = op.shape(cur_);
    if (auto* err = std::get_if<std::string>(&r)) {
      diags_.report(Kind::ShapeError, where, *err);
      diags_.note(fmt::format("the input here is {}", shape_text(cur_)));
      return false;
    }
    out = std::get<ir::Shape>(r);
    return true;
  }

  void push(ir::Unit u) {
    cur_ = u.out;
    net_.units.push_back(std::move(u));
  }

  void fixed(const ast::NetStmt& s, std::string role) {
    auto op = op_of(*s.value, {}, role);
    if (!op) return;
    ir::Unit u;
    u.kind = ir::UnitKind::Fixed;
    u.role = role;
    u.name = role == "layer" ? fmt::format("layers.{}", net_.units.size()) : role;
    u.in = cur_;
    u.range = s.value->range;
    if (!flow(*op, s.value->range, u.out)) return;
    u.op = std::move(*op);
    push(std::move(u));
  }

  // `auxiliary OP [weight W]`: a classifier on the output of the unit before it.
  void auxiliary(const ast::NetStmt& s) {
    if (net_.auxiliary) {
      diags_.report(Kind::DuplicateStatement, s.range, "a network has at most one auxiliary head");
      diags_.note(fmt::format("the first is at line {}", net_.auxiliary->range.line));
      return;
    }
    if (net_.units.empty()) {
      diags_.report(Kind::ShapeError, s.range,
                    "an auxiliary head reads the output of a unit before it, and there is none");
      diags_.note("place it after the stage whose output it classifies (DARTS: the second reduction cell)");
      return;
    }
    double weight = 0.4;
    if (s.weight) {
      auto v = ev_.eval(*s.weight, env_);
      if (!v) return;
      if (v->kind != Value::Kind::Int && v->kind != Value::Kind::Float) {
        diags_.report(Kind::TypeMismatch, s.weight->range,
                      fmt::format("an auxiliary head's weight is a number, got {}", kind_word(v->kind)));
        return;
      }
      weight = v->kind == Value::Kind::Int ? static_cast<double>(v->i) : v->f;
      if (!(weight > 0 && weight <= 100)) {
        diags_.report(Kind::ValueOutOfRange, s.weight->range,
                      fmt::format("an auxiliary head's weight must be above 0 and at most 100, got {}", weight));
        return;
      }
    }
    auto op = op_of(*s.value, {}, "auxiliary");
    if (!op) return;
    ir::AuxiliaryHead a;
    a.after = static_cast<int>(net_.units.size()) - 1;
    a.weight = weight;
    a.in = cur_;
    a.range = s.value->range;
    if (!flow(*op, s.value->range, a.out)) return;
    if (!a.out.flat) {
      diags_.report(Kind::ShapeError, s.value->range,
                    fmt::format("the auxiliary head ends in {}, not in a vector of class scores", shape_text(a.out)));
      diags_.note("end it with `global_avg_pool >> linear(classes)`");
      return;
    }
    a.op = std::move(*op);
    net_.auxiliary = std::move(a);
  }

  // A stage's `noun` (depth, width): an integer or a list of them (a choice), each within
  // [lo, hi]; sorted, without repeats. `example` shows a list.
  std::optional<std::vector<std::int64_t>> stage_choice(const ast::Expr& e, std::string_view noun,
                                                        std::string_view example, std::int64_t lo, std::int64_t hi) {
    auto v = ev_.eval(e, env_);
    if (!v) return std::nullopt;
    std::vector<std::int64_t> out;
    if (v->kind == Value::Kind::Int)
      out.push_back(v->i);
    else if (v->kind == Value::Kind::List) {
      for (const Value& x : v->list) {
        if (x.kind != Value::Kind::Int) {
          diags_.report(Kind::TypeMismatch, e.range, fmt::format("a {} choice lists integers, e.g. {}", noun, example));
          return std::nullopt;
        }
        out.push_back(x.i);
      }
    } else {
      diags_.report(Kind::TypeMismatch, e.range,
                    fmt::format("a stage {} is an integer or a list of integers, got {}", noun, kind_word(v->kind)));
      return std::nullopt;
    }
    if (out.empty()) {
      diags_.report(Kind::EmptyChoice, e.range, fmt::format("the {} choice is empty", noun));
      return std::nullopt;
    }
    for (std::int64_t x : out)
      if (x < lo || x > hi) {
        diags_.report(Kind::ValueOutOfRange, e.range,
                      fmt::format("a stage {} must be between {} and {}, got {}", noun, lo, hi, x));
        return std::nullopt;
      }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  std::optional<std::vector<std::int64_t>> depths(const ast::NetStmt& s) {
    if (!s.depth) return std::vector<std::int64_t>{1};
    auto out = stage_choice(*s.depth, "depth", "[2, 3, 4]", 0, 1000);
    if (out && out->size() > 1 && out->front() == 0) {
      // Depth d runs the stage's first d blocks: at 0 not even the first, which strides and sets
      // the width, so the layers after the stage would see another shape (OFA: never drop it).
      diags_.report(Kind::ValueOutOfRange, s.depth->range,
                    fmt::format("the depth choice [{}] includes 0", fmt::join(*out, ", ")));
      diags_.note(
          "a depth keeps the stage's first blocks and drops the last ones; the first block always runs, so the "
          "smallest depth is 1");
      return std::nullopt;
    }
    return out;
  }

  // `width 24`, or an elastic width `width [16, 24]` (BigNAS).
  std::optional<std::vector<std::int64_t>> widths(const ast::NetStmt& s) {
    return stage_choice(*s.width, "width", "[16, 24]", 1, 1 << 20);
  }

  void stage(const ast::NetStmt& s) {
    auto ds = depths(s);
    if (!ds) return;
    std::optional<std::int64_t> width, stride;
    std::vector<std::int64_t> elastic_widths;
    if (s.width) {
      auto ws = widths(s);
      if (!ws) return;
      width = ws->back();
      if (ws->size() > 1) elastic_widths = std::move(*ws);
    }
    if (s.stride) stride = ev_.eval_int(*s.stride, env_, "a stage stride", 1, 64);
    if (s.stride && !stride) return;
    ir::Stage st;
    st.body = s.name;
    st.range = s.name_range;
    st.depths.assign(ds->begin(), ds->end());
    int stage_index = static_cast<int>(net_.stages.size());
    std::int64_t max_depth = ds->back();

    int cell_index = -1;
    for (std::size_t i = 0; i < cells_.size(); ++i)
      if (cells_[i].props().name == s.name) cell_index = static_cast<int>(i);
    if (cell_index < 0 && globals_.cells.count(s.name)) return;  // the cell had errors, reported already
    if (cell_index >= 0 && s.call) {
      diags_.report(Kind::TypeMismatch, s.call->range, fmt::format("cell '{}' takes no arguments", s.name));
      diags_.note("a stage of cells sets their width with `width`; a cell's operations take their arguments inside it");
      return;
    }
    if (cell_index >= 0) {
      if (!elastic_widths.empty()) {
        diags_.report(Kind::MisplacedElastic, s.width->range, "a stage of cells has one width");
        diags_.note("an elastic width narrows a stage of operations (BigNAS's MBConv stages), not cells");
        return;
      }
      if (stride) {
        diags_.report(Kind::InvalidValue, s.stride->range, "a cell stage takes its stride from the cell");
        diags_.note("declare `reduction` in the cell to halve the resolution on its input edges");
        return;
      }
      for (std::int64_t d = 0; d < max_depth; ++d) {
        st.units.push_back(static_cast<int>(net_.units.size()));
        if (!cell_unit(cell_index, width.value_or(cur_.channels), s, stage_index, static_cast<int>(d))) return;
      }
    } else if (globals_.opsets.count(s.name) || globals_.ops.count(s.name) || ir::find_primitive(s.name)) {
      ast::Expr name_expr;
      name_expr.kind = ast::ExprKind::Name;
      name_expr.text = s.name;
      name_expr.range = s.name_range;
      auto ops = ev_.eval_ops(s.call ? *s.call : name_expr, env_);
      if (!ops) return;
      if (s.call) ops->names = {s.name};
      if (ops->list.empty()) {
        diags_.report(Kind::EmptyChoice, s.name_range, fmt::format("opset '{}' is empty", s.name));
        return;
      }
      std::int64_t w = width.value_or(cur_.channels);
      for (std::int64_t d = 0; d < max_depth; ++d) {
        st.units.push_back(static_cast<int>(net_.units.size()));
        std::int64_t layer_stride = d == 0 ? stride.value_or(1) : 1;
        if (!choice_unit(*ops, w, layer_stride, s, stage_index, static_cast<int>(d))) return;
      }
      if (!elastic_widths.empty() && !narrows(*ops, elastic_widths, st, s)) return;
    } else {
      std::vector<std::string> names;
      for (const auto& c : cells_) names.push_back(c.props().name);
      for (const auto& [n, _] : globals_.opsets) names.push_back(n);
      for (const auto& [n, _] : globals_.ops) names.push_back(n);
      diags_.report(Kind::UnknownName, s.name_range, fmt::format("unknown cell or opset '{}'", s.name));
      if (std::string m = diag::closest_match(s.name, names); !m.empty())
        diags_.note(fmt::format("did you mean '{}'?", m));
      else
        diags_.note("a stage repeats a cell, an opset (one choice per layer) or an operation");
      return;
    }
    if (st.depths.size() > 1) {
      st.depth_group = static_cast<int>(net_.depth_groups.size());
      net_.depth_groups.push_back(stage_index);
    }
    if (!elastic_widths.empty()) {
      st.widths = std::move(elastic_widths);
      st.width_group = static_cast<int>(net_.width_groups.size());
      net_.width_groups.push_back(stage_index);
    }
    net_.stages.push_back(std::move(st));
  }

  // From the first width-elastic stage on, a layer may receive fewer channels than it was built
  // for, and one of that stage may make fewer: the runtime then runs it on the first channels of
  // its weights, which the primitives below allow. An identity shortcut whose input width varies
  // apart from its output's (the first block of a width-elastic stage, or any block after one
  // outside it) could not add its input to its output.
  bool check_narrowing() {
    static const std::set<std::string> sliceable = {
        "identity", "skip",   "relu", "relu6",    "hswish",          "swish",    "sigmoid", "bn",
        "conv",     "dwconv", "mbv3", "avg_pool", "global_avg_pool", "max_pool", "linear",  "dropout"};
    bool varying = false;
    for (const ir::Unit& u : net_.units) {
      const ir::Stage* st = u.stage >= 0 ? &net_.stages[static_cast<std::size_t>(u.stage)] : nullptr;
      const bool elastic = st && st->width_group >= 0;
      varying = varying || elastic;
      if (!varying) continue;
      const bool input_follows = elastic && u.depth_index > 0;  // the stage's own width, as its output
      std::vector<const ir::Op*> ops;
      if (u.kind == ir::UnitKind::Fixed) ops.push_back(&u.op);
      for (const ir::Op& op : u.choices) ops.push_back(&op);
      for (const ir::Op* op : ops)
        for (const ir::PrimCall& c : op->seq) {
          std::string why;
          if (!sliceable.count(c.prim) || (c.prim == "conv" && c.int_arg("groups", 1) != 1))
            why = fmt::format("'{}' cannot run on fewer channels than it was built for", c.prim);
          else if (c.prim == "mbv3" && !input_follows && c.int_arg("stride", 1) == 1 &&
                   c.int_arg("out", u.in.channels) == u.in.channels)
            why = fmt::format("'{}' adds its input to its output, and its input's width varies apart from its output's",
                              c.prim);
          if (why.empty()) continue;
          diags_.report(Kind::UnsliceableLayer, u.range, fmt::format("{} ({})", why, u.name));
          diags_.note(
              "after a stage with an elastic width, layers run on the first channels of their weights: convolutions, "
              "batch norms, linear layers, `mbv3` blocks (a stage's first one without a shortcut) and activations",
              net_.stages[static_cast<std::size_t>(net_.width_groups.front())].range);
          return false;
        }
    }
    return true;
  }

  // An elastic width's layers at a narrower width are their widest ones sliced (ir::at_width):
  // the body written at each width must be exactly that, so that the narrow networks are the
  // ones the file describes.
  bool narrows(const Value& ops, const std::vector<std::int64_t>& widths, const ir::Stage& st, const ast::NetStmt& s) {
    const std::int64_t largest = widths.back();
    for (std::int64_t w : widths) {
      if (w == largest) continue;
      for (int index : st.units) {
        const ir::Unit& u = net_.units[static_cast<std::size_t>(index)];
        Bindings bind;
        bind.stride = u.stride;
        bind.out = w;
        ev_.allow_elastic(true);
        std::vector<ir::Op> cands = ev_.expand_all(ops, bind);
        ev_.allow_elastic(false);
        std::vector<ir::ElasticDim> dims;
        if (cands.size() != ops.list.size() || !elastic_candidates(cands, s, dims)) return false;
        for (std::size_t k = 0; k < cands.size() && k < u.choices.size(); ++k) {
          const ir::Op narrowed = ir::at_width(u.choices[k], largest, w);
          if (cands[k].expansion() == narrowed.expansion()) continue;
          std::size_t i = 0;
          while (i + 1 < cands[k].seq.size() && i + 1 < narrowed.seq.size() &&
                 ir::to_string(cands[k].seq[i]) == ir::to_string(narrowed.seq[i]))
            ++i;
          diags_.report(Kind::ChannelMismatch, s.width->range,
                        fmt::format("at width {}, '{}' runs `{}` where its width-{} layer narrowed runs `{}`", w,
                                    u.choices[k].name, ir::to_string(cands[k].seq.at(i)), largest,
                                    ir::to_string(narrowed.seq.at(i))));
          diags_.note(
              "an elastic width narrows the channels equal to the stage's width and keeps every other; give the "
              "body's channels the stage's width (`out = out`)");
          return false;
        }
      }
    }
    return true;
  }

  bool cell_unit(int cell_index, std::int64_t width, const ast::NetStmt& s, int stage_index, int d) {
    const ir::Cell& cell = cells_[cell_index];
    const ir::CellProps& props = cell.props();
    SourceRange where = s.width ? s.width->range : s.name_range;
    if (props.inputs == 1 && cur_.channels != width && !ir::concatenates_at_output(cell)) {
      diags_.report(
          Kind::ChannelMismatch, where,
          fmt::format("cell '{}' has width {} but its input has {} channels", props.name, width, cur_.channels));
      diags_.note(
          fmt::format("a 1-input cell keeps its width; put a layer before it that makes {} channels, "
                      "e.g. `layer resblock({}, stride = 2)`",
                      width, width));
      return false;
    }
    if (cur_.flat) {
      diags_.report(Kind::ShapeError, s.name_range, "a cell cannot follow a pooled vector");
      return false;
    }
    if (!check_cell(cell, width, s)) return false;
    ir::Unit u;
    u.kind = ir::UnitKind::Cell;
    u.role = "cell";
    u.cell = cell_index;
    u.stage = stage_index;
    u.depth_index = d;
    u.width = width;
    u.in = cur_;
    u.range = s.name_range;
    u.name = fmt::format("cells.{}", net_.units.size());
    std::int64_t nodes_out =
        props.output.kind == ir::CellOutput::Kind::Node ? 1 : static_cast<std::int64_t>(props.output.nodes.size());
    u.out = ir::Shape{width * nodes_out, cur_.reduction * (props.reduction ? 2 : 1), false};
    u.stride = props.reduction ? 2 : 1;
    push(std::move(u));
    return true;
  }

  // Every candidate on every edge must map the cell width to itself at the edge's stride. A
  // candidate that fails on several edges is reported once, naming how many.
  bool check_cell(const ir::Cell& cell, std::int64_t width, const ast::NetStmt& s) {
    auto key = std::make_pair(cell.props().name, width);
    if (checked_.count(key)) return true;
    checked_.insert(key);
    ir::Shape in{width, 1, false};
    struct Failure {
      const ir::Op* op;
      std::string problem;
      std::vector<std::string> places;
      bool channels;
      bool reduce;
    };
    std::vector<Failure> failures;
    struct Verdict {
      std::string problem;  // empty: the shape is right
      bool channels = false;
    };
    // Edges of one `edges all` share their candidate Ops: infer each Op's shape once per stride.
    std::map<std::pair<const ir::Op*, std::int64_t>, Verdict> verdicts;
    auto verdict_of = [&](const ir::Op& op, ir::Shape want) -> const Verdict& {
      auto [it, fresh] = verdicts.try_emplace({&op, want.reduction});
      if (!fresh) return it->second;
      Verdict& v = it->second;
      auto r = op.shape(in);
      if (auto* err = std::get_if<std::string>(&r)) {
        v.problem = *err;
      } else {
        ir::Shape got = std::get<ir::Shape>(r);
        if (got.channels != want.channels) {
          v.problem = fmt::format("makes {} channels where the cell has width {}", got.channels, width);
          v.channels = true;
        } else if (got.reduction != want.reduction) {
          v.problem = want.reduction > 1
                          ? fmt::format("does not reduce the resolution on a stride-{} edge of a reduction cell",
                                        want.reduction)
                          : fmt::format("reduces the resolution by {} where it must not change", got.reduction);
        }
      }
      return v;
    };
    auto check = [&](const ir::Op& op, ir::Shape want, const auto& place) {
      const Verdict& v = verdict_of(op, want);
      if (v.problem.empty()) return;
      for (Failure& f : failures)
        if (f.op->origin.line == op.origin.line && f.op->origin.column == op.origin.column && f.problem == v.problem) {
          f.places.push_back(place());
          return;
        }
      failures.push_back(Failure{&op, v.problem, {place()}, v.channels, want.reduction > 1});
    };
    for (int e = 0; e < cell.num_edges(); ++e)
      for (const ir::Op& op : cell.edge(e).candidates)
        check(op, ir::Shape{width, cell.edge(e).stride, false}, [&] { return "edge " + cell.edge_name(e); });
    for (int v = cell.props().inputs; v < cell.num_nodes(); ++v)
      for (const ir::Op& op : cell.node(v).ops) check(op, in, [&] { return fmt::format("node {}", v); });
    for (const Failure& f : failures) {
      std::string where =
          f.places.size() == 1 ? f.places[0] : fmt::format("{} and {} more", f.places[0], f.places.size() - 1);
      Kind kind = f.channels                                          ? Kind::ChannelMismatch
                  : f.problem.find("resolution") != std::string::npos ? Kind::StrideMismatch
                                                                      : Kind::ShapeError;
      diags_.report(kind, f.op->origin,
                    fmt::format("'{}' {} ({} of cell '{}')", f.op->name, f.problem, where, cell.props().name));
      diags_.note(fmt::format("cell '{}' is used with width {} here", cell.props().name, width), s.name_range);
      if (f.channels)
        diags_.note("every candidate on an edge must keep the cell's width; leave `out` unset to inherit it");
      else if (f.reduce)
        diags_.note(
            "an operation on a reduction edge needs a `stride` parameter that reaches a strided layer, "
            "e.g. `op my_op(stride = 1) = relu >> conv(3, stride = stride) >> bn`");
    }
    return failures.empty();
  }

  bool choice_unit(const Value& ops, std::int64_t width, std::int64_t stride, const ast::NetStmt& s, int stage_index,
                   int d) {
    Bindings bind;
    bind.stride = stride;
    bind.out = width;
    ev_.allow_elastic(true);
    std::vector<ir::Op> cands = ev_.expand_all(ops, bind);
    ev_.allow_elastic(false);
    if (cands.size() != ops.list.size()) return false;
    std::vector<ir::ElasticDim> dims;
    if (!elastic_candidates(cands, s, dims)) return false;
    ir::Shape want{width, cur_.reduction * stride, false};
    for (const ir::Op& op : cands) {
      auto r = op.shape(cur_);
      if (auto* err = std::get_if<std::string>(&r)) {
        diags_.report(Kind::ShapeError, op.origin, fmt::format("'{}' cannot run here: {}", op.name, *err));
        diags_.note(fmt::format("in stage '{}', layer {}", s.name, d), s.name_range);
        return false;
      }
      ir::Shape got = std::get<ir::Shape>(r);
      if (got.channels != want.channels) {
        diags_.report(
            Kind::ChannelMismatch, op.origin,
            fmt::format("'{}' makes {} channels where stage '{}' needs {}", op.name, got.channels, s.name, width));
        diags_.note("give the operation an `out` parameter; the stage binds it to its width", s.name_range);
        return false;
      }
      if (got.reduction != want.reduction) {
        diags_.report(Kind::StrideMismatch, op.origin,
                      fmt::format("'{}' leaves the resolution at 1/{} where layer {} of stage '{}' needs 1/{}", op.name,
                                  got.reduction, d, s.name, want.reduction));
        diags_.note("give the operation a `stride` parameter; the stage binds it", s.name_range);
        return false;
      }
    }
    ir::Unit u;
    u.kind = ir::UnitKind::Choice;
    u.role = "choice";
    u.name = fmt::format("layers.{}", net_.units.size());
    u.choices = std::move(cands);
    u.elastic = std::move(dims);
    u.stage = stage_index;
    u.depth_index = d;
    u.width = width;
    u.stride = static_cast<int>(stride);
    u.in = cur_;
    u.out = want;
    u.range = s.name_range;
    push(std::move(u));
    return true;
  }

  // An elastic operation (a primitive given lists) is a stage's whole body: its candidates are
  // its sub-shapes, one per combination of the lists' values, replacing `cands`, and `dims` says
  // which. Anything else that holds a list is reported; false then.
  bool elastic_candidates(std::vector<ir::Op>& cands, const ast::NetStmt& s, std::vector<ir::ElasticDim>& dims) {
    const ir::PrimCall* elastic = nullptr;
    for (const ir::Op& op : cands)
      for (const ir::PrimCall& c : op.seq)
        if (!c.elastic.empty()) {
          if (cands.size() > 1 || op.seq.size() > 1) {
            diags_.report(Kind::MisplacedElastic, op.origin,
                          cands.size() > 1 ? fmt::format("elastic '{}' is one candidate among {} in stage '{}'", c.prim,
                                                         cands.size(), s.name)
                                           : fmt::format("elastic '{}' is one step of '{}'", c.prim, op.expansion()));
            diags_.note(
                "an elastic layer's choices are the sub-shapes of one set of weights: it is a stage's whole body, "
                "one primitive (`stage NAME(...) * [2, 3, 4]`)",
                s.name_range);
            return false;
          }
          elastic = &c;
        }
    if (!elastic) return true;
    dims = elastic->elastic;
    if (elastic->prim == "mbv3")
      for (const ir::ElasticDim& d : dims)
        if (d.param == "e" && d.values.front() == 1) {
          diags_.report(Kind::ValueOutOfRange, cands[0].origin,
                        fmt::format("elastic expansion [{}] includes 1", fmt::join(d.values, ", ")));
          diags_.note(
              "a block at expansion 1 has no expand layer, so it is not a slice of the others; give it a stage of "
              "its own with `e = 1`");
          return false;
        }
    // One candidate per combination, the first dimension slowest.
    std::vector<ir::Op> subs;
    std::vector<std::size_t> at(dims.size(), 0);
    while (true) {
      ir::Op op = cands[0];
      ir::PrimCall& call = op.seq[0];
      call.elastic.clear();
      std::vector<std::string> parts;
      for (std::size_t i = 0; i < dims.size(); ++i) {
        call.set(dims[i].param, ir::Scalar{dims[i].values[at[i]]});
        parts.push_back(fmt::format("{}{}", dims[i].param, dims[i].values[at[i]]));
      }
      op.name = fmt::format("{}", fmt::join(parts, "_"));
      ir::fill_derived(call);
      subs.push_back(std::move(op));
      std::size_t i = dims.size();
      while (i > 0 && ++at[i - 1] == dims[i - 1].values.size()) at[--i] = 0;
      if (i == 0) break;
    }
    cands = std::move(subs);
    return true;
  }

  // `resolution 128..224 step 4`, `resolution [160, 192, 224]` or `resolution 224`: the sides
  // the network resizes its input to, one per architecture.
  void resolution(const ast::NetStmt& s) {
    if (!net_.resolutions.empty()) {
      diags_.report(Kind::DuplicateStatement, s.range, "a network has one `resolution` statement");
      diags_.note(fmt::format("the first is at line {}", net_.resolution_range.line));
      return;
    }
    auto v = ev_.eval(*s.value, env_);
    if (!v) return;
    std::vector<std::int64_t> sizes;
    std::vector<SourceRange> where;
    if (v->kind == Value::Kind::Int) {
      sizes.push_back(v->i);
      where.push_back(s.value->range);
    } else if (v->kind == Value::Kind::List) {
      for (std::size_t i = 0; i < v->list.size(); ++i) {
        SourceRange r = i < v->item_ranges.size() && v->item_ranges[i].valid() ? v->item_ranges[i] : s.value->range;
        if (v->list[i].kind != Value::Kind::Int) {
          diags_.report(Kind::TypeMismatch, r,
                        fmt::format("a resolution is an integer (pixels), got {}", kind_word(v->list[i].kind)));
          return;
        }
        sizes.push_back(v->list[i].i);
        where.push_back(r);
      }
    } else {
      diags_.report(Kind::TypeMismatch, s.value->range,
                    fmt::format("`resolution` takes a side in pixels, a list or a range, got {}", kind_word(v->kind)));
      return;
    }
    if (s.step) {
      if (s.value->kind != ast::ExprKind::Range) {
        diags_.report(Kind::BadResolution, s.step->range, "`step` follows a range, `128..224 step 4`");
        return;
      }
      auto step = ev_.eval_int(*s.step, env_, "a resolution step", 1, 1 << 20);
      if (!step) return;
      if (!sizes.empty() && (sizes.back() - sizes.front()) % *step != 0) {
        diags_.report(Kind::BadResolution, s.value->range.to(s.step->range),
                      fmt::format("steps of {} from {} do not reach {}", *step, sizes.front(), sizes.back()));
        diags_.note(fmt::format("end the range at {}", sizes.front() + (sizes.back() - sizes.front()) / *step * *step));
        return;
      }
      std::vector<std::int64_t> stepped;
      for (std::size_t i = 0; i < sizes.size(); i += static_cast<std::size_t>(*step)) stepped.push_back(sizes[i]);
      sizes = std::move(stepped);
      where.assign(sizes.size(), s.value->range);
    }
    if (sizes.empty()) {
      diags_.report(Kind::BadResolution, s.value->range, "the resolution list is empty");
      return;
    }
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      if (sizes[i] < 1 || sizes[i] > 8192) {
        diags_.report(Kind::BadResolution, where[i],
                      fmt::format("a resolution must be between 1 and 8192 pixels, got {}", sizes[i]));
        return;
      }
      if (i > 0 && sizes[i] <= sizes[i - 1]) {
        diags_.report(Kind::BadResolution, where[i],
                      sizes[i] == sizes[i - 1]
                          ? fmt::format("resolution {} is listed twice", sizes[i])
                          : fmt::format("resolution {} follows {}: list them increasing", sizes[i], sizes[i - 1]));
        return;
      }
    }
    net_.resolutions = std::move(sizes);
    net_.resolution_range = s.range.to(s.value->range);
  }

  void share(const ast::NetStmt& s) {
    if (s.name == "all")
      net_.share = ir::ShareMode::All;
    else if (s.name == "stage")
      net_.share = ir::ShareMode::Stage;
    else if (s.name == "none")
      net_.share = ir::ShareMode::None;
    else {
      diags_.report(Kind::InvalidValue, s.name_range, fmt::format("unknown sharing mode '{}'", s.name));
      diags_.note("`share all` (one architecture per cell type), `share stage` or `share none` (every cell its own)");
    }
  }

  void make_groups() {
    for (std::size_t i = 0; i < net_.units.size(); ++i) {
      ir::Unit& u = net_.units[i];
      if (u.kind == ir::UnitKind::Choice) {
        u.group = static_cast<int>(net_.layer_groups.size());
        net_.layer_groups.push_back(static_cast<int>(i));
        continue;
      }
      if (u.kind != ir::UnitKind::Cell) continue;
      int found = -1;
      for (std::size_t g = 0; g < net_.cell_groups.size() && net_.share != ir::ShareMode::None; ++g) {
        const ir::CellGroup& cg = net_.cell_groups[g];
        const ir::Unit& first = net_.units[cg.units[0]];
        if (cg.cell == u.cell && (net_.share == ir::ShareMode::All || first.stage == u.stage))
          found = static_cast<int>(g);
      }
      if (found < 0) {
        ir::CellGroup cg;
        cg.cell = u.cell;
        const std::string& cname = cells_[u.cell].props().name;
        cg.name = net_.share == ir::ShareMode::All     ? cname
                  : net_.share == ir::ShareMode::Stage ? fmt::format("{}@stage{}", cname, u.stage)
                                                       : u.name;
        found = static_cast<int>(net_.cell_groups.size());
        net_.cell_groups.push_back(cg);
      }
      net_.cell_groups[found].units.push_back(static_cast<int>(i));
      u.group = found;
    }
  }

  const ast::NetworkDecl& decl_;
  const Globals& globals_;
  Evaluator& ev_;
  diag::DiagnosticEngine& diags_;
  std::vector<ir::Cell>& cells_;
  const Options& options_;
  std::int64_t classes_;
  ir::Network net_;
  Env env_;
  ir::Shape cur_;
  std::set<std::pair<std::string, std::int64_t>> checked_;
};

}  // namespace

std::optional<ir::Network> build_network(const ast::NetworkDecl& decl, const Globals& globals, Evaluator& ev,
                                         std::vector<ir::Cell>& cells, const Options& options, ir::Shape input,
                                         std::int64_t classes) {
  return NetworkBuilder(decl, globals, ev, cells, options, classes).build(input);
}

std::optional<Value> parse_override(const std::string& text) {
  if (text == "true") return Value::make_bool(true);
  if (text == "false") return Value::make_bool(false);
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  long long i = std::strtoll(text.c_str(), &end, 10);
  if (*end == '\0' && errno == 0) return Value::make_int(i);
  errno = 0;
  double f = std::strtod(text.c_str(), &end);
  if (*end == '\0' && errno == 0 && std::isfinite(f)) return Value::make_float(f);
  return std::nullopt;
}

}  // namespace cella::sema
