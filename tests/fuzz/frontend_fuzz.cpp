// libFuzzer target for the whole front end: any bytes in, diagnostics or an IR out, and every
// output rendered. Built with -Dfuzz=true under clang with AddressSanitizer and UBSan
// (scripts/fuzz.sh); a crash, a leak or a sanitizer report is a bug.
#include <cstdint>
#include <string>

#include "compiler/driver/compile.h"
#include "compiler/ir/arch.h"
#include "compiler/ir/dump.h"
#include "compiler/ir/subspace.h"
#include "compiler/passes/space.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  cella::driver::CompileOptions options;
  options.include_dirs = {};
  auto c = cella::driver::compile_string("fuzz.cella", text, options);
  std::string out = cella::diag::render_all(c->diags, c->sources);
  if (c->program) {
    out += cella::ir::dump_text(*c->program);
    out += cella::ir::dump_dot(*c->program);
    if (c->program->network) {
      cella::passes::count(*c->program, /*unique=*/false);
      std::mt19937_64 rng(0);
      cella::ir::Arch a = cella::ir::sample(*c->program, rng);
      out += cella::ir::to_text(*c->program, a);
    }
  }
  return out.empty() ? 0 : 0;
}
