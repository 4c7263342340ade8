// config.json: everything needed to reopen a run (train, search or retrain), as a struct with one
// writer and one reader. Reopening commands (derive, eval --weights, --resume) compile the run's
// copy of the source (space.cella) with these settings again.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace cella::runtime {

class RunDir;

struct RunConfig {
  std::string command;                    ///< train, search or retrain
  std::string file;                       ///< the source's absolute path when the run began
  std::vector<std::string> include_dirs;  ///< absolute; the source's own directory last
  std::vector<std::string> plugins;       ///< absolute paths of the libraries loaded
  std::string network, search;            ///< the choices `--network` and `--search` made ("" for the default)
  std::vector<std::pair<std::string, std::string>> overrides;  ///< `--set` values, in order
  std::string data, data_dir;  ///< `--data` (a search: the data set it ran on), `--data-dir`
  bool smoke = false;          ///< a `search --smoke` or `train --smoke` run
  std::uint64_t seed = 0;
  int threads = 0;
  int ranks = 1;               ///< processes that trained it together (runtime/distributed)
  std::string device = "cpu";  ///< `--device` when the run began (a resume may take another)
  std::string libtorch;        ///< the LibTorch version the run began on ("" in older runs)
  nlohmann::json plan;         ///< the resolved plan, for readers of the run (not read back)
  std::string arch;            ///< retrain: the architecture
  std::string init;            ///< retrain: the weights file it started from (absolute), or ""
  std::int64_t epochs = 0;     ///< retrain: the epochs
  /// train: `--samples`, the architectures derivation evaluates under path sampling (0 in older
  /// runs); a resume derives with them unless it is given its own.
  std::int64_t samples = 0;

  nlohmann::json to_json() const;
  /// Writes config.json atomically.
  void write(const RunDir& run) const;
  /// Reads config.json; a missing or damaged one is a std::runtime_error naming the file.
  static RunConfig read(const RunDir& run);
};

/// The command that made a run (config.json's "command": train, search, retrain, extract or
/// specialize), read without the rest of the file so that every kind of run answers, `cella
/// specialize`'s own shape included. A missing or damaged config.json is a std::runtime_error
/// naming it.
std::string run_kind(const RunDir& run);

}  // namespace cella::runtime
