// The front end's entry point: text in, AST out, syntax errors as diagnostics.
#pragma once

#include <string_view>

#include "compiler/diag/diagnostic.h"
#include "compiler/frontend/ast.h"

namespace cella::frontend {

/// Parses the file `id` of `sm`. Syntax errors go to `diags`; the returned AST holds every
/// declaration that parsed, so later stages can still report their own errors.
/// Texts longer than `max_bytes` are refused with a FileTooLarge diagnostic.
ast::File parse(const diag::SourceManager& sm, diag::FileId id, diag::DiagnosticEngine& diags,
                std::size_t max_bytes = 64u << 20);

}  // namespace cella::frontend
