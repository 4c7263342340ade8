// Checkpoint files of sub-supernets.
#include "runtime/search/files.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
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

int split_group(const ir::Program& p, const std::string& cell) {
  const ir::Network& n = *p.network;
  for (std::size_t g = 0; g < n.cell_groups.size(); ++g)
    if (p.cells[n.cell_groups[g].cell].props().name == cell) return static_cast<int>(g);
  return 0;
}

}  // namespace cella::runtime
