// cella's embedding API: compile a space from a file or a string, inspect its IR and size,
// build its supernet or one architecture as a LibTorch module, and train it with callbacks.
// The `cella` command line is a client of the same pieces. Link against cella_runtime; see
// examples/embed/ for a complete host program.
#pragma once

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "compiler/driver/compile.h"
#include "compiler/ir/arch.h"
#include "runtime/device/device.h"
#include "runtime/supernet/network.h"
#include "runtime/train/trainer.h"

namespace cella {

using driver::CompileOptions;
using runtime::Network;
using runtime::Progress;

/// A compiled search space. Compilation never throws for a bad file: check ok() and read
/// diagnostics(), as values.
class Space {
 public:
  static Space from_file(const std::string& path, const CompileOptions& options = {});
  static Space from_string(const std::string& name, const std::string& text, const CompileOptions& options = {});

  bool ok() const;
  /// Every diagnostic, rendered like the compiler prints them (empty when there are none).
  std::string diagnostics() const;
  const std::vector<diag::Diagnostic>& diagnostic_list() const;

  /// The checked IR (cells, network, search plan). Throws std::logic_error if !ok().
  const ir::Program& program() const;
  std::shared_ptr<const ir::Program> program_ptr() const;
  /// Number of architectures, as a decimal string (it can exceed 64 bits).
  std::string size() const;

  /// Parses an architecture (NB201 string, DARTS genotype or JSON); throws std::invalid_argument.
  ir::Arch arch(const std::string& text) const;
  std::string text(const ir::Arch& arch) const;

  /// The weight-sharing supernet: every candidate, batch norms without weights in cells.
  Network supernet() const;
  /// One architecture as a plain network: only the chosen operations, affine batch norms.
  Network network(const ir::Arch& arch) const;

 private:
  std::shared_ptr<driver::Compilation> compilation_;
  std::shared_ptr<const ir::Program> program_;
};

struct TrainOptions {
  std::uint64_t seed = 0;
  /// Overrides the space's data set (`synthetic` needs no files).
  std::string data;
  std::string data_dir;
  /// Overrides the number of supernet epochs (0: the space's).
  std::int64_t epochs = 0;
  /// Where to train: "cpu", "cuda" or "cuda:N" (the same check as `--device`; throws
  /// runtime::DeviceError). It becomes the process's device for networks built afterwards.
  std::string device = "cpu";
  std::function<void(const Progress&)> on_progress;
  /// Called after every epoch with the state (save a checkpoint here).
  std::function<void(const runtime::SupernetState&)> on_epoch;
};

struct TrainResult {
  runtime::SupernetState state;
  ir::Arch arch;              ///< derived by the training method's rule
  double valid_accuracy = 0;  ///< of `arch` with the supernet's weights, percent
};

/// Trains the space's supernet as its search block says (one-shot, no splitting) and derives
/// an architecture. Throws runtime::DataError or std::runtime_error with one-line messages.
TrainResult train(const Space& space, const TrainOptions& options = {});

}  // namespace cella
