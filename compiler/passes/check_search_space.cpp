// Pass: a search needs a space with more than one architecture.
#include <fmt/format.h>

#include "compiler/ir/plan.h"
#include "compiler/passes/pass_manager.h"
#include "compiler/passes/space.h"

namespace cella::passes {

void check_search_space(ir::Program& program, diag::DiagnosticEngine& diags) {
  if (!program.search || !program.network) return;
  SpaceSize size = count(program, /*unique=*/false);
  if (size.raw <= 1) {
    diags.report(diag::Kind::NothingToSearch, program.search->range,
                 fmt::format("network '{}' has {} architecture{}; there is nothing to search", program.network->name,
                             size.raw.str(), size.raw == 1 ? "" : "s"));
    diags.note("give some edge or layer more than one candidate operation");
  }
}

}  // namespace cella::passes
