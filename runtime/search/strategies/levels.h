// What Few-Shot NAS (exhaustive) and GM-NAS (gradient matching) share: every sub-supernet of a
// level is split at each split point, the leaves train on, and the best leaf is selected. The
// strategy says how one node is split.
#pragma once

#include <functional>
#include <optional>

#include "runtime/search/context.h"

namespace cella::runtime {

/// How node `id` splits at split point `k`: its children's masks and the split's record, or
/// nullopt when nothing is left to split (the node goes on to the next level as it is).
using SplitNodeFn =
    std::function<std::optional<std::pair<std::vector<Mask>, nlohmann::json>>(SearchContext&, int id, std::size_t k)>;

/// Runs the split points of the plan level by level with `split_node` (every node of a level
/// trains to the split's epoch of the schedule, then splits), trains the leaves to the end of the
/// schedule, scores them and returns the best; `made_by` names the strategy in the children's
/// records.
int split_every_level(SearchContext& ctx, const SplitNodeFn& split_node, const std::string& made_by);

}  // namespace cella::runtime
