// What a hardware-aware subnet search optimises: the objectives chosen among the metrics
// (compiler/ir/metrics.h: accuracy, latency, multiply-accumulates, parameters), the constraints,
// and how an architecture's measures become a vector to minimise. No LibTorch: the measuring is
// an Evaluator's job (a tabular benchmark, a trained supernet).
#pragma once

#include <array>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "compiler/ir/arch.h"
#include "compiler/ir/metrics.h"

namespace cella::specialize {

using ir::Constraint;
using ir::info;
using ir::kMetrics;
using ir::Metric;
using ir::metric_named;
using ir::MetricInfo;
using ir::parse_constraint;
using ir::parse_value;

/// One architecture's measures; NaN where not measured. Accuracy in percent, latency in
/// milliseconds, multiply-accumulates and parameters as counts, training-free scores as
/// `cella score` prints them.
struct Measures {
  Measures() { values.fill(NAN); }
  std::array<double, kMetrics> values;
  double& operator[](Metric m) { return values[static_cast<int>(m)]; }
  double operator[](Metric m) const { return values[static_cast<int>(m)]; }
};

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
