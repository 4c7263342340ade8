// What a hardware-aware subnet search measures (accuracy, latency, multiply-accumulates,
// parameters, and the training-free scores of runtime/score) and the bounds a specialisation plan can put on them
// (`latency <= 5ms`). They live in the IR because a search plan names them (`specialize { objectives [accuracy,
// latency] }`, checked by sema); runtime/specialize measures and optimises them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace cella::ir {

enum class Metric { Accuracy, Latency, Macs, Params, Synflow, Snip, Grasp, JacobCov, Naswot, Zen };
inline constexpr int kMetrics = 10;

struct MetricInfo {
  const char* name;   ///< as written in plans, on the command line and in the files: "latency"
  const char* label;  ///< axis label with its unit: "latency (ms)"
  bool maximize;      ///< accuracy is maximised, costs are minimised
  /// Computed exactly from the network description (no data, no timing): the LINAS inner loop
  /// uses these values rather than a predictor's.
  bool exact;
  /// A training-free score (`cella score`): measured on a fresh network, no trained weights.
  /// Parameters and multiply-accumulates are both exact and training-free.
  bool training_free;
  /// ... that reads training images (the others need only the input's shape).
  bool needs_data;
};
const MetricInfo& info(Metric metric);
/// The metric of a name (`flops` is another name for `macs`), or nullopt.
std::optional<Metric> metric_named(std::string_view name);
/// The metrics' names, in order: for suggestions.
std::vector<std::string> metric_list();
/// "accuracy, latency, macs, params, synflow, ...": for messages.
std::string metric_names();
/// The training-free ones, in order: params, macs, synflow, snip, grasp, jacob_cov, naswot, zen.
std::vector<Metric> training_free_metrics();

/// `accuracy >= 90`, `latency <= 5ms`, `params <= 1.5M`, `macs <= 200M`.
struct Constraint {
  Metric metric;
  double bound = 0;  ///< in the metric's unit (counts, not millions)
  std::string text;  ///< as the user wrote it
  /// How far `value` is outside the bound, relative to the bound (0 when satisfied).
  double violation(double value) const;
};

/// Parses a constraint; a one-line error naming what is wrong otherwise. A cost bound is an
/// upper bound (`<=`), an accuracy bound a lower one (`>=`). Latency takes `us`, `ms` or `s`
/// (default ms); counts take `K`, `M` or `G`.
std::variant<Constraint, std::string> parse_constraint(std::string_view text);

/// Why `metric OP bound` has the wrong direction ("params takes an upper bound ..."), or nullopt.
std::optional<std::string> wrong_direction(Metric metric, bool upper);

/// Parses a number with a unit suffix for `metric` (as in constraints and reference points).
std::optional<double> parse_value(Metric metric, std::string_view text);

}  // namespace cella::ir
