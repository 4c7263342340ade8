// Checkpoint files of sub-supernets.
#include "runtime/search/files.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

namespace cella::runtime {

namespace {

// The node and epoch a checkpoint file's name says (`node-<id>-e<epoch>.pt`, `.json`,
// `.json.tmp`, ...), or nothing for any other file.
std::optional<std::pair<int, std::int64_t>> checkpoint_name(const std::string& name) {
  auto number = [&](std::size_t from, std::size_t to) -> std::optional<std::int64_t> {
    std::string digits = name.substr(from, to == std::string::npos ? std::string::npos : to - from);
    if (digits.empty() || digits.size() > 18 || digits.find_first_not_of("0123456789") != std::string::npos)
      return std::nullopt;
    return std::stoll(digits);
  };
  if (!name.starts_with("node-")) return std::nullopt;
  const std::size_t dash = name.find("-e", 5);
  if (dash == std::string::npos) return std::nullopt;
  auto id = number(5, dash), epoch = number(dash + 2, name.find('.', dash + 2));
  if (!id || !epoch || *id > std::numeric_limits<int>::max()) return std::nullopt;
  return std::make_pair(static_cast<int>(*id), *epoch);
}

// Node `id`'s checkpoint files in `dir`, each with its epoch.
std::vector<std::pair<std::int64_t, std::filesystem::path>> checkpoint_files(const std::string& dir, int id) {
  std::vector<std::pair<std::int64_t, std::filesystem::path>> out;
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator(dir, ec))
    if (auto parsed = checkpoint_name(f.path().filename().string()); parsed && parsed->first == id)
      out.emplace_back(parsed->second, f.path());
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
  auto it = epochs.find(id);
  return it == epochs.end() || it->second.empty() ? -1 : *it->second.rbegin();
}

bool CheckpointSnapshot::has(int id, std::int64_t epoch) const {
  auto it = epochs.find(id);
  return it != epochs.end() && it->second.count(epoch) > 0;
}

std::uint64_t CheckpointSnapshot::hash() const {
  std::string all;
  for (const auto& [id, list] : epochs) all += fmt::format("{}:{};", id, fmt::join(list, ","));
  for (const std::string& name : judged) all += name + ";";
  return std::hash<std::string>{}(all);
}

CheckpointSnapshot snapshot_checkpoints(const std::string& dir) {
  CheckpointSnapshot snap;
  if (dir.empty()) return snap;
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = f.path().filename().string();
    if (name.starts_with("judged-node-")) {
      snap.judged.insert(name);
    } else if (auto parsed = checkpoint_name(name); parsed && f.path().extension() == ".pt") {
      snap.epochs[parsed->first].insert(parsed->second);
    }
  }
  return snap;
}

}  // namespace cella::runtime
