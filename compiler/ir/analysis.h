// Graph questions about cells, answered with Boost.Graph: cycles and reachability.
#pragma once

#include <optional>
#include <vector>

#include "compiler/ir/ir.h"

namespace cella::ir {

/// An edge index lying on a cycle, or nullopt when the cell is acyclic.
std::optional<int> find_cycle(const Cell& cell);
/// reachable[v]: node v is an input or has a path from one (with every edge present).
std::vector<bool> reachable_from_inputs(const Cell& cell);
/// reaches[v]: node v has a path to a node of the cell output (or is one).
std::vector<bool> reaches_output(const Cell& cell);
/// Nodes in an order where every edge goes forward.
std::vector<int> topological_order(const Cell& cell);
/// Per node: its resolution is the cell inputs' divided by this, the product of the strides on
/// the way from an input (the checker makes every path agree, so any one incoming edge gives it).
std::vector<int> node_downsampling(const Cell& cell);
/// A 1-input cell whose output node concatenates its inputs (NAS-Bench-101): the node splits
/// the cell's width among them and the edges from the input are projected, so the cell may
/// change the width (lower::CellUnit::projects_inputs).
bool concatenates_at_output(const Cell& cell);

}  // namespace cella::ir
