// Checkpoint files of sub-supernets.
#include "runtime/search/files.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <utility>
#include <vector>

namespace cella::runtime {

namespace {

// Node `id`'s checkpoint files in `dir` (`node-<id>-e<epoch>.pt`, `.json`, `.json.tmp`, ...),
// each with its epoch.
std::vector<std::pair<std::int64_t, std::filesystem::path>> checkpoint_files(const std::string& dir, int id) {
  std::vector<std::pair<std::int64_t, std::filesystem::path>> out;
  std::string prefix = fmt::format("node-{}-e", id);
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = f.path().filename().string();
    if (!name.starts_with(prefix)) continue;
    std::string digits = name.substr(prefix.size(), name.find('.', prefix.size()) - prefix.size());
    if (!digits.empty() && digits.find_first_not_of("0123456789") == std::string::npos)
      out.emplace_back(std::stoll(digits), f.path());
  }
  return out;
}

// The epoch of the newest complete checkpoint (a `.pt` file) among `files`, or -1.
std::int64_t newest_of(const std::vector<std::pair<std::int64_t, std::filesystem::path>>& files) {
  std::int64_t newest = -1;
  for (const auto& [epoch, path] : files)
    if (path.extension() == ".pt") newest = std::max(newest, epoch);
  return newest;
}

}  // namespace

std::string checkpoint_path(const std::string& dir, int id, std::int64_t epoch, const char* ext) {
  return fmt::format("{}/node-{}-e{}.{}", dir, id, epoch, ext);
}

std::int64_t newest_checkpoint(const std::string& dir, int id) { return newest_of(checkpoint_files(dir, id)); }

std::int64_t prune_checkpoints(const std::string& dir, int id) {
  const auto files = checkpoint_files(dir, id);
  const std::int64_t newest = newest_of(files);
  for (const auto& [epoch, path] : files)
    if (epoch < newest) std::filesystem::remove(path);
  return newest;
}

std::int64_t CheckpointSnapshot::newest_of(int id) const {
  auto it = newest.find(id);
  return it == newest.end() ? -1 : it->second;
}

std::uint64_t CheckpointSnapshot::hash() const {
  std::string all;
  for (const auto& [id, epoch] : newest) all += fmt::format("{}:{};", id, epoch);
  for (const std::string& name : judged) all += name + ";";
  return std::hash<std::string>{}(all);
}

CheckpointSnapshot snapshot_checkpoints(const std::string& dir) {
  CheckpointSnapshot snap;
  if (dir.empty()) return snap;
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = f.path().filename().string();
    int id = -1;
    long long epoch = -1;
    char tail[8] = {};
    if (name.starts_with("judged-node-")) {
      snap.judged.insert(name);
    } else if (std::sscanf(name.c_str(), "node-%d-e%lld.%7s", &id, &epoch, tail) == 3 && std::string(tail) == "pt") {
      snap.newest[id] = std::max<std::int64_t>(snap.newest.count(id) ? snap.newest[id] : -1, epoch);
    }
  }
  return snap;
}

int split_group(const ir::Program& p, const std::string& cell) {
  const ir::Network& n = *p.network;
  for (std::size_t g = 0; g < n.cell_groups.size(); ++g)
    if (p.cells[n.cell_groups[g].cell].props().name == cell) return static_cast<int>(g);
  return 0;
}

}  // namespace cella::runtime
