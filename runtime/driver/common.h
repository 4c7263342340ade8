// What the runtime commands share: options, exit codes, the progress printer, compiling a
// space, reopening a run (its configuration, program, plan, data, supernet or split tree), and
// the files a finished run writes. One file per command sits beside it (train.cpp, search.cpp,
// derive.cpp, eval.cpp, retrain.cpp); main.cpp parses the command line and dispatches.
#pragma once

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <initializer_list>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "compiler/driver/compile.h"
#include "compiler/ir/plan.h"
#include "runtime/run/config.h"
#include "runtime/run/run_dir.h"
#include "runtime/score/proxies.h"
#include "runtime/search/search.h"
#include "runtime/train/trainer.h"

namespace cella::runtime::cli {

using nlohmann::json;

enum { kOk = 0, kInvalid = 1, kUsage = 2, kInternal = 3 };

/// An error the user can act on: its message (one line) and the exit code.
struct Failure : std::runtime_error {
  int code;
  Failure(int c, const std::string& m) : std::runtime_error(m), code(c) {}
};

/// `cella specialize`'s own options (runtime/driver/specialize.cpp). Those left unset (empty, 0)
/// come from the plan's `specialize { ... }` block, whose defaults are DyNAS-T's.
struct SpecializeOptions {
  std::string table, column, weights;
  std::vector<std::string> objectives, constraints, references;
  std::string tactic;
  int budget = 0, population = 0, sample_size = 0, inner_evaluations = 0;
  std::int64_t latency_batch = 0;
};

/// `cella stats --latency`'s timing (runtime/driver/stats.cpp).
struct LatencyOptions {
  std::int64_t batch = 32;  ///< timed at batch 1 and at this one
  int warmups = 5, repeats = 30;
};

/// `cella score`'s images (runtime/driver/score.cpp).
struct ScoreOptions {
  std::int64_t batch = 64;  ///< images per batch of the data proxies
  int batches = 1;
};

/// Every option of every runtime command (main.cpp defines which command takes which).
struct Options {
  std::string file, arch, arch_file, weights, out, resume, data, data_dir, network, search, init;
  std::string format = "pytorch", python = "python3";
  std::vector<std::string> sets, plugins, includes, archs;
  std::vector<std::string> proxies;  ///< `--proxy` names (split at commas by CLI11)
  std::uint64_t seed = 0;
  bool seed_given = false;
  bool samples_given = false;  ///< `--samples` on the command line (a resume keeps the run's otherwise)
  int threads = 0;
  /// `--threads` as the command line gave it, 0 where it did not (`threads` then holds the
  /// default): latency is timed with it, or on one thread (runtime/train/latency.h,
  /// latency_threads).
  int threads_asked = 0;
  std::string device = "cpu";  ///< `--device`: cpu, cuda, cuda:N (runtime/device)
  std::int64_t samples = 20, recalibrate = 0, epochs = 0;
  int node = -1;
  bool json = false;
  bool smoke = false;
  double collective_timeout = 300;  ///< seconds a data-parallel collective waits for the other ranks
  SpecializeOptions spec;
  LatencyOptions latency;
  ScoreOptions score;
};

/// Warns when a resume runs with other threads or on another LibTorch than the run began with:
/// it continues, but no longer exactly as the uninterrupted run would have.
void warn_if_resume_differs(const RunConfig& cfg, const Options& o);

/// Of a run as several processes (runtime/distributed): refuses what does not train data-parallel
/// yet, and checks that every rank runs the same plan and seed from the same epoch (`epoch`: the
/// one it resumes from).
void check_data_parallel(const ir::SearchPlan& plan, const RunConfig& config, std::int64_t epoch);

int cmd_train(Options& o);
int cmd_search(Options& o);
int cmd_derive(Options& o);
int cmd_eval(Options& o);
int cmd_retrain(Options& o);
int cmd_export(Options& o);
int cmd_extract(Options& o);
int cmd_stats(Options& o);
int cmd_report(Options& o);
int cmd_specialize(Options& o);
int cmd_score(Options& o);
/// The architectures of `--arch` (repeatable) and `--archs FILE` (one per line, `#` comments), in
/// that order; a Failure naming the file when it cannot be read.
std::vector<std::string> arch_arguments(const Options& o);
/// What the training-free scores of `proxies` read (runtime/score): the input's shape from the
/// data set (`--data`, else the plan's), and where a proxy needs them, the first `batch` ×
/// `batches` training images after the seeded shuffle.
score::Input score_input(const ir::Program& p, const Options& o, const std::vector<score::Proxy>& proxies,
                         std::int64_t batch, int batches);
/// Writes RUN/report.html (runtime/driver/report.cpp) and returns its path.
std::string write_report(const RunDir& run, const Options& o);
/// The same at the end of `cella train` and `cella search`: a failure is a warning.
void report_at_end(const RunDir& run, const Options& o);

// Renders progress: a redrawn line on a terminal, periodic plain lines otherwise.
class Printer {
 public:
  void operator()(const Progress& p) {
    bool tty = isatty(2);
    auto now = std::chrono::steady_clock::now();
    if (p.phase == "derive") {
      // Derivation trains nothing: no loss, throughput or learning rate to show.
      if (!p.epoch_end && !tty) return;
      std::cerr << fmt::format("{}[derive] {}/{} architectures evaluated, the best at {:.2f}% validation accuracy{}",
                               tty ? "\r\033[K" : "", p.step, p.steps, p.valid_accuracy, p.epoch_end ? "\n" : "")
                << std::flush;
      return;
    }
    if (p.epoch_end) {
      std::string line = fmt::format("[{}] epoch {}/{}  loss {:.4f}  train acc {:.2f}%", p.phase, p.epoch, p.epochs,
                                     p.loss, p.accuracy);
      if (p.valid_accuracy >= 0)
        line += fmt::format("  {} acc {:.2f}%", p.phase == "retrain" ? "test" : "valid", p.valid_accuracy);
      if (p.images_per_second > 0) line += fmt::format("  {:.0f} img/s", p.images_per_second);
      std::cerr << (tty ? "\r\033[K" : "") << line << "\n";
      return;
    }
    double since = std::chrono::duration<double>(now - last_).count();
    if (!tty && p.step != p.steps / 4 && p.step != p.steps / 2 && p.step != 3 * p.steps / 4) return;
    if (tty && since < 0.1) return;
    last_ = now;
    double left_steps = static_cast<double>((p.epochs - p.epoch) * p.steps + (p.steps - p.step));
    double in_epoch = elapsed_in_epoch(p);
    double eta = p.step >= 2 ? left_steps * in_epoch / static_cast<double>(p.step) : -1;
    int pct = static_cast<int>(100 * p.step / std::max<std::int64_t>(1, p.steps));
    std::string bar(static_cast<std::size_t>(pct / 5), '#');
    bar.resize(20, '.');
    std::string line =
        fmt::format("[{}] epoch {}/{} [{}] {}/{}  loss {:.4f}  acc {:.2f}%  {:.0f} img/s  lr {:.4g}  ETA {}", p.phase,
                    p.epoch, p.epochs, bar, p.step, p.steps, p.loss, p.accuracy, p.images_per_second, p.lr, clock(eta));
    std::cerr << (tty ? "\r\033[K" + line : line + "\n") << std::flush;
  }

 private:
  double elapsed_in_epoch(const Progress& p) {
    if (p.epoch != epoch_) {
      epoch_ = p.epoch;
      epoch_start_ = std::chrono::steady_clock::now();
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start_).count();
  }
  static std::string clock(double s) {
    if (s < 0) return "--:--";
    int t = static_cast<int>(s);
    return t >= 3600 ? fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
                     : fmt::format("{}:{:02}", t / 60, t % 60);
  }
  std::chrono::steady_clock::time_point last_{}, epoch_start_ = std::chrono::steady_clock::now();
  std::int64_t epoch_ = -1;
};

/// Compiles `file` and prints its diagnostics; throws Failure on errors. With `smoke`, the search
/// block's `smoke { ... }` parameters are set too (before `overrides`, so the command line wins).
/// Without `warnings`, a compilation without errors prints nothing: a run's copy of its source,
/// reopened, warned when the run was made.
std::unique_ptr<driver::Compilation> compile(const std::string& file,
                                             const std::vector<std::pair<std::string, std::string>>& overrides,
                                             const std::string& data, const std::vector<std::string>& includes,
                                             const std::string& network = "", const std::string& search = "",
                                             bool smoke = false, bool warnings = true);
/// `--set NAME=VALUE` pairs.
std::vector<std::pair<std::string, std::string>> parse_sets(const std::vector<std::string>& sets);
DataSplits data_of(const ir::SearchPlan& plan, const std::string& data_dir, std::uint64_t seed);
/// The architecture of an --arch value (text, a file holding one, or a run directory's
/// arch.txt), checked against the space; a Failure (usage) otherwise.
ir::Arch parse_arch_or_fail(const ir::Program& p, const std::string& value);
/// One line of metrics.jsonl for an epoch that ended.
json epoch_record(const Progress& p, std::int64_t epoch);
/// arch.txt and arch.json, with a warning for an architecture that ignores its input.
void write_arch(const RunDir& run, const ir::Program& p, const ir::Arch& a, bool smoke = false);
/// `--smoke`: the same plan on 256 images with one epoch per phase.
void smoke_plan(ir::SearchPlan& plan, const std::string& data);
/// What a new run of `command` records to compile its copy of the source again: the import
/// directories (`-I` ones and the source's own, absolute), the plugins, the network and search
/// chosen, the `--set` values and the data options. The command adds what it resolved.
RunConfig source_config(const Options& o, const std::string& command);
/// Checks, before anything is read further or written, that `run` is of one of `kinds` (the
/// commands that make runs: train, search, retrain, extract, specialize); `command` is what the
/// user typed, for the message. A run of another kind is a usage error (exit 2) that names the
/// run's kind and, for a run that can be continued, the command that continues it. Returns the
/// run's kind.
std::string expect_kind(const RunDir& run, std::initializer_list<std::string_view> kinds, std::string_view command);
/// A run's configuration, with its plugins loaded (unless the command line names its own).
RunConfig read_config(const RunDir& run, const Options& o);
void load_recorded_plugins(const RunDir& run, const RunConfig& cfg, const Options& o);
void announce_search_choice(const ir::Program& p, const Options& o);
/// Where a training command computes, for its opening line: "" on the CPU in one process, else
/// ", on cuda:0" and ", 2 processes" as they apply.
std::string where_it_runs(const Options& o);

// Rebuilds a run's program from its config.json.
struct Rebuilt {
  std::unique_ptr<driver::Compilation> c;
  std::shared_ptr<const ir::Program> program;
  RunConfig config;
};

Rebuilt rebuild(const RunDir& run, const Options& o);

/// Rewrites metrics.jsonl with its whole lines of epochs up to `epoch` (a kill between a
/// checkpoint and its line, or in the middle of a line, leaves more or less than the checkpoint
/// holds).
void keep_metrics_until(const RunDir& run, std::int64_t epoch);
std::string damaged_checkpoint_advice(const std::string& error, const std::string& resume_command);
void load_train_checkpoint(SupernetState& state, const RunDir& run);
std::string source_text(const std::string& file);
/// Says so and returns true when a run has nothing left to resume.
bool say_if_finished(const RunDir& run);
/// The run `path` for `cella KIND --resume`, its kind checked before anything else (resuming
/// another kind's run as this one would overwrite it); nullopt, said so, when it has finished.
std::optional<RunDir> resumable(const std::string& path, const std::string& kind);

// A finished (or interrupted) run: its program, the plan as it ran (`--smoke` shrinks it), its
// seed and data.
struct Opened {
  Rebuilt r;
  ir::SearchPlan plan;
  std::uint64_t seed = 0;
  DataSplits data;
};

Opened open_run(const RunDir& run, const Options& options);
/// The same, for a run already rebuilt.
Opened open_run(Rebuilt rebuilt);
/// A `cella train` run's supernet, from its checkpoint.
SupernetState trained_supernet(const Opened& o, const RunDir& run);
/// A search run's split tree; a missing or damaged one is a Failure naming the file.
SplitTree read_tree(const RunDir& run);
/// A search run's split tree (`kind` "search"), or none for a train run, where `--node`
/// (`requested` >= 0) is a usage error: it has no sub-supernets.
std::optional<SplitTree> tree_of(const RunDir& run, const std::string& kind, int requested);
/// The sub-supernet whose weights serve `arch`: of a search run's `tree`, `requested` (--node)
/// when given, else the deepest that holds it (sub_supernet_for); 0 for a train run (no tree).
int node_for(const ir::Program& p, const std::optional<SplitTree>& tree, const ir::Arch& arch, int requested);
/// The weights of sub-supernet `node`: a train run's supernet (no tree), or that node's
/// checkpoint of a search run.
SupernetState weights_of(const Opened& o, const RunDir& run, const std::optional<SplitTree>& tree, int node);
/// Sub-supernet `id` of a search run, from its checkpoint.
SupernetState search_node(const Opened& o, const RunDir& run, const SplitTree& tree, int id);
/// The sub-supernet whose weights serve `arch`: `requested` (`--node`) when it holds it (a
/// Failure otherwise), or by default the deepest that holds it.
int sub_supernet_for(const ir::Program& p, const SplitTree& tree, const ir::Arch& arch, int requested);
/// Warns, once, that single paths of a supernet trained as a weighted mixture (DARTS, GDAS,
/// SNAS) do not compute what they would trained alone.
void warn_if_mixture_trained(const Opened& opened);
/// The same for a supernet trained by `plan` (`cella train` says it after the derived
/// architecture's inherited accuracy; `cella search` prints a sub-supernet's accuracy, no single
/// architecture's, and does not).
void warn_if_mixture_trained(const ir::SupernetPlan& plan);

}  // namespace cella::runtime::cli
