// `cella retrain`: trains one architecture from scratch (or from a `cella extract` run's weights:
// `--init`), tests it and keeps its weights.
#include "runtime/driver/common.h"

namespace cella::runtime::cli {

int cmd_retrain(Options& o) {
  auto overrides = parse_sets(o.sets);
  auto c = compile(o.file, overrides, o.data, o.includes, o.network, o.search);
  auto program = std::make_shared<const ir::Program>(*c->program);
  ir::SearchPlan plan = ir::plan_of(*program);
  if (o.epochs > 0) plan.retrain.epochs = o.epochs;
  std::uint64_t seed = o.seed_given ? o.seed : static_cast<std::uint64_t>(plan.seed);
  ir::Arch arch = parse_arch_or_fail(*program, o.arch);
  // --init RUN: start from a `cella extract` (or `retrain`) run's weights of this architecture.
  std::string init;
  if (!o.init.empty()) {
    RunDir from(o.init, true);
    init = from.file("weights.pt");
    const RunConfig cfg = read_config(from, o);
    if (cfg.command != "extract" && cfg.command != "retrain")
      throw Failure(kUsage, fmt::format("--init {}: a `cella {}` run holds no one network's weights; give a `cella "
                                        "extract` or `cella retrain` run",
                                        o.init, cfg.command));
    if (!(parse_arch_or_fail(*program, cfg.arch) == arch))
      throw Failure(kUsage,
                    fmt::format("--init {}: it holds {}, not {}", o.init, cfg.arch, ir::to_text(*program, arch)));
  }
  DataSplits data = data_of(plan, o.data_dir, seed);
  RunDir run(o.out.empty() ? new_run_path(o.file, "retrain") : o.out, false);
  run.write("space.cella", source_text(o.file));
  RunConfig config = source_config(o, "retrain");
  config.arch = ir::to_text(*program, arch);
  config.seed = seed;
  config.epochs = plan.retrain.epochs;
  config.write(run);
  announce_search_choice(*program, o);
  Printer printer;
  RetrainResult res;
  try {
    res = retrain(
        program, arch, plan.retrain, data, seed,
        [&](const Progress& p) {
          printer(p);
          if (p.epoch_end)
            run.metric({{"phase", "retrain"},
                        {"epoch", p.epoch},
                        {"train_loss", p.loss},
                        {"train_acc", p.accuracy},
                        {"test_acc", p.valid_accuracy}});
        },
        init);
  } catch (const CheckpointError& e) {
    throw Failure(kInvalid, fmt::format("--init {}: {}", o.init, e.what()));
  }
  save_weights(res.net, run.file("weights.pt"));
  write_arch(run, *program, arch);
  json result = {{"arch", ir::to_text(*program, arch)}, {"test_acc", res.test_accuracy},
                 {"train_acc", res.train_accuracy},     {"params", res.params},
                 {"epochs", plan.retrain.epochs},       {"weights", "weights.pt"}};
  run.write("result.json", result.dump(2) + "\n");
  if (o.json)
    std::cout << result.dump(2) << "\n";
  else
    std::cout << fmt::format("test accuracy {:.2f}% after {} epochs ({} parameters); weights in {}\n",
                             res.test_accuracy, plan.retrain.epochs, res.params, run.file("weights.pt"));
  return kOk;
}

}  // namespace cella::runtime::cli
