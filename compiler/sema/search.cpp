// Search blocks: a small schema of settings (data, supernet, split, retrain), checked and read
// into ir::SearchPlan. Dotted `--set` overrides (`supernet.epochs=3`) go through the same readers.
#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "compiler/ir/metrics.h"
#include "compiler/ir/plan.h"
#include "compiler/ir/primitives.h"
#include "compiler/ir/schedule.h"
#include "compiler/sema/internal.h"

namespace cella::sema {

using diag::Kind;
using diag::SourceRange;

namespace {

/// What a reader sees: the written value (evaluated, or a bare word), and the range to blame.
struct Input {
  std::optional<Value> value;       // numbers, booleans, lists, strings
  std::string word;                 // a bare name: `sampler uniform`
  const ast::Expr* call = nullptr;  // `criterion gradient_match(batches = 50)`
  const ast::Expr* expr = nullptr;  // settings read as written (`objectives [accuracy, latency]`)
  SourceRange range;
  std::string path;
};

// The strategies a plan may name: the built-in words (not the `plugin` placeholder), then those
// plugins declared.
std::vector<std::string> strategy_words() {
  std::vector<std::string> out;
  for (std::string_view w : ir::plan_words<ir::SplitStrategy>())
    if (w != ir::name_of(ir::SplitStrategy::Plugin)) out.emplace_back(w);
  for (const std::string& name : ir::plugin_strategies()) out.push_back(name);
  return out;
}

// Plan settings whose value is read from the syntax tree rather than evaluated: metric names
// are not values.
const std::set<std::string> kReadAsWritten = {"specialize.objectives", "specialize.constraints"};

class SearchBuilder {
 public:
  SearchBuilder(const ast::SearchDecl& decl, Evaluator& ev, const std::vector<ir::Cell>& cells,
                const ir::Network& network, const Options& options)
      : decl_(decl), ev_(ev), diags_(ev.diags()), cells_(cells), network_(network), options_(options) {
    define();
  }

  std::optional<ir::SearchPlan> build() {
    std::size_t before = diags_.error_count();
    plan_.name = decl_.name;
    plan_.range = decl_.name_range;
    read_block(decl_.body, "");
    for (const auto& [name, text] : options_.overrides) {
      if (name.find('.') == std::string::npos && name != "seed" && name != "data" && name != "split") continue;
      override_setting(name, text);
      if (name == "split") strategy_from_cli_ = true;
      if (name.rfind("split.", 0) == 0 && readers_.count(name))
        split_settings_.push_back({name.substr(6), {}, true, text});
    }
    check_split_settings();
    if (!options_.data.empty()) {
      Input in;
      in.word = options_.data;
      in.path = "data";
      readers_["data"](in);
    }
    if (diags_.error_count() > before) return std::nullopt;
    validate();
    if (diags_.error_count() > before) return std::nullopt;
    return plan_;
  }

 private:
  using Reader = std::function<void(const Input&)>;

  // --- typed readers ---------------------------------------------------------------------------
  std::optional<std::int64_t> int_of(const Input& in, std::int64_t min, std::int64_t max) {
    if (!in.value || in.value->kind != Value::Kind::Int) {
      diags_.report(Kind::TypeMismatch, in.range, fmt::format("'{}' must be an integer", in.path));
      return std::nullopt;
    }
    if (in.value->i < min || in.value->i > max) {
      diags_.report(Kind::ValueOutOfRange, in.range,
                    fmt::format("'{}' must be between {} and {}, got {}", in.path, min, max, in.value->i));
      return std::nullopt;
    }
    return in.value->i;
  }
  std::optional<double> float_of(const Input& in, double min, double max, bool open_min = false) {
    if (!in.value || !in.value->is_number()) {
      diags_.report(Kind::TypeMismatch, in.range, fmt::format("'{}' must be a number", in.path));
      return std::nullopt;
    }
    double v = in.value->number();
    if (v < min || v > max || (open_min && v == min)) {
      diags_.report(Kind::ValueOutOfRange, in.range,
                    fmt::format("'{}' must be {} {} and at most {}, got {}", in.path, open_min ? "above" : "at least",
                                min, max, v));
      return std::nullopt;
    }
    return v;
  }
  std::optional<bool> bool_of(const Input& in) {
    if (!in.value || in.value->kind != Value::Kind::Bool) {
      diags_.report(Kind::TypeMismatch, in.range, fmt::format("'{}' must be true or false", in.path));
      return std::nullopt;
    }
    return in.value->b;
  }
  std::optional<std::string> word_of(const Input& in, const std::vector<std::string>& allowed) {
    std::string w = in.word;
    if (w.empty() && in.value && in.value->kind == Value::Kind::String) w = in.value->s;
    if (w.empty()) {
      diags_.report(Kind::TypeMismatch, in.range,
                    fmt::format("'{}' takes one of: {}", in.path, fmt::join(allowed, ", ")));
      return std::nullopt;
    }
    if (std::find(allowed.begin(), allowed.end(), w) == allowed.end()) {
      diags_.report(Kind::InvalidValue, in.range, fmt::format("'{}' is not a valid value for '{}'", w, in.path));
      if (std::string m = diag::closest_match(w, allowed); !m.empty())
        diags_.note(fmt::format("did you mean '{}'?", m));
      else
        diags_.note(fmt::format("choose one of: {}", fmt::join(allowed, ", ")));
      return std::nullopt;
    }
    return w;
  }
  std::optional<std::vector<std::int64_t>> ints_of(const Input& in, std::int64_t min) {
    std::vector<std::int64_t> out;
    if (in.value && in.value->kind == Value::Kind::Int)
      out.push_back(in.value->i);
    else if (in.value && in.value->kind == Value::Kind::List) {
      for (const Value& v : in.value->list) {
        if (v.kind != Value::Kind::Int) {
          diags_.report(Kind::TypeMismatch, in.range, fmt::format("'{}' lists integers", in.path));
          return std::nullopt;
        }
        out.push_back(v.i);
      }
    } else {
      diags_.report(Kind::TypeMismatch, in.range,
                    fmt::format("'{}' must be an integer or a list of integers", in.path));
      return std::nullopt;
    }
    for (std::int64_t v : out)
      if (v < min) {
        diags_.report(Kind::ValueOutOfRange, in.range,
                      fmt::format("'{}' values must be at least {}, got {}", in.path, min, v));
        return std::nullopt;
      }
    return out;
  }

  template <class T>
  Reader set_int(T& field, std::int64_t min, std::int64_t max) {
    return [this, &field, min, max](const Input& in) {
      if (auto v = int_of(in, min, max)) field = *v;
    };
  }
  Reader set_float(double& field, double min, double max, bool open_min = false) {
    return [this, &field, min, max, open_min](const Input& in) {
      if (auto v = float_of(in, min, max, open_min)) field = *v;
    };
  }
  Reader set_bool(bool& field) {
    return [this, &field](const Input& in) {
      if (auto v = bool_of(in)) field = *v;
    };
  }
  Reader set_ints(std::vector<std::int64_t>& field, std::int64_t min) {
    return [this, &field, min](const Input& in) {
      if (auto v = ints_of(in, min)) field = *v;
    };
  }
  // A word-valued setting read into its enum (plan.h's plan_words).
  template <class E>
  Reader set_enum(E& field) {
    std::vector<std::string> allowed(ir::plan_words<E>().begin(), ir::plan_words<E>().end());
    return [this, &field, allowed](const Input& in) {
      if (auto v = word_of(in, allowed)) field = *ir::plan_value<E>(*v);
    };
  }

  // --- the schema: plan.def's typed rows, then the readers of its special rows -------------
  void define() {
    // Every reader also remembers where its value was written, for the cross-setting checks.
    auto located = [this](std::string key, Reader read) -> Reader {
      return [this, key, read = std::move(read)](const Input& in) {
        ranges_[key] = in.range;
        read(in);
      };
    };
#define CELLA_PLAN_INT(key, field, min, max, strategies, doc) \
  readers_[key] = located(key, set_int(plan_.field, min, max));
#define CELLA_PLAN_FLOAT(key, field, min, max, strategies, doc) \
  readers_[key] = located(key, set_float(plan_.field, min, max));
#define CELLA_PLAN_POSITIVE(key, field, max, strategies, doc) \
  readers_[key] = located(key, set_float(plan_.field, 0, max, true));
#define CELLA_PLAN_BOOL(key, field, strategies, doc) readers_[key] = located(key, set_bool(plan_.field));
#define CELLA_PLAN_ENUM(key, field, strategies, doc) readers_[key] = located(key, set_enum(plan_.field));
#define CELLA_PLAN_INTS(key, field, min, strategies, doc) readers_[key] = located(key, set_ints(plan_.field, min));
#include "compiler/ir/plan.def"

    std::map<std::string, Reader> special;
    special["data"] = [this](const Input& in) {
      if (auto v = word_of(in, ir::data_set_names())) plan_.data.name = *v;
    };
    special["data.path"] = [this](const Input& in) {
      if (in.value && in.value->kind == Value::Kind::String)
        plan_.data.path = in.value->s;
      else
        diags_.report(Kind::TypeMismatch, in.range, "'data.path' must be a quoted path");
    };
    special["supernet"] = [](const Input&) {};
    for (std::string block : {"supernet", "retrain"}) {
      ir::Optimizer& o = block == "supernet" ? plan_.supernet.optimizer : plan_.retrain.optimizer;
      // optimizer sgd  |  optimizer sgd(lr = 0.025, momentum = 0.9, ...)
      special[block + ".optimizer"] = [this, &o](const Input& in) {
        if (auto v = word_of(in, {"sgd"})) o.kind = *v;
      };
    }
    special["supernet.sampler"] = [this](const Input& in) {
      if (auto v = word_of(in, ir::training_methods(true))) plan_.supernet.method = *v;
    };
    special["supernet.weights"] = [this](const Input& in) {
      if (auto v = word_of(in, ir::training_methods(false))) plan_.supernet.method = *v;
    };
    special["split"] = [this](const Input& in) {
      auto v = word_of(in, strategy_words());
      if (!v) return;
      auto builtin = ir::plan_value<ir::SplitStrategy>(*v);
      plan_.split.strategy = builtin ? *builtin : ir::SplitStrategy::Plugin;
      plan_.split.plugin = builtin ? "" : *v;
      if (plan_.split.strategy == ir::SplitStrategy::Hierarchical) plan_.split.distill = ir::Distill::Smd;
    };
    special["split.cell"] = [this](const Input& in) {
      std::vector<std::string> names;
      for (const auto& c : cells_) names.push_back(c.props().name);
      if (auto v = word_of(in, names)) plan_.split.cell = *v;
    };
    special["split.edges"] = [this](const Input& in) {
      edges_input_ = in;
      has_edges_ = true;
    };
    special["split.edge"] = special["split.edges"];
    special["split.criterion"] = [this](const Input& in) {
      if (auto v = word_of(in, ir::split_criteria())) plan_.split.criterion = *v;
    };
    special["retrain"] = [this](const Input&) { plan_.retrain.enabled = true; };
    special["specialize"] = [](const Input&) {};
    special["specialize.objectives"] = [this](const Input& in) { read_objectives(in); };
    special["specialize.constraints"] = [this](const Input& in) { read_constraints(in); };
    special["smoke"] = [this](const Input& in) {  // its entries are network parameters: smoke_setting()
      diags_.report(Kind::TypeMismatch, in.range, "'smoke' takes a block of network parameters");
      diags_.note("for example: smoke { C 4; layers 5 }");
    };
    for (auto& [key, read] : special) readers_[key] = located(key, std::move(read));
    // The table and the readers agree row for row; every plan compiled checks it.
    for (const ir::PlanSetting& row : ir::plan_settings())
      if (!readers_.count(std::string(row.key)))
        throw std::logic_error("plan.def row '" + std::string(row.key) + "' has no reader");
  }

  // Settings whose names are not values: the items of a list, or one item alone.
  static std::vector<const ast::Expr*> items_of(const ast::Expr& e) {
    std::vector<const ast::Expr*> out;
    if (e.kind == ast::ExprKind::List)
      for (const ast::ListItem& item : e.items) out.push_back(item.value.get());
    else
      out.push_back(&e);
    return out;
  }

  bool from_command_line(const Input& in, const char* option) {
    if (in.expr) return false;
    diags_.report(Kind::BadOverride, {},
                  fmt::format("--set {}: give it to `cella specialize` as {} instead", in.path, option));
    return true;
  }

  // `objectives [accuracy, latency]`: metric names, one to three, each once.
  void read_objectives(const Input& in) {
    if (from_command_line(in, "--objectives")) return;
    std::vector<std::string> names;
    for (const ast::Expr* e : items_of(*in.expr)) {
      if (e->kind != ast::ExprKind::Name) {
        diags_.report(Kind::TypeMismatch, e->range,
                      fmt::format("'{}' lists metrics by name: {}", in.path, ir::metric_names()));
        return;
      }
      auto m = ir::metric_named(e->text);
      if (!m) {
        diags_.report(Kind::InvalidValue, e->range, fmt::format("'{}' is not a metric", e->text));
        if (std::string close = diag::closest_match(e->text, ir::metric_list()); !close.empty())
          diags_.note(fmt::format("did you mean '{}'?", close));
        else
          diags_.note(fmt::format("the metrics are: {}", ir::metric_names()));
        return;
      }
      std::string name = ir::info(*m).name;
      if (std::find(names.begin(), names.end(), name) != names.end()) {
        diags_.report(Kind::InvalidValue, e->range, fmt::format("metric '{}' is listed twice", name));
        return;
      }
      names.push_back(name);
    }
    if (names.empty() || names.size() > 3) {
      diags_.report(Kind::ValueOutOfRange, in.range,
                    fmt::format("'{}' takes one to three metrics, got {}", in.path, names.size()));
      return;
    }
    plan_.specialize.objectives = names;
  }

  // `constraints [latency <= 5, params <= 1e6]`: comparisons of a metric with a number, kept in
  // the text form ir::parse_constraint reads.
  void read_constraints(const Input& in) {
    if (from_command_line(in, "--constraint")) return;
    std::vector<std::string> out;
    for (const ast::Expr* e : items_of(*in.expr)) {
      const bool compares = e->kind == ast::ExprKind::Binary &&
                            (e->op == ast::BinaryOp::Le || e->op == ast::BinaryOp::Ge) &&
                            e->operands[0]->kind == ast::ExprKind::Name;
      if (!compares) {
        diags_.report(Kind::TypeMismatch, e->range,
                      fmt::format("'{}' lists bounds such as 'latency <= 5' or 'accuracy >= 90'", in.path));
        return;
      }
      const ast::Expr& metric = *e->operands[0];
      auto m = ir::metric_named(metric.text);
      if (!m) {
        diags_.report(Kind::InvalidValue, metric.range, fmt::format("'{}' is not a metric", metric.text));
        diags_.note(fmt::format("the metrics are: {}", ir::metric_names()));
        return;
      }
      if (auto why = ir::wrong_direction(*m, e->op == ast::BinaryOp::Le)) {
        diags_.report(Kind::InvalidValue, e->range, *why);
        return;
      }
      std::optional<Value> bound = ev_.eval(*e->operands[1], {});
      if (!bound) return;  // reported
      if (!bound->is_number()) {
        diags_.report(Kind::TypeMismatch, e->operands[1]->range,
                      fmt::format("a bound on {} must be a number{}", metric.text,
                                  *m == ir::Metric::Latency ? " of milliseconds" : ""));
        return;
      }
      out.push_back(
          fmt::format("{} {} {}", ir::info(*m).name, e->op == ast::BinaryOp::Le ? "<=" : ">=", bound->number()));
    }
    plan_.specialize.constraints = out;
  }

  // `smoke { C 4; layers 5 }`: network parameters for `--smoke` runs, kept as `--set` texts.
  void smoke_setting(const ast::Setting& s) {
    std::vector<std::string> params;
    for (const auto& [name, _] : network_.params) params.push_back(name);
    if (std::find(params.begin(), params.end(), s.name) == params.end()) {
      diags_.report(Kind::UnknownSetting, s.name_range,
                    fmt::format("network '{}' has no parameter '{}'", network_.name, s.name));
      if (std::string m = diag::closest_match(s.name, params); !m.empty())
        diags_.note(fmt::format("did you mean '{}'?", m));
      else
        diags_.note(fmt::format("'smoke' sets network parameters; those of '{}' are: {}", network_.name,
                                fmt::join(params, ", ")));
      return;
    }
    std::optional<Value> v = s.value && !s.block ? ev_.eval(*s.value, {}) : std::nullopt;
    if (!v || (v->kind != Value::Kind::Int && v->kind != Value::Kind::Float && v->kind != Value::Kind::Bool)) {
      if (v || !s.value)
        diags_.report(Kind::TypeMismatch, s.value ? s.value->range : s.name_range,
                      fmt::format("'smoke.{}' must be a number or true/false", s.name));
      return;
    }
    std::string text = to_text(*v);
    if (v->kind == Value::Kind::Float && text.find_first_of(".eEn") == std::string::npos) text += ".0";
    plan_.smoke.emplace_back(s.name, text);
  }

  // Settings that only make sense for some strategies (plan.def's strategies column).
  bool allowed_for_strategy(const std::string& key) const {
    const ir::PlanSetting* row = ir::find_plan_setting(key);
    return !row || ir::applies_to(*row, plan_.split.strategy);
  }

  Input input_of(const ast::Setting& s, const std::string& path) {
    Input in;
    in.path = path;
    in.range = s.name_range;
    if (!s.value) return in;
    in.range = s.value->range;
    if (kReadAsWritten.count(path)) {
      in.expr = s.value.get();
    } else if (s.value->kind == ast::ExprKind::Name) {
      in.word = s.value->text;
    } else if (s.value->kind == ast::ExprKind::Call) {
      in.word = s.value->text;
      in.call = s.value.get();
    } else {
      in.value = ev_.eval(*s.value, {});
      if (!in.value) in.word = "\x01";  // evaluation failed and was reported
    }
    return in;
  }

  void read_block(const ast::Block& block, const std::string& prefix) {
    std::map<std::string, SourceRange> seen;
    auto given_twice = [&](const ast::Setting& s, const std::string& path) {
      auto [prev, fresh] = seen.emplace(s.name, s.name_range);
      if (fresh) return false;
      diags_.report(Kind::DuplicateStatement, s.name_range, fmt::format("setting '{}' is given twice", path));
      diags_.note("first given here", prev->second);
      return true;
    };
    for (const ast::Setting& s : block.settings) {
      std::string path = prefix + s.name;
      if (prefix == "smoke.") {
        if (!given_twice(s, path)) smoke_setting(s);
        continue;
      }
      auto it = readers_.find(path);
      if (it == readers_.end()) {
        unknown_setting(s.name, s.name_range, prefix);
        continue;
      }
      if (given_twice(s, path)) continue;
      Input in = input_of(s, path);
      if (in.word == "\x01") continue;
      if (!s.value && !s.block && it->first.find('.') != std::string::npos) {
        diags_.report(Kind::MissingSetting, s.name_range, fmt::format("setting '{}' needs a value", path));
        continue;
      }
      if (s.value || path == "supernet" || path == "retrain" || path == "specialize")
        it->second(in);
      else if (path == "split" || path == "data") {
        if (path == "split") {
          diags_.report(Kind::MissingSetting, s.name_range,
                        "'split' needs a strategy: exhaustive, gradient_match or hierarchical");
          continue;
        }
      }
      // `criterion gradient_match(batches = 50)` and `optimizer sgd(lr = 0.1)`: arguments are settings.
      if (in.call) {
        for (const ast::Arg& a : in.call->args) {
          std::string sub = prefix + (a.name.empty() ? "" : a.name);
          auto r = readers_.find(sub);
          if (a.name.empty() || r == readers_.end()) {
            diags_.report(Kind::UnknownSetting, a.value->range,
                          a.name.empty() ? fmt::format("arguments of '{}' must be named", in.word)
                                         : fmt::format("'{}' has no setting '{}'", in.word, a.name));
            continue;
          }
          Input ai;
          ai.path = sub;
          ai.range = a.value->range;
          if (a.value->kind == ast::ExprKind::Name)
            ai.word = a.value->text;
          else
            ai.value = ev_.eval(*a.value, {});
          if (ai.value || !ai.word.empty()) r->second(ai);
        }
      }
      if (s.block) read_block(*s.block, path + ".");
    }
    if (prefix == "split.")
      for (const ast::Setting& s : block.settings)
        if (readers_.count(prefix + s.name)) split_settings_.push_back({s.name, s.name_range, false, ""});
  }

  // Whether each split setting belongs to the strategy the plan ends up with; one the strategy
  // does not read would be dropped without a word. The file's settings are errors against the
  // file's strategy; when `--set split=NAME` changes it, the file's settings it does not read
  // are one warning (the user chose the strategy); a `--set split.KEY` it does not read is an
  // error.
  void check_split_settings() {
    const std::string strategy = ir::strategy_word(plan_.split);
    std::vector<std::string> ignored;
    for (const SplitSetting& s : split_settings_) {
      if (allowed_for_strategy("split." + s.name)) continue;
      if (s.from_cli) {
        diags_.report(Kind::BadOverride, {},
                      fmt::format("--set split.{}={}: '{}' is not a setting of split strategy '{}'", s.name, s.cli_text,
                                  s.name, strategy));
      } else if (strategy_from_cli_) {
        ignored.push_back(s.name);
        continue;
      } else {
        diags_.report(Kind::UnknownSetting, s.range,
                      fmt::format("'{}' is not a setting of this split strategy", s.name));
      }
      if (s.name == "child_epochs")
        diags_.note(
            "only a hierarchical split trains children in a phase of their own; here the leaves train "
            "from the last split to `supernet.epochs`");
      else
        diags_.note("see docs/language.md, section 'Search plans', for the settings of each strategy");
    }
    if (!ignored.empty()) {
      diags_.report(Kind::IgnoredSetting, range_of("split"),
                    fmt::format("--set split={}: it does not read the file's split {} {}; {} ignored", strategy,
                                ignored.size() == 1 ? "setting" : "settings", fmt::join(ignored, ", "),
                                ignored.size() == 1 ? "it is" : "they are"));
      diags_.note("see docs/language.md, section 'Search plans', for the settings of each strategy");
    }
  }

  void unknown_setting(const std::string& name, SourceRange range, const std::string& prefix) {
    std::vector<std::string> keys;
    for (const auto& [k, _] : readers_)
      if (k.rfind(prefix, 0) == 0 && k.find('.', prefix.size()) == std::string::npos)
        keys.push_back(k.substr(prefix.size()));
    std::string block = prefix.empty() ? "search" : prefix.substr(0, prefix.size() - 1);
    diags_.report(Kind::UnknownSetting, range, fmt::format("'{}' is not a setting of '{}'", name, block));
    if (std::string m = diag::closest_match(name, keys); !m.empty())
      diags_.note(fmt::format("did you mean '{}'?", m));
    else
      diags_.note(fmt::format("the settings of '{}' are: {}", block, fmt::join(keys, ", ")));
  }

  void override_setting(const std::string& path, const std::string& text) {
    auto it = readers_.find(path);
    if (it == readers_.end() || path == "supernet" || path == "retrain" || path == "smoke" || path == "specialize") {
      std::vector<std::string> keys;
      for (const auto& [k, _] : readers_) keys.push_back(k);
      diags_.report(Kind::BadOverride, {}, fmt::format("--set {}: the search has no setting '{}'", path, path));
      if (std::string m = diag::closest_match(path, keys); !m.empty())
        diags_.note(fmt::format("did you mean '{}'?", m));
      return;
    }
    Input in;
    in.path = path;
    in.value = parse_override(text);
    if (!in.value) {
      if (!text.empty() && text.front() == '[') {
        Value list;
        list.kind = Value::Kind::List;
        std::string body = text.substr(1, text.size() - (text.back() == ']' ? 2 : 1));
        std::size_t pos = 0;
        while (pos <= body.size()) {
          std::size_t comma = body.find(',', pos);
          std::string part = body.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
          part.erase(0, part.find_first_not_of(' '));
          part.erase(part.find_last_not_of(' ') + 1);
          if (!part.empty()) {
            auto v = parse_override(part);
            if (!v) {
              diags_.report(Kind::BadOverride, {}, fmt::format("--set {}={}: '{}' is not a number", path, text, part));
              return;
            }
            list.list.push_back(*v);
          }
          if (comma == std::string::npos) break;
          pos = comma + 1;
        }
        in.value = list;
      } else {
        in.word = text;
      }
    }
    std::size_t before = diags_.error_count();
    it->second(in);
    if (diags_.error_count() > before) diags_.note(fmt::format("from the command line: --set {}={}", path, text));
  }

  // --- cross-setting checks ----------------------------------------------------------------
  static bool can_partition(std::int64_t n, std::int64_t branches, const std::vector<std::int64_t>& sizes) {
    // Can n candidates be cut into `branches` non-empty groups whose sizes are all allowed?
    std::function<bool(std::int64_t, std::int64_t)> go = [&](std::int64_t left, std::int64_t groups) -> bool {
      if (groups == 0) return left == 0;
      for (std::int64_t s = 1; s <= left; ++s)
        if ((sizes.empty() || std::count(sizes.begin(), sizes.end(), s)) && go(left - s, groups - 1)) return true;
      return false;
    };
    return n >= branches && go(n, branches);
  }

  // A continuing cosine shorter than the epochs that follow it restarts its period: the learning
  // rate climbs back up (HEP-NAS's code does this on purpose or not; a user should know).
  void overrun_warning() {
    if (plan_.supernet.cosine_epochs == 0 || plan_.supernet.schedule.kind != ir::ScheduleKind::Cosine) return;
    const std::int64_t continuing = ir::Schedule(plan_).first_fresh();
    if (plan_.supernet.cosine_epochs >= continuing) return;
    diags_.report(Kind::CosineOverrun, range_of("supernet.cosine_epochs"),
                  fmt::format("the cosine spans {} epochs but the lineage trains {} epochs on it: the learning rate "
                              "rises again after epoch {}",
                              plan_.supernet.cosine_epochs, continuing, plan_.supernet.cosine_epochs));
    diags_.note("as PyTorch's CosineAnnealingLR past its end; `cella show --emit schedule` prints every epoch's rate");
  }

  // The confidence term acts on architecture weights after the last split point: a plan
  // without either would silently train without it.
  bool confidence_applies() {
    const ir::SplitPlan& p = plan_.split;
    if (p.final_confidence == 0) return true;
    if (!ir::is_weights_method(plan_.supernet.method)) {
      diags_.report(Kind::InvalidValue, range_of("split.final_confidence"),
                    fmt::format("`final_confidence` acts on architecture weights, and `sampler {}` has none",
                                plan_.supernet.method));
      diags_.note("train with `weights darts` (or `gdas`, `snas`, `proxyless`), or leave `final_confidence` out");
      return false;
    }
    if (p.confidence_epochs == ir::ConfidenceEpochs::Final && (p.at.empty() || !ir::split_points_apply(p))) {
      diags_.report(Kind::InvalidSchedule, range_of("split.final_confidence"),
                    "`final_confidence` applies after the last split point, and this plan has none");
      diags_.note("add split points (`at [15, 25]`): the term applies from the last one to the end");
      return false;
    }
    return true;
  }

  // A fresh cosine's length means nothing in a plan that starts none.
  bool fresh_cosine_applies() {
    const ir::SplitPlan& p = plan_.split;
    if (p.fresh_cosine_epochs == 0 || p.restart != ir::Restart::None || p.fresh_schedule != ir::Restart::None)
      return true;
    diags_.report(Kind::InvalidSchedule, range_of("split.fresh_cosine_epochs"),
                  "`fresh_cosine_epochs` sets the length of a fresh cosine, and this plan starts none");
    diags_.note(
        "add `restart final` (fresh weights) or `fresh_schedule final` (inherited weights), or leave "
        "`fresh_cosine_epochs` out");
    return false;
  }

  // The unrolled gradient is DARTS': differentiable softmax weights, one weight step ahead.
  bool unrolled_applies() {
    if (!plan_.supernet.arch.unrolled || plan_.supernet.method == "darts") return true;
    diags_.report(
        Kind::InvalidValue, range_of("supernet.unrolled"),
        fmt::format("`unrolled` is DARTS' second-order gradient, and this plan trains with `{} {}`",
                    ir::is_weights_method(plan_.supernet.method) ? "weights" : "sampler", plan_.supernet.method));
    diags_.note("train with `weights darts`, or leave `unrolled` out");
    return false;
  }

  // Binary gates are ProxylessNAS's; the latency term and `arch_every` need architecture weights.
  bool architecture_settings_apply() {
    const ir::SupernetPlan& s = plan_.supernet;
    if (s.arch.binary_gates != ir::BinaryGates::One && s.method != "proxyless") {
      diags_.report(Kind::InvalidValue, range_of("supernet.binary_gates"),
                    fmt::format("`binary_gates` are ProxylessNAS's, and this plan trains with `{} {}`",
                                ir::is_weights_method(s.method) ? "weights" : "sampler", s.method));
      diags_.note("train with `weights proxyless`, or leave `binary_gates` out");
      return false;
    }
    auto needs_weights = [&](bool set, const std::string& key) {
      if (!set || ir::is_weights_method(s.method)) return true;
      diags_.report(
          Kind::InvalidValue, range_of(key),
          fmt::format("`{}` acts on architecture weights, and `sampler {}` has none", key.substr(9), s.method));
      diags_.note("train with `weights proxyless` (or `darts`, `gdas`, `snas`), or leave it out");
      return false;
    };
    if (!needs_weights(s.latency.source != ir::LatencySource::None, "supernet.latency")) return false;
    if (!needs_weights(s.arch.every != 1, "supernet.arch_every")) return false;
    return true;
  }

  // Architecture weights cover edges and layers; a node that chooses how it combines its inputs
  // (NASNet's add or concat) is only ever decided by sampling.
  bool combine_choices_apply() {
    if (!ir::is_weights_method(plan_.supernet.method)) return true;
    for (const ir::CellGroup& g : network_.cell_groups) {
      const ir::Cell& c = cells_[g.cell];
      for (int v = 0; v < c.num_nodes(); ++v) {
        if (!c.node(v).chooses_combine()) continue;
        diags_.report(Kind::InvalidValue, range_of("supernet.weights"),
                      fmt::format("`weights {}` learns weights for operations, and node {} of cell '{}' also chooses "
                                  "how it combines its inputs",
                                  plan_.supernet.method, v, c.props().name));
        diags_.note("train this space with a sampler (`sampler uniform`), or fix the node's mode (`combine sum`)");
        return false;
      }
    }
    return true;
  }

  // The sandwich rule and progressive shrinking train sub-shapes of one set of weights: they need
  // elastic layers, and train the whole supernet; progressive shrinking needs its phases' epochs.
  bool elastic_method_applies() {
    const std::string& method = plan_.supernet.method;
    if (method != "sandwich" && method != "progressive_shrinking") return true;
    if (method == "progressive_shrinking" && plan_.split.strategy != ir::SplitStrategy::None) {
      diags_.report(Kind::InvalidValue, range_of("split"),
                    "progressive shrinking's phases train the whole supernet; splitting it is not built yet");
      diags_.note(
          "leave the split block out, or split a supernet trained with `sampler sandwich` or `sampler uniform`");
      return false;
    }
    if (network_.width_groups.empty() && std::none_of(network_.units.begin(), network_.units.end(),
                                                      [](const ir::Unit& u) { return !u.elastic.empty(); })) {
      diags_.report(Kind::InvalidValue, range_of("supernet.sampler"),
                    fmt::format("`sampler {}` trains the sub-shapes of elastic layers, and network '{}' has none",
                                method, network_.name));
      diags_.note(
          "give a stage an elastic body (`stage mbv3(k = [3, 5, 7], e = [3, 4, 6]) * [2, 3, 4]`), or train "
          "with `sampler uniform`");
      return false;
    }
    if (method != "progressive_shrinking") return true;
    if (!network_.width_groups.empty()) {
      diags_.report(Kind::InvalidValue, range_of("supernet.sampler"),
                    fmt::format("network '{}' has elastic widths, and progressive shrinking has no phase for them",
                                network_.name));
      diags_.note("OFA's phases shrink kernels, depths and expansions; train elastic widths with `sampler sandwich`",
                  network_.stages[static_cast<std::size_t>(network_.width_groups.front())].range);
      return false;
    }
    const std::vector<std::int64_t>& phases = plan_.supernet.elastic.phases;
    std::int64_t sum = 0;
    for (std::int64_t e : phases) sum += e;
    if (phases.size() != 6 || sum != plan_.supernet.epochs) {
      diags_.report(
          phases.empty() ? Kind::MissingSetting : Kind::InvalidSchedule,
          phases.empty() ? range_of("supernet.sampler") : range_of("supernet.phases"),
          phases.size() != 6
              ? fmt::format("progressive shrinking has six phases, and `phases` lists {} epoch counts", phases.size())
              : fmt::format("the phases' epochs add up to {}, and the supernet trains {} epochs", sum,
                            plan_.supernet.epochs));
      diags_.note(
          "`phases [full, kernel, depth 1, depth 2, expand 1, expand 2]`: epochs per phase, adding up to "
          "`epochs`, e.g. `phases [4, 4, 1, 4, 1, 4]` for 18 (OFA's proportions, shortened)");
      return false;
    }
    // The first phase trains the teacher every later phase distils from; OFA's is pretrained.
    // Without it the children would learn from an untrained network's logits.
    if (phases.front() == 0 && plan_.supernet.elastic.kd_ratio > 0) {
      diags_.report(Kind::InvalidSchedule, range_of("supernet.phases"),
                    "the first phase trains the full network that every later phase distils from, and it has 0 "
                    "epochs: the children would learn from an untrained teacher");
      diags_.note("give the first phase epochs, or set `kd_ratio 0` to train without distillation");
      return false;
    }
    return true;
  }

  void validate() {
    ir::SplitPlan& p = plan_.split;
    const ir::SupernetPlan& s = plan_.supernet;
    if (!confidence_applies() || !fresh_cosine_applies() || !unrolled_applies() || !architecture_settings_apply() ||
        !combine_choices_apply() || !elastic_method_applies())
      return;
    if (!ir::split_points_apply(p)) {
      overrun_warning();
      return;
    }
    if (p.strategy != ir::SplitStrategy::None && p.at.empty()) {
      diags_.report(Kind::MissingSetting, range_of("split"), "the split plan does not say when to split");
      diags_.note("add `at [10, 20]`: the supernet epochs after which to split");
      return;
    }
    for (std::size_t i = 1; i < p.at.size(); ++i)
      if (p.at[i] <= p.at[i - 1]) {
        diags_.report(Kind::InvalidSchedule, range_of("split.at"),
                      fmt::format("split points must increase, but {} follows {}", p.at[i], p.at[i - 1]));
        return;
      }
    if (!p.at.empty() && p.at.back() > s.epochs) {
      diags_.report(Kind::InvalidSchedule, range_of("split.at"),
                    fmt::format("the last split is after epoch {}, but the supernet trains for {} epochs", p.at.back(),
                                s.epochs));
      diags_.note("raise `supernet.epochs` or move the split earlier");
      return;
    }
    // Without children phases of their own, the leaves train from the last split to the end of
    // the timeline: none would be selected (or restarted) untrained.
    const bool leaves_train_after = p.strategy == ir::SplitStrategy::Exhaustive ||
                                    p.strategy == ir::SplitStrategy::GradientMatch ||
                                    p.strategy == ir::SplitStrategy::None;
    if (leaves_train_after && !p.at.empty() && p.at.back() == s.epochs) {
      diags_.report(
          Kind::InvalidSchedule, range_of("split.at"),
          fmt::format("the last split is at epoch {}, the end of `supernet.epochs`, so nothing trains after it",
                      p.at.back()));
      diags_.note(p.strategy == ir::SplitStrategy::None
                      ? "the supernet trains from the last point to `supernet.epochs`: raise it"
                      : "the leaves train from the last split to `supernet.epochs`: raise it by the epochs they "
                        "should train");
      return;
    }
    overrun_warning();
    if (p.strategy == ir::SplitStrategy::None) return;
    // What the split divides (compiler/ir/split_sites.h): the edges of a cell, named or the first
    // with a choice; in a network of elastic layers without one, each layer's first dimension.
    const ir::Cell* cell = nullptr;
    for (const ir::Cell& c : cells_)
      if (p.cell.empty() ? !c.props().reduction && c.num_edges() > 0 : c.props().name == p.cell) {
        cell = &c;
        break;
      }
    std::vector<const ir::Unit*> elastic;
    if (!cell && p.cell.empty())
      for (int l : network_.layer_groups)
        if (!network_.units[static_cast<std::size_t>(l)].elastic.empty())
          elastic.push_back(&network_.units[static_cast<std::size_t>(l)]);
    if (!cell && elastic.empty()) {
      diags_.report(Kind::UnknownName, range_of("split"),
                    "the split plan needs a cell with edges to split, and there is none");
      return;
    }
    if (cell) p.cell = cell->props().name;
    const int sites = cell ? cell->num_edges() : static_cast<int>(elastic.size());
    auto n_of = [&](int s) {
      return static_cast<std::int64_t>(cell ? cell->edge(s).candidates.size()
                                            : elastic[static_cast<std::size_t>(s)]->elastic.front().values.size());
    };
    auto site_name = [&](int s) {
      const ir::Unit* u = cell ? nullptr : elastic[static_cast<std::size_t>(s)];
      return cell ? cell->edge_name(s) : fmt::format("{} {}", u->name, u->elastic.front().param);
    };
    const std::string what = cell ? "edge" : "layer";
    const std::string where =
        cell ? fmt::format("cell '{}'", cell->props().name) : fmt::format("network '{}'", network_.name);
    if (!cell && p.strategy == ir::SplitStrategy::Hierarchical) {
      diags_.report(Kind::InvalidValue, range_of("split"),
                    fmt::format("hierarchical splitting divides the edges into a cell's nodes, and network '{}' has "
                                "no cell to split: its choices are elastic layers",
                                network_.name));
      diags_.note("`split gradient_match` and `split exhaustive` divide each elastic layer's first dimension");
      return;
    }
    if (!cell && p.strategy == ir::SplitStrategy::GradientMatch && p.criterion != "gradient_match") {
      diags_.report(Kind::InvalidValue, range_of("split.criterion"),
                    fmt::format("criterion '{}' scores the edges of cells; the elastic layers of network '{}' are "
                                "scored by gradient matching",
                                p.criterion, network_.name));
      diags_.note("leave `criterion` out, or write `criterion gradient_match`");
      return;
    }

    if (p.strategy == ir::SplitStrategy::Exhaustive) {
      if (has_edges_) {
        std::vector<Value> refs;
        if (edges_input_.value && edges_input_.value->kind == Value::Kind::List)
          refs = edges_input_.value->list;
        else if (edges_input_.value)
          refs.push_back(*edges_input_.value);
        for (const Value& r : refs) {
          int idx = -1;
          if (r.kind == Value::Kind::Int && r.i >= 0 && r.i < sites) idx = static_cast<int>(r.i);
          if (r.kind == Value::Kind::String)
            for (int e = 0; e < sites; ++e)
              if (site_name(e) == r.s || (!cell && elastic[static_cast<std::size_t>(e)]->name == r.s)) idx = e;
          if (idx < 0) {
            std::vector<std::string> names;
            for (int e = 0; e < sites; ++e) names.push_back(fmt::format("\"{}\"", site_name(e)));
            diags_.report(Kind::UnknownEdge, edges_input_.range,
                          fmt::format("{} has no {} {}", where, what, to_text(r)));
            diags_.note(fmt::format("its {}s are 0..{}: {}", what, sites - 1, fmt::join(names, ", ")));
            return;
          }
          p.edges.push_back(idx);
        }
        if (p.edges.size() != p.at.size()) {
          diags_.report(Kind::InvalidSchedule, edges_input_.range,
                        fmt::format("{} {}{} to split but {} split point{}", p.edges.size(), what,
                                    p.edges.size() == 1 ? "" : "s", p.at.size(), p.at.size() == 1 ? "" : "s"));
          return;
        }
      } else {
        for (int e = 0; e < sites && p.edges.size() < p.at.size(); ++e)
          if (n_of(e) > 1) p.edges.push_back(e);
      }
      for (int e : p.edges)
        if (n_of(e) < 2) {
          diags_.report(Kind::ImpossibleGroups, has_edges_ ? edges_input_.range : range_of("split"),
                        fmt::format("{} {} of {} has {} {}; an exhaustive split needs at least 2", what, site_name(e),
                                    where, n_of(e), cell ? "candidate" : "value"));
          return;
        }
      if (p.edges.size() < p.at.size()) {
        diags_.report(Kind::InvalidSchedule, range_of("split.at"),
                      fmt::format("{} split points but only {} {}s can be split", p.at.size(), p.edges.size(), what));
      }
      return;
    }
    if (p.strategy == ir::SplitStrategy::GradientMatch) {
      int splittable = 0;
      for (int e = 0; e < sites; ++e) splittable += can_partition(n_of(e), p.branches, p.group_sizes);
      if (splittable == 0) {
        diags_.report(
            Kind::ImpossibleGroups,
            range_of("split.groups").valid()     ? range_of("split.groups")
            : range_of("split.branches").valid() ? range_of("split.branches")
                                                 : range_of("split"),
            fmt::format("no {} of {} can be cut into {} groups{}", what, where, p.branches,
                        p.group_sizes.empty() ? "" : fmt::format(" of sizes {}", fmt::join(p.group_sizes, "/"))));
        diags_.note(fmt::format("its {}s have {} {}", what, n_of(0), cell ? "candidates" : "values"));
        return;
      }
      if (static_cast<int>(p.at.size()) > splittable)
        diags_.report(Kind::InvalidSchedule, range_of("split.at"),
                      fmt::format("{} split points but only {} {}s can be split", p.at.size(), splittable, what));
      return;
    }
    if (p.strategy == ir::SplitStrategy::Plugin) return;  // its own checks are its own
    // Hierarchical: one hierarchy (edges sharing a target) per split point, each edge cut in two.
    const auto splittable = static_cast<int>(ir::split_hierarchies(*cell).size());
    if (static_cast<int>(p.at.size()) > splittable) {
      diags_.report(Kind::InvalidSchedule, range_of("split.at"),
                    fmt::format("{} split points, but cell '{}' has {} hierarch{} with edges to split", p.at.size(),
                                cell->props().name, splittable, splittable == 1 ? "y" : "ies"));
      diags_.note("hierarchical splitting splits one hierarchy (the edges into one node) per split point");
    }
  }

  const ast::SearchDecl& decl_;
  Evaluator& ev_;
  diag::DiagnosticEngine& diags_;
  const std::vector<ir::Cell>& cells_;
  const ir::Network& network_;
  const Options& options_;
  ir::SearchPlan plan_;
  std::map<std::string, Reader> readers_;
  Input edges_input_;
  bool has_edges_ = false;
  std::map<std::string, SourceRange> ranges_;  ///< where each setting was written
  /// A split setting given in the file or by `--set split.NAME=TEXT`.
  struct SplitSetting {
    std::string name;
    SourceRange range;  ///< where the file has it
    bool from_cli = false;
    std::string cli_text;  ///< the command line's TEXT
  };
  std::vector<SplitSetting> split_settings_;
  bool strategy_from_cli_ = false;

  SourceRange range_of(const std::string& key) const {
    auto it = ranges_.find(key);
    return it == ranges_.end() ? SourceRange{} : it->second;
  }
};

}  // namespace

std::optional<ir::SearchPlan> build_search(const ast::SearchDecl& decl, Evaluator& ev,
                                           const std::vector<ir::Cell>& cells, const ir::Network& network,
                                           const Options& options) {
  return SearchBuilder(decl, ev, cells, network, options).build();
}

}  // namespace cella::sema
