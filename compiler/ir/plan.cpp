// The plan table (plan.def) as data: what each setting takes, its default and its documentation.
#include "compiler/ir/plan.h"

#include "compiler/ir/ir.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <set>
#include <type_traits>

namespace cella::ir {

namespace {

// "gradient_match hierarchical" -> {"gradient_match", "hierarchical"}
std::vector<std::string_view> words_in(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    std::size_t space = text.find(' ');
    out.push_back(text.substr(0, space));
    text = space == std::string_view::npos ? std::string_view{} : text.substr(space + 1);
  }
  return out;
}

std::string number_text(double v) { return fmt::format("{}", v); }

// A default value, as the plan would spell it.
template <class T>
std::string show(const T& v) {
  if constexpr (std::is_enum_v<T>)
    return std::string(name_of(v));
  else if constexpr (std::is_same_v<T, bool>)
    return v ? "true" : "false";
  else if constexpr (std::is_same_v<T, std::string>)
    return v;
  else if constexpr (std::is_floating_point_v<T>)
    return number_text(v);
  else if constexpr (std::is_integral_v<T>)
    return std::to_string(v);
  else
    return v.empty() ? "" : fmt::format("[{}]", fmt::join(v, ", "));
}

// "`a`, `b`": words as the docs' tables spell them.
template <class Words>
std::string code_list(const Words& words) {
  std::string out;
  for (std::string_view w : words) out += (out.empty() ? "`" : ", `") + std::string(w) + "`";
  return out;
}

template <class E>
std::string allowed_words(const E&) {
  return code_list(plan_words<E>());
}

std::string int_range(std::int64_t min, std::int64_t max) {
  if (max == INT64_MAX) return fmt::format("integer, at least {}", min);
  return fmt::format("integer, {} to {}", min, max);
}

std::vector<PlanSetting> build_table() {
  const SearchPlan d;  // the defaults
  std::vector<PlanSetting> rows;
  // A second spelling of a field (`weights` after `sampler`, `edge` after `edges`) shows no
  // default of its own.
  std::set<const void*> shown;
  auto show_once = [&shown](const auto& field) { return shown.insert(&field).second ? show(field) : std::string(); };
#define CELLA_PLAN_INT(key, field, min, max, strategies, doc) \
  rows.push_back({key, int_range(min, max), show_once(d.field), strategies, doc});
#define CELLA_PLAN_FLOAT(key, field, min, max, strategies, doc)                                                 \
  rows.push_back({key, fmt::format("number, {} to {}", number_text(min), number_text(max)), show_once(d.field), \
                  strategies, doc});
#define CELLA_PLAN_POSITIVE(key, field, max, strategies, doc) \
  rows.push_back(                                             \
      {key, fmt::format("number above 0, at most {}", number_text(max)), show_once(d.field), strategies, doc});
#define CELLA_PLAN_BOOL(key, field, strategies, doc) \
  rows.push_back({key, "`true`, `false`", show_once(d.field), strategies, doc});
#define CELLA_PLAN_ENUM(key, field, strategies, doc) \
  rows.push_back({key, allowed_words(d.field), show_once(d.field), strategies, doc});
#define CELLA_PLAN_INTS(key, field, min, strategies, doc) \
  rows.push_back(                                         \
      {key, fmt::format("integer or list of integers, each at least {}", min), show_once(d.field), strategies, doc});
#define CELLA_PLAN_SPECIAL(key, field, values, strategies, doc) \
  rows.push_back({key, values, show_once(d.field), strategies, doc});
#define CELLA_PLAN_BLOCK(key, doc) rows.push_back({key, "a block", "", "", doc, true});
#include "compiler/ir/plan.def"
  return rows;
}

}  // namespace

std::span<const PlanSetting> plan_settings() {
  static const std::vector<PlanSetting> rows = build_table();
  return rows;
}

const PlanSetting* find_plan_setting(std::string_view key) {
  for (const PlanSetting& s : plan_settings())
    if (s.key == key) return &s;
  return nullptr;
}

std::string strategy_word(const SplitPlan& split) {
  return split.strategy == SplitStrategy::Plugin ? split.plugin : std::string(name_of(split.strategy));
}

bool split_points_apply(const SplitPlan& split) {
  return split.strategy != SplitStrategy::None || split.fresh_schedule != Restart::None ||
         split.restart != Restart::None;
}

std::int64_t specialize_inner_evaluations(const SpecializePlan& plan, const Program& program) {
  if (plan.inner_evaluations > 0) return plan.inner_evaluations;
  // DyNAS-T's supernetwork registry: 20,000 for OFA's MobileNetV3 (and ProxylessNAS), 5,000 for
  // OFA's ResNet-50; a space of elastic layers is OFA's kind.
  const bool elastic = program.network && std::any_of(program.network->units.begin(), program.network->units.end(),
                                                      [](const Unit& u) { return !u.elastic.empty(); });
  return elastic ? 20'000 : 5'000;
}

SearchPlan plan_of(const Program& program) {
  if (program.search) return *program.search;
  if (program.default_plan) return *program.default_plan;
  return SearchPlan{};
}

std::span<const DataSet> data_sets() {
  static constexpr DataSet rows[] = {
#define CELLA_DATASET(name, channels, size, classes, mean, std, default_dir, format, doc) \
  {#name, channels, size, classes, mean, std, default_dir, #format, doc},
#include "compiler/ir/datasets.def"
  };
  return rows;
}

const DataSet* find_data_set(std::string_view name) {
  for (const DataSet& d : data_sets())
    if (d.name == name) return &d;
  return nullptr;
}

const std::vector<std::string>& data_set_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const DataSet& d : data_sets()) out.emplace_back(d.name);
    return out;
  }();
  return names;
}

bool applies_to(const PlanSetting& setting, SplitStrategy strategy) {
  const auto words = words_in(setting.strategies);
  return words.empty() || std::find(words.begin(), words.end(), name_of(strategy)) != words.end();
}

std::string plan_settings_markdown() {
  std::string out = "| setting | takes | default | strategies | meaning |\n|---|---|---|---|---|\n";
  for (const PlanSetting& s : plan_settings()) {
    const std::string strategies = code_list(words_in(s.strategies));
    std::string def = s.default_text.empty() ? "" : "`" + s.default_text + "`";
    out += fmt::format("| `{}` | {} | {} | {} | {} |\n", s.key, s.values, def, strategies, s.doc);
  }
  out +=
      "\nData sets (`data NAME`, `--data NAME`):\n\n| name | images | classes | default directory | what "
      "|\n|---|---|---|---|---|\n";
  for (const DataSet& d : data_sets())
    out += fmt::format("| `{}` | {}x{}x{} | {} | {} | {} |\n", d.name, d.channels, d.size, d.size, d.classes,
                       d.default_dir.empty() ? "none: give `path`" : fmt::format("`{}`", d.default_dir), d.doc);
  return out;
}

}  // namespace cella::ir
