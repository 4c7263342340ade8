// Metrics and constraints of specialisation plans.
#include "compiler/ir/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdlib>

namespace cella::ir {
namespace {

const std::array<MetricInfo, kMetrics> kInfo = {{
    {"accuracy", "accuracy (%)", true, false, false, false},
    {"latency", "latency (ms)", false, false, false, false},
    {"macs", "multiply-accumulates (M)", false, true, true, false},
    {"params", "parameters (M)", false, true, true, false},
    {"synflow", "synflow", true, false, true, false},
    {"snip", "snip", true, false, true, true},
    {"grasp", "grasp", true, false, true, true},
    {"jacob_cov", "jacob_cov", true, false, true, true},
    {"naswot", "naswot", true, false, true, true},
    {"zen", "zen", true, false, true, false},
}};

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

const MetricInfo& info(Metric metric) { return kInfo[static_cast<int>(metric)]; }

std::optional<Metric> metric_named(std::string_view name) {
  for (int i = 0; i < kMetrics; ++i)
    if (name == kInfo[i].name) return static_cast<Metric>(i);
  if (name == "flops") return Metric::Macs;  // what most papers call multiply-accumulates
  return std::nullopt;
}

std::optional<double> parse_value(Metric metric, std::string_view text) {
  text = trim(text);
  std::string s(text);
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || !std::isfinite(v)) return std::nullopt;
  std::string_view unit = trim(std::string_view(end));
  double scale = 1;
  if (metric == Metric::Latency) {
    if (unit == "us")
      scale = 1e-3;
    else if (unit == "s")
      scale = 1e3;
    else if (!unit.empty() && unit != "ms")
      return std::nullopt;
  } else if (metric == Metric::Accuracy) {
    if (!unit.empty() && unit != "%") return std::nullopt;
  } else {
    if (unit == "K" || unit == "k")
      scale = 1e3;
    else if (unit == "M")
      scale = 1e6;
    else if (unit == "G")
      scale = 1e9;
    else if (!unit.empty())
      return std::nullopt;
  }
  return v * scale;
}

std::vector<std::string> metric_list() {
  std::vector<std::string> out;
  for (const MetricInfo& m : kInfo) out.emplace_back(m.name);
  return out;
}

std::string metric_names() { return fmt::format("{}", fmt::join(metric_list(), ", ")); }

std::vector<Metric> training_free_metrics() {
  // Size first, as the tables show the baselines.
  std::vector<Metric> out{Metric::Params, Metric::Macs};
  for (int i = 0; i < kMetrics; ++i)
    if (kInfo[i].training_free && !kInfo[i].exact) out.push_back(static_cast<Metric>(i));
  return out;
}

std::optional<std::string> wrong_direction(Metric metric, bool upper) {
  if (upper != info(metric).maximize) return std::nullopt;
  const char* name = info(metric).name;
  return info(metric).maximize ? fmt::format("{} takes a lower bound ('{} >= ...')", name, name)
                               : fmt::format("{} takes an upper bound ('{} <= ...')", name, name);
}

double Constraint::violation(double value) const {
  if (std::isnan(value)) return 1;
  const double scale = std::max(std::abs(bound), 1e-12);
  const double over = info(metric).maximize ? bound - value : value - bound;
  return std::max(0.0, over / scale);
}

std::variant<Constraint, std::string> parse_constraint(std::string_view text) {
  const std::string_view whole = trim(text);
  for (std::string_view op : {"<=", ">="}) {
    std::size_t at = whole.find(op);
    if (at == std::string_view::npos) continue;
    std::string_view name = trim(whole.substr(0, at)), rest = whole.substr(at + 2);
    auto metric = metric_named(name);
    if (!metric) return fmt::format("constraint '{}': unknown metric '{}' ({})", whole, name, metric_names());
    const bool upper = op == "<=";
    if (auto why = wrong_direction(*metric, upper)) return fmt::format("constraint '{}': {}", whole, *why);
    auto bound = parse_value(*metric, rest);
    if (!bound)
      return fmt::format("constraint '{}': '{}' is not a number with a unit for {} ({})", whole, trim(rest), name,
                         *metric == Metric::Latency    ? "us, ms or s"
                         : *metric == Metric::Accuracy ? "a percentage"
                         : info(*metric).exact         ? "K, M or G"
                                                       : "a number");
    return Constraint{*metric, *bound, std::string(whole)};
  }
  return fmt::format("constraint '{}': expected METRIC <= VALUE or accuracy >= VALUE", whole);
}

}  // namespace cella::ir
