// `cella report RUN`: the run's page, report.html (runtime/report/report.h draws it). This file
// gathers what the page shows from the run directory, counts the final architecture's costs
// and measures its latency here. `cella train` and `cella search` call write_report at the end.
#include <fstream>

#include "compiler/ir/schedule.h"
#include "compiler/passes/stats.h"
#include "runtime/driver/common.h"
#include "runtime/report/report.h"
#include "runtime/train/latency.h"

namespace cella::runtime::cli {

namespace {

json read_json(const RunDir& run, const std::string& name) {
  if (!run.exists(name)) return nullptr;
  json j = json::parse(run.read(name), nullptr, false);
  if (j.is_discarded()) throw Failure(kInvalid, fmt::format("{}: not JSON (damaged?)", run.file(name)));
  return j;
}

}  // namespace

std::string write_report(const RunDir& run, const Options& o) {
  Rebuilt r = rebuild(run, o);
  const ir::Program& p = *r.program;
  report::RunReport in;
  in.run = run.path();
  in.config = read_json(run, "config.json");
  in.result = read_json(run, "result.json");
  if (run.exists("metrics.jsonl")) {
    std::istringstream lines(run.read("metrics.jsonl"));
    for (std::string line; std::getline(lines, line);) {
      json j = json::parse(line, nullptr, false);
      if (!j.is_discarded()) in.metrics.push_back(std::move(j));  // a line cut by a kill is left out
    }
  }
  if (r.config.smoke) {
    std::vector<std::string> sets;
    if (p.search)
      for (const auto& [name, value] : p.search->smoke) sets.push_back(name + "=" + value);
    in.smoke =
        fmt::format("--smoke: 256 images, one epoch per phase{}",
                    sets.empty() ? "" : fmt::format("; the search block's smoke parameters {}", fmt::join(sets, " ")));
  }
  const std::string command = r.config.command;
  SplitTree tree;
  if (command == "search" && run.exists("tree.json")) {
    tree = read_tree(run);
    in.tree = &tree;
    in.judged_images = tree.judged_images;
    // The plan as the run ran it: a smoke run's is shrunk (smoke_plan), not the file's.
    ir::SearchPlan plan = ir::plan_of(p);
    if (r.config.smoke) smoke_plan(plan, r.config.data);
    in.schedule = ir::schedule_text(p, plan);
  }
  for (const ir::CellGroup& g : p.network->cell_groups) {
    const ir::Cell& c = p.cells[g.cell];
    report::CellGroupNames names;
    names.name = c.props().name;
    for (int e = 0; e < c.num_edges(); ++e) {
      names.edges.push_back(c.edge_name(e));
      std::vector<std::string> candidates;
      for (const auto& k : c.edge(e).candidates) candidates.push_back(k.name);
      names.candidates.push_back(std::move(candidates));
    }
    in.groups.push_back(std::move(names));
  }
  if (run.exists("arch.txt")) {
    ir::Arch arch = parse_arch_or_fail(p, run.path());
    in.arch = ir::to_text(p, arch);
    if (run.exists("arch.svg")) in.arch_svg = run.read("arch.svg");  // drawn when the run wrote arch.txt
    const ir::DataSet* shape = ir::find_data_set(ir::plan_of(p).data.name);
    in.input_size = shape ? shape->size : 28;
    passes::NetworkStats stats = passes::network_stats(p, &arch, in.input_size, true);
    in.params = stats.params;
    in.macs = stats.macs;
    const LatencyStats timed =
        measure_latency(r.program, arch, in.input_size, 1, 5, 30, latency_threads(o.threads_asked));
    in.threads = timed.conditions.threads;
    in.latency_ms = timed.median_ms;
    if (const std::string w = timed.conditions.warning(); !w.empty()) std::cerr << "cella: warning: " << w << "\n";
    // The same figures for scripts (bench/proxyless.sh compares them with the expected latency).
    run.write("arch_costs.json", json{{"params", in.params},
                                      {"macs", in.macs},
                                      {"latency_ms", in.latency_ms},
                                      {"threads", in.threads},
                                      {"load_average", timed.conditions.load},
                                      {"input_size", in.input_size}}
                                         .dump(2) +
                                     "\n");
  }
  report::Page page = report::render(in);
  for (const std::string& w : page.warnings) std::cerr << "cella: warning: " << w << "\n";
  run.write("report.html", page.html);
  return run.file("report.html");
}

void report_at_end(const RunDir& run, const Options& o) {
  try {
    std::cerr << fmt::format("cella: report in {}\n", write_report(run, o));
  } catch (const std::exception& e) {
    // The run itself is done and saved; a page that cannot be drawn must not undo that.
    std::cerr << fmt::format("cella: warning: no report: {}; `cella report {}` tries again\n", e.what(), run.path());
  }
}

int cmd_report(Options& o) {
  RunDir run(o.resume, true);  // refuses a directory without config.json
  std::string path = write_report(run, o);
  std::cerr << fmt::format("cella: report in {}\n", path);
  std::cout << path << "\n";
  return kOk;
}

}  // namespace cella::runtime::cli
