// `cella-runtime`: the commands that train or reopen trained runs (search, train, derive, eval,
// retrain), one file each beside this one. `cella` hands these commands to this program, so
// that checking and counting never load LibTorch. This file parses the command line and
// dispatches; common.h has what the commands share.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <optional>
#include <thread>

#include "runtime/device/device.h"
#include "runtime/distributed/distributed.h"
#include "runtime/driver/common.h"
#include "runtime/plugins/plugins.h"

using namespace cella::runtime;
using namespace cella::runtime::cli;

namespace {
// Which process says an error, when there are several.
std::string rank_prefix() { return distributed::active() ? fmt::format("rank {}: ", distributed::rank()) : ""; }
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cella-runtime: training commands of cella (run them as `cella train ...`)"};
  app.require_subcommand(1);
  Options o;
  auto common = [&](CLI::App* c, bool file) {
    if (file) c->add_option("file", o.file, "The .cella file")->required();
    c->add_option("--set", o.sets, "Override a network parameter or search setting: NAME=VALUE")
        ->allow_extra_args(false);
    c->add_option("--seed", o.seed, "Random seed (default: the search block's)")->each([&](const std::string&) {
      o.seed_given = true;
    });
    c->add_option("--threads", o.threads,
                  "CPU threads (default: all cores, shared among the processes of cella launch)")
        ->check(CLI::Range(1, 1024));
    c->add_option("--device", o.device, "Where to compute: cpu (default), cuda or cuda:N");
    c->add_option("--data", o.data, "Data set: fashion_mnist, mnist, cifar10, synthetic");
    c->add_option("--data-dir", o.data_dir, "Directory with the data set's files");
    c->add_option("-I,--include", o.includes, "Directory searched for imports (repeatable)")->allow_extra_args(false);
    c->add_option("--network", o.network, "Which network, when the file has several");
    c->add_option("--search", o.search, "Which search block, when the file has several");
    c->add_option("--plugin", o.plugins, "Shared library that registers operations (repeatable)")
        ->allow_extra_args(false);
    c->add_flag("--json", o.json, "Print results as JSON");
  };
  auto* train = app.add_subcommand("train", "Train the one-shot supernet of a space and derive an architecture");
  common(train, false);
  train->add_option("file", o.file, "The .cella file");
  train->add_option("--out", o.out, "Run directory (default: runs/<file>-train-<time>)");
  train->add_option("--resume", o.resume, "Continue a killed run from its last checkpoint");
  train
      ->add_option("--samples", o.samples,
                   "Architectures evaluated to derive one under path sampling (default 20; a resume: the run's)")
      ->each([&](const std::string&) { o.samples_given = true; });
  train->add_flag(
      "--smoke", o.smoke,
      "The same training on 256 synthetic images, one epoch per phase of the plan: checks a space and its plan "
      "in seconds");
  auto collective_timeout = [&](CLI::App* c) {
    c->add_option("--collective-timeout", o.collective_timeout,
                  "With several processes (cella launch, torchrun): seconds to wait for the other ranks before "
                  "failing (default 300)")
        ->check(CLI::Range(1.0, 86400.0));
  };
  collective_timeout(train);
  auto* search = app.add_subcommand("search", "Run the file's search plan: supernet, splits, selection, derivation");
  collective_timeout(search);
  common(search, false);
  search->add_option("file", o.file, "The .cella file");
  search->add_option("--out", o.out, "Run directory (default: runs/<file>-search-<time>)");
  search->add_flag("--smoke", o.smoke,
                   "The same plan on 256 synthetic images: checks a long plan end to end in seconds");
  search->add_option("--resume", o.resume, "Continue a killed search from its checkpoints");
  // Commands that reopen a run directory: the run, and the plugins it needs if they moved.
  auto reopening = [&](CLI::App* c) {
    c->add_option("run", o.resume, "The run directory")->required();
    c->add_option("--plugin", o.plugins,
                  "Shared library the run needs, when it has moved since (default: the recorded ones)")
        ->allow_extra_args(false);
  };
  auto* derive = app.add_subcommand(
      "derive", "Derive the final architecture again: a train run's supernet, a search run's selected leaf");
  reopening(derive);
  derive->add_option("--samples", o.samples, "Architectures evaluated under path sampling");
  derive->add_option("--threads", o.threads, "CPU threads (default: all cores)")->check(CLI::Range(1, 1024));
  derive->add_option("--device", o.device, "Where to compute: cpu (default), cuda or cuda:N");
  auto* eval = app.add_subcommand("eval", "Accuracy of architectures with a trained supernet's (or search's) weights");
  common(eval, false);
  eval->add_option("file", o.file, "The .cella file (default: the run's own copy, which is used either way)");
  eval->add_option("--arch", o.archs, "An architecture (repeatable; default: the run's own)")->allow_extra_args(false);
  eval->add_option("--archs", o.arch_file, "A file of architectures, one per line");
  eval->add_option("--weights", o.weights,
                   "The run directory: `cella train` or `cella search` (inherited weights), `cella retrain` or "
                   "`cella extract` (one network)")
      ->required();
  eval->add_option(
      "--node", o.node,
      "With a search run: evaluate with this sub-supernet (default: the deepest that holds each architecture)");
  eval->add_option("--recalibrate", o.recalibrate, "Re-estimate batch-norm statistics on this many batches first");
  eval->add_option("--proxy", o.proxies,
                   "Training-free scores to print beside the inherited accuracies, with each one's Kendall tau-b "
                   "with them (as `cella score --proxy`)")
      ->delimiter(',')
      ->allow_extra_args(false);
  eval->add_option("--batch", o.score.batch, "--proxy: images per batch of the data-dependent scores (default 64)")
      ->check(CLI::Range(std::int64_t{2}, std::int64_t{1} << 16));
  auto* retrain = app.add_subcommand("retrain", "Train one architecture from scratch and test it");
  common(retrain, false);
  retrain->add_option("file", o.file, "The .cella file");
  retrain->add_option("--arch", o.arch, "The architecture");
  retrain->add_option("--out", o.out, "Run directory");
  retrain->add_option("--resume", o.resume, "Continue a killed retrain from its last checkpoint");
  retrain->add_option("--epochs", o.epochs, "Epochs (default: the retrain block's)");
  retrain->add_option("--init", o.init, "Start from the weights of a `cella extract` run of this architecture");
  auto* exp = app.add_subcommand(
      "export", "One architecture as a PyTorch module (model.py) with its weights (weights.pt) and a self-check");
  common(exp, false);
  exp->add_option("file", o.file, "The .cella file (with --arch)");
  exp->add_option("--arch", o.arch, "The architecture (fresh weights, from --seed)");
  exp->add_option("--weights", o.weights,
                  "A run directory: a `cella retrain` run's trained weights, or the weights a `cella train` or "
                  "`cella search` run's supernet passes on (default architecture: the run's derived one)");
  exp->add_option("--node", o.node,
                  "With a search run: take the weights of this sub-supernet (default: the deepest that holds the "
                  "architecture)");
  exp->add_option("--recalibrate", o.recalibrate,
                  "Inherited weights: batches of training images that re-estimate the batch-norm statistics "
                  "(default 20)")
      ->check(CLI::PositiveNumber);
  exp->add_option("--format", o.format, "pytorch (default), or onnx: the PyTorch module and model.onnx")
      ->check(CLI::IsMember({"pytorch", "onnx"}));
  exp->add_option("--python", o.python, "The Python with torch that writes (and checks) model.onnx (default: python3)");
  exp->add_option("--out", o.out, "Directory to write into (default: export)");
  auto* extract = app.add_subcommand(
      "extract", "One architecture cut out of a trained supernet: a stand-alone network with its sub-shapes' weights");
  common(extract, false);
  extract->add_option("--weights", o.weights, "The run directory of `cella train` or `cella search`")->required();
  extract->add_option("--arch", o.arch, "The architecture (default: the run's derived one)");
  extract->add_option("--node", o.node,
                      "With a search run: cut it out of this sub-supernet (default: the deepest that holds it)");
  extract
      ->add_option("--recalibrate", o.recalibrate,
                   "Batches of 200 training images that calibrate the batch norms (default 10, OFA's 2,000 images)")
      ->check(CLI::PositiveNumber);
  extract->add_option("--out", o.out, "Directory to write into (default: a new run directory)");
  auto* report = app.add_subcommand(
      "report", "The run's page, RUN/report.html: curves, split tree, schedule, architecture and its costs");
  reopening(report);
  report->add_option("--threads", o.threads, "CPU threads for the latency measured (default: 1)")
      ->check(CLI::Range(1, 1024));
  auto* spec = app.add_subcommand(
      "specialize", "Search a space's architectures for the best trade-offs of accuracy and cost (DyNAS-T)");
  spec->add_option("file", o.file, "The .cella file");
  spec->add_option("--table", o.spec.table,
                   "A tabular benchmark (CSV: an architecture column and accuracy columns) to look accuracies up in");
  spec->add_option(
      "--weights", o.spec.weights,
      "A `cella train` or `cella search` run whose weights give the accuracies (inherited, validation images)");
  spec->add_option("--recalibrate", o.recalibrate,
                   "With --weights: re-estimate batch-norm statistics on this many training batches first");
  spec->add_option("--latency-batch", o.spec.latency_batch, "Batch size latency is timed at (default: the plan's, 1)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{4096}));
  spec->add_option("--threads", o.threads,
                   "CPU threads (default: all cores); latency is timed with these if given, else on one")
      ->check(CLI::Range(1, 1024));
  spec->add_option("--device", o.device, "Where inherited accuracies are computed: cpu (default), cuda or cuda:N");
  spec->add_option("--column", o.spec.column, "The table's accuracy column (default: the first named *accuracy*)");
  spec->add_option("--objectives", o.spec.objectives,
                   "One to three of accuracy, latency, macs, params and the training-free scores synflow, snip, "
                   "grasp, jacob_cov, naswot, zen (default: the plan's, accuracy,macs)")
      ->delimiter(',');
  spec->add_option("--constraint", o.spec.constraints,
                   "A bound such as 'params <= 1M' or 'accuracy >= 90' (repeatable)")
      ->allow_extra_args(false);
  spec->add_option("--tactic", o.spec.tactic, "random, evolution, nsga2 or linas (default: the plan's, linas)");
  spec->add_option("--budget", o.spec.budget, "Architectures to validate (default: the plan's, 250)")
      ->check(CLI::Range(1, 10'000'000));
  spec->add_option("--population", o.spec.population,
                   "Population of evolution, NSGA-II and LINAS (default: the plan's, 50)")
      ->check(CLI::Range(2, 100'000));
  spec->add_option("--sample-size", o.spec.sample_size,
                   "Tournament size of regularized evolution (default: the plan's, 10)")
      ->check(CLI::Range(2, 100'000));
  spec->add_option(
          "--inner-evaluations", o.spec.inner_evaluations,
          "LINAS: predictor evaluations per inner NSGA-II run (default: the plan's, else DyNAS-T's: 20000 on a "
          "space of elastic layers, 5000 otherwise)")
      ->check(CLI::Range(1, 100'000'000));
  spec->add_option("--reference", o.spec.references,
                   "Hypervolume reference point for one objective: METRIC=VALUE (repeatable)")
      ->allow_extra_args(false);
  spec->add_option("--seed", o.seed, "Random seed (default 0)");
  spec->add_option("--set", o.sets, "Override a network parameter: NAME=VALUE")->allow_extra_args(false);
  spec->add_option("--data", o.data, "Data set whose input size the costs are computed for");
  spec->add_option("-I,--include", o.includes, "Directory searched for imports (repeatable)")->allow_extra_args(false);
  spec->add_option("--network", o.network, "Which network, when the file has several");
  spec->add_option("--search", o.search, "Which search block's `specialize` settings, when the file has several");
  spec->add_option("--out", o.out, "Run directory (default: runs/<file>-specialize-<time>)");
  spec->add_option("--resume", o.resume, "Continue a killed specialisation (or raise its --budget)");
  // `cella stats` runs in the front end; with --latency it comes here (compiler/driver/cli.cpp
  // declares the same options).
  auto* stats =
      app.add_subcommand("stats", "Parameters, multiply-accumulates and measured CPU latency of an architecture");
  common(stats, true);
  stats->add_option("--arch", o.arch, "The architecture (text, a file holding one, or a run directory)");
  bool latency = true;  // what the front end passes on; here it always measures
  stats->add_flag("--latency", latency, "Measure the latency (always, here)");
  stats->add_option("--batch", o.latency.batch, "The second batch size timed (default 32)")
      ->check(CLI::Range(1, 1 << 20));
  stats->add_option("--repeats", o.latency.repeats, "Timed forward passes per batch size (default 30)")
      ->check(CLI::Range(1, 100000));
  stats->add_option("--warmups", o.latency.warmups, "Untimed forward passes before them (default 5)")
      ->check(CLI::Range(0, 100000));
  auto* score = app.add_subcommand(
      "score", "Training-free scores of architectures: parameters, MACs and zero-cost proxies, one row each");
  common(score, true);
  score->add_option("--arch", o.archs, "An architecture (repeatable; text, `largest`, `smallest` or a run directory)")
      ->allow_extra_args(false);
  score->add_option("--archs", o.arch_file, "A file of architectures, one per line (`cella sample` writes one)");
  score
      ->add_option("--proxy", o.proxies,
                   "Which scores, comma-separated: params, macs, synflow, snip, grasp, jacob_cov, naswot, zen, or all "
                   "(default all)")
      ->delimiter(',')
      ->allow_extra_args(false);
  score->add_option("--batch", o.score.batch, "Images per batch of the data-dependent scores (default 64)")
      ->check(CLI::Range(std::int64_t{2}, std::int64_t{1} << 16));
  score
      ->add_option("--batches", o.score.batches,
                   "Batches: snip, grasp, jacob_cov see them as one, naswot averages over them, zen repeats as often "
                   "(default 1)")
      ->check(CLI::Range(1, 1 << 16));
  auto* devices = app.add_subcommand("devices", "The LibTorch this cella runs on, and the devices `--device` can name");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kOk : kUsage;
  }
  try {
    // By default the cores, shared among the processes a launcher started on this machine.
    o.threads_asked = o.threads;
    if (o.threads == 0) {
      int local = 1;
      if (const char* n = std::getenv("LOCAL_WORLD_SIZE")) local = std::max(1, std::atoi(n));
      o.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency() / static_cast<unsigned>(local)));
    }
    torch::set_num_threads(o.threads);
    // Export and report run on the CPU: they write CPU tensors and time CPU latencies.
    if ((*exp || *report || *stats || *score) && o.device != "cpu")
      throw Failure(kUsage, fmt::format("--device {}: {} runs on the CPU; --device is for training commands", o.device,
                                        app.get_subcommands().front()->get_name()));
    // Several processes (`cella launch`, torchrun): one rank each; train and search run that way.
    std::optional<distributed::Environment> env;
    try {
      env = distributed::Environment::from_environment();
    } catch (const std::invalid_argument& e) {
      throw Failure(kUsage, e.what());
    }
    if (env && env->world > 1) {
      if (!*train && !*search)
        throw Failure(kUsage, fmt::format("WORLD_SIZE={}: only `cella train` and `cella search` run as several "
                                          "processes; run `cella {}` as one (without cella launch or torchrun)",
                                          env->world, app.get_subcommands().front()->get_name()));
      if (o.device == "cuda") o.device = fmt::format("cuda:{}", env->local_rank);  // one device per local rank
      distributed::init(*env, std::chrono::milliseconds(static_cast<std::int64_t>(o.collective_timeout * 1000)));
    }
    if (!*exp && !*report && !*stats && !*score) {
      try {
        use_device(parse_device(o.device));
      } catch (const DeviceError& e) {
        throw Failure(kUsage, e.what());
      }
    }
    for (const std::string& p : o.plugins)
      if (std::string err = load_plugin(p); !err.empty()) throw Failure(kInvalid, err);
    if (*devices) {
      std::cout << device_summary() << "\n";
      return kOk;
    }
    if (*train) {
      if (o.file.empty() && o.resume.empty()) throw Failure(kUsage, "train needs a FILE or --resume RUN_DIR");
      return cmd_train(o);
    }
    if (*search) {
      if (o.file.empty() && o.resume.empty()) throw Failure(kUsage, "search needs a FILE or --resume RUN_DIR");
      return cmd_search(o);
    }
    if (*derive) return cmd_derive(o);
    if (*eval) return cmd_eval(o);
    if (*retrain) return cmd_retrain(o);
    if (*exp) return cmd_export(o);
    if (*extract) return cmd_extract(o);
    if (*report) return cmd_report(o);
    if (*spec) return cmd_specialize(o);
    if (*stats) return cmd_stats(o);
    if (*score) return cmd_score(o);
  } catch (const Failure& f) {
    // One write per line: the ranks of a data-parallel run share the terminal.
    if (!std::string(f.what()).empty()) std::cerr << fmt::format("cella: error: {}{}\n", rank_prefix(), f.what());
    return f.code;
  } catch (const distributed::DistributedError& e) {  // names its rank itself
    std::cerr << fmt::format("cella: error: {}\n", e.what());
    return kInvalid;
  } catch (const std::runtime_error& e) {  // data, checkpoint and run-directory errors (DataError included)
    std::cerr << fmt::format("cella: error: {}{}\n", rank_prefix(), e.what());
    return kInvalid;
  } catch (const c10::Error& e) {
    std::cerr << "cella: internal error: " << e.what_without_backtrace() << "\n";
    return kInternal;
  } catch (const std::exception& e) {
    std::cerr << "cella: internal error: " << e.what() << "\n";
    return kInternal;
  }
  return kUsage;
}
