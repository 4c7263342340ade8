// Pass: constraints that can never hold, or always hold.
#include <fmt/format.h>

#include "compiler/passes/pass_manager.h"
#include "compiler/passes/space.h"

namespace cella::passes {

void check_constraints(ir::Program& program, diag::DiagnosticEngine& diags) {
  for (const ir::Cell& c : program.cells) {
    const ir::CellProps& cp = c.props();
    if (cp.constraint_text.empty()) continue;
    std::vector<BigInt> poly = edge_count_polynomial(c);
    int possible_min = -1, possible_max = -1;
    bool any = false, all = true;
    for (std::size_t k = 0; k < poly.size(); ++k) {
      if (poly[k] == 0) continue;
      if (possible_min < 0) possible_min = static_cast<int>(k);
      possible_max = static_cast<int>(k);
      bool ok = k >= cp.allowed_edge_counts.size() || cp.allowed_edge_counts[k];
      any = any || ok;
      all = all && ok;
    }
    if (!any) {
      diags.report(diag::Kind::ConstraintNeverHolds, cp.constraint_range,
                   fmt::format("no architecture of cell '{}' satisfies this constraint", cp.name));
      diags.note(fmt::format("its architectures have between {} and {} edges", possible_min, possible_max));
    } else if (all) {
      diags.report(
          diag::Kind::ConstraintAlwaysHolds, cp.constraint_range,
          fmt::format("every architecture of cell '{}' satisfies this constraint, so it excludes nothing", cp.name));
      diags.note(fmt::format("its architectures have between {} and {} edges", possible_min, possible_max));
    }
  }
}

}  // namespace cella::passes
