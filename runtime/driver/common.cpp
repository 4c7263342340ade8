// What the runtime commands share (common.h).
#include "runtime/driver/common.h"

#include "runtime/distributed/distributed.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "compiler/ir/dump.h"
#include "runtime/device/device.h"
#include "runtime/plugins/plugins.h"
#include "runtime/train/method.h"

namespace cella::runtime::cli {

namespace fs = std::filesystem;

// Compiles `file`. With `smoke`, the search block's `smoke { ... }` parameters are set too
// (compiled a second time with them before `overrides`, so the command line wins).
std::unique_ptr<driver::Compilation> compile(const std::string& file,
                                             const std::vector<std::pair<std::string, std::string>>& overrides,
                                             const std::string& data, const std::vector<std::string>& includes,
                                             const std::string& network, const std::string& search, bool smoke,
                                             bool warnings) {
  driver::CompileOptions o;
  o.sema.overrides = overrides;
  o.sema.data = data;
  o.sema.network = network;
  o.sema.search = search;
  o.include_dirs = includes;
  // With `smoke`, a first compile up to sema reads the smoke block: the checks of the full-size
  // network (layers that do not fit the smoke test's small images) are the second's to make.
  o.sema_only = smoke;
  auto c = driver::compile_file(file, o);
  o.sema_only = false;
  if (smoke && c->program && c->program->search && !c->program->search->smoke.empty()) {
    o.sema.overrides = c->program->search->smoke;
    o.sema.overrides.insert(o.sema.overrides.end(), overrides.begin(), overrides.end());
  }
  if (smoke && !c->diags.has_errors()) c = driver::compile_file(file, o);
  // Of the processes of a data-parallel run, rank 0 shows the diagnostics; the others say where
  // they failed (their files may differ from rank 0's on another machine).
  if ((warnings || c->diags.has_errors()) && distributed::leader())
    std::cerr << diag::render_all(c->diags, c->sources, isatty(2) && !std::getenv("NO_COLOR"));
  if (c->diags.has_errors()) {
    // A --set, --data, --network or --search value that names nothing is a usage error, as in
    // the compiler's commands; an error in the file is invalid input.
    int code = kInvalid;
    for (const diag::Diagnostic& d : c->diags.diagnostics())
      if (d.kind == diag::Kind::BadOverride || d.kind == diag::Kind::BadOption) code = kUsage;
    if (!distributed::leader())
      throw Failure(code,
                    fmt::format("{} does not compile here (`cella check {}` on this machine says why)", file, file));
    throw Failure(code, "");
  }
  if (!c->program || !c->program->network) throw Failure(kInvalid, fmt::format("{} declares no network", file));
  return c;
}

std::vector<std::pair<std::string, std::string>> parse_sets(const std::vector<std::string>& sets) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& s : sets) {
    auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0) throw Failure(kUsage, fmt::format("--set {}: expected NAME=VALUE", s));
    out.emplace_back(s.substr(0, eq), s.substr(eq + 1));
  }
  return out;
}

DataSplits data_of(const ir::SearchPlan& plan, const std::string& data_dir, std::uint64_t seed) {
  return load_data(plan.data.name, data_dir.empty() ? plan.data.path : data_dir, plan.data.subset,
                   plan.data.train_portion, seed);
}

std::vector<std::string> arch_arguments(const Options& o) {
  std::vector<std::string> out = o.archs;
  if (!o.arch_file.empty()) {
    std::ifstream in(o.arch_file);
    if (!in) throw Failure(kInvalid, o.arch_file + ": cannot read");
    for (std::string line; std::getline(in, line);) {
      line = line.substr(0, line.find('#'));
      line.erase(0, line.find_first_not_of(" \t\r"));
      line.erase(line.find_last_not_of(" \t\r") + 1);
      if (!line.empty()) out.push_back(line);
    }
  }
  return out;
}

ir::Arch parse_arch_or_fail(const ir::Program& p, const std::string& value) {
  auto a = driver::parse_arch_argument(p, value);
  if (auto* error = std::get_if<std::string>(&a)) throw Failure(kUsage, *error);
  return std::get<ir::Arch>(a);
}

// A derived architecture whose cells pass nothing from input to output computes a constant:
// DARTS' collapse onto `none` on NAS-Bench-201. Say so rather than report it silently. After a
// smoke test the architecture weights have barely moved from their random start, so any
// architecture, this one included, is chance, and the line says that instead.
void warn_if_disconnected(const ir::Program& p, const ir::Arch& a, bool smoke) {
  const ir::Network& n = *p.network;
  for (std::size_t g = 0; g < n.cell_groups.size(); ++g) {
    if (ir::connects_input(p.cells[n.cell_groups[g].cell], a.cells[g])) continue;
    if (smoke)
      std::cerr << fmt::format(
          "cella: note: no path through cell '{}' of this smoke test's architecture avoids `none`; after "
          "one epoch per phase on 256 images the choice is chance, not a collapse\n",
          n.cell_groups[g].name);
    else
      std::cerr << fmt::format(
          "cella: warning: in the derived architecture, no path through cell '{}' avoids `none`: "
          "the network ignores its input. This is how DARTS-style weights collapse; consider "
          "`sampler uniform`, an `arch_warmup`, or splitting.\n",
          n.cell_groups[g].name);
  }
}

// One line of metrics.jsonl for an epoch that ended (`p`, an epoch-end record): the phase (or
// split-tree node), the epoch, the training loss and accuracy, and the validation accuracy
// measured after it.
json epoch_record(const Progress& p, std::int64_t epoch) {
  json j = {{"phase", p.phase}, {"epoch", epoch}, {"train_loss", p.loss}, {"train_acc", p.accuracy}};
  if (p.node >= 0) j["node"] = p.node;
  if (p.valid_accuracy >= 0) j["valid_acc"] = p.valid_accuracy;
  if (p.valid_loss >= 0) j["valid_loss"] = p.valid_loss;
  if (p.expected_latency >= 0) j["expected_latency"] = p.expected_latency;
  if (p.arch_latency >= 0) j["arch_latency"] = p.arch_latency;
  j["lr"] = p.lr;
  if (!p.arch_weights.empty()) j["arch_weights"] = p.arch_weights;
  return j;
}

void write_arch(const RunDir& run, const ir::Program& p, const ir::Arch& a, bool smoke) {
  warn_if_disconnected(p, a, smoke);
  run.write("arch.txt", ir::to_text(p, a) + "\n");
  run.write("arch.json", ir::to_json(p, a).dump(2) + "\n");
  run.write_drawing("arch", ir::arch_dot(p, a));
}

// `--smoke`: the same plan — strategy, split points in order, children, restarts, distillation,
// selection — on 256 images (synthetic ones unless `--data` names a data set) with one epoch
// between split points, one epoch per phase after them and one gradient-matching batch.
void smoke_plan(ir::SearchPlan& plan, const std::string& data) {
  plan.data.name = data.empty() ? "synthetic" : data;
  plan.data.subset = 256;
  plan.supernet.batch = 32;
  plan.supernet.arch_warmup = 0;
  plan.supernet.cosine_epochs = 0;
  plan.split.batches = 1;
  plan.split.child_epochs = std::min<std::int64_t>(plan.split.child_epochs, 1);
  std::vector<std::int64_t>& at = plan.split.at;
  const bool trains_after_last = at.empty() || plan.supernet.epochs > at.back();
  for (std::size_t k = 0; k < at.size(); ++k) at[k] = static_cast<std::int64_t>(k) + 1;
  plan.supernet.epochs = std::max<std::int64_t>(1, static_cast<std::int64_t>(at.size()) + (trains_after_last ? 1 : 0));
  if (at.empty()) plan.supernet.epochs = 1;
  // Progressive shrinking: one epoch per phase too.
  std::vector<std::int64_t>& phases = plan.supernet.elastic.phases;
  if (!phases.empty()) {
    phases.assign(phases.size(), 1);
    plan.supernet.epochs = static_cast<std::int64_t>(phases.size());
  }
  plan.retrain.epochs = 1;
}

// What a run records to compile its copy of the source again: the import directories (`-I`
// ones and the source's own, absolute), and which network and search block were chosen.
RunConfig source_config(const Options& o, const std::string& command) {
  RunConfig c;
  c.command = command;
  c.file = fs::absolute(o.file).string();
  for (const std::string& d : o.includes) c.include_dirs.push_back(fs::absolute(d).string());
  c.include_dirs.push_back(fs::absolute(o.file).parent_path().string());
  for (const std::string& p : o.plugins) c.plugins.push_back(fs::absolute(p).string());
  c.network = o.network;
  c.search = o.search;
  c.overrides = parse_sets(o.sets);
  c.data = o.data;
  c.data_dir = o.data_dir;
  c.threads = o.threads;
  c.device = o.device;
  c.libtorch = libtorch_version();
  return c;
}

// Refuses what does not train data-parallel yet, and checks that every rank runs the same plan
// from the same state (the same command, files and checkpoint).
void check_data_parallel(const ir::SearchPlan& plan, const RunConfig& config, std::int64_t epoch) {
  const int world = distributed::world();
  if (!method_of(plan.supernet).trains_data_parallel())
    throw Failure(kUsage, fmt::format("{} processes: the {} method does not train data-parallel yet; run it in one",
                                      world, plan.supernet.method));
  if (plan.supernet.arch.unrolled)
    throw Failure(kUsage, fmt::format("{} processes: second-order (unrolled) architecture steps do not train "
                                      "data-parallel yet; run them in one process or set supernet.unrolled=false",
                                      world));
  distributed::check_agreement(std::hash<std::string>{}(config.plan.dump()), "the plan (the .cella file or --set)");
  distributed::check_agreement(config.seed, "the seed");
  distributed::check_agreement(static_cast<std::uint64_t>(epoch),
                               "the epoch to resume from (every rank reads the run directory: on several machines it "
                               "must be shared)");
}

std::string where_it_runs(const Options& o) {
  return (o.device == "cpu" ? "" : ", on " + o.device) +
         (distributed::active() ? fmt::format(", {} processes", distributed::world()) : "");
}

void warn_if_resume_differs(const RunConfig& cfg, const Options& o) {
  if (!distributed::leader()) return;
  if (cfg.ranks != distributed::world())
    std::cerr << fmt::format(
        "cella: warning: the run began with {} processes, this resume has {}; it ends like the uninterrupted run to "
        "float tolerance, not bit for bit\n",
        cfg.ranks, distributed::world());
  if (cfg.threads != o.threads)
    std::cerr << fmt::format(
        "cella: warning: the run used {} threads, this resume uses {}; results may differ slightly\n", cfg.threads,
        o.threads);
  if (!cfg.libtorch.empty() && cfg.libtorch != libtorch_version())
    std::cerr << fmt::format(
        "cella: warning: the run began on LibTorch {}, this resume runs on {}; its results will differ from an "
        "uninterrupted run's (bench/README.md: the two versions derive different architectures)\n",
        cfg.libtorch, libtorch_version());
}

std::string expect_kind(const RunDir& run, std::initializer_list<std::string_view> kinds, std::string_view command) {
  std::string kind;
  try {
    kind = run_kind(run);
  } catch (const std::runtime_error& e) {
    throw Failure(kInvalid, e.what());
  }
  if (std::find(kinds.begin(), kinds.end(), kind) != kinds.end()) return kind;
  std::vector<std::string> wanted;
  for (std::string_view k : kinds) wanted.push_back(fmt::format("`cella {}`", k));
  // Runs that train can be continued; retrain and extract runs are finished when they exist.
  const bool continues = kind == "train" || kind == "search" || kind == "specialize";
  throw Failure(
      kUsage,
      fmt::format("{} is a `cella {}` run; {} takes a {} run{}", run.path(), kind, command, fmt::join(wanted, " or "),
                  continues ? fmt::format("; `cella {} --resume {}` continues it", kind, run.path()) : ""));
}

RunConfig read_config(const RunDir& run, const Options& o) {
  RunConfig cfg = RunConfig::read(run);
  load_recorded_plugins(run, cfg, o);
  return cfg;
}

// Loads the plugins a run was made with, unless the command line names its own (a rebuilt or
// moved library).
void load_recorded_plugins(const RunDir& run, const RunConfig& cfg, const Options& o) {
  if (!o.plugins.empty()) return;
  for (const std::string& p : cfg.plugins) {
    if (!fs::exists(p))
      throw Failure(kInvalid,
                    fmt::format("{}: the run was made with the plugin {}, which is no longer there; rebuild it, or "
                                "pass the library's new path with --plugin",
                                run.file("config.json"), p));
    if (std::string err = load_plugin(p); !err.empty()) throw Failure(kInvalid, err);
  }
}

// A file with several search blocks runs the one `--search` names, or its first (as `cella check`
// and `cella show` read it), said once the run starts (after every check of the command line,
// whose errors stay one line) and before anything trains: a plan the user did not mean should
// not run for hours unannounced.
void announce_search_choice(const ir::Program& p, const Options& o) {
  if (p.searches.size() > 1 && o.search.empty())
    std::cerr << fmt::format(
        "cella: running search block '{}', the first of {} in {} ({}); pick another with --search NAME\n",
        p.searches.front(), p.searches.size(), o.file, fmt::join(p.searches, ", "));
}

Rebuilt rebuild(const RunDir& run, const Options& o) {
  Rebuilt r;
  r.config = read_config(run, o);
  const RunConfig& cfg = r.config;
  r.c = compile(run.file("space.cella"), cfg.overrides, cfg.data, cfg.include_dirs, cfg.network, cfg.search, cfg.smoke,
                /*warnings=*/false);
  r.program = std::make_shared<const ir::Program>(*r.c->program);
  return r;
}

void keep_metrics_until(const RunDir& run, std::int64_t epoch) {
  if (!run.exists("metrics.jsonl")) return;
  std::stringstream in(run.read("metrics.jsonl")), kept;
  for (std::string line; std::getline(in, line);) {
    json j = json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.value("epoch", std::int64_t{0}) <= epoch) kept << line << "\n";
  }
  run.write("metrics.jsonl", kept.str());
}

// What to do about a damaged checkpoint, after the one-line error that names it.
std::string damaged_checkpoint_advice(const std::string& error, const std::string& resume_command) {
  return fmt::format(
      "{}; delete that file (and its .json, if it has one) and run `{}`: the training it held is done again "
      "from the same seed",
      error, resume_command);
}

// Loads a `cella train` run's checkpoint.pt into `state`; a damaged one is the user's error,
// with what to do about it.
void load_train_checkpoint(SupernetState& state, const RunDir& run) {
  try {
    load_state(state, run.file("checkpoint.pt"));
  } catch (const CheckpointError& e) {
    throw Failure(kInvalid, damaged_checkpoint_advice(e.what(), "cella train --resume " + run.path()));
  }
}

// The source file's text, to keep with a run (space.cella).
std::string source_text(const std::string& file) {
  std::ifstream in(fs::absolute(file), std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A finished run has its result.json and every checkpoint: a resume has nothing left to do. One
// whose checkpoint was deleted (it was damaged) is resumed, which trains that part again.
bool say_if_finished(const RunDir& run) {
  if (!run.exists("result.json")) return false;
  if (run.exists("tree.json")) {
    SplitTree tree;
    try {
      tree = SplitTree::read(run.file("tree.json"));
    } catch (const TreeError&) {
      return false;  // damaged: the resume writes it again
    }
    for (const TreeNode& n : tree.nodes)
      if (!has_node_checkpoint(run.path(), n.id)) return false;
  } else if (!run.exists("checkpoint.pt") && !run.exists("weights.pt")) {
    return false;
  }
  if (!distributed::leader()) return true;  // rank 0 says it
  json result = json::parse(run.read("result.json"), nullptr, false);
  std::string arch = result.is_object() ? result.value("arch", std::string()) : std::string();
  std::cerr << fmt::format("cella: {} finished already; nothing to resume{}\n", run.path(),
                           arch.empty() ? "" : fmt::format(". Its architecture ({}):", run.file("arch.txt")));
  if (!arch.empty()) std::cout << arch << "\n";
  return true;
}

std::optional<RunDir> resumable(const std::string& path, const std::string& kind) {
  RunDir run(path, true);
  expect_kind(run, {kind}, fmt::format("`cella {} --resume`", kind));
  if (say_if_finished(run)) return std::nullopt;
  return run;
}

Opened open_run(const RunDir& run, const Options& options) { return open_run(rebuild(run, options)); }

Opened open_run(Rebuilt rebuilt) {
  Opened o;
  o.r = std::move(rebuilt);
  o.plan = ir::plan_of(*o.r.program);
  if (o.r.config.smoke) smoke_plan(o.plan, o.r.config.data);
  o.seed = o.r.config.seed;
  o.data = data_of(o.plan, o.r.config.data_dir, o.seed);
  return o;
}

SupernetState trained_supernet(const Opened& o, const RunDir& run) {
  if (o.r.config.command != "train")
    throw Failure(kUsage, fmt::format("{} is a `cella {}` run, which has no supernet checkpoint", run.path(),
                                      o.r.config.command));
  SupernetState s = make_supernet(o.r.program, Mask::full(*o.r.program), o.plan.supernet, o.seed);
  load_train_checkpoint(s, run);
  return s;
}

SplitTree read_tree(const RunDir& run) {
  if (!run.exists("tree.json"))
    throw Failure(kInvalid, fmt::format("{}: no such file: the search has not finished (or the file was deleted); "
                                        "`cella search --resume {}` finishes it and writes the tree",
                                        run.file("tree.json"), run.path()));
  try {
    return SplitTree::read(run.file("tree.json"));
  } catch (const TreeError& e) {
    throw Failure(kInvalid, fmt::format("{}; `cella search --resume {}` after deleting it writes it again", e.what(),
                                        run.path()));
  }
}

std::optional<SplitTree> tree_of(const RunDir& run, const std::string& kind, int requested) {
  if (kind == "search") return read_tree(run);
  if (requested >= 0)
    throw Failure(kUsage, fmt::format("--node {}: {} has no split tree (only a finished `cella search` run has "
                                      "sub-supernets)",
                                      requested, run.path()));
  return std::nullopt;
}

int node_for(const ir::Program& p, const std::optional<SplitTree>& tree, const ir::Arch& arch, int requested) {
  return tree ? sub_supernet_for(p, *tree, arch, requested) : 0;
}

SupernetState weights_of(const Opened& o, const RunDir& run, const std::optional<SplitTree>& tree, int node) {
  return tree ? search_node(o, run, *tree, node) : trained_supernet(o, run);
}

SupernetState search_node(const Opened& o, const RunDir& run, const SplitTree& tree, int id) {
  try {
    return load_node(o.r.program, o.plan.supernet, tree, id, run.path());
  } catch (const CheckpointError& e) {
    throw Failure(kInvalid, damaged_checkpoint_advice(e.what(), "cella search --resume " + run.path()));
  }
}

}  // namespace cella::runtime::cli
