// A specialisation's run directory: every validated architecture as a JSON line (appended as it
// is validated, so that a killed run keeps them and `--resume` replays them) and as CSV, the
// Pareto front, the hypervolume after each evaluation with its reference point, and a plot of
// every point with the front (gnuplot, SVG).
#pragma once

#include <string>
#include <vector>

#include "runtime/specialize/objectives.h"
#include "runtime/specialize/pareto.h"

namespace cella::specialize {

/// evaluations.jsonl's line for one evaluation.
std::string evaluation_line(const Evaluation& e);
/// Reads evaluations.jsonl; a last line cut short by a kill is dropped, any other bad line is a
/// std::runtime_error naming the file and line.
std::vector<Evaluation> read_evaluations(const std::string& path);

/// The hypervolume's reference point in minimisation form: per objective the user's value, else
/// the evaluator's worst, else (latency) twice the largest value measured. Throws
/// std::invalid_argument when neither exists.
Point reference_point(const Goal& goal, const Evaluator& evaluator, const std::vector<Evaluation>& evaluations,
                      const std::vector<std::pair<Metric, double>>& given);

/// The feasible evaluations on the Pareto front, by the first objective.
std::vector<Evaluation> front_of(const Goal& goal, const std::vector<Evaluation>& evaluations);

/// Hypervolume of the feasible points among the first n evaluations, for n = 1 .. size, in the
/// units the files show (accuracy in percent, latency in ms, multiply-accumulates and
/// parameters in millions): accuracy against MACs is in percent times millions.
std::vector<double> hypervolume_curve(const Goal& goal, const std::vector<Evaluation>& evaluations,
                                      const Point& reference);

/// What write_results wrote, for the command's summary.
struct Results {
  std::vector<Evaluation> front;    ///< front_of
  std::vector<double> hypervolume;  ///< hypervolume_curve
  /// The reference point per objective in the files' units, as positive values (accuracy 0, not -0)
  std::vector<double> reference;
  std::vector<std::string> warnings;  ///< no gnuplot: no plot
};

/// Writes evaluations.csv, front.csv, hypervolume.csv and plot.svg into `dir`.
Results write_results(const std::string& dir, const Goal& goal, const std::vector<Evaluation>& evaluations,
                      const Point& reference);

}  // namespace cella::specialize
