// Prints an AST back as canonical .cella text (`cella show --emit ast`, round-trip tests).
#pragma once

#include <string>

#include "compiler/frontend/ast.h"

namespace cella::frontend {

/// Canonical source text for `file`: parsing it again gives an AST that prints the same.
std::string print(const ast::File& file);
std::string print(const ast::Expr& expr);

}  // namespace cella::frontend
