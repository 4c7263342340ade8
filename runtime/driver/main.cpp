// `cella-runtime`: the commands that train or reopen trained runs (search, train, derive, eval,
// retrain). `cella` hands these commands to this program, so that checking and counting never
// load LibTorch.
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <iostream>
#include <map>
#include <optional>
#include <thread>

#include "compiler/ir/plan.h"
#include "compiler/driver/compile.h"
#include "compiler/ir/dump.h"
#include "runtime/export/run.h"
#include "runtime/plugins/plugins.h"
#include "runtime/search/search.h"
#include "runtime/train/trainer.h"

namespace fs = std::filesystem;
using namespace cella;
using nlohmann::json;

namespace {

enum { kOk = 0, kInvalid = 1, kUsage = 2, kInternal = 3 };

struct Failure : std::runtime_error {
  int code;
  Failure(int c, const std::string& m) : std::runtime_error(m), code(c) {}
};

struct Options {
  std::string file, arch, arch_file, weights, out, resume, data, data_dir, network, search;
  std::vector<std::string> sets, plugins, includes, archs;
  std::uint64_t seed = 0;
  bool seed_given = false;
  int threads = 0;
  std::int64_t samples = 20, recalibrate = 0, epochs = 0;
  int node = -1;
  bool json = false;
  bool smoke = false;
};

// Renders progress: a redrawn line on a terminal, periodic plain lines otherwise.
class Printer {
 public:
  void operator()(const runtime::Progress& p) {
    bool tty = isatty(2);
    auto now = std::chrono::steady_clock::now();
    if (p.epoch_end) {
      std::string line = fmt::format("[{}] epoch {}/{}  loss {:.4f}  train acc {:.2f}%", p.phase, p.epoch, p.epochs, p.loss, p.accuracy);
      if (p.valid_accuracy >= 0) line += fmt::format("  {} acc {:.2f}%", p.phase == "retrain" ? "test" : "valid", p.valid_accuracy);
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
    std::string line = fmt::format("[{}] epoch {}/{} [{}] {}/{}  loss {:.4f}  acc {:.2f}%  {:.0f} img/s  lr {:.4g}  ETA {}",
                                   p.phase, p.epoch, p.epochs, bar, p.step, p.steps, p.loss, p.accuracy, p.images_per_second, p.lr,
                                   clock(eta));
    std::cerr << (tty ? "\r\033[K" + line : line + "\n") << std::flush;
  }

 private:
  double elapsed_in_epoch(const runtime::Progress& p) {
    if (p.epoch != epoch_) {
      epoch_ = p.epoch;
      epoch_start_ = std::chrono::steady_clock::now();
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start_).count();
  }
  static std::string clock(double s) {
    if (s < 0) return "--:--";
    int t = static_cast<int>(s);
    return t >= 3600 ? fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60) : fmt::format("{}:{:02}", t / 60, t % 60);
  }
  std::chrono::steady_clock::time_point last_{}, epoch_start_ = std::chrono::steady_clock::now();
  std::int64_t epoch_ = -1;
};

// Compiles `file`. With `smoke`, the search block's `smoke { ... }` parameters are set too
// (compiled a second time with them before `overrides`, so the command line wins).
std::unique_ptr<driver::Compilation> compile(const std::string& file, const std::vector<std::pair<std::string, std::string>>& overrides,
                                             const std::string& data, const std::vector<std::string>& includes,
                                             const std::string& network = "", const std::string& search = "", bool smoke = false) {
  driver::CompileOptions o;
  o.sema.overrides = overrides;
  o.sema.data = data;
  o.sema.network = network;
  o.sema.search = search;
  o.include_dirs = includes;
  auto c = driver::compile_file(file, o);
  if (smoke && !c->diags.has_errors() && c->program && c->program->search && !c->program->search->smoke.empty()) {
    o.sema.overrides = c->program->search->smoke;
    o.sema.overrides.insert(o.sema.overrides.end(), overrides.begin(), overrides.end());
    c = driver::compile_file(file, o);
  }
  std::cerr << diag::render_all(c->diags, c->sources, isatty(2) && !std::getenv("NO_COLOR"));
  if (c->diags.has_errors()) {
    // A --set, --data, --network or --search value that names nothing is a usage error, as in
    // the compiler's commands; an error in the file is invalid input.
    for (const diag::Diagnostic& d : c->diags.diagnostics())
      if (d.kind == diag::Kind::BadOverride || d.kind == diag::Kind::BadOption) throw Failure(kUsage, "");
    throw Failure(kInvalid, "");
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


runtime::DataSplits data_of(const ir::SearchPlan& plan, const std::string& data_dir, std::uint64_t seed) {
  return runtime::load_data(plan.data.name, data_dir.empty() ? plan.data.path : data_dir, plan.data.subset,
                            plan.data.train_portion, seed);
}

ir::Arch parse_arch_or_fail(const ir::Program& p, const std::string& text) {
  auto a = ir::parse_arch(p, text);
  if (auto* err = std::get_if<std::string>(&a)) throw Failure(kUsage, "--arch: " + *err);
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
      std::cerr << fmt::format("cella: note: no path through cell '{}' of this smoke test's architecture avoids `none`; after "
                               "one epoch per phase on 256 images the choice is chance, not a collapse\n", n.cell_groups[g].name);
    else
      std::cerr << fmt::format("cella: warning: in the derived architecture, no path through cell '{}' avoids `none`: "
                               "the network ignores its input. This is how DARTS-style weights collapse; consider "
                               "`sampler uniform`, an `arch_warmup`, or splitting.\n", n.cell_groups[g].name);
  }
}

// One line of metrics.jsonl for an epoch that ended (`p`, an epoch-end record): the phase (or
// split-tree node), the epoch, the training loss and accuracy, and the validation accuracy
// measured after it.
json epoch_record(const runtime::Progress& p, std::int64_t epoch) {
  json j = {{"phase", p.phase}, {"epoch", epoch}, {"train_loss", p.loss}, {"train_acc", p.accuracy}};
  if (p.node >= 0) j["node"] = p.node;
  if (p.valid_accuracy >= 0) j["valid_acc"] = p.valid_accuracy;
  return j;
}

void write_arch(const runtime::RunDir& run, const ir::Program& p, const ir::Arch& a, bool smoke = false) {
  warn_if_disconnected(p, a, smoke);
  run.write("arch.txt", ir::to_text(p, a) + "\n");
  run.write("arch.json", ir::to_json(p, a).dump(2) + "\n");
}

// `--smoke`: the same plan — strategy, split points in order, children, distillation, selection —
// on 256 images (synthetic ones unless `--data` names a data set) with one epoch between split
// points and one gradient-matching batch.
void smoke_plan(ir::SearchPlan& plan, const std::string& data) {
  plan.data.name = data.empty() ? "synthetic" : data;
  plan.data.subset = 256;
  plan.supernet.batch = 32;
  plan.supernet.arch_warmup = 0;
  plan.split.batches = 1;
  plan.split.child_epochs = 1;
  for (std::size_t k = 0; k < plan.split.at.size(); ++k) plan.split.at[k] = static_cast<std::int64_t>(k) + 1;
  plan.supernet.epochs = std::max<std::int64_t>(1, static_cast<std::int64_t>(plan.split.at.size()));
  plan.retrain.epochs = 1;
}

// What a run records to compile its copy of the source again: the import directories (`-I`
// ones and the source's own, absolute), and which network and search block were chosen.
json source_config(const Options& o) {
  json dirs = json::array();
  for (const std::string& d : o.includes) dirs.push_back(fs::absolute(d).string());
  dirs.push_back(fs::absolute(o.file).parent_path().string());
  json plugins = json::array();
  for (const std::string& p : o.plugins) plugins.push_back(fs::absolute(p).string());
  return {{"file", fs::absolute(o.file).string()}, {"include_dirs", dirs}, {"network", o.network}, {"search", o.search},
          {"plugins", plugins}};
}

// Loads the plugins a run was made with, unless the command line names its own (a rebuilt or
// moved library).
void load_recorded_plugins(const runtime::RunDir& run, const json& cfg, const Options& o) {
  if (!o.plugins.empty()) return;
  for (const std::string& p : cfg.value("plugins", std::vector<std::string>{})) {
    if (!fs::exists(p))
      throw Failure(kInvalid, fmt::format("{}: the run was made with the plugin {}, which is no longer there; rebuild it, or "
                                          "pass the library's new path with --plugin", run.file("config.json"), p));
    if (std::string err = runtime::load_plugin(p); !err.empty()) throw Failure(kInvalid, err);
  }
}

// A file with several search blocks runs the one `--search` names: running the first without a
// word would train a plan the user may not have meant.
void require_search_choice(const ir::Program& p, const Options& o) {
  if (p.searches.size() > 1 && o.search.empty())
    throw Failure(kUsage, fmt::format("{} has {} search blocks ({}): pick one with --search NAME", o.file, p.searches.size(),
                                      fmt::join(p.searches, ", ")));
}

// Rebuilds a run's program from its config.json.
struct Rebuilt {
  std::unique_ptr<driver::Compilation> c;
  std::shared_ptr<const ir::Program> program;
  json config;
};

Rebuilt rebuild(const runtime::RunDir& run, const Options& o) {
  json cfg = json::parse(run.read("config.json"), nullptr, false);
  if (cfg.is_discarded() || !cfg.contains("overrides")) throw Failure(kInvalid, run.file("config.json") + ": not a cella run configuration");
  load_recorded_plugins(run, cfg, o);
  std::vector<std::pair<std::string, std::string>> overrides = cfg["overrides"].get<std::vector<std::pair<std::string, std::string>>>();
  Rebuilt r;
  r.c = compile(run.file("space.cella"), overrides, cfg.value("data", ""), cfg.value("include_dirs", std::vector<std::string>{}),
                cfg.value("network", ""), cfg.value("search", ""), cfg.value("smoke", false));
  r.program = std::make_shared<const ir::Program>(*r.c->program);
  r.config = cfg;
  return r;
}

// What to do about a damaged checkpoint, after the one-line error that names it.
std::string damaged_checkpoint_advice(const std::string& error, const std::string& resume_command) {
  return fmt::format("{}; delete that file (and its .json, if it has one) and run `{}`: the training it held is done again "
                     "from the same seed", error, resume_command);
}

// Loads a `cella train` run's checkpoint.pt into `state`; a damaged one is the user's error,
// with what to do about it.
void load_train_checkpoint(runtime::SupernetState& state, const runtime::RunDir& run) {
  try {
    runtime::load_state(state, run.file("checkpoint.pt"));
  } catch (const runtime::CheckpointError& e) {
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
bool say_if_finished(const runtime::RunDir& run) {
  if (!run.exists("result.json")) return false;
  if (run.exists("tree.json")) {
    runtime::SplitTree tree;
    try {
      tree = runtime::SplitTree::read(run.file("tree.json"));
    } catch (const runtime::TreeError&) {
      return false;  // damaged: the resume writes it again
    }
    for (const runtime::TreeNode& n : tree.nodes)
      if (!runtime::has_node_checkpoint(run.path(), n.id)) return false;
  } else if (!run.exists("checkpoint.pt") && !run.exists("weights.pt")) {
    return false;
  }
  json result = json::parse(run.read("result.json"), nullptr, false);
  std::string arch = result.is_object() ? result.value("arch", std::string()) : std::string();
  std::cerr << fmt::format("cella: {} finished already; nothing to resume{}\n", run.path(),
                           arch.empty() ? "" : fmt::format(". Its architecture ({}):", run.file("arch.txt")));
  if (!arch.empty()) std::cout << arch << "\n";
  return true;
}

int cmd_train(Options& o) {
  const bool resuming = !o.resume.empty();
  std::optional<runtime::RunDir> run;
  Rebuilt r;
  ir::SearchPlan plan;
  runtime::DataSplits data;
  if (resuming) {
    run.emplace(o.resume, true);
    if (say_if_finished(*run)) return kOk;
    r = rebuild(*run, o);
    o.seed = r.config.value("seed", 0ull);
    o.data_dir = r.config.value("data_dir", "");
    int threads = r.config.value("threads", 0);
    if (threads != o.threads)
      std::cerr << fmt::format("cella: warning: the run used {} threads, this resume uses {}; results may differ slightly\n", threads, o.threads);
    plan = ir::plan_of(*r.program);
    data = data_of(plan, o.data_dir, o.seed);
  } else {
    // The run directory is made once the file compiles and the data loads: a bad file or data
    // set leaves nothing behind.
    auto overrides = parse_sets(o.sets);
    r.c = compile(o.file, overrides, o.data, o.includes, o.network, o.search);
    r.program = std::make_shared<const ir::Program>(*r.c->program);
    require_search_choice(*r.program, o);
    plan = ir::plan_of(*r.program);
    if (!o.seed_given) o.seed = static_cast<std::uint64_t>(plan.seed);
    data = data_of(plan, o.data_dir, o.seed);
    run.emplace(o.out.empty() ? runtime::new_run_path(o.file, "train") : o.out, false);
    run->write("space.cella", source_text(o.file));
    r.config = source_config(o);
    r.config.update({{"command", "train"}, {"overrides", overrides}, {"data", o.data}, {"data_dir", o.data_dir}, {"seed", o.seed},
                     {"threads", o.threads}, {"plan", ir::dump_json(*r.program).value("search", json::object())}});
    run->write("config.json", r.config.dump(2) + "\n");
  }
  std::cerr << fmt::format("cella: training the {} supernet of {} ({}, {} train / {} valid images, {} epochs, {} threads) in {}\n",
                           plan.supernet.method, r.program->network->name, plan.data.name, data.train.size(), data.valid.size(),
                           plan.supernet.epochs, o.threads, run->path());
  runtime::SupernetState state = runtime::make_supernet(r.program, runtime::Mask::full(*r.program), plan.supernet, o.seed);
  if (resuming && run->exists("checkpoint.pt")) {
    load_train_checkpoint(state, *run);
    std::cerr << fmt::format("cella: resuming after epoch {}\n", state.epoch);
  }
  if (resuming && run->exists("metrics.jsonl")) {
    // Drop metrics of epochs the checkpoint does not contain (a kill between the two writes).
    std::stringstream in(run->read("metrics.jsonl")), kept;
    std::string line;
    while (std::getline(in, line)) {
      json j = json::parse(line, nullptr, false);
      if (!j.is_discarded() && j.value("epoch", 0) <= state.epoch) kept << line << "\n";
    }
    run->write("metrics.jsonl", kept.str());
  }
  Printer printer;
  runtime::Progress last;
  auto progress = [&](const runtime::Progress& p) {
    if (p.epoch_end) last = p;
    printer(p);
  };
  runtime::train_supernet(state, plan.supernet, data, o.seed, plan.supernet.epochs, progress, [&](const runtime::SupernetState& s) {
    run->metric(epoch_record(last, s.epoch));
    runtime::save_state(s, run->file("checkpoint.pt"));
  });
  ir::Arch arch = runtime::derive(state, plan.supernet, data, o.seed, o.samples, printer);
  runtime::Evaluation e = runtime::evaluate(state.net, runtime::mixing_of(*r.program, arch), data.valid, 256);
  write_arch(*run, *r.program, arch);
  json result = {{"arch", ir::to_text(*r.program, arch)}, {"valid_acc_inherited", e.accuracy}, {"epochs", state.epoch}};
  run->write("result.json", result.dump(2) + "\n");
  std::cout << ir::to_text(*r.program, arch) << "\n";
  std::cerr << fmt::format("cella: derived architecture, {:.2f}% validation accuracy with the supernet's weights; run in {}\n",
                           e.accuracy, run->path());
  return kOk;
}

// A finished (or interrupted) run: its program, the plan as it ran (`--smoke` shrinks it), its
// seed and data.
struct Opened {
  Rebuilt r;
  ir::SearchPlan plan;
  std::uint64_t seed = 0;
  runtime::DataSplits data;
};

Opened open_run(const runtime::RunDir& run, const Options& options) {
  Opened o;
  o.r = rebuild(run, options);
  o.plan = ir::plan_of(*o.r.program);
  if (o.r.config.value("smoke", false)) smoke_plan(o.plan, o.r.config.value("data", ""));
  o.seed = o.r.config.value("seed", 0ull);
  o.data = data_of(o.plan, o.r.config.value("data_dir", ""), o.seed);
  return o;
}

// A `cella train` run's supernet, from its checkpoint.
runtime::SupernetState trained_supernet(const Opened& o, const runtime::RunDir& run) {
  if (o.r.config.value("command", "") != "train")
    throw Failure(kUsage, fmt::format("{} is a `cella {}` run, which has no supernet checkpoint", run.path(),
                                      o.r.config.value("command", std::string("?"))));
  runtime::SupernetState s = runtime::make_supernet(o.r.program, runtime::Mask::full(*o.r.program), o.plan.supernet, o.seed);
  load_train_checkpoint(s, run);
  return s;
}

// A `cella search` run's split tree (tree.json), checked enough that a damaged file is the
// user's one-line error rather than an internal one.
runtime::SplitTree read_tree(const runtime::RunDir& run) {
  try {
    return runtime::SplitTree::read(run.file("tree.json"));
  } catch (const runtime::TreeError& e) {
    throw Failure(kInvalid, fmt::format("{}; `cella search --resume {}` after deleting it writes it again", e.what(), run.path()));
  }
}

// Sub-supernet `id` of a search run, from its checkpoint.
runtime::SupernetState search_node(const Opened& o, const runtime::RunDir& run, const runtime::SplitTree& tree, int id) {
  try {
    return runtime::load_node(o.r.program, o.plan.supernet, tree, id, run.path());
  } catch (const runtime::CheckpointError& e) {
    throw Failure(kInvalid, damaged_checkpoint_advice(e.what(), "cella search --resume " + run.path()));
  }
}

// Derives again: a training run from its supernet, a search run from its selected leaf.
int cmd_derive(Options& o) {
  runtime::RunDir run(o.resume, true);
  Opened t = open_run(run, o);
  const std::string command = t.r.config.value("command", "");
  runtime::SupernetState state;
  if (command == "search") {
    if (!run.exists("tree.json"))
      throw Failure(kInvalid, fmt::format("{} is a search that has not finished; `cella search --resume {}` finishes it and derives",
                                          run.path(), run.path()));
    runtime::SplitTree tree = read_tree(run);
    state = search_node(t, run, tree, tree.selected);
    std::cerr << fmt::format("cella: deriving from sub-supernet {}, the search's selected leaf\n", tree.selected);
  } else if (command == "train") {
    state = trained_supernet(t, run);
  } else {
    throw Failure(kUsage, fmt::format("{} is a `cella {}` run: there is nothing to derive from; its architecture is in {}", run.path(),
                                      command, run.file("result.json")));
  }
  ir::Arch arch = runtime::derive(state, t.plan.supernet, t.data, t.seed, o.samples, {});
  write_arch(run, *t.r.program, arch);
  std::cout << ir::to_text(*t.r.program, arch) << "\n";
  return kOk;
}

// The architectures of `--arch` (repeatable) and `--archs FILE` (one per line, # comments).
std::vector<std::string> arch_texts(const Options& o) {
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
  if (out.empty()) throw Failure(kUsage, "eval needs --arch A (repeatable) or --archs FILE");
  return out;
}

// Evaluates architectures with inherited weights: a training run's supernet, or for a search
// run the sub-supernet of the split tree that holds each architecture (the deepest one).
// `cella eval FILE --weights RUN` uses the run's own copy of the space (space.cella), which its
// weights were made for; a FILE that has changed since is worth a word.
void warn_if_file_differs(const Options& o, const runtime::RunDir& run) {
  if (o.file.empty() || !fs::exists(o.file) || !run.exists("space.cella")) return;
  if (source_text(o.file) != run.read("space.cella"))
    std::cerr << fmt::format("cella: warning: {} differs from the space the run was made with; {} is used\n", o.file,
                             run.file("space.cella"));
}

// Evaluates a `cella retrain` run's network: its one architecture, with its own weights, on the
// test images (the retraining used the training and validation images).
int eval_retrained(const Options& o, const Opened& opened, const runtime::RunDir& run, const std::vector<std::string>& texts) {
  const ir::Program& p = *opened.r.program;
  ir::Arch trained = parse_arch_or_fail(p, opened.r.config.value("arch", std::string()));
  runtime::Network net(opened.r.program, runtime::Mask::of_arch(p, trained), /*supernet=*/false);
  try {
    runtime::load_weights(net, run.file("weights.pt"));
  } catch (const runtime::CheckpointError& e) {
    throw Failure(kInvalid, fmt::format("{}; `cella retrain` writes it again", e.what()));
  }
  json rows = json::array();
  for (const std::string& text : texts) {
    ir::Arch arch = parse_arch_or_fail(p, text);
    if (!(arch == trained))
      throw Failure(kUsage, fmt::format("{} retrained {}; it holds no other architecture", run.path(), ir::to_text(p, trained)));
    runtime::Evaluation v = runtime::evaluate(net, runtime::mixing_of(p, arch), opened.data.test, 256);
    json row = {{"arch", ir::to_text(p, arch)}, {"test_acc", v.accuracy}, {"test_loss", v.loss}};
    if (o.json) rows.push_back(row);
    else std::cout << fmt::format("{}\n  test accuracy of the retrained network: {:.2f}% (loss {:.4f})\n", row["arch"].get<std::string>(),
                                  v.accuracy, v.loss);
  }
  if (o.json) std::cout << (rows.size() == 1 && o.arch_file.empty() ? rows[0] : rows).dump(2) << "\n";
  return kOk;
}

// Evaluates architectures with inherited weights: a training run's supernet, or for a search
// run the sub-supernet of the split tree that holds each architecture (the deepest one).
int cmd_eval(Options& o) {
  runtime::RunDir run(o.weights, true);
  std::vector<std::string> texts = arch_texts(o);
  Opened opened = open_run(run, o);
  warn_if_file_differs(o, run);
  const Rebuilt& r = opened.r;
  const runtime::DataSplits& data = opened.data;
  const std::string command = r.config.value("command", "");
  if (command == "retrain") {
    if (o.node >= 0) throw Failure(kUsage, fmt::format("--node {}: {} is a retrained network, not a search", o.node, o.weights));
    return eval_retrained(o, opened, run, texts);
  }
  if (command == "search" && !run.exists("tree.json"))
    throw Failure(kInvalid, fmt::format("{} is a search that has not finished; `cella search --resume {}` finishes it", run.path(), run.path()));
  const bool search = command == "search";
  runtime::SplitTree tree;
  if (search) {
    tree = read_tree(run);
  } else if (o.node >= 0) {
    throw Failure(kUsage, fmt::format("--node {}: {} has no split tree (only a finished `cella search` run has sub-supernets)", o.node,
                                      o.weights));
  }
  std::map<int, runtime::SupernetState> supernets;
  json rows = json::array();
  for (const std::string& text : texts) {
    ir::Arch arch = parse_arch_or_fail(*r.program, text);
    int node = search ? runtime::owning_node(*r.program, tree, arch) : 0;
    if (search && o.node >= 0) {
      if (o.node >= static_cast<int>(tree.nodes.size()))
        throw Failure(kUsage, fmt::format("--node {}: the split tree has nodes 0 to {}", o.node, tree.nodes.size() - 1));
      if (!runtime::node_holds(*r.program, tree, o.node, arch))
        throw Failure(kUsage, fmt::format("--node {}: sub-supernet {} does not hold {}", o.node, o.node, text));
      node = o.node;
    }
    if (!supernets.contains(node)) supernets[node] = search ? search_node(opened, run, tree, node) : trained_supernet(opened, run);
    runtime::Evaluation v = runtime::evaluate(supernets[node].net, runtime::mixing_of(*r.program, arch), data.valid, 256, 0,
                                              o.recalibrate > 0 ? &data.train : nullptr, o.recalibrate);
    json row = {{"arch", ir::to_text(*r.program, arch)}, {"valid_acc", v.accuracy}, {"valid_loss", v.loss}};
    if (search) row["node"] = node;
    if (o.json) {
      rows.push_back(row);
    } else {
      std::cout << fmt::format("{}\n  validation accuracy with inherited weights: {:.2f}% (loss {:.4f}){}\n", row["arch"].get<std::string>(),
                               v.accuracy, v.loss, search ? fmt::format(", sub-supernet {}", node) : "");
    }
  }
  if (o.json) std::cout << (rows.size() == 1 && o.arch_file.empty() ? rows[0] : rows).dump(2) << "\n";
  return kOk;
}

int cmd_search(Options& o) {
  if (!o.resume.empty()) {
    // Replay the run's own configuration; completed training is loaded from its checkpoints.
    runtime::RunDir old(o.resume, true);
    json cfg = json::parse(old.read("config.json"), nullptr, false);
    if (cfg.is_discarded() || cfg.value("command", "") != "search") throw Failure(kInvalid, o.resume + ": not a cella search run");
    if (say_if_finished(old)) return kOk;
    load_recorded_plugins(old, cfg, o);
    o.file = old.file("space.cella");
    o.sets.clear();
    for (const auto& kv : cfg["overrides"]) o.sets.push_back(kv[0].get<std::string>() + "=" + kv[1].get<std::string>());
    o.smoke = cfg.value("smoke", false);
    o.seed = cfg.value("seed", 0ull);
    o.seed_given = true;
    o.out = o.resume;
    o.includes = cfg.value("include_dirs", std::vector<std::string>{});
    o.network = cfg.value("network", "");
    o.search = cfg.value("search", "");
    o.data_dir = cfg.value("data_dir", "");
    o.data = cfg.value("data", "");
  }
  bool resuming = !o.resume.empty();
  auto overrides = parse_sets(o.sets);
  // `--smoke` runs on synthetic images unless `--data` names a data set.
  auto c = compile(o.file, overrides, o.smoke && o.data.empty() ? "synthetic" : o.data, o.includes, o.network, o.search, o.smoke);
  auto program = std::make_shared<const ir::Program>(*c->program);
  if (!program->search) throw Failure(kInvalid, fmt::format("{} has no search block; `cella train` trains a supernet without one", o.file));
  if (!resuming) require_search_choice(*program, o);
  ir::SearchPlan plan = *program->search;
  if (o.smoke) smoke_plan(plan, o.data);
  std::uint64_t seed = o.seed_given ? o.seed : static_cast<std::uint64_t>(plan.seed);
  // The run directory is made once the file compiles and the data loads.
  runtime::DataSplits data = data_of(plan, o.data_dir, seed);
  runtime::RunDir run(o.out.empty() ? runtime::new_run_path(o.file, "search") : o.out, resuming);
  if (!resuming) run.write("space.cella", source_text(o.file));
  json config = source_config(o);
  config.update({{"command", "search"}, {"overrides", overrides}, {"data", plan.data.name}, {"data_dir", o.data_dir}, {"smoke", o.smoke}, {"seed", seed},
                 {"threads", o.threads}, {"plan", ir::dump_json(*program).value("search", json::object())}});
  if (!resuming) run.write("config.json", config.dump(2) + "\n");
  std::vector<std::string> params;
  for (const auto& [name, value] : program->network->params) params.push_back(name + "=" + ir::to_string(value));
  std::cerr << fmt::format("cella: {} search of {}({}) ({}{}, {} train / {} valid images, {} threads) in {}\n",
                           ir::dump_json(*program)["search"]["split"]["strategy"].get<std::string>(), program->network->name,
                           fmt::join(params, ", "), o.smoke ? "smoke test, " : "", plan.data.name, data.train.size(),
                           data.valid.size(), o.threads, run.path());
  Printer printer;
  runtime::SearchOptions so;
  so.seed = seed;
  so.checkpoint_dir = run.path();
  if (resuming) {
    std::cerr << "cella: resuming: finished training is loaded from the run's checkpoints\n";
    if (run.exists("metrics.jsonl")) run.write("metrics.jsonl", "");  // the replay logs every event again
  }
  so.progress = [&](const runtime::Progress& p) {
    printer(p);
    if (p.epoch_end) run.metric(epoch_record(p, p.epoch));
  };
  so.log = [&](const std::string& line) {
    std::cerr << "cella: " << line << "\n";
    run.metric({{"event", line}});
  };
  runtime::SearchResult r;
  try {
    r = runtime::run_search(program, plan, data, so);
  } catch (const runtime::CheckpointError& e) {
    throw Failure(kInvalid, damaged_checkpoint_advice(e.what(), "cella search --resume " + run.path()));
  }
  run.write("tree.json", r.tree.to_json().dump(2) + "\n");
  std::string dot = runtime::tree_dot(r.tree);
  run.write("tree.dot", dot);
  std::string svg_cmd = fmt::format("dot -Tsvg '{}' -o '{}' 2>/dev/null", run.file("tree.dot"), run.file("tree.svg"));
  bool svg = std::system(svg_cmd.c_str()) == 0;
  write_arch(run, *program, r.arch, o.smoke);
  json result = {{"arch", ir::to_text(*program, r.arch)}, {"valid_acc", r.valid_accuracy}, {"tree", "tree.json"},
                 {"phases_seconds", r.tree.phases}};
  if (plan.retrain.enabled) {
    runtime::RetrainResult rt = runtime::retrain(program, r.arch, plan.retrain, data, seed, [&](const runtime::Progress& p) { printer(p); });
    result["retrain_test_acc"] = rt.test_accuracy;
    result["retrain_params"] = rt.params;
  }
  run.write("result.json", result.dump(2) + "\n");
  std::cout << ir::to_text(*program, r.arch) << "\n";
  std::string phases;
  for (const auto& [k, v] : r.tree.phases) phases += fmt::format("{} {:.1f}s, ", k, v);
  if (!phases.empty()) phases.resize(phases.size() - 2);
  std::cerr << fmt::format("cella: selected sub-supernet {} at {:.2f}% validation accuracy; time: {}\n", r.tree.selected,
                           r.valid_accuracy, phases);
  if (o.smoke)
    std::cerr << "cella: smoke test passed: the whole plan ran end to end. Its architecture comes from one epoch per phase on 256 "
                 "images and says nothing about the space; run without --smoke for a real search\n";
  if (result.contains("retrain_test_acc"))
    std::cerr << fmt::format("cella: retrained stand-alone: {:.2f}% test accuracy\n", result["retrain_test_acc"].get<double>());
  std::cerr << fmt::format("cella: split tree in {}{}\n", run.file("tree.json"), svg ? " and " + run.file("tree.svg") : "");
  return kOk;
}

int cmd_retrain(Options& o) {
  auto overrides = parse_sets(o.sets);
  auto c = compile(o.file, overrides, o.data, o.includes, o.network, o.search);
  auto program = std::make_shared<const ir::Program>(*c->program);
  require_search_choice(*program, o);
  ir::SearchPlan plan = ir::plan_of(*program);
  if (o.epochs > 0) plan.retrain.epochs = o.epochs;
  std::uint64_t seed = o.seed_given ? o.seed : static_cast<std::uint64_t>(plan.seed);
  ir::Arch arch = parse_arch_or_fail(*program, o.arch);
  runtime::DataSplits data = data_of(plan, o.data_dir, seed);
  runtime::RunDir run(o.out.empty() ? runtime::new_run_path(o.file, "retrain") : o.out, false);
  run.write("space.cella", source_text(o.file));
  json config = source_config(o);
  config.update({{"command", "retrain"}, {"overrides", overrides}, {"data", o.data}, {"data_dir", o.data_dir},
                 {"arch", ir::to_text(*program, arch)}, {"seed", seed}, {"threads", o.threads}, {"epochs", plan.retrain.epochs}});
  run.write("config.json", config.dump(2) + "\n");
  Printer printer;
  runtime::RetrainResult res = runtime::retrain(program, arch, plan.retrain, data, seed, [&](const runtime::Progress& p) {
    printer(p);
    if (p.epoch_end) run.metric({{"phase", "retrain"}, {"epoch", p.epoch}, {"train_loss", p.loss}, {"train_acc", p.accuracy}, {"test_acc", p.valid_accuracy}});
  });
  runtime::save_weights(res.net, run.file("weights.pt"));
  write_arch(run, *program, arch);
  json result = {{"arch", ir::to_text(*program, arch)}, {"test_acc", res.test_accuracy}, {"train_acc", res.train_accuracy},
                 {"params", res.params}, {"epochs", plan.retrain.epochs}, {"weights", "weights.pt"}};
  run.write("result.json", result.dump(2) + "\n");
  if (o.json) std::cout << result.dump(2) << "\n";
  else std::cout << fmt::format("test accuracy {:.2f}% after {} epochs ({} parameters); weights in {}\n", res.test_accuracy,
                                plan.retrain.epochs, res.params, run.file("weights.pt"));
  return kOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cella-runtime: training commands of cella (run them as `cella train ...`)"};
  app.require_subcommand(1);
  Options o;
  auto common = [&](CLI::App* c, bool file) {
    if (file) c->add_option("file", o.file, "The .cella file")->required();
    c->add_option("--set", o.sets, "Override a network parameter or search setting: NAME=VALUE")->allow_extra_args(false);
    c->add_option("--seed", o.seed, "Random seed (default: the search block's)")->each([&](const std::string&) { o.seed_given = true; });
    c->add_option("--threads", o.threads, "CPU threads (default: all cores)")->check(CLI::Range(1, 1024));
    c->add_option("--data", o.data, "Data set: fashion_mnist, mnist, cifar10, synthetic");
    c->add_option("--data-dir", o.data_dir, "Directory with the data set's files");
    c->add_option("-I,--include", o.includes, "Directory searched for imports (repeatable)")->allow_extra_args(false);
    c->add_option("--network", o.network, "Which network, when the file has several");
    c->add_option("--search", o.search, "Which search block, when the file has several");
    c->add_option("--plugin", o.plugins, "Shared library that registers operations (repeatable)")->allow_extra_args(false);
    c->add_flag("--json", o.json, "Print results as JSON");
  };
  auto* train = app.add_subcommand("train", "Train the one-shot supernet of a space and derive an architecture");
  common(train, false);
  train->add_option("file", o.file, "The .cella file");
  train->add_option("--out", o.out, "Run directory (default: runs/<file>-train-<time>)");
  train->add_option("--resume", o.resume, "Continue a killed run from its last checkpoint");
  train->add_option("--samples", o.samples, "Architectures evaluated to derive one under path sampling");
  auto* search = app.add_subcommand("search", "Run the file's search plan: supernet, splits, selection, derivation");
  common(search, false);
  search->add_option("file", o.file, "The .cella file");
  search->add_option("--out", o.out, "Run directory (default: runs/<file>-search-<time>)");
  search->add_flag("--smoke", o.smoke, "The same plan on 256 synthetic images: checks a long plan end to end in seconds");
  search->add_option("--resume", o.resume, "Continue a killed search from its checkpoints");
  auto* derive = app.add_subcommand("derive", "Derive the final architecture again: a train run's supernet, a search run's selected leaf");
  derive->add_option("run", o.resume, "The run directory")->required();
  derive->add_option("--plugin", o.plugins, "Shared library the run needs, when it has moved since (default: the recorded ones)")
      ->allow_extra_args(false);
  derive->add_option("--samples", o.samples, "Architectures evaluated under path sampling");
  derive->add_option("--threads", o.threads, "CPU threads (default: all cores)")->check(CLI::Range(1, 1024));
  auto* eval = app.add_subcommand("eval", "Accuracy of architectures with a trained supernet's (or search's) weights");
  common(eval, true);
  eval->add_option("--arch", o.archs, "An architecture (repeatable)")->allow_extra_args(false);
  eval->add_option("--archs", o.arch_file, "A file of architectures, one per line");
  eval->add_option("--weights", o.weights, "The run directory of `cella train` or `cella search`")->required();
  eval->add_option("--node", o.node, "With a search run: evaluate with this sub-supernet (default: the deepest that holds each architecture)");
  eval->add_option("--recalibrate", o.recalibrate, "Re-estimate batch-norm statistics on this many batches first");
  auto* retrain = app.add_subcommand("retrain", "Train one architecture from scratch and test it");
  common(retrain, true);
  retrain->add_option("--arch", o.arch, "The architecture")->required();
  retrain->add_option("--out", o.out, "Run directory");
  retrain->add_option("--epochs", o.epochs, "Epochs (default: the retrain block's)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kOk : kUsage;
  }
  try {
    if (o.threads == 0) o.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    torch::set_num_threads(o.threads);
    for (const std::string& p : o.plugins)
      if (std::string err = runtime::load_plugin(p); !err.empty()) throw Failure(kInvalid, err);
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
  } catch (const Failure& f) {
    if (!std::string(f.what()).empty()) std::cerr << "cella: error: " << f.what() << "\n";
    return f.code;
  } catch (const std::runtime_error& e) {  // data, checkpoint and run-directory errors (DataError included)
    std::cerr << "cella: error: " << e.what() << "\n";
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
