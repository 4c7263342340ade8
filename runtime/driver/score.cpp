// `cella score`: training-free scores of architectures (runtime/score/proxies.h), one row per
// architecture, for ranking baselines and quick filters. Nothing is trained and no run directory
// is written.
#include "runtime/score/proxies.h"

#include <cmath>

#include "runtime/driver/common.h"

namespace cella::runtime::cli {

namespace {

std::string number(double v) {
  if (std::isnan(v)) return "nan";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{:.0f}", v);
  return fmt::format("{:.6g}", v);
}

json json_number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

// The data set the scores are for: `--data` (compile() has put it in the plan already), else the
// plan's, else the language's default.
ir::DataPlan score_data(const ir::Program& p, const Options& o) {
  ir::DataPlan data = p.search ? p.search->data : ir::DataPlan{};
  if (!o.data.empty()) data.name = o.data;
  return data;
}

}  // namespace

score::Input score_input(const ir::Program& p, const Options& o, const std::vector<score::Proxy>& proxies,
                         std::int64_t batch, int batches) {
  const ir::DataPlan data = score_data(p, o);
  const ir::DataSet* shape = ir::find_data_set(data.name);
  if (!shape) throw Failure(kUsage, fmt::format("--data {}: no such data set", data.name));
  score::Input in;
  in.channels = shape->channels;
  in.size = shape->size;
  in.batch = batch;
  in.batches = batches;
  in.seed = o.seed;
  const bool needs_data =
      std::any_of(proxies.begin(), proxies.end(), [](score::Proxy x) { return ir::info(x).needs_data; });
  if (!needs_data) return in;
  // The first batch × batches training images after the seeded shuffle of the plan's subset.
  DataSplits splits =
      load_data(data.name, o.data_dir.empty() ? data.path : o.data_dir, data.subset, data.train_portion, o.seed);
  const std::int64_t n = batch * batches;
  if (splits.train.size() < n)
    throw Failure(kUsage, fmt::format("--batch {} --batches {}: {} images, and {}'s training split has {}", batch,
                                      batches, n, data.name, splits.train.size()));
  in.images = splits.train.images.narrow(0, 0, n);
  in.labels = splits.train.labels.narrow(0, 0, n);
  return in;
}

int cmd_score(Options& o) {
  auto c = compile(o.file, parse_sets(o.sets), o.data, o.includes, o.network, o.search);
  auto program = std::make_shared<const ir::Program>(*c->program);
  std::vector<score::Proxy> proxies;
  try {
    proxies = score::parse_proxies(o.proxies.empty() ? std::vector<std::string>{"all"} : o.proxies);
  } catch (const std::invalid_argument& e) {
    throw Failure(kUsage, fmt::format("--proxy: {}", e.what()));
  }
  std::vector<std::string> texts = arch_arguments(o);
  if (texts.empty())
    throw Failure(kUsage,
                  "score needs architectures: --arch A (repeatable) or --archs FILE (`cella sample FILE -n 60 "
                  "> archs.txt` writes one)");
  std::vector<ir::Arch> archs;
  for (const std::string& t : texts) archs.push_back(parse_arch_or_fail(*program, t));
  const score::Input input = score_input(*program, o, proxies, o.score.batch, o.score.batches);
  json rows = json::array();
  std::string header;
  for (score::Proxy x : proxies) header += fmt::format("{:>14} ", score::name_of(x));
  if (!o.json) std::cout << header << " arch\n";
  for (const ir::Arch& arch : archs) {
    json row = {{"arch", ir::to_text(*program, arch)}};
    std::string line;
    for (score::Proxy x : proxies) {
      double v = 0;
      try {
        v = score::score(x, program, arch, input);
      } catch (const std::invalid_argument& e) {
        throw Failure(kUsage, e.what());
      }
      row[std::string(score::name_of(x))] = json_number(v);
      line += fmt::format("{:>14} ", number(v));
    }
    if (o.json)
      rows.push_back(row);
    else
      std::cout << line << " " << row["arch"].get<std::string>() << "\n" << std::flush;
  }
  if (o.json) {
    json names = json::array();
    for (score::Proxy x : proxies) names.push_back(score::name_of(x));
    std::cout << json{{"proxies", names},
                      {"data", score_data(*program, o).name},
                      {"input", {input.channels, input.size, input.size}},
                      {"batch", input.batch},
                      {"batches", input.batches},
                      {"seed", input.seed},
                      {"rows", rows}}
                     .dump(2)
              << "\n";
  }
  return kOk;
}

}  // namespace cella::runtime::cli
