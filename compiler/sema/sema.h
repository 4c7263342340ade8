// Semantic analysis: checks the AST of a file and its imports and builds the graph IR.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "compiler/diag/diagnostic.h"
#include "compiler/frontend/ast.h"
#include "compiler/ir/ir.h"

namespace cella::sema {

struct Options {
  /// `--set NAME=VALUE`: network parameters (C, N, ...) or, with a dot, search settings
  /// (`supernet.epochs=3`).
  std::vector<std::pair<std::string, std::string>> overrides;
  std::string network;  ///< which network, when the file has several (default: the search's or the only one)
  std::string search;   ///< which search block (default: the first)
  std::string data;     ///< `--data NAME`: overrides the search block's data set
};

/// Analyses `files` (the main file first, then its imports) and returns the IR, or nullopt if
/// any error was reported. Warnings do not stop the build.
std::optional<ir::Program> analyze(const std::vector<ast::File>& files, const Options& options,
                                   diag::DiagnosticEngine& diags);

}  // namespace cella::sema
