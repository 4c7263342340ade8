// Where measures come from: a tabular benchmark (accuracy looked up in a CSV the user supplies,
// a NAS-Bench-201 / NATS-Bench table with an architecture-string column and accuracy columns),
// and the Measurer that puts an accuracy source, an optional latency meter and cella's own cost
// model (passes::network_stats: multiply-accumulates, parameters) together as an Evaluator.
// Specialising on a table costs no training, and gives the tactics a ground truth.
#pragma once

#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "compiler/ir/ir.h"
#include "runtime/specialize/objectives.h"

namespace cella::specialize {

/// One-line errors naming the file (and the row, 1-based, counting the header as row 1).
struct TableError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Table {
 public:
  /// Reads `path`. `column` names the accuracy column; empty: the first column whose name
  /// contains "accuracy" (any case). The architecture column is the one named
  /// ArchitectureString, arch_str, arch or architecture. Every row must hold an architecture of
  /// the program's space, once.
  Table(const ir::Program& program, const std::string& path, const std::string& column);

  /// The architecture's accuracy; a TableError when the table has no row for it.
  double accuracy(const ir::Arch& arch) const;

  const std::string& column() const { return column_; }
  std::size_t rows() const { return accuracy_.size(); }
  /// Every architecture of the table with its accuracy.
  const std::map<std::string, double>& table() const { return accuracy_; }

 private:
  const ir::Program& program_;
  std::string path_, column_;
  std::map<std::string, double> accuracy_;  // architecture text -> accuracy
};

/// An Evaluator from parts: accuracy and latency from the meters given (a metric without one
/// stays unmeasured), multiply-accumulates and parameters from the IR for `input_size` × `input_size`
/// inputs.
class Measurer : public Evaluator {
 public:
  using Meter = std::function<double(const ir::Arch&)>;
  /// A training-free score of an architecture (runtime/score, which needs LibTorch).
  using Scorer = std::function<double(Metric, const ir::Arch&)>;
  /// `scored`: the training-free metrics to measure with `scorer` (params and MACs are exact).
  Measurer(const ir::Program& program, std::int64_t input_size, Meter accuracy, Meter latency = {},
           std::vector<Metric> scored = {}, Scorer scorer = {});

  Measures measure(const ir::Arch& arch) override;
  Measures exact(const ir::Arch& arch) override;
  /// Accuracy 0; a cost of the whole supernet (every candidate at once); no latency bound, none
  /// for a training-free score.
  std::optional<double> worst(Metric metric) const override;

 private:
  const ir::Program& program_;
  std::int64_t size_;
  Meter accuracy_, latency_;
  std::vector<Metric> scored_;
  Scorer scorer_;
};

}  // namespace cella::specialize
