// Declarations shared by the sema translation units (not part of the public sema API).
#pragma once

#include "compiler/ir/plan.h"
#include "compiler/sema/evaluator.h"
#include "compiler/sema/sema.h"

namespace cella::sema {

/// Builds the IR of one cell type (statements of its base cells first).
std::optional<ir::Cell> build_cell(const ast::CellDecl& decl, const Globals& globals, Evaluator& ev);

/// Builds the network, checking shapes through every unit. `cells` maps cell names to built cells.
/// `input` is the data's shape and `classes` its classes, the value of a network parameter
/// `classes` declared without a default.
std::optional<ir::Network> build_network(const ast::NetworkDecl& decl, const Globals& globals, Evaluator& ev,
                                         std::vector<ir::Cell>& cells, const Options& options, ir::Shape input,
                                         std::int64_t classes);

/// Builds the search plan for `network`; `overrides` holds the dotted `--set` entries.
std::optional<ir::SearchPlan> build_search(const ast::SearchDecl& decl, Evaluator& ev,
                                           const std::vector<ir::Cell>& cells, const ir::Network& network,
                                           const Options& options);

/// Parses a `--set` value as an integer, float or boolean.
std::optional<Value> parse_override(const std::string& text);

}  // namespace cella::sema
