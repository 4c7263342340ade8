// `cella search`: runs a file's whole plan — supernet training, the splits of its strategy,
// training of the sub-supernets (with distillation for hierarchical splits), selection of the
// best leaf and derivation — and records every step in a split tree.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "compiler/ir/plan.h"
#include "runtime/search/tree.h"
#include "runtime/split/split.h"

namespace cella::runtime {

struct SearchOptions {
  std::uint64_t seed = 0;
  ProgressFn progress;
  /// One line of what happens (splits, scores, selections), for the log.
  std::function<void(const std::string&)> log;
  /// A directory for a checkpoint of every sub-supernet after each of its epochs
  /// (`<dir>/node-<id>-e<epoch>.pt`, with its curve in `.json`; a newer one replaces the older).
  /// A replay of the same search loads them instead of training again; every other step is
  /// deterministic, so a resumed search ends exactly like an uninterrupted one.
  std::string checkpoint_dir;
};

struct SearchResult {
  ir::Arch arch;
  double valid_accuracy = 0;  ///< of the selected leaf, as its training method evaluates it
  SplitTree tree;             ///< what tree.json holds
};

SearchResult run_search(std::shared_ptr<const ir::Program> program, const ir::SearchPlan& plan, const DataSplits& data,
                        const SearchOptions& options);

/// The sub-supernet of a finished search that judges `arch`: the deepest node of the split tree
/// whose mask holds it ("an architecture is evaluated by the sub-supernet whose region
/// contains it", Few-Shot NAS). An edge the architecture leaves out (an unselected input) is
/// held by every mask; among equally deep holders the one that keeps `none` on such edges wins,
/// then the lowest id. The root holds every architecture, so one always exists.
int owning_node(const ir::Program& program, const SplitTree& tree, const ir::Arch& arch);
/// Whether node `id` of the split tree holds `arch` (ir::holds on its mask).
bool node_holds(const ir::Program& program, const SplitTree& tree, int id, const ir::Arch& arch);

/// Node `id` of a search's split tree with its final weights: the newest of its checkpoints in
/// `dir`. Throws a one-line error if the checkpoint is missing or made for another network.
SupernetState load_node(std::shared_ptr<const ir::Program> program, const ir::SupernetPlan& plan, const SplitTree& tree,
                        int id, const std::string& dir);

/// Whether node `id` of the search in `dir` has a checkpoint.
bool has_node_checkpoint(const std::string& dir, int id);

/// The split tree as Graphviz: one box per sub-supernet with its split, accuracy and whether
/// it was kept.
std::string tree_dot(const SplitTree& tree);

}  // namespace cella::runtime
