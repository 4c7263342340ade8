// `cella specialize`: a hardware-aware search over the architectures of a space (DyNAS-T): the
// objectives measured here, one of four tactics (runtime/specialize/tactics.h), and the run
// directory with every evaluation, the Pareto front, the hypervolume curve and the plot.
// Accuracy comes from a trained run's weights (`--weights RUN`: inherited, as `cella eval`
// measures it) or from a tabular benchmark (`--table CSV`); latency is timed on this machine;
// multiply-accumulates and parameters come from the IR.
#include <filesystem>
#include <fstream>
#include <map>

#include "runtime/search/search.h"
#include "runtime/train/latency.h"

#include "runtime/driver/common.h"
#include "runtime/specialize/files.h"
#include "runtime/specialize/table.h"
#include "runtime/specialize/tactics.h"

namespace cella::runtime::cli {
namespace fs = std::filesystem;
namespace sp = cella::specialize;
using sp::Metric, sp::Goal, sp::Evaluation, sp::Point, sp::TacticOptions, sp::Constraint;

namespace {

Goal goal_of(const SpecializeOptions& s) {
  Goal g;
  for (const std::string& name : s.objectives) {
    auto m = sp::metric_named(name);
    if (!m) throw Failure(kUsage, fmt::format("--objectives: unknown metric '{}' ({})", name, ir::metric_names()));
    if (std::find(g.objectives.begin(), g.objectives.end(), *m) != g.objectives.end())
      throw Failure(kUsage, fmt::format("--objectives: '{}' is listed twice", name));
    g.objectives.push_back(*m);
  }
  if (g.objectives.empty() || g.objectives.size() > 3)
    throw Failure(kUsage, "--objectives takes one to three metrics, such as accuracy,macs");
  for (const std::string& text : s.constraints) {
    auto c = sp::parse_constraint(text);
    if (auto* why = std::get_if<std::string>(&c)) throw Failure(kUsage, "--constraint " + *why);
    g.constraints.push_back(std::get<Constraint>(c));
  }
  return g;
}

std::vector<std::pair<Metric, double>> references_of(const SpecializeOptions& s) {
  std::vector<std::pair<Metric, double>> out;
  for (const std::string& text : s.references) {
    std::size_t eq = text.find('=');
    auto m = eq == std::string::npos ? std::nullopt : sp::metric_named(text.substr(0, eq));
    auto v = m ? sp::parse_value(*m, text.substr(eq + 1)) : std::nullopt;
    if (!v) throw Failure(kUsage, fmt::format("--reference '{}': expected METRIC=VALUE, such as macs=300M", text));
    out.emplace_back(*m, *v);
  }
  return out;
}

TacticOptions tactic_of(const SpecializeOptions& s, std::uint64_t seed) {
  TacticOptions t;
  auto tactic = sp::tactic_named(s.tactic);
  if (!tactic) throw Failure(kUsage, fmt::format("--tactic {}: random, evolution, nsga2 or linas", s.tactic));
  t.tactic = *tactic;
  t.budget = s.budget;
  t.population = s.population;
  t.sample_size = s.sample_size;
  t.inner_evaluations = s.inner_evaluations;
  t.seed = seed;
  return t;
}

// The genome's resolution: searched (`specialize.search_resolution`), or fixed at
// `specialize.resolution` pixels, by default the network's largest (DyNAS-T measures OFA's
// children at 224).
ir::GenomeOptions genome_options(const ir::SpecializePlan& p, const ir::Program& program) {
  ir::GenomeOptions g;
  const std::vector<std::int64_t>& sizes = program.network->resolutions;
  if (p.search_resolution || sizes.empty()) return g;
  if (p.resolution == 0) {
    g.fixed_resolution = static_cast<int>(sizes.size()) - 1;
    return g;
  }
  const auto at = ir::resolution_index(*program.network, p.resolution);
  if (!at)
    throw Failure(kUsage,
                  fmt::format("specialize.resolution {}: the network takes {}", p.resolution, fmt::join(sizes, ", ")));
  g.fixed_resolution = *at;
  return g;
}

json config_of(const Options& o, const std::string& data) {
  const SpecializeOptions& s = o.spec;
  std::vector<std::string> includes;
  for (const std::string& i : o.includes) includes.push_back(fs::absolute(i).string());
  includes.push_back(fs::absolute(o.file).parent_path().string());
  return {{"command", "specialize"},
          {"file", fs::absolute(o.file).string()},
          {"include_dirs", includes},
          {"sets", o.sets},
          {"network", o.network},
          {"search", o.search},
          {"data", data},
          {"table", s.table.empty() ? "" : fs::absolute(s.table).string()},
          {"weights", s.weights.empty() ? "" : fs::absolute(s.weights).string()},
          {"recalibrate", o.recalibrate},
          {"latency_batch", s.latency_batch},
          {"threads", o.threads},
          {"latency_threads", latency_threads(o.threads_asked)},
          {"column", s.column},
          {"objectives", s.objectives},
          {"constraints", s.constraints},
          {"references", s.references},
          {"tactic", s.tactic},
          {"budget", s.budget},
          {"population", s.population},
          {"sample_size", s.sample_size},
          {"inner_evaluations", s.inner_evaluations},
          {"seed", o.seed}};
}

// A resumed run takes every setting from its config.json; the command line may only raise the
// budget (a finished search continued further). Returns the threads the run timed latency with
// (runs made before latency was timed on one thread by default: the threads they ran with).
int restore(Options& o, const json& cfg, const RunDir& run) {
  try {
    SpecializeOptions& s = o.spec;
    const int budget = s.budget > 0 ? s.budget : cfg.at("budget").get<int>();
    o.file = run.file("space.cella");
    o.includes = cfg.at("include_dirs").get<std::vector<std::string>>();
    o.sets = cfg.at("sets").get<std::vector<std::string>>();
    o.network = cfg.at("network").get<std::string>();
    o.search = cfg.at("search").get<std::string>();
    o.data = cfg.at("data").get<std::string>();
    s.table = cfg.at("table").get<std::string>();
    s.weights = cfg.at("weights").get<std::string>();
    o.recalibrate = cfg.at("recalibrate").get<std::int64_t>();
    s.latency_batch = cfg.at("latency_batch").get<std::int64_t>();
    s.column = cfg.at("column").get<std::string>();
    s.objectives = cfg.at("objectives").get<std::vector<std::string>>();
    s.constraints = cfg.at("constraints").get<std::vector<std::string>>();
    s.references = cfg.at("references").get<std::vector<std::string>>();
    s.tactic = cfg.at("tactic").get<std::string>();
    s.budget = budget;
    s.population = cfg.at("population").get<int>();
    s.sample_size = cfg.at("sample_size").get<int>();
    s.inner_evaluations = cfg.at("inner_evaluations").get<int>();
    o.seed = cfg.at("seed").get<std::uint64_t>();
    return cfg.value("latency_threads", cfg.value("threads", o.threads));
  } catch (const json::exception& e) {
    throw Failure(kInvalid,
                  fmt::format("{}: not a specialisation's configuration ({})", run.file("config.json"), e.what()));
  }
}

std::string shown(Metric m, double v) {
  switch (m) {
    case Metric::Accuracy: return fmt::format("{:.2f}%", v);
    case Metric::Latency: return fmt::format("{:.3f} ms", v);
    case Metric::Macs: return fmt::format("{:.2f} M MACs", v / 1e6);
    case Metric::Params: return fmt::format("{:.4f} M params", v / 1e6);
    default: return fmt::format("{} {:.6g}", ir::info(m).name, v);  // a training-free score
  }
}

// Options the command line left unset take the plan's `specialize` block (or its defaults, some
// of which depend on the space).
void resolve(SpecializeOptions& s, const ir::SpecializePlan& p, const ir::Program& program) {
  if (s.objectives.empty()) s.objectives = p.objectives;
  if (s.constraints.empty()) s.constraints = p.constraints;
  if (s.tactic.empty()) s.tactic = std::string(ir::name_of(p.tactic));
  if (s.budget == 0) s.budget = static_cast<int>(p.budget);
  if (s.population == 0) s.population = static_cast<int>(p.population);
  if (s.sample_size == 0) s.sample_size = static_cast<int>(p.sample_size);
  if (s.inner_evaluations == 0) s.inner_evaluations = static_cast<int>(ir::specialize_inner_evaluations(p, program));
  if (s.latency_batch == 0) s.latency_batch = p.latency_batch;
}

// Accuracy with a trained run's weights, as `cella eval` measures it: a `cella train` run's
// supernet, or the deepest sub-supernet of a `cella search` run that holds the architecture
// (each loaded once), on the run's validation images; batch-norm statistics re-estimated on
// `recalibrate` training batches first when asked.
class InheritedAccuracy {
 public:
  InheritedAccuracy(const std::string& weights, const Options& o) : run_(weights, true), recalibrate_(o.recalibrate) {
    const std::string command = expect_kind(run_, {"train", "search"}, "`cella specialize --weights` (a supernet)");
    opened_ = open_run(run_, o);
    tree_ = tree_of(run_, command, -1);
  }

  double operator()(const ir::Arch& arch) {
    const ir::Program& p = *opened_.r.program;
    const int node = node_for(p, tree_, arch, -1);
    if (!nets_.contains(node)) nets_.emplace(node, weights_of(opened_, run_, tree_, node));
    const DataSplits& d = opened_.data;
    return evaluate(nets_.at(node).net, mixing_of(p, arch), d.valid, 256, 0, recalibrate_ > 0 ? &d.train : nullptr,
                    recalibrate_)
        .accuracy;
  }

  const Opened& opened() const { return opened_; }

 private:
  RunDir run_;
  Opened opened_;
  std::int64_t recalibrate_;
  std::optional<SplitTree> tree_;  // a search run's
  std::map<int, SupernetState> nets_;
};

}  // namespace

int cmd_specialize(Options& o) {
  SpecializeOptions& s = o.spec;
  const bool resuming = !o.resume.empty();
  std::unique_ptr<RunDir> run;
  // Latency is timed on one thread unless --threads says otherwise; a resume times as its run did.
  int timed_threads = latency_threads(o.threads_asked);
  int recorded_threads = timed_threads;
  if (resuming) {
    run = std::make_unique<RunDir>(o.resume, true);
    expect_kind(*run, {"specialize"}, "`cella specialize --resume`");
    json cfg = json::parse(run->read("config.json"), nullptr, false);
    recorded_threads = restore(o, cfg, *run);
    if (o.threads_asked == 0) timed_threads = recorded_threads;
  } else {
    if (!s.table.empty() && !s.weights.empty())
      throw Failure(kUsage,
                    "specialize needs accuracies from one place: --weights RUN (a trained supernet) or "
                    "--table CSV (a tabular benchmark), not both");
    if (s.table.empty() && s.weights.empty() && o.file.empty())
      throw Failure(kUsage,
                    "specialize needs a space: FILE (training-free objectives such as --objectives "
                    "synflow,macs), --table CSV with FILE, or --weights RUN");
    if (!s.table.empty() && o.file.empty()) throw Failure(kUsage, "specialize --table needs the space's FILE");
    if (o.file.empty()) o.file = (fs::path(s.weights) / "space.cella").string();
  }
  // The space: a run's own (its weights were made for it), or the file's.
  std::unique_ptr<InheritedAccuracy> inherited;
  std::unique_ptr<sp::Table> table;
  std::shared_ptr<const ir::Program> program;
  std::string data;
  ir::SpecializePlan spec;  // the plan's `specialize` block
  if (!s.weights.empty()) {
    inherited = std::make_unique<InheritedAccuracy>(s.weights, o);
    if (!resuming) warn_if_mixture_trained(inherited->opened());
    program = inherited->opened().r.program;
    data = inherited->opened().plan.data.name;
    spec = inherited->opened().plan.specialize;
    resolve(s, spec, *program);
  } else {
    auto c = compile(o.file, parse_sets(o.sets), o.data, o.includes, o.network, o.search, false, !resuming);
    program = std::make_shared<const ir::Program>(*c->program);
    const ir::SearchPlan plan = ir::plan_of(*program);
    data = plan.data.name;
    spec = plan.specialize;
    resolve(s, spec, *program);
    if (!s.table.empty()) try {
        table = std::make_unique<sp::Table>(*program, s.table, s.column);
      } catch (const sp::TableError& e) {
        throw Failure(kInvalid, e.what());
      }
  }
  Goal goal = goal_of(s);
  const std::vector<Metric> needed = goal.needed();
  auto needs = [&](Metric m) { return std::find(needed.begin(), needed.end(), m) != needed.end(); };
  if (!inherited && !table && needs(Metric::Accuracy))
    throw Failure(kUsage,
                  "specialize needs accuracies from one place: --weights RUN (a trained supernet) or --table CSV (a "
                  "tabular benchmark); training-free objectives (such as --objectives synflow,macs) need neither");
  std::vector<std::pair<Metric, double>> given = references_of(s);
  TacticOptions tactic = tactic_of(s, o.seed);
  tactic.initial = spec.initial;
  const ir::GenomeOptions genome = genome_options(spec, *program);
  const std::int64_t size = ir::find_data_set(data)->size;
  sp::Measurer::Meter accuracy, latency;
  double worst_load = -1;    // the highest load average a timing began under
  bool warned_busy = false;  // once per run
  if (inherited)
    accuracy = [&](const ir::Arch& a) { return (*inherited)(a); };
  else if (table)
    accuracy = [&](const ir::Arch& a) { return table->accuracy(a); };
  // Training-free scores (runtime/score): each architecture fresh from the run's seed, the data
  // proxies on one batch of 64 training images.
  std::vector<Metric> scored;
  for (Metric m : needed)
    if (ir::info(m).training_free && !ir::info(m).exact) scored.push_back(m);
  score::Input score_in;
  if (!scored.empty()) {
    Options data_options = o;
    data_options.data = data;
    score_in = score_input(*program, data_options, scored, o.score.batch, o.score.batches);
  }
  sp::Measurer::Scorer scorer = [&](Metric m, const ir::Arch& a) { return score::score(m, program, a, score_in); };
  if (needs(Metric::Latency))
    latency = [&](const ir::Arch& a) {
      const LatencyStats timed = measure_latency(program, a, size, s.latency_batch, 5, 30, timed_threads);
      worst_load = std::max(worst_load, timed.conditions.load);
      if (const std::string w = timed.conditions.warning(); !w.empty() && !warned_busy) {
        std::cerr << "cella: warning: " << w << "\n";
        warned_busy = true;
      }
      return timed.median_ms;
    };
  // Timings depend on the threads: the rest of a run timed with others is not the same run.
  if (latency && timed_threads != recorded_threads)
    std::cerr << fmt::format(
        "cella: warning: {} timed latency with {} threads and this resume times it with {}; pass --threads {} to "
        "continue as it began\n",
        run->path(), recorded_threads, timed_threads, recorded_threads);
  sp::Measurer measurer(*program, size, accuracy, latency, scored, scorer);
  std::optional<NewRun> fresh;  // removed if the run fails before its first evaluation
  if (!resuming) {
    run = std::make_unique<RunDir>(o.out.empty() ? new_run_path(o.file, "specialize") : o.out, false);
    fresh.emplace(*run);
    run->write("space.cella", source_text(o.file));
    if (table) s.column = table->column();
    run->write("config.json", config_of(o, data).dump(2) + "\n");
  }

  sp::History history(*program, measurer, goal, genome);
  if (resuming && run->exists("evaluations.jsonl"))
    history.seed_with(sp::read_evaluations(run->file("evaluations.jsonl")));
  std::ofstream log(run->file("evaluations.jsonl"), std::ios::app);
  history.on_new([&](const Evaluation& e) {
    log << sp::evaluation_line(e) << "\n" << std::flush;
    if (fresh) fresh->keep();
    if ((e.index + 1) % 50 == 0) std::cerr << fmt::format("[specialize] {} evaluations\n", e.index + 1);
  });
  std::ofstream notes(run->file("predictors.jsonl"), resuming ? std::ios::app : std::ios::trunc);
  const std::string source =
      table       ? fmt::format("{} ({} architectures, column {})", s.table, table->rows(), table->column())
      : inherited ? fmt::format("the weights of {}", s.weights)
                  : fmt::format("{} (training-free)", o.file);
  std::cerr << fmt::format("[specialize] {} on {}, objectives {}, {} evaluations{}{}\n", sp::tactic_name(tactic.tactic),
                           source, fmt::join(s.objectives, ", "), tactic.budget,
                           latency ? fmt::format(", latency at batch {} on {} thread{}", s.latency_batch, timed_threads,
                                                 timed_threads == 1 ? "" : "s")
                                   : "",
                           resuming ? ", resumed" : "");
  try {
    sp::run_tactic(history, tactic, [&](const sp::BatchNote& n) {
      if (n.validated <= history.replayed()) return;  // logged before the run was killed
      notes << json{{"validated", n.validated}, {"predictors", n.predictors}}.dump() << "\n" << std::flush;
    });
  } catch (const sp::TableError& e) {
    throw Failure(kInvalid, e.what());
  }
  Point reference;
  try {
    reference = sp::reference_point(goal, measurer, history.evaluations(), given);
  } catch (const std::invalid_argument& e) {
    throw Failure(kUsage, e.what());
  }
  const sp::Results results = sp::write_results(run->path(), goal, history.evaluations(), reference);
  for (const std::string& w : results.warnings) std::cerr << "cella: warning: " << w << "\n";
  // Latency's default reference is this run's own (twice its largest latency): two runs' printed
  // hypervolumes then measure against different points, and a run that found better
  // architectures can print the smaller one.
  for (std::size_t k = 0; k < goal.objectives.size(); ++k)
    if (goal.objectives[k] == Metric::Latency &&
        std::none_of(given.begin(), given.end(), [](const auto& g) { return g.first == Metric::Latency; }))
      std::cerr << fmt::format(
          "cella: warning: the hypervolume's latency reference is this run's own ({:.3f} ms, twice its largest "
          "latency), so it compares with no other run's; to compare runs, give them one: --reference "
          "latency={:.3f}ms\n",
          reference[k], reference[k]);
  const std::vector<Evaluation>& front = results.front;
  const std::vector<double>& hv = results.hypervolume;
  json ref = json::object();
  for (std::size_t k = 0; k < goal.objectives.size(); ++k)
    ref[sp::info(goal.objectives[k]).name] = results.reference[k];
  json result = {
      {"evaluations", history.size()},
      {"replayed", history.replayed()},
      {"front", front.size()},
      {"hypervolume", hv.empty() ? 0.0 : hv.back()},
      {"hypervolume_units", "the objectives' units multiplied (accuracy in %, latency in ms, counts in millions)"},
      {"reference", ref}};
  if (latency)
    result["latency"] = {{"batch", s.latency_batch},
                         {"threads", timed_threads},
                         {"cores", timing_conditions(timed_threads).cores},
                         {"highest_load_average", worst_load},
                         {"statistic", "median of 30 timed forward passes after 5 untimed, fresh weights, eval mode"}};
  run->write("result.json", result.dump(2) + "\n");
  std::cout << fmt::format("{} evaluations, {} on the Pareto front, hypervolume {:.6g} (reference {})\n",
                           history.size(), front.size(), hv.empty() ? 0.0 : hv.back(), ref.dump());
  for (const Evaluation& e : front) {
    std::vector<std::string> parts;
    for (Metric m : goal.objectives) parts.push_back(shown(m, e.measures[m]));
    std::cout << fmt::format("  {}  {}\n", fmt::join(parts, "  "), e.arch);
  }
  std::cout << fmt::format("run directory: {} (front.csv, evaluations.csv, hypervolume.csv, plot.svg)\n", run->path());
  return kOk;
}

}  // namespace cella::runtime::cli
