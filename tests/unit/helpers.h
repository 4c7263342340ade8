// Shared helpers for unit tests: compile a source string, find the repository's files.
#pragma once

#include <string>

#include "compiler/driver/compile.h"
#include "compiler/ir/plan.h"
#include "compiler/ir/schedule.h"

namespace cella::testing_helpers {

/// Compiles `text` as if it were a file called test.cella, with `import std.ops` available.
inline std::unique_ptr<driver::Compilation> compile(const std::string& text, driver::CompileOptions o = {}) {
  return driver::compile_string("test.cella", text, o);
}

inline std::unique_ptr<driver::Compilation> compile_space(const std::string& name, driver::CompileOptions o = {}) {
  return driver::compile_file(std::string(CELLA_SOURCE_DIR) + "/spaces/" + name, o);
}

/// A supernet plan for the runtime tests' tiny networks: `method`, `epochs`, batch 32.
inline ir::SupernetPlan tiny_plan(const std::string& method, std::int64_t epochs) {
  ir::SupernetPlan plan;
  plan.method = method;
  plan.epochs = epochs;
  plan.batch = 32;
  return plan;
}

/// The schedule of a plan that trains only the supernet `plan`, without splitting.
inline ir::Schedule schedule_of(const ir::SupernetPlan& plan) {
  ir::SearchPlan p;
  p.supernet = plan;
  return ir::Schedule(p);
}

/// Rendered diagnostics, for assertion messages.
inline std::string messages(const driver::Compilation& c) { return diag::render_all(c.diags, c.sources); }

}  // namespace cella::testing_helpers
