// Runs the IR passes in order, verifies the IR after each, and can dump it after any of them.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "compiler/diag/diagnostic.h"
#include "compiler/ir/ir.h"

namespace cella::passes {

struct Pass {
  std::string name;
  std::function<void(ir::Program&, diag::DiagnosticEngine&)> run;
};

/// The passes every compilation runs after sema, in order.
std::vector<Pass> default_pipeline();

/// Runs `passes`; stops at the first pass that reports an error. After each pass the verifier
/// runs (a failure throws std::logic_error: a bug in cella). `dump_after` names a pass after
/// which `dump` receives the IR's text form.
bool run(const std::vector<Pass>& passes, ir::Program& program, diag::DiagnosticEngine& diags,
         const std::string& dump_after = "", const std::function<void(const std::string&)>& dump = {});

// The passes, one file each.
/// Constraints that no architecture (error) or every architecture (warning) satisfies.
void check_constraints(ir::Program& program, diag::DiagnosticEngine& diags);
/// A search over a space with a single architecture.
void check_search_space(ir::Program& program, diag::DiagnosticEngine& diags);
/// An operation whose kernel is larger than its (padded) input at the data set's image size.
void check_spatial_sizes(ir::Program& program, diag::DiagnosticEngine& diags);

}  // namespace cella::passes
