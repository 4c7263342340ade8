// The files of a search run's sub-supernets (`node-<id>-e<epoch>.pt` and `.json`) and which
// cell group a plan splits: shared by the search (context.cpp) and the commands that reopen a
// finished search (search.cpp).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "compiler/ir/ir.h"

namespace cella::runtime {

/// `<dir>/node-<id>-e<epoch>.<ext>`.
std::string checkpoint_path(const std::string& dir, int id, std::int64_t epoch, const char* ext);
/// The epoch of node `id`'s newest complete checkpoint (a `.pt` file) in `dir`, or -1.
std::int64_t newest_checkpoint(const std::string& dir, int id);
/// Removes node `id`'s checkpoint files older than its newest checkpoint; returns that epoch.
/// A save prunes after writing, so a search killed in between leaves older files behind, which
/// the resumed search prunes when it first looks at the node.
std::int64_t prune_checkpoints(const std::string& dir, int id);
/// What a search's run directory held when the search started: each node's complete checkpoints
/// and the judgements written (`judged-node-<id>-e<epoch>.json`). A replay decides
/// from this, not from the directory as it grows: the processes of a data-parallel search must
/// all decide alike while rank 0 writes.
struct CheckpointSnapshot {
  std::map<int, std::set<std::int64_t>> epochs;  ///< node → epochs of its `.pt` files
  std::set<std::string> judged;                  ///< file names
  /// Node `id`'s newest checkpoint epoch then, or -1.
  std::int64_t newest_of(int id) const;
  /// Whether node `id` had a checkpoint of epoch `epoch` then.
  bool has(int id, std::int64_t epoch) const;
  /// A hash of the whole, for the ranks to compare.
  std::uint64_t hash() const;
};
CheckpointSnapshot snapshot_checkpoints(const std::string& dir);

}  // namespace cella::runtime
