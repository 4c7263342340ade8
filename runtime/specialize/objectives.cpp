// Metrics, constraints and the minimisation form of measures.
#include "runtime/specialize/objectives.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>

namespace cella::specialize {
namespace {

const std::array<MetricInfo, kMetrics> kInfo = {{
    {"accuracy", "accuracy (%)", true, false},
    {"latency", "latency (ms)", false, false},
    {"macs", "multiply-accumulates (M)", false, true},
    {"params", "parameters (M)", false, true},
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
    if (!metric)
      return fmt::format("constraint '{}': unknown metric '{}' (accuracy, latency, macs, params)", whole, name);
    const bool upper = op == "<=";
    if (upper == info(*metric).maximize)
      return fmt::format("constraint '{}': {} takes {} bound ('{} {} ...')", whole, name,
                         info(*metric).maximize ? "a lower" : "an upper", name, info(*metric).maximize ? ">=" : "<=");
    auto bound = parse_value(*metric, rest);
    if (!bound)
      return fmt::format("constraint '{}': '{}' is not a number with a unit for {} ({})", whole, trim(rest), name,
                         *metric == Metric::Latency    ? "us, ms or s"
                         : *metric == Metric::Accuracy ? "a percentage"
                                                       : "K, M or G");
    return Constraint{*metric, *bound, std::string(whole)};
  }
  return fmt::format("constraint '{}': expected METRIC <= VALUE or accuracy >= VALUE", whole);
}

std::vector<double> Goal::minimized(const Measures& m) const {
  std::vector<double> out;
  for (Metric o : objectives) out.push_back(info(o).maximize ? -m[o] : m[o]);
  return out;
}

double Goal::violation(const Measures& m) const {
  double v = 0;
  for (const Constraint& c : constraints) v += c.violation(m[c.metric]);
  return v;
}

std::vector<Metric> Goal::needed() const {
  std::vector<Metric> out = objectives;
  for (const Constraint& c : constraints)
    if (std::find(out.begin(), out.end(), c.metric) == out.end()) out.push_back(c.metric);
  return out;
}

}  // namespace cella::specialize
