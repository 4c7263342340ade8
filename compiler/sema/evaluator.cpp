// Expression evaluation and operation expansion.
#include "compiler/sema/evaluator.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "compiler/frontend/printer.h"

namespace cella::sema {

using diag::Kind;
using diag::SourceRange;

namespace {

constexpr std::int64_t kMaxListSize = 1'000'000;

std::optional<std::int64_t> checked(std::int64_t a, std::int64_t b, ast::BinaryOp op) {
  std::int64_t r = 0;
  switch (op) {
    case ast::BinaryOp::Add:
      if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
      return r;
    case ast::BinaryOp::Sub:
      if (__builtin_sub_overflow(a, b, &r)) return std::nullopt;
      return r;
    case ast::BinaryOp::Mul:
      if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
      return r;
    case ast::BinaryOp::Div: {
      if (a == INT64_MIN && b == -1) return std::nullopt;
      std::int64_t q = a / b;
      if ((a % b != 0) && ((a < 0) != (b < 0))) --q;  // floor division, as in Python
      return q;
    }
    case ast::BinaryOp::Mod: {
      if (b == -1) return 0;
      std::int64_t m = a % b;
      if (m != 0 && ((m < 0) != (b < 0))) m += b;
      return m;
    }
    default: return std::nullopt;
  }
}

std::string substitute(const std::string& tmpl, const Env& env) {
  std::string out;
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] == '{') {
      std::size_t close = tmpl.find('}', i);
      if (close != std::string::npos) {
        std::string var = tmpl.substr(i + 1, close - i - 1);
        for (auto it = env.rbegin(); it != env.rend(); ++it)
          if (it->first == var) {
            out += to_text(it->second);
            i = close;
            goto next;
          }
      }
    }
    out.push_back(tmpl[i]);
  next:;
  }
  return out;
}

}  // namespace

std::string kind_word(Value::Kind k) {
  switch (k) {
    case Value::Kind::Int: return "an integer";
    case Value::Kind::Float: return "a number";
    case Value::Kind::Bool: return "a boolean";
    case Value::Kind::String: return "a string";
    case Value::Kind::List: return "a list";
    case Value::Kind::Op: return "an operation";
  }
  return "a value";
}

std::string to_text(const Value& v) {
  switch (v.kind) {
    case Value::Kind::Int: return std::to_string(v.i);
    case Value::Kind::Float: return fmt::format("{}", v.f);
    case Value::Kind::Bool: return v.b ? "true" : "false";
    case Value::Kind::String: return "\"" + v.s + "\"";
    case Value::Kind::List: {
      std::string s = "[";
      for (std::size_t i = 0; i < v.list.size(); ++i)
        s += (i ? ", " : "") + (i < v.names.size() && !v.names[i].empty() ? v.names[i] : to_text(v.list[i]));
      return s + "]";
    }
    case Value::Kind::Op: {
      std::string s;
      for (std::size_t i = 0; i < v.op->steps.size(); ++i) {
        const OpStep& st = v.op->steps[i];
        s += (i ? " >> " : "") + st.callee.name;
        if (!st.args.empty()) {
          s += "(";
          for (std::size_t j = 0; j < st.args.size(); ++j)
            s += (j ? ", " : "") + (st.args[j].first.empty() ? "" : st.args[j].first + " = ") +
                 to_text(st.args[j].second);
          s += ")";
        }
      }
      return s;
    }
  }
  return "";
}

std::vector<std::string> Globals::expression_names() const {
  std::vector<std::string> out;
  for (const auto& [n, _] : ops) out.push_back(n);
  for (const auto& [n, _] : opsets) out.push_back(n);
  for (const ir::Primitive& p : ir::primitives()) out.push_back(p.name);
  return out;
}

void Evaluator::unknown_name(const std::string& name, SourceRange range, bool want_op, const Env& env) {
  std::vector<std::string> candidates = globals_.expression_names();
  std::vector<std::string> in_scope;
  for (const auto& [n, _] : env) in_scope.push_back(n);
  if (want_op) {
    diags_.report(Kind::UnknownOp, range, fmt::format("unknown operation '{}'", name));
  } else {
    diags_.report(Kind::UnknownName, range, fmt::format("unknown name '{}'", name));
    candidates.insert(candidates.end(), in_scope.begin(), in_scope.end());
  }
  if (std::string m = diag::closest_match(name, candidates); !m.empty())
    diags_.note(fmt::format("did you mean '{}'?", m));
  else if (want_op)
    diags_.note(
        "operations come from `op` declarations, imports such as `import std.ops`, the built-in primitives "
        "(`cella primitives`), or a C++ plugin, which `--plugin LIB` loads");
  else if (!in_scope.empty())
    diags_.note(fmt::format("the names usable here: {}", fmt::join(in_scope, ", ")));
}

std::optional<Value> Evaluator::eval(const ast::Expr& e, const Env& env) {
  using K = ast::ExprKind;
  switch (e.kind) {
    case K::Int: return Value::make_int(e.int_value, e.range);
    case K::Float: return Value::make_float(e.float_value, e.range);
    case K::Bool: return Value::make_bool(e.bool_value, e.range);
    case K::String: {
      Value v;
      v.kind = Value::Kind::String;
      v.s = e.text;
      v.range = e.range;
      return v;
    }
    case K::Name: return eval_name(e, env);
    case K::Call: return eval_call(e, env);
    case K::Neg: {
      auto v = eval(*e.operands[0], env);
      if (!v) return std::nullopt;
      if (v->kind == Value::Kind::Int && v->i != INT64_MIN) return Value::make_int(-v->i, e.range);
      if (v->kind == Value::Kind::Float) return Value::make_float(-v->f, e.range);
      diags_.report(Kind::TypeMismatch, e.operands[0]->range, fmt::format("cannot negate {}", kind_word(v->kind)));
      return std::nullopt;
    }
    case K::Not: {
      auto v = eval(*e.operands[0], env);
      if (!v) return std::nullopt;
      if (v->kind == Value::Kind::Bool) return Value::make_bool(!v->b, e.range);
      diags_.report(Kind::TypeMismatch, e.operands[0]->range,
                    fmt::format("'not' needs a boolean, got {}", kind_word(v->kind)));
      return std::nullopt;
    }
    case K::Binary: return eval_binary(e, env);
    case K::Range: {
      auto a = eval(*e.operands[0], env);
      auto b = eval(*e.operands[1], env);
      if (!a || !b) return std::nullopt;
      if (a->kind != Value::Kind::Int || b->kind != Value::Kind::Int) {
        diags_.report(Kind::TypeMismatch, e.range, "a range 'a..b' needs integer bounds");
        return std::nullopt;
      }
      if (b->i >= a->i && b->i - a->i >= kMaxListSize) {
        diags_.report(Kind::ValueOutOfRange, e.range, fmt::format("range has more than {} elements", kMaxListSize));
        return std::nullopt;
      }
      Value v;
      v.kind = Value::Kind::List;
      v.range = e.range;
      for (std::int64_t x = a->i; x <= b->i; ++x) {
        v.list.push_back(Value::make_int(x, e.range));
        v.item_ranges.push_back(e.range);
      }
      return v;
    }
    case K::List: return eval_list(e, env);
    case K::Comprehension: return eval_comprehension(e, env);
  }
  return std::nullopt;
}

std::optional<Value> Evaluator::eval_name(const ast::Expr& e, const Env& env) {
  for (auto it = env.rbegin(); it != env.rend(); ++it)
    if (it->first == e.text) {
      Value v = it->second;
      v.range = e.range;
      return v;
    }
  if (auto it = globals_.opsets.find(e.text); it != globals_.opsets.end()) {
    std::string key = "opset " + e.text;
    if (std::find(expanding_.begin(), expanding_.end(), key) != expanding_.end()) {
      diags_.report(Kind::RecursiveDefinition, it->second->name_range,
                    fmt::format("opset '{}' refers to itself", e.text));
      return std::nullopt;
    }
    expanding_.push_back(key);
    auto v = eval_ops(*it->second->value, {});
    expanding_.pop_back();
    if (v) v->range = e.range;
    return v;
  }
  if (auto it = globals_.ops.find(e.text); it != globals_.ops.end()) {
    Value v;
    v.kind = Value::Kind::Op;
    v.op = std::make_shared<OpValue>();
    v.op->steps.push_back(OpStep{Callee{e.text, it->second}, {}, e.range});
    v.range = e.range;
    return v;
  }
  if (ir::find_primitive(e.text)) {
    Value v;
    v.kind = Value::Kind::Op;
    v.op = std::make_shared<OpValue>();
    v.op->steps.push_back(OpStep{Callee{e.text, nullptr}, {}, e.range});
    v.range = e.range;
    return v;
  }
  if (globals_.cells.count(e.text) || globals_.networks.count(e.text)) {
    diags_.report(Kind::TypeMismatch, e.range,
                  fmt::format("'{}' is a {}, not a value", e.text, globals_.cells.count(e.text) ? "cell" : "network"));
    return std::nullopt;
  }
  unknown_name(e.text, e.range, want_op_ > 0, env);
  return std::nullopt;
}

std::optional<Value> Evaluator::eval_call(const ast::Expr& e, const Env& env) {
  // Arguments are values, not operations: a bad name there is an unknown name.
  struct Reset {
    int& depth;
    int saved;
    ~Reset() { depth = saved; }
  } reset{want_op_, want_op_};
  want_op_ = 0;
  Callee callee{e.text, nullptr};
  if (auto it = globals_.ops.find(e.text); it != globals_.ops.end()) {
    callee.composite = it->second;
  } else if (!ir::find_primitive(e.text)) {
    for (const auto& [n, _] : env)
      if (n == e.text) {
        diags_.report(Kind::TypeMismatch, e.name_range,
                      fmt::format("'{}' is a parameter, not an operation; it cannot be called", e.text));
        return std::nullopt;
      }
    if (globals_.opsets.count(e.text) || globals_.cells.count(e.text)) {
      diags_.report(Kind::TypeMismatch, e.name_range,
                    fmt::format("'{}' is {}; only operations can be called", e.text,
                                globals_.opsets.count(e.text) ? "an opset" : "a cell"));
      return std::nullopt;
    }
    unknown_name(e.text, e.name_range, true);
    return std::nullopt;
  }
  OpStep step{callee, {}, e.range};
  bool ok = true;
  for (const ast::Arg& a : e.args) {
    auto v = eval(*a.value, env);
    if (!v) {
      ok = false;
      continue;
    }
    v->range = a.value->range;
    step.args.emplace_back(a.name, std::move(*v));
  }
  if (!ok) return std::nullopt;
  Value v;
  v.kind = Value::Kind::Op;
  v.op = std::make_shared<OpValue>();
  v.op->steps.push_back(std::move(step));
  v.range = e.range;
  return v;
}

std::optional<Value> Evaluator::eval_binary(const ast::Expr& e, const Env& env) {
  using B = ast::BinaryOp;
  auto a = eval(*e.operands[0], env);
  auto b = eval(*e.operands[1], env);
  if (!a || !b) return std::nullopt;
  auto mismatch = [&](std::string_view what) -> std::optional<Value> {
    diags_.report(Kind::TypeMismatch, e.range,
                  fmt::format("{} {} and {}", what, kind_word(a->kind), kind_word(b->kind)));
    return std::nullopt;
  };
  switch (e.op) {
    case B::Seq: {
      if (a->kind != Value::Kind::Op || b->kind != Value::Kind::Op)
        return mismatch("'>>' chains operations; it cannot join");
      Value v = *a;
      v.op = std::make_shared<OpValue>(*a->op);
      for (const OpStep& s : b->op->steps) v.op->steps.push_back(s);
      v.range = e.range;
      return v;
    }
    case B::And:
    case B::Or:
      if (a->kind != Value::Kind::Bool || b->kind != Value::Kind::Bool)
        return mismatch("'and'/'or' need booleans, got");
      return Value::make_bool(e.op == B::And ? (a->b && b->b) : (a->b || b->b), e.range);
    case B::Lt:
    case B::Le:
    case B::Gt:
    case B::Ge:
    case B::Eq:
    case B::Ne: {
      if (a->is_number() && b->is_number()) {
        double x = a->number(), y = b->number();
        bool r = e.op == B::Lt   ? x < y
                 : e.op == B::Le ? x <= y
                 : e.op == B::Gt ? x > y
                 : e.op == B::Ge ? x >= y
                 : e.op == B::Eq ? x == y
                                 : x != y;
        return Value::make_bool(r, e.range);
      }
      if ((e.op == B::Eq || e.op == B::Ne) && a->kind == b->kind &&
          (a->kind == Value::Kind::Bool || a->kind == Value::Kind::String)) {
        bool eq = a->kind == Value::Kind::Bool ? a->b == b->b : a->s == b->s;
        return Value::make_bool(e.op == B::Eq ? eq : !eq, e.range);
      }
      return mismatch("cannot compare");
    }
    default: break;
  }
  // Arithmetic; lists support + (concatenate) and - (remove elements by name or value).
  if (a->kind == Value::Kind::List && b->kind == Value::Kind::List && (e.op == B::Add || e.op == B::Sub)) {
    Value v = *a;
    v.range = e.range;
    if (e.op == B::Add) {
      for (std::size_t i = 0; i < b->list.size(); ++i) {
        v.list.push_back(b->list[i]);
        v.names.resize(v.list.size() - 1);
        v.names.push_back(i < b->names.size() ? b->names[i] : "");
        v.item_ranges.resize(v.list.size() - 1);
        v.item_ranges.push_back(i < b->item_ranges.size() ? b->item_ranges[i] : b->range);
      }
      return v;
    }
    Value out;
    out.kind = Value::Kind::List;
    out.range = e.range;
    auto label = [](const Value& list, std::size_t i) {
      return i < list.names.size() && !list.names[i].empty() ? list.names[i] : to_text(list.list[i]);
    };
    for (std::size_t i = 0; i < a->list.size(); ++i) {
      bool removed = false;
      for (std::size_t j = 0; j < b->list.size(); ++j) removed = removed || label(*a, i) == label(*b, j);
      if (removed) continue;
      out.list.push_back(a->list[i]);
      out.names.push_back(i < a->names.size() ? a->names[i] : "");
      out.item_ranges.push_back(i < a->item_ranges.size() ? a->item_ranges[i] : a->range);
    }
    return out;
  }
  if (!a->is_number() || !b->is_number()) return mismatch("arithmetic needs numbers, got");
  if ((e.op == B::Div || e.op == B::Mod) && b->number() == 0) {
    diags_.report(Kind::DivisionByZero, e.operands[1]->range, "division by zero");
    return std::nullopt;
  }
  if (a->kind == Value::Kind::Int && b->kind == Value::Kind::Int) {
    auto r = checked(a->i, b->i, e.op);
    if (!r) {
      diags_.report(Kind::ValueOutOfRange, e.range, "integer overflow");
      return std::nullopt;
    }
    return Value::make_int(*r, e.range);
  }
  double x = a->number(), y = b->number(), r = 0;
  switch (e.op) {
    case B::Add: r = x + y; break;
    case B::Sub: r = x - y; break;
    case B::Mul: r = x * y; break;
    case B::Div: r = x / y; break;
    case B::Mod: r = std::fmod(x, y); break;
    default: break;
  }
  if (!std::isfinite(r)) {
    diags_.report(Kind::ValueOutOfRange, e.range, "result is not a finite number");
    return std::nullopt;
  }
  return Value::make_float(r, e.range);
}

std::optional<Value> Evaluator::eval_list(const ast::Expr& e, const Env& env) {
  Value v;
  v.kind = Value::Kind::List;
  v.range = e.range;
  bool ok = true;
  for (const ast::ListItem& item : e.items) {
    auto x = eval(*item.value, env);
    if (!x) {
      ok = false;
      continue;
    }
    std::string name = item.alias_is_template ? substitute(item.alias, env) : item.alias;
    if (name.empty() && x->kind == Value::Kind::Op)
      name = item.value->kind == ast::ExprKind::Name ? item.value->text : to_text(*x);
    v.list.push_back(std::move(*x));
    v.names.push_back(name);
    v.item_ranges.push_back(item.value->range);
  }
  if (!ok) return std::nullopt;
  return v;
}

std::optional<Value> Evaluator::eval_comprehension(const ast::Expr& e, const Env& env) {
  std::vector<Value> domains;
  std::int64_t total = 1;
  for (const ast::Generator& g : e.generators) {
    auto d = eval(*g.domain, env);
    if (!d) return std::nullopt;
    if (d->kind != Value::Kind::List) {
      diags_.report(Kind::TypeMismatch, g.domain->range,
                    fmt::format("'for {} in ...' needs a list, got {}", g.var, kind_word(d->kind)));
      return std::nullopt;
    }
    total *= std::max<std::int64_t>(1, static_cast<std::int64_t>(d->list.size()));
    if (total > 100'000) {
      diags_.report(Kind::ValueOutOfRange, e.range, "comprehension produces more than 100000 elements");
      return std::nullopt;
    }
    domains.push_back(std::move(*d));
  }
  Value out;
  out.kind = Value::Kind::List;
  out.range = e.range;
  const ast::ListItem& item = e.items[0];
  std::vector<std::size_t> idx(domains.size(), 0);
  for (const Value& d : domains)
    if (d.list.empty()) return out;
  while (true) {
    Env inner = env;
    for (std::size_t g = 0; g < domains.size(); ++g) inner.emplace_back(e.generators[g].var, domains[g].list[idx[g]]);
    auto x = eval(*item.value, inner);
    if (!x) return std::nullopt;
    std::string name = item.alias_is_template ? substitute(item.alias, inner) : item.alias;
    if (name.empty() && x->kind == Value::Kind::Op) name = to_text(*x);
    out.list.push_back(std::move(*x));
    out.names.push_back(name);
    out.item_ranges.push_back(item.value->range);
    std::size_t g = domains.size();
    while (g > 0) {
      --g;
      if (++idx[g] < domains[g].list.size()) break;
      idx[g] = 0;
      if (g == 0) return out;
    }
    if (domains.empty()) return out;
  }
}

std::optional<std::int64_t> Evaluator::eval_int(const ast::Expr& e, const Env& env, std::string_view what,
                                                std::int64_t min, std::int64_t max) {
  auto v = eval(e, env);
  if (!v) return std::nullopt;
  if (v->kind != Value::Kind::Int) {
    diags_.report(Kind::TypeMismatch, e.range, fmt::format("{} must be an integer, got {}", what, kind_word(v->kind)));
    return std::nullopt;
  }
  if (v->i < min || v->i > max) {
    diags_.report(Kind::ValueOutOfRange, e.range,
                  max == INT64_MAX ? fmt::format("{} must be at least {}, got {}", what, min, v->i)
                                   : fmt::format("{} must be between {} and {}, got {}", what, min, max, v->i));
    return std::nullopt;
  }
  return v->i;
}

std::optional<Value> Evaluator::eval_ops(const ast::Expr& e, const Env& env) {
  ++want_op_;
  auto v = eval(e, env);
  --want_op_;
  if (!v) return std::nullopt;
  if (v->kind == Value::Kind::Op) {
    Value list;
    list.kind = Value::Kind::List;
    list.range = v->range;
    list.names.push_back(e.kind == ast::ExprKind::Name ? e.text : to_text(*v));
    list.item_ranges.push_back(e.range);
    list.list.push_back(std::move(*v));
    return list;
  }
  if (v->kind != Value::Kind::List) {
    diags_.report(Kind::TypeMismatch, e.range,
                  fmt::format("expected a list of operations, got {}", kind_word(v->kind)));
    return std::nullopt;
  }
  std::vector<std::string> seen;
  for (std::size_t i = 0; i < v->list.size(); ++i) {
    SourceRange r = i < v->item_ranges.size() ? v->item_ranges[i] : e.range;
    if (v->list[i].kind != Value::Kind::Op) {
      diags_.report(Kind::TypeMismatch, r, fmt::format("expected an operation, got {}", kind_word(v->list[i].kind)));
      return std::nullopt;
    }
    const std::string& name = v->names[i];
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
      diags_.report(Kind::DuplicateCandidate, r, fmt::format("candidate '{}' appears twice in this choice", name));
      diags_.note("rename one with `as`, e.g. `conv(3) as conv_a`");
      return std::nullopt;
    }
    seen.push_back(name);
  }
  return v;
}

bool Evaluator::accepts(const OpValue& op, std::string_view param) const {
  if (op.steps.size() != 1) return false;
  const Callee& c = op.steps[0].callee;
  if (c.composite) {
    for (const ast::Param& p : c.composite->params)
      if (p.name == param) return true;
    return false;
  }
  const ir::Primitive* p = ir::find_primitive(c.name);
  if (!p) return false;
  return std::any_of(p->params.begin(), p->params.end(), [&](const ir::PrimParam& q) { return q.name == param; });
}

std::optional<ir::Op> Evaluator::expand(const OpValue& op, const Bindings& bind, std::string name, SourceRange site) {
  ir::Op out;
  out.name = std::move(name);
  out.origin = site;
  bool top = op.steps.size() == 1;
  for (const OpStep& s : op.steps)
    if (!expand_step(s, top ? bind : Bindings{}, top, out.seq)) return std::nullopt;
  return out;
}

std::vector<ir::Op> Evaluator::expand_all(const Value& ops, const Bindings& bind) {
  std::vector<ir::Op> out;
  for (std::size_t i = 0; i < ops.list.size(); ++i) {
    SourceRange r = i < ops.item_ranges.size() ? ops.item_ranges[i] : ops.range;
    std::string name = i < ops.names.size() ? ops.names[i] : to_text(ops.list[i]);
    if (auto op = expand(*ops.list[i].op, bind, name, r)) out.push_back(std::move(*op));
  }
  return out;
}

bool Evaluator::int_fits(const ir::PrimParam& p, const ir::Primitive& prim, const Value& v) {
  if (v.i < p.min || static_cast<double>(v.i) > p.max) {
    diags_.report(Kind::ValueOutOfRange, v.range,
                  fmt::format("'{}' of '{}' must be at least {}, got {}", p.name, prim.name, p.min, v.i));
    return false;
  }
  if (p.odd && v.i % 2 == 0) {
    diags_.report(Kind::EvenKernel, v.range, fmt::format("'{}' of '{}' must be odd, got {}", p.name, prim.name, v.i));
    diags_.note(
        "a kernel needs a centre: 'same' padding keeps the size, and a smaller elastic kernel is the centre "
        "of the largest");
    return false;
  }
  return true;
}

std::string Evaluator::elastic_params_note() {
  std::vector<std::string> names;
  for (const ir::Primitive& q : ir::primitives())
    for (const ir::PrimParam& pp : q.params)
      if (pp.elastic) names.push_back(fmt::format("`{}` of `{}`", pp.name, q.name));
  return fmt::format("only elastic parameters take a list of values ({})", fmt::join(names, ", "));
}

std::optional<ir::ElasticDim> Evaluator::elastic_dim(const ir::PrimParam& p, const ir::Primitive& prim,
                                                     const Value& v) {
  if (!allow_elastic_) {
    diags_.report(
        Kind::MisplacedElastic, v.range,
        fmt::format("'{}' of '{}' is a list: an elastic layer, which only a stage may be", p.name, prim.name));
    diags_.note(
        "an elastic operation is the body of a stage, `stage NAME(...) * [2, 3, 4] width 24`; a fixed layer, a "
        "cell edge or a candidate among others takes one value");
    return std::nullopt;
  }
  ir::ElasticDim dim{p.name, {}};
  for (std::size_t i = 0; i < v.list.size(); ++i) {
    Value x = v.list[i];
    if (i < v.item_ranges.size() && v.item_ranges[i].valid()) x.range = v.item_ranges[i];
    if (!x.range.valid()) x.range = v.range;
    if (x.kind != Value::Kind::Int) {
      diags_.report(
          Kind::TypeMismatch, x.range,
          fmt::format("the values of elastic '{}' of '{}' are integers, got {}", p.name, prim.name, kind_word(x.kind)));
      return std::nullopt;
    }
    if (!int_fits(p, prim, x)) return std::nullopt;
    if (std::find(dim.values.begin(), dim.values.end(), x.i) != dim.values.end()) {
      diags_.report(Kind::DuplicateCandidate, x.range,
                    fmt::format("{} appears twice in the values of elastic '{}'", x.i, p.name));
      return std::nullopt;
    }
    dim.values.push_back(x.i);
  }
  if (dim.values.empty()) {
    diags_.report(Kind::EmptyChoice, v.range, fmt::format("elastic '{}' of '{}' has no values", p.name, prim.name));
    return std::nullopt;
  }
  std::sort(dim.values.begin(), dim.values.end());
  return dim;
}

bool Evaluator::expand_step(const OpStep& step, const Bindings& bind, bool top, std::vector<ir::PrimCall>& out) {
  // Parameter names of the callee, in order.
  std::vector<std::string> params;
  const ir::Primitive* prim = nullptr;
  if (step.callee.composite) {
    for (const ast::Param& p : step.callee.composite->params) params.push_back(p.name);
  } else {
    prim = ir::find_primitive(step.callee.name);
    for (const ir::PrimParam& p : prim->params) params.push_back(p.name);
  }
  std::vector<std::optional<Value>> given(params.size());
  std::size_t positional = 0;
  bool ok = true;
  for (const auto& [argname, value] : step.args) {
    std::size_t slot = params.size();
    if (argname.empty()) {
      slot = positional++;
      if (slot >= params.size()) {
        diags_.report(Kind::WrongArgumentCount, value.range,
                      fmt::format("'{}' takes {} argument{}, but more were given", step.callee.name, params.size(),
                                  params.size() == 1 ? "" : "s"));
        if (!params.empty()) diags_.note(fmt::format("its parameters are: {}", fmt::join(params, ", ")));
        return false;
      }
    } else {
      auto it = std::find(params.begin(), params.end(), argname);
      if (it == params.end()) {
        diags_.report(Kind::UnknownArgument, value.range,
                      fmt::format("'{}' has no parameter '{}'", step.callee.name, argname));
        if (std::string m = diag::closest_match(argname, params); !m.empty())
          diags_.note(fmt::format("did you mean '{}'?", m));
        else if (!params.empty())
          diags_.note(fmt::format("its parameters are: {}", fmt::join(params, ", ")));
        ok = false;
        continue;
      }
      slot = static_cast<std::size_t>(it - params.begin());
    }
    if (given[slot]) {
      diags_.report(Kind::DuplicateArgument, value.range,
                    fmt::format("argument '{}' of '{}' is given twice", params[slot], step.callee.name));
      ok = false;
      continue;
    }
    given[slot] = value;
  }
  if (!ok) return false;
  if (top) {
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (given[i]) continue;
      if (params[i] == "stride" && bind.stride) given[i] = Value::make_int(*bind.stride, step.range);
      if (params[i] == "out" && bind.out) given[i] = Value::make_int(*bind.out, step.range);
    }
  }

  if (prim) {
    ir::PrimCall call;
    call.prim = prim->name;
    for (std::size_t i = 0; i < params.size(); ++i) {
      const ir::PrimParam& p = prim->params[i];
      if (!given[i]) {
        if (p.default_value)
          call.args.emplace_back(p.name, *p.default_value);
        else if (!p.from_input && p.name != "pad") {
          diags_.report(Kind::MissingArgument, step.range, fmt::format("'{}' needs argument '{}'", prim->name, p.name));
          ok = false;
        }
        continue;
      }
      const Value& v = *given[i];
      if (p.type == ir::ParamType::Bool) {
        if (v.kind != Value::Kind::Bool) {
          diags_.report(
              Kind::TypeMismatch, v.range,
              fmt::format("'{}' of '{}' must be true or false, got {}", p.name, prim->name, kind_word(v.kind)));
          ok = false;
          continue;
        }
        call.args.emplace_back(p.name, ir::Scalar{v.b});
      } else if (p.type == ir::ParamType::Int && v.kind == Value::Kind::List && p.elastic) {
        auto dim = elastic_dim(p, *prim, v);
        if (!dim) {
          ok = false;
          continue;
        }
        call.args.emplace_back(p.name, ir::Scalar{dim->values.back()});
        call.elastic.push_back(std::move(*dim));
      } else if (p.type == ir::ParamType::Int) {
        if (v.kind != Value::Kind::Int) {
          diags_.report(Kind::TypeMismatch, v.range,
                        fmt::format("'{}' of '{}' must be an integer, got {}", p.name, prim->name, kind_word(v.kind)));
          if (v.kind == Value::Kind::List) diags_.note(elastic_params_note());
          ok = false;
          continue;
        }
        if (!int_fits(p, *prim, v)) {
          ok = false;
          continue;
        }
        call.args.emplace_back(p.name, ir::Scalar{v.i});
      } else {
        if (!v.is_number()) {
          diags_.report(Kind::TypeMismatch, v.range,
                        fmt::format("'{}' of '{}' must be a number, got {}", p.name, prim->name, kind_word(v.kind)));
          ok = false;
          continue;
        }
        if (v.number() < 0 || v.number() > p.max) {
          diags_.report(
              Kind::ValueOutOfRange, v.range,
              fmt::format("'{}' of '{}' must be between 0 and {}, got {}", p.name, prim->name, p.max, v.number()));
          ok = false;
          continue;
        }
        call.args.emplace_back(p.name, ir::Scalar{v.number()});
      }
    }
    if (!ok) return false;
    if (call.bool_arg("hswish", false) && call.bool_arg("swish", false)) {
      diags_.report(Kind::InvalidValue, step.range,
                    fmt::format("'{}' takes one activation, and this call asks for h-swish and swish", prim->name));
      diags_.note("set one of `hswish = true` (Once-for-All) and `swish = true` (BigNAS); without either it is ReLU");
      return false;
    }
    ir::fill_derived(call);
    out.push_back(std::move(call));
    return true;
  }

  // A composite op: bind parameters (defaults may use earlier parameters), expand the body.
  const ast::OpDecl* decl = step.callee.composite;
  std::string key = "op " + decl->name;
  if (std::find(expanding_.begin(), expanding_.end(), key) != expanding_.end()) {
    diags_.report(Kind::RecursiveDefinition, decl->name_range,
                  fmt::format("operation '{}' is defined in terms of itself", decl->name));
    diags_.note("operations cannot be recursive: the expansion would never end", step.range);
    return false;
  }
  Env env;
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (given[i]) {
      env.emplace_back(params[i], *given[i]);
    } else if (decl->params[i].default_value) {
      auto v = eval(*decl->params[i].default_value, env);
      if (!v) return false;
      env.emplace_back(params[i], *v);
    } else {
      diags_.report(Kind::MissingArgument, step.range, fmt::format("'{}' needs argument '{}'", decl->name, params[i]));
      diags_.note(fmt::format("'{}' is declared here", decl->name), decl->name_range);
      return false;
    }
  }
  expanding_.push_back(key);
  auto body = eval(*decl->body, env);
  bool result = false;
  if (body && body->kind != Value::Kind::Op) {
    diags_.report(
        Kind::TypeMismatch, decl->body->range,
        fmt::format("the body of operation '{}' must be an operation, got {}", decl->name, kind_word(body->kind)));
  } else if (body) {
    result = true;
    for (const OpStep& s : body->op->steps) result = result && expand_step(s, {}, false, out);
  }
  expanding_.pop_back();
  return result;
}

}  // namespace cella::sema
