// A tabular benchmark as an Evaluator: accuracy looked up in a CSV the user supplies (a
// NAS-Bench-201 / NATS-Bench table: an architecture-string column and accuracy columns),
// multiply-accumulates and parameters from cella's own cost model (passes::network_stats).
// Specialising on a table costs no training, and gives the tactics a ground truth.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "compiler/ir/ir.h"
#include "runtime/specialize/objectives.h"

namespace cella::specialize {

/// One-line errors naming the file (and the row, 1-based, counting the header as row 1).
struct TableError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class TableEvaluator : public Evaluator {
 public:
  /// Reads `path`. `column` names the accuracy column; empty: the first column whose name
  /// contains "accuracy" (any case). The architecture column is the one named
  /// ArchitectureString, arch_str, arch or architecture. Every row must hold an architecture of
  /// the program's space, once. `input_size` is the data's side length for the costs.
  TableEvaluator(const ir::Program& program, const std::string& path, const std::string& column,
                 std::int64_t input_size);

  Measures measure(const ir::Arch& arch) override;
  Measures exact(const ir::Arch& arch) override;
  std::optional<double> worst(Metric metric) const override;

  const std::string& column() const { return column_; }
  std::size_t rows() const { return accuracy_.size(); }
  /// Every architecture of the table with its accuracy (for the true front of the whole table).
  const std::map<std::string, double>& table() const { return accuracy_; }

 private:
  const ir::Program& program_;
  std::string path_, column_;
  std::int64_t size_;
  std::map<std::string, double> accuracy_;  // architecture text -> accuracy
};

}  // namespace cella::specialize
