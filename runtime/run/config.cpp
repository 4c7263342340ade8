// config.json, written and read here only.
#include "runtime/run/config.h"

#include <fmt/format.h>

#include <stdexcept>

#include "runtime/run/run_dir.h"

namespace cella::runtime {

using nlohmann::json;

json RunConfig::to_json() const {
  json j = {{"command", command},   {"file", file},        {"include_dirs", include_dirs}, {"plugins", plugins},
            {"network", network},   {"search", search},    {"overrides", overrides},       {"data", data},
            {"data_dir", data_dir}, {"seed", seed},        {"threads", threads},           {"ranks", ranks},
            {"device", device},     {"libtorch", libtorch}};
  if (smoke || command == "search" || command == "train") j["smoke"] = smoke;  // an extract of a smoke run is one too
  if (!plan.is_null()) j["plan"] = plan;
  if (!arch.empty()) j["arch"] = arch;
  if (epochs > 0) j["epochs"] = epochs;
  if (samples > 0) j["samples"] = samples;
  return j;
}

void RunConfig::write(const RunDir& run) const { run.write("config.json", to_json().dump(2) + "\n"); }

RunConfig RunConfig::read(const RunDir& run) {
  const std::string path = run.file("config.json");
  json j = json::parse(run.read("config.json"), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("overrides") || !j.contains("command"))
    throw std::runtime_error(fmt::format("{}: not a cella run configuration (damaged?)", path));
  RunConfig c;
  try {
    c.command = j.at("command").get<std::string>();
    c.file = j.value("file", "");
    c.include_dirs = j.value("include_dirs", std::vector<std::string>{});
    c.plugins = j.value("plugins", std::vector<std::string>{});
    c.network = j.value("network", "");
    c.search = j.value("search", "");
    c.overrides = j.at("overrides").get<std::vector<std::pair<std::string, std::string>>>();
    c.data = j.value("data", "");
    c.data_dir = j.value("data_dir", "");
    c.smoke = j.value("smoke", false);
    c.seed = j.value("seed", std::uint64_t{0});
    c.threads = j.value("threads", 0);
    c.ranks = j.value("ranks", 1);
    c.device = j.value("device", "cpu");
    c.libtorch = j.value("libtorch", "");
    c.plan = j.value("plan", json());
    c.arch = j.value("arch", "");
    c.epochs = j.value("epochs", std::int64_t{0});
    c.samples = j.value("samples", std::int64_t{0});
  } catch (const json::exception& e) {
    throw std::runtime_error(fmt::format("{}: not a cella run configuration: {}", path, e.what()));
  }
  return c;
}

}  // namespace cella::runtime
