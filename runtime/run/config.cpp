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
  if (!init.empty()) j["init"] = init;
  if (epochs > 0) j["epochs"] = epochs;
  if (samples > 0) j["samples"] = samples;
  return j;
}

void RunConfig::write(const RunDir& run) const { run.write("config.json", to_json().dump(2) + "\n"); }

namespace {

// One field of config.json, or `fallback` where an older run lacks it; a field of the wrong type
// is an error that names it (the JSON library's message names no key).
template <class T>
T field(const json& j, const char* key, const T& fallback, const std::string& path) {
  if (!j.contains(key)) return fallback;
  try {
    return j.at(key).get<T>();
  } catch (const json::exception&) {
    throw std::runtime_error(
        fmt::format("{}: \"{}\" is {}, which is not what a cella run records there (damaged or edited?)", path, key,
                    j.at(key).dump()));
  }
}

}  // namespace

RunConfig RunConfig::read(const RunDir& run) {
  const std::string path = run.file("config.json");
  json j = json::parse(run.read("config.json"), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("overrides") || !j.contains("command"))
    throw std::runtime_error(fmt::format("{}: not a cella run configuration (damaged?)", path));
  RunConfig c;
  using Strings = std::vector<std::string>;
  c.command = field(j, "command", std::string(), path);
  c.file = field(j, "file", std::string(), path);
  c.include_dirs = field(j, "include_dirs", Strings{}, path);
  c.plugins = field(j, "plugins", Strings{}, path);
  c.network = field(j, "network", std::string(), path);
  c.search = field(j, "search", std::string(), path);
  c.overrides = field(j, "overrides", std::vector<std::pair<std::string, std::string>>{}, path);
  c.data = field(j, "data", std::string(), path);
  c.data_dir = field(j, "data_dir", std::string(), path);
  c.smoke = field(j, "smoke", false, path);
  c.seed = field(j, "seed", std::uint64_t{0}, path);
  c.threads = field(j, "threads", 0, path);
  c.ranks = field(j, "ranks", 1, path);
  c.device = field(j, "device", std::string("cpu"), path);
  c.libtorch = field(j, "libtorch", std::string(), path);
  c.plan = j.value("plan", json());
  c.arch = field(j, "arch", std::string(), path);
  c.init = field(j, "init", std::string(), path);
  c.epochs = field(j, "epochs", std::int64_t{0}, path);
  c.samples = field(j, "samples", std::int64_t{0}, path);
  return c;
}

std::string run_kind(const RunDir& run) {
  json j = json::parse(run.read("config.json"), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("command") || !j["command"].is_string())
    throw std::runtime_error(fmt::format("{}: not a cella run configuration (damaged?)", run.file("config.json")));
  return j["command"].get<std::string>();
}

}  // namespace cella::runtime
