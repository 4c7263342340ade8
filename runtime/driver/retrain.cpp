// `cella retrain`: trains one architecture from scratch (or from a `cella extract` run's weights:
// `--init`), tests it and keeps its weights; a checkpoint after every epoch, so that `--resume`
// continues a killed retrain to the result the uninterrupted one would have had.
#include "runtime/driver/common.h"

namespace cella::runtime::cli {

namespace {

// What a retrain runs: the program, its plan, the architecture, the seed, the initial weights.
struct RetrainRun {
  std::shared_ptr<const ir::Program> program;
  ir::SearchPlan plan;
  ir::Arch arch;
  std::uint64_t seed = 0;
  std::string init;  ///< a weights file, or ""
  RunConfig config;
};

// A new retrain from the command line; the run directory is made after every check.
RetrainRun from_command_line(const Options& o) {
  RetrainRun r;
  if (o.file.empty() || o.arch.empty()) throw Failure(kUsage, "retrain needs FILE --arch A, or --resume RUN_DIR");
  auto c = compile(o.file, parse_sets(o.sets), o.data, o.includes, o.network, o.search);
  r.program = std::make_shared<const ir::Program>(*c->program);
  r.plan = ir::plan_of(*r.program);
  if (o.epochs > 0) r.plan.retrain.epochs = o.epochs;
  r.seed = o.seed_given ? o.seed : static_cast<std::uint64_t>(r.plan.seed);
  r.arch = parse_arch_or_fail(*r.program, o.arch);
  // --init RUN: start from a `cella extract` (or `retrain`) run's weights of this architecture.
  if (!o.init.empty()) {
    RunDir from(o.init, true);
    expect_kind(from, {"extract", "retrain"}, "`cella retrain --init` (one network's weights)");
    const RunConfig cfg = read_config(from, o);
    if (!(parse_arch_or_fail(*r.program, cfg.arch) == r.arch))
      throw Failure(kUsage,
                    fmt::format("--init {}: it holds {}, not {}", o.init, cfg.arch, ir::to_text(*r.program, r.arch)));
    r.init = std::filesystem::absolute(from.file("weights.pt")).string();
  }
  r.config = source_config(o, "retrain");
  r.config.arch = ir::to_text(*r.program, r.arch);
  r.config.seed = r.seed;
  r.config.epochs = r.plan.retrain.epochs;
  r.config.init = r.init;
  return r;
}

// A killed retrain, from its config.json: the same program, plan, architecture and seed.
RetrainRun from_run(const RunDir& run, Options& o) {
  Rebuilt rebuilt = rebuild(run, o);
  RetrainRun r;
  r.program = rebuilt.program;
  r.config = rebuilt.config;
  r.plan = ir::plan_of(*r.program);
  r.plan.retrain.epochs = r.config.epochs;
  r.seed = r.config.seed;
  r.arch = parse_arch_or_fail(*r.program, r.config.arch);
  r.init = r.config.init;
  o.data_dir = r.config.data_dir;
  warn_if_resume_differs(r.config, o);
  return r;
}

}  // namespace

int cmd_retrain(Options& o) {
  const bool resuming = !o.resume.empty();
  std::optional<RunDir> run;
  std::optional<NewRun> fresh;  // a new retrain that fails before its first checkpoint leaves nothing
  RetrainRun r;
  if (resuming) {
    run = resumable(o.resume, "retrain");
    if (!run) return kOk;
    r = from_run(*run, o);
    // Lines a kill cut short go; the checkpoint holds every epoch the file has whole (it is
    // written before the epoch's line).
    keep_metrics_until(*run, std::numeric_limits<std::int64_t>::max());
  } else {
    r = from_command_line(o);
  }
  DataSplits data = data_of(r.plan, o.data_dir, r.seed);
  if (!resuming) {
    run.emplace(o.out.empty() ? new_run_path(o.file, "retrain") : o.out, false);
    fresh.emplace(*run);
    run->write("space.cella", source_text(o.file));
    r.config.write(*run);
    announce_search_choice(*r.program, o);
  } else if (run->exists("checkpoint.pt")) {
    std::cerr << fmt::format("cella: resuming the retrain in {} from its last checkpoint\n", run->path());
  }
  Printer printer;
  RetrainResult res;
  try {
    res = retrain(
        r.program, r.arch, r.plan.retrain, data, r.seed,
        [&](const Progress& p) {
          printer(p);
          if (!p.epoch_end) return;
          run->metric({{"phase", "retrain"},
                       {"epoch", p.epoch},
                       {"train_loss", p.loss},
                       {"train_acc", p.accuracy},
                       {"test_acc", p.valid_accuracy}});
          if (fresh) fresh->keep();  // its checkpoint is written: a resumable run
        },
        r.init, run->file("checkpoint.pt"));
  } catch (const CheckpointError& e) {
    if (resuming) throw Failure(kInvalid, damaged_checkpoint_advice(e.what(), "cella retrain --resume " + run->path()));
    throw Failure(kInvalid, fmt::format("--init {}: {}", o.init, e.what()));
  }
  const ir::Program& program = *r.program;
  save_weights(res.net, run->file("weights.pt"));
  write_arch(*run, program, r.arch);
  const std::int64_t epochs = r.plan.retrain.epochs;
  json result = {{"arch", ir::to_text(program, r.arch)},
                 {"test_acc", res.test_accuracy},
                 {"train_acc", res.train_accuracy},
                 {"params", res.params},
                 {"epochs", epochs},
                 {"weights", "weights.pt"}};
  run->write("result.json", result.dump(2) + "\n");
  if (fresh) fresh->keep();
  if (o.json)
    std::cout << result.dump(2) << "\n";
  else
    std::cout << fmt::format("test accuracy {:.2f}% after {} epoch{} ({} parameters); weights in {}\n",
                             res.test_accuracy, epochs, epochs == 1 ? "" : "s", res.params, run->file("weights.pt"));
  return kOk;
}

}  // namespace cella::runtime::cli
