// Compiling a .cella file or string: the one entry point that the command line, the tests and
// embedding programs use. It loads imports, parses, analyses and runs the passes.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "compiler/diag/diagnostic.h"
#include "compiler/frontend/ast.h"
#include "compiler/ir/arch.h"
#include "compiler/ir/ir.h"
#include "compiler/sema/sema.h"

namespace cella::driver {

struct CompileOptions {
  sema::Options sema;
  /// Extra directories searched for `import a.b` (as a/b.cella), before the standard library.
  std::vector<std::string> include_dirs;
  /// Source files larger than this are refused.
  std::size_t max_file_bytes = 64u << 20;
  /// Stop after parsing (for `show --emit ast`).
  bool parse_only = false;
  /// Stop after sema, before the checking passes (to read a search block's smoke parameters).
  bool sema_only = false;
  /// Name of a pass (or "sema") after which to dump the IR as text.
  std::string dump_after;
};

/// Everything one compilation produced. Diagnostics point into `sources`.
struct Compilation {
  diag::SourceManager sources;
  diag::DiagnosticEngine diags;
  std::vector<ast::File> files;  ///< the main file first, then its imports
  std::optional<ir::Program> program;
  std::string dump;  ///< the IR text requested with `dump_after`

  bool ok() const { return !diags.has_errors() && (program.has_value()); }
};

/// Compiles the file at `path`.
std::unique_ptr<Compilation> compile_file(const std::string& path, const CompileOptions& options = {});
/// Compiles source text; `name` is used in diagnostics and imports resolve from the current directory.
std::unique_ptr<Compilation> compile_string(const std::string& name, const std::string& text,
                                            const CompileOptions& options = {});

/// The architecture an `--arch` value names in `program`: the value itself as an architecture's
/// text, the contents of a file holding one, or a run directory's arch.txt (the architecture the
/// run derived or retrained); or the one-line error to report: the file it cannot read, or
/// "--arch: " and what is wrong with the text.
std::variant<ir::Arch, std::string> parse_arch_argument(const ir::Program& program, const std::string& value);

/// The directory holding the standard library (`import std.ops`): $CELLA_STDLIB if set, else the
/// one the build recorded.
std::string stdlib_dir();

}  // namespace cella::driver
