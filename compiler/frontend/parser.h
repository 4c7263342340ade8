// The front end's entry point: text in, AST out, syntax errors as diagnostics.
#pragma once

#include <string_view>

#include "compiler/diag/diagnostic.h"
#include "compiler/frontend/ast.h"

namespace cella::frontend {

/// Parses the file `id` of `sm`. Syntax errors go to `diags`; the returned AST holds every
/// declaration that parsed, so later stages can still report their own errors.
ast::File parse(const diag::SourceManager& sm, diag::FileId id, diag::DiagnosticEngine& diags);

/// Files larger than this are refused before parsing.
inline constexpr std::size_t kMaxFileBytes = 64u << 20;

}  // namespace cella::frontend
