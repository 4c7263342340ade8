// The pass manager.
#include "compiler/passes/pass_manager.h"

#include <fmt/format.h>

#include <stdexcept>

#include "compiler/ir/dump.h"
#include "compiler/ir/verify.h"

namespace cella::passes {

std::vector<Pass> default_pipeline() {
  return {{"check-constraints", check_constraints},
          {"check-search-space", check_search_space},
          {"check-spatial-sizes", check_spatial_sizes}};
}

bool run(const std::vector<Pass>& passes, ir::Program& program, diag::DiagnosticEngine& diags,
         const std::string& dump_after, const std::function<void(const std::string&)>& dump) {
  auto verify_or_throw = [&](const std::string& after) {
    std::vector<std::string> errs = ir::verify(program);
    if (!errs.empty())
      throw std::logic_error(
          fmt::format("internal error: the IR is malformed after {}: {}", after, fmt::join(errs, "; ")));
  };
  verify_or_throw("sema");
  if (dump_after == "sema" && dump) dump(ir::dump_text(program));
  for (const Pass& p : passes) {
    std::size_t before = diags.error_count();
    p.run(program, diags);
    if (diags.error_count() > before) return false;
    verify_or_throw(p.name);
    if (dump_after == p.name && dump) dump(ir::dump_text(program));
  }
  return true;
}

}  // namespace cella::passes
