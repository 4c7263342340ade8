// What a hardware-aware subnet search measures and optimises: the metrics (accuracy, latency,
// multiply-accumulates, parameters), the objectives chosen among them, constraints such as
// `latency <= 5ms`, and how an architecture's measures become a vector to minimise. No LibTorch:
// the measuring is an Evaluator's job (a tabular benchmark, a trained supernet).
#pragma once

#include <array>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "compiler/ir/arch.h"

namespace cella::specialize {

enum class Metric { Accuracy, Latency, Macs, Params };
inline constexpr int kMetrics = 4;

struct MetricInfo {
  const char* name;   ///< as written on the command line and in the files: "latency"
  const char* label;  ///< axis label with its unit: "latency (ms)"
  bool maximize;      ///< accuracy is maximised, costs are minimised
  /// Computed exactly from the network description (no data, no timing): the LINAS inner loop
  /// uses these values rather than a predictor's.
  bool exact;
};
const MetricInfo& info(Metric metric);
std::optional<Metric> metric_named(std::string_view name);

/// One architecture's measures; NaN where not measured. Accuracy in percent, latency in
/// milliseconds, multiply-accumulates and parameters as counts.
struct Measures {
  std::array<double, kMetrics> values{NAN, NAN, NAN, NAN};
  double& operator[](Metric m) { return values[static_cast<int>(m)]; }
  double operator[](Metric m) const { return values[static_cast<int>(m)]; }
};

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

/// Parses a number with a unit suffix for `metric` (as in constraints and reference points).
std::optional<double> parse_value(Metric metric, std::string_view text);

/// The objectives and constraints of a specialisation.
struct Goal {
  std::vector<Metric> objectives;  ///< two or three (one for single-objective searches)
  std::vector<Constraint> constraints;

  /// The measures as a vector to minimise: accuracy negated, costs as they are.
  std::vector<double> minimized(const Measures& m) const;
  /// Summed relative violation of the constraints (0: feasible).
  double violation(const Measures& m) const;
  /// The metrics an evaluator must measure: the objectives' and the constraints'.
  std::vector<Metric> needed() const;
};

/// One validated architecture.
struct Evaluation {
  int index = 0;  ///< order of validation, from 0
  std::vector<int> genome;
  std::string arch;  ///< the architecture's text form (the key of the cache)
  Measures measures;
  bool feasible = true;
};

/// Measures architectures. `measure` is the expensive, high-fidelity call a search budgets
/// (accuracy from weights or a table, latency timed on this machine); `exact` gives the exact
/// metrics alone, cheaply, for the predictor-guided inner loop.
class Evaluator {
 public:
  virtual ~Evaluator() = default;
  virtual Measures measure(const ir::Arch& arch) = 0;
  virtual Measures exact(const ir::Arch& arch) = 0;
  /// A reference point for the hypervolume in this metric (the worst value worth counting),
  /// when the evaluator knows one: accuracy 0, a cost of the whole supernet.
  virtual std::optional<double> worst(Metric metric) const = 0;
};

}  // namespace cella::specialize
