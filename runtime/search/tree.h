// The split tree of a search: what tree.json holds, as a struct, read and written only here.
// The search context fills it, `cella derive`/`eval` and the Graphviz drawing read it, and
// docs/runtime.md documents the file for scripts (bench/ranking.py).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace cella::runtime {

/// A tree.json that is not a split tree (damaged, truncated, another program's); the message
/// names the file and what is wrong.
struct TreeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// One epoch of a sub-supernet's training.
struct EpochRecord {
  std::int64_t epoch = 0;
  double train_loss = 0, train_acc = 0;
};

/// One sub-supernet of the split tree (not a node of a cell).
struct TreeNode {
  int id = 0, parent = -1, level = 0;
  std::string made_by;  ///< "root", or how the parent was split ("edge 1<-0: {none, skip}")
  /// How the parent was split to make this node, as the strategy records it (the edge, the
  /// gradient-matching scores, the groups, the partition's cost); null for the root.
  nlohmann::json split;
  /// Per edge of the split cell, in edge order: its name and the candidates this node keeps.
  std::vector<std::pair<std::string, std::vector<std::string>>> mask;
  std::vector<std::vector<int>> mask_index;  ///< the same, as candidate indices
  std::vector<EpochRecord> curve;
  bool kept = false;                            ///< chosen by a selection among siblings
  bool leaf = false;                            ///< trained to the end of the schedule
  std::optional<double> valid_acc, valid_loss;  ///< when it was scored
};

struct SplitTree {
  std::string strategy;  ///< the plan word of the split strategy
  std::string cell;      ///< the cell type whose edges were split
  std::vector<TreeNode> nodes;
  int selected = 0;                      ///< the node the architecture was derived from
  std::string arch;                      ///< the derived architecture, as text
  std::map<std::string, double> phases;  ///< seconds per phase (train, split, score, ...)
  /// Validation images each node's accuracy was measured on (0 in trees written before it was
  /// recorded).
  std::int64_t judged_images = 0;

  nlohmann::json to_json() const;
  /// Reads and checks a tree; `file` names it in errors. Throws TreeError.
  static SplitTree from_json(const nlohmann::json& j, const std::string& file);
  /// Reads tree.json. Throws TreeError.
  static SplitTree read(const std::string& path);
};

nlohmann::json to_json(const EpochRecord& r);
std::vector<EpochRecord> curve_from_json(const nlohmann::json& j, const std::string& file);

}  // namespace cella::runtime
