// `cella search`: runs a file's whole plan (supernet, splits, selection, derivation) in a run
// directory; `--resume` replays a killed search from its checkpoints.
#include "runtime/driver/common.h"

#include "compiler/ir/dump.h"
#include "runtime/distributed/distributed.h"

#include <cstdlib>
#include <map>
#include <optional>
#include <sstream>

namespace cella::runtime::cli {

int cmd_search(Options& o) {
  // Only rank 0 of a data-parallel search writes the run directory and talks; the others compute.
  const bool leader = distributed::leader();
  if (!o.resume.empty()) {
    // Replay the run's own configuration; completed training is loaded from its checkpoints.
    const std::optional<RunDir> old = resumable(o.resume, "search");
    if (!old) return kOk;
    const RunConfig cfg = read_config(*old, o);
    warn_if_resume_differs(cfg, o);
    o.file = old->file("space.cella");
    o.sets.clear();
    for (const auto& [name, value] : cfg.overrides) o.sets.push_back(name + "=" + value);
    o.smoke = cfg.smoke;
    o.seed = cfg.seed;
    o.seed_given = true;
    o.out = o.resume;
    o.includes = cfg.include_dirs;
    o.network = cfg.network;
    o.search = cfg.search;
    o.data_dir = cfg.data_dir;
    o.data = cfg.data;
  }
  bool resuming = !o.resume.empty();
  auto overrides = parse_sets(o.sets);
  // `--smoke` runs on synthetic images unless `--data` names a data set.
  auto c = compile(o.file, overrides, o.smoke && o.data.empty() ? "synthetic" : o.data, o.includes, o.network, o.search,
                   o.smoke);
  auto program = std::make_shared<const ir::Program>(*c->program);
  if (!program->search)
    throw Failure(kInvalid, fmt::format("{} has no search block; `cella train` trains a supernet without one", o.file));
  ir::SearchPlan plan = *program->search;
  if (o.smoke) smoke_plan(plan, o.data);
  std::uint64_t seed = o.seed_given ? o.seed : static_cast<std::uint64_t>(plan.seed);
  // The run directory is made once the file compiles and the data loads.
  DataSplits data = data_of(plan, o.data_dir, seed);
  RunConfig config = source_config(o, "search");
  config.data = plan.data.name;
  config.smoke = o.smoke;
  config.seed = seed;
  config.ranks = distributed::world();
  config.plan = ir::dump_json(*program).value("search", json::object());
  if (distributed::active()) check_data_parallel(plan, config, 0);
  // A fresh run's directory is rank 0's alone (the others would race it for config.json); a
  // resumed one every rank reads.
  std::optional<RunDir> run;
  if (leader || resuming) run.emplace(o.out.empty() ? new_run_path(o.file, "search") : o.out, resuming);
  if (leader && !resuming) {
    run->write("space.cella", source_text(o.file));
    config.write(*run);
    announce_search_choice(*program, o);
  }
  std::vector<std::string> params;
  for (const auto& [name, value] : program->network->params) params.push_back(name + "=" + ir::to_string(value));
  if (leader)
    std::cerr << fmt::format("cella: {} search of {}({}) ({}{}, {} train / {} valid images, {} threads{}) in {}\n",
                             ir::strategy_word(plan.split), program->network->name, fmt::join(params, ", "),
                             o.smoke ? "smoke test, " : "", plan.data.name, data.train.size(), data.valid.size(),
                             o.threads, where_it_runs(o), run->path());
  Printer printer;
  SearchOptions so;
  so.seed = seed;
  so.checkpoint_dir = run ? run->path() : std::string();
  // A resumed search replays its events and trains on from its checkpoints: metrics.jsonl keeps
  // what the killed run wrote (every epoch, also those before the checkpoints, which the replay
  // does not train again), and the replay adds only what is not there yet, so the file ends as an
  // uninterrupted run's. A record is known by its phase, node and epoch, or by its event text.
  std::map<std::string, int> written;
  auto key = [](const json& j) {
    return j.contains("event")
               ? "event " + j["event"].dump()
               : fmt::format("{} {} {}", j.value("phase", ""), j.value("node", -1), j.value("epoch", -1));
  };
  if (resuming && leader) {
    std::cerr << "cella: resuming: finished training is loaded from the run's checkpoints\n";
    if (run->exists("metrics.jsonl")) {
      std::stringstream in(run->read("metrics.jsonl")), kept;
      for (std::string line; std::getline(in, line);) {
        json j = json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.is_object()) continue;  // a line the kill cut short
        ++written[key(j)];
        kept << line << "\n";
      }
      run->write("metrics.jsonl", kept.str());
    }
  }
  auto record = [&](const json& j) {
    if (auto it = written.find(key(j)); it != written.end() && it->second > 0) {
      --it->second;
      return;
    }
    run->metric(j);
  };
  so.progress = [&](const Progress& p) {
    if (!leader) return;
    printer(p);
    if (p.epoch_end) record(epoch_record(p, p.epoch));
  };
  so.log = [&](const std::string& line) {
    if (!leader) return;
    std::cerr << "cella: " << line << "\n";
    record({{"event", line}});
  };
  SearchResult r;
  try {
    r = run_search(program, plan, data, so);
  } catch (const CheckpointError& e) {
    throw Failure(kInvalid, damaged_checkpoint_advice(e.what(), "cella search --resume " + so.checkpoint_dir));
  }
  if (!leader && !plan.retrain.enabled) return kOk;
  if (leader) {
    run->write("tree.json", r.tree.to_json().dump(2) + "\n");
    write_arch(*run, *program, r.arch, o.smoke);
  }
  json result = {{"arch", ir::to_text(*program, r.arch)},
                 {"valid_acc", r.valid_accuracy},
                 {"tree", "tree.json"},
                 {"phases_seconds", r.tree.phases}};
  if (plan.retrain.enabled) {
    // Every rank retrains the whole architecture (its evaluation is split over them).
    RetrainResult rt = retrain(program, r.arch, plan.retrain, data, seed, [&](const Progress& p) {
      if (leader) printer(p);
    });
    result["retrain_test_acc"] = rt.test_accuracy;
    result["retrain_params"] = rt.params;
  }
  if (!leader) return kOk;
  const bool svg = run->write_drawing("tree", tree_dot(r.tree));
  run->write("result.json", result.dump(2) + "\n");
  std::cout << ir::to_text(*program, r.arch) << "\n";
  std::string phases;
  for (const auto& [k, v] : r.tree.phases) phases += fmt::format("{} {:.1f}s, ", k, v);
  if (!phases.empty()) phases.resize(phases.size() - 2);
  std::cerr << fmt::format("cella: selected sub-supernet {} at {:.2f}% validation accuracy; time: {}\n",
                           r.tree.selected, r.valid_accuracy, phases);
  if (o.smoke)
    std::cerr << "cella: smoke test passed: the whole plan ran end to end. Its architecture comes from one epoch per "
                 "phase on 256 "
                 "images and says nothing about the space; run without --smoke for a real search\n";
  if (result.contains("retrain_test_acc"))
    std::cerr << fmt::format("cella: retrained stand-alone: {:.2f}% test accuracy\n",
                             result["retrain_test_acc"].get<double>());
  std::cerr << fmt::format("cella: split tree in {}{}\n", run->file("tree.json"),
                           svg ? " and " + run->file("tree.svg") : "");
  if (run->exists("arch.svg")) std::cerr << fmt::format("cella: the architecture drawn in {}\n", run->file("arch.svg"));
  report_at_end(*run, o);
  return kOk;
}

}  // namespace cella::runtime::cli
