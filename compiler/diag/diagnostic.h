// Diagnostics: collected by a DiagnosticEngine while compiling, rendered by the driver.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "compiler/diag/source.h"

namespace cella::diag {

enum class Severity { Error, Warning, Note };

/// Every kind is declared once in kinds.def.
enum class Kind {
#define CELLA_DIAG(name, severity, summary) name,
#include "compiler/diag/kinds.def"
#undef CELLA_DIAG
};

std::string_view kind_name(Kind kind);
std::string_view kind_summary(Kind kind);
Severity kind_severity(Kind kind);
/// All kinds, in declaration order.
const std::vector<Kind>& all_kinds();

/// A secondary message: a hint ("did you mean ...") or a pointer to a related place.
struct Note {
  std::string message;
  SourceRange range;  // may be invalid: then the note has no location
};

struct Diagnostic {
  Kind kind;
  Severity severity;
  SourceRange range;
  std::string message;
  std::vector<Note> notes;
};

/// Gathers every diagnostic of a compilation; library code reports, the driver renders.
class DiagnosticEngine {
 public:
  /// Reports a diagnostic; the returned reference lets the caller attach notes. A report equal
  /// to an earlier one (kind, place and message) is dropped, with the notes that follow it.
  Diagnostic& report(Kind kind, SourceRange range, std::string message);
  /// Adds a note to the last diagnostic reported.
  void note(std::string message, SourceRange range = {});

  bool has_errors() const { return errors_ > 0; }
  /// Errors reported, repeats included: grows with every report, so callers can tell whether a
  /// step reported anything.
  std::size_t error_count() const { return errors_; }
  /// At most this many diagnostics are kept.
  static constexpr std::size_t kMaxDiagnostics = 1000;
  const std::vector<Diagnostic>& diagnostics() const { return diags_; }
  /// Whether a diagnostic of this kind was reported (tests and the driver use it).
  bool has(Kind kind) const;

 private:
  std::vector<Diagnostic> diags_;
  std::size_t errors_ = 0;
  std::unordered_set<std::string> keys_;
  bool suppressed_ = false;  // the last report repeated an earlier one: its notes are dropped
  Diagnostic scratch_;
};

/// Renders one diagnostic like a compiler: `file:line:col: error: message [Kind]`, the source
/// line, a caret as wide as the offending token, then the notes.
std::string render(const Diagnostic& d, const SourceManager& sm, bool color = false);
/// Renders all diagnostics in order of report, at most `limit` of them.
std::string render_all(const DiagnosticEngine& engine, const SourceManager& sm, bool color = false,
                       std::size_t limit = 100);

/// "did you mean" support: the candidate closest to `word` by edit distance, or "" if none is
/// close enough to be a plausible typo.
std::string closest_match(std::string_view word, const std::vector<std::string>& candidates);

/// A decimal number's digits grouped by thousands for people: "1037664180" -> "1,037,664,180".
std::string grouped_digits(std::string_view digits);

}  // namespace cella::diag
