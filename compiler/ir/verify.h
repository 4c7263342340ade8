// The IR verifier: structural invariants that must hold after sema and after every pass.
#pragma once

#include <string>
#include <vector>

#include "compiler/ir/ir.h"

namespace cella::ir {

/// Every broken invariant, described; empty when the program is well formed. A non-empty result
/// is a bug in cella, not in the user's file.
std::vector<std::string> verify(const Program& program);

}  // namespace cella::ir
