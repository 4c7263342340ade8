// Stable text, JSON and DOT forms of the IR, for `cella show` and golden tests.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

#include "compiler/ir/ir.h"

namespace cella::ir {

/// Human-readable IR: cells (nodes, edges with index, hierarchy, stride, candidates), network
/// units with shapes, and the search plan.
std::string dump_text(const Program& program);
nlohmann::json dump_json(const Program& program);
/// Graphviz: one cluster per cell type, and the network as a chain.
std::string dump_dot(const Program& program);

}  // namespace cella::ir
