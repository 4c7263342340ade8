// `cella stats --latency`: the front end's report (compiler/driver/stats.h) with the CPU latency of
// the architecture measured as a stand-alone network: at batch 1 and at --batch, median and
// quartiles of the timed forward passes (runtime/train/latency.h), which the hardware-aware
// search uses too.
#include "compiler/driver/stats.h"

#include "runtime/driver/common.h"
#include "runtime/train/latency.h"

namespace cella::runtime::cli {

int cmd_stats(Options& o) {
  auto c = compile(o.file, parse_sets(o.sets), o.data, o.includes, o.network, o.search);
  auto program = std::make_shared<const ir::Program>(*c->program);
  if (o.arch.empty())
    throw Failure(kUsage,
                  "stats --latency needs --arch A: latency is measured for one architecture (`cella sample FILE` "
                  "prints some)");
  const ir::Arch arch = parse_arch_or_fail(*program, o.arch);
  driver::StatsReport r;
  try {
    r = driver::stats_report(*program, &arch, o.data);
  } catch (const std::invalid_argument& e) {
    throw Failure(kUsage, e.what());
  }
  // The network takes images at its resolution as deployed: timed without the resize to it.
  const std::int64_t size = r.resolution.value_or(r.size);
  std::vector<LatencyStats> timed;
  for (std::int64_t batch : {std::int64_t{1}, o.latency.batch})
    if (timed.empty() || batch != timed.back().batch)
      timed.push_back(measure_latency(program, arch, size, batch, o.latency.warmups, o.latency.repeats,
                                      latency_threads(o.threads_asked)));
  json rows = json::array();
  std::string text;
  for (const LatencyStats& t : timed) {
    rows.push_back({{"batch", t.batch}, {"median_ms", t.median_ms}, {"q1_ms", t.q1_ms}, {"q3_ms", t.q3_ms}});
    text += fmt::format("{}batch {}: {:.3f} ms median (quartiles {:.3f} to {:.3f}){}", text.empty() ? "" : "; ",
                        t.batch, t.median_ms, t.q1_ms, t.q3_ms,
                        t.batch > 1 ? fmt::format(", {:.3f} ms per image", t.median_ms / t.batch) : "");
  }
  const TimingConditions& when = timed.front().conditions;
  r.json["latency"] = {{"runs", rows},
                       {"threads", when.threads},
                       {"cores", when.cores},
                       {"load_average", when.load},
                       {"busy", when.busy()},
                       {"warmups", o.latency.warmups},
                       {"repeats", o.latency.repeats},
                       {"input", {r.channels, size, size}},
                       {"what", "forward passes on random inputs, fresh weights, eval mode, no gradients, CPU"}};
  r.text += fmt::format(
      "  latency:    {}\n              {} CPU thread{}, {} timed passes after {} untimed, eval mode, load average "
      "{:.1f} on {} cores\n",
      text, when.threads, when.threads == 1 ? "" : "s", o.latency.repeats, o.latency.warmups, when.load, when.cores);
  for (const LatencyStats& t : timed)
    if (const std::string w = t.conditions.warning(); !w.empty()) {
      std::cerr << "cella: warning: " << w << "\n";
      break;
    }
  std::cout << (o.json ? r.json.dump(2) + "\n" : r.text);
  return kOk;
}

}  // namespace cella::runtime::cli
