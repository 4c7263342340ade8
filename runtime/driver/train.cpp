// `cella train`: trains the one-shot supernet of a space and derives an architecture; `--resume` continues
// a killed run from its checkpoint.
#include "runtime/driver/common.h"

#include "compiler/ir/dump.h"
#include "runtime/distributed/distributed.h"
#include "runtime/train/method.h"

#include <optional>
#include <sstream>

namespace cella::runtime::cli {

int cmd_train(Options& o) {
  const bool resuming = !o.resume.empty();
  // Only rank 0 of a data-parallel run writes the run directory and talks; the others compute.
  const bool leader = distributed::leader();
  std::optional<RunDir> run;
  std::optional<NewRun> fresh;  // removed if the run fails before its first checkpoint
  Rebuilt r;
  ir::SearchPlan plan;
  DataSplits data;
  if (resuming) {
    run = resumable(o.resume, "train");
    if (!run) return kOk;
    r = rebuild(*run, o);
    o.seed = r.config.seed;
    o.data_dir = r.config.data_dir;
    if (!o.samples_given && r.config.samples > 0) o.samples = r.config.samples;
    warn_if_resume_differs(r.config, o);
    plan = ir::plan_of(*r.program);
    o.smoke = r.config.smoke;
    if (o.smoke) smoke_plan(plan, r.config.data);
    data = data_of(plan, o.data_dir, o.seed);
  } else {
    // The run directory is made once the file compiles and the data loads: a bad file or data
    // set leaves nothing behind.
    auto overrides = parse_sets(o.sets);
    // `--smoke` as search has it: synthetic images unless `--data` names a data set, the
    // search block's smoke parameters, 256 images, one epoch per phase.
    r.c = compile(o.file, overrides, o.smoke && o.data.empty() ? "synthetic" : o.data, o.includes, o.network, o.search,
                  o.smoke);
    r.program = std::make_shared<const ir::Program>(*r.c->program);
    plan = ir::plan_of(*r.program);
    if (o.smoke) smoke_plan(plan, o.data);
    if (!o.seed_given) o.seed = static_cast<std::uint64_t>(plan.seed);
    data = data_of(plan, o.data_dir, o.seed);
    r.config = source_config(o, "train");
    r.config.seed = o.seed;
    r.config.samples = o.samples;
    r.config.smoke = o.smoke;
    r.config.ranks = distributed::world();
    r.config.data = plan.data.name;  // the data set it ran on (a smoke run's synthetic one too)
    r.config.plan = ir::dump_json(*r.program).value("search", json::object());
    // What cannot run data-parallel is refused before the run directory exists.
    if (distributed::active()) check_data_parallel(plan, r.config, 0);
    if (leader) {
      run.emplace(o.out.empty() ? new_run_path(o.file, "train") : o.out, false);
      fresh.emplace(*run);
      run->write("space.cella", source_text(o.file));
      r.config.write(*run);
      announce_search_choice(*r.program, o);
    }
  }
  if (leader)
    std::cerr << fmt::format(
        "cella: training the {} supernet of {} ({}{}, {} train / {} valid images, {} epoch{}, {} threads{}) in {}\n",
        plan.supernet.method, r.program->network->name, o.smoke ? "smoke test, " : "", plan.data.name,
        data.train.size(), data.valid.size(), plan.supernet.epochs, plan.supernet.epochs == 1 ? "" : "s", o.threads,
        where_it_runs(o), run->path());
  SupernetState state = make_supernet(r.program, Mask::full(*r.program), plan.supernet, o.seed);
  if (resuming && run->exists("checkpoint.pt")) {
    load_train_checkpoint(state, *run);
    if (leader) std::cerr << fmt::format("cella: resuming after epoch {}\n", state.epoch);
  }
  if (resuming && distributed::active()) check_data_parallel(plan, r.config, state.epoch);
  const std::int64_t first_epoch = state.epoch;  // the epochs this process trains start here
  // Drop metrics of epochs the checkpoint does not contain (a kill between the two writes).
  if (leader && resuming) keep_metrics_until(*run, state.epoch);
  Printer printer;
  Progress last;
  auto progress = [&](const Progress& p) {
    if (p.epoch_end) last = p;
    if (leader) printer(p);
  };
  const ir::Schedule schedule = ir::Schedule::supernet_only(plan, plan.supernet.epochs);
  train_supernet(state, plan.supernet, schedule, data, o.seed, plan.supernet.epochs, progress,
                 [&](const SupernetState& s) {
                   if (!leader) return;
                   run->metric(epoch_record(last, s.epoch));
                   save_state(s, run->file("checkpoint.pt"));
                   if (fresh) fresh->keep();
                 });
  const distributed::Communication communication = distributed::communication();
  ir::Arch arch = derive(state, plan.supernet, data, o.seed, o.samples, progress);
  Evaluation e = evaluate(state.net, mixing_of(*r.program, arch), data.valid, 256);
  if (!leader) return kOk;
  write_arch(*run, *r.program, arch, o.smoke);
  json result = {{"arch", ir::to_text(*r.program, arch)}, {"valid_acc_inherited", e.accuracy}, {"epochs", state.epoch}};
  if (distributed::active()) {
    // What this process's training spent in collectives (rank 0's: communication, and waiting for
    // the slowest rank), in all and per training step: the steps since it started, which after a
    // resume are not all of the run's.
    const std::int64_t per_epoch = (data.train.size() + plan.supernet.batch - 1) / plan.supernet.batch;
    const std::int64_t steps = std::max<std::int64_t>(1, per_epoch * (state.epoch - first_epoch));
    result["processes"] = distributed::world();
    result["steps"] = per_epoch * state.epoch;
    result["steps_timed"] = steps;
    result["communication_seconds"] = communication.seconds;
    result["collectives"] = communication.collectives;
    result["communication_bytes"] = communication.bytes;
    std::cerr << fmt::format("cella: {} processes; per step {:.1f} ms in {:.0f} collectives of {:.0f} kB\n",
                             distributed::world(), 1000 * communication.seconds / static_cast<double>(steps),
                             static_cast<double>(communication.collectives) / static_cast<double>(steps),
                             static_cast<double>(communication.bytes) / 1000 / static_cast<double>(steps));
  }
  run->write("result.json", result.dump(2) + "\n");
  std::cout << ir::to_text(*r.program, arch) << "\n";
  std::cerr << fmt::format(
      "cella: derived architecture, {:.2f}% validation accuracy with the supernet's weights; run in {}\n", e.accuracy,
      run->path());
  warn_if_mixture_trained(plan.supernet);
  report_at_end(*run, o);
  if (o.smoke)
    std::cerr << fmt::format(
        "cella: smoke test passed: training, derivation and the run's files work end to end; its architecture comes "
        "from {} epoch{} on {} images and says nothing about the space\n",
        state.epoch, state.epoch == 1 ? "" : "s", data.train.size());
  return kOk;
}

}  // namespace cella::runtime::cli
