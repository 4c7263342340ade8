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

struct Arch;
/// Graphviz drawing of one architecture, in the style of the papers' cell figures: per cell
/// decision group its nodes and the kept edges labelled with their operations (edges that are
/// absent or `none` are gone), the cell's output, and the network as a chain of the units that
/// run with the chosen operation of each choice layer.
std::string arch_dot(const Program& program, const Arch& arch);

}  // namespace cella::ir
