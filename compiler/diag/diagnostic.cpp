// DiagnosticEngine and the compiler-style renderer.
#include "compiler/diag/diagnostic.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace cella::diag {

namespace {

struct KindInfo {
  std::string_view name;
  Severity severity;
  std::string_view summary;
};

constexpr std::array kKinds = {
#define CELLA_DIAG(name, severity, summary) KindInfo{#name, Severity::severity, summary},
#include "compiler/diag/kinds.def"
#undef CELLA_DIAG
};

std::string_view severity_word(Severity s) {
  switch (s) {
    case Severity::Error: return "error";
    case Severity::Warning: return "warning";
    case Severity::Note: return "note";
  }
  return "error";
}

// Printable form of a source line: control bytes become '?', so binary input cannot upset a
// terminal; long lines are cut to a window around the caret.
struct ShownLine {
  std::string text;
  std::size_t caret_column = 0;  // 0-based, in `text`
};

ShownLine show_line(std::string_view line, std::size_t column0) {
  constexpr std::size_t kWindow = 120;
  std::size_t begin = 0;
  std::string prefix;
  if (line.size() > kWindow && column0 > kWindow / 2) {
    begin = column0 - kWindow / 2;
    prefix = "...";
  }
  std::string_view cut = line.substr(std::min(begin, line.size()), kWindow);
  ShownLine out;
  out.text = prefix;
  for (char c : cut) {
    auto u = static_cast<unsigned char>(c);
    out.text.push_back(u == '\t' ? '\t' : (u < 0x20 || u == 0x7f) ? '?' : c);
  }
  if (begin + cut.size() < line.size()) out.text += "...";
  out.caret_column = prefix.size() + (column0 - begin);
  return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

std::string_view kind_name(Kind kind) { return kKinds[static_cast<std::size_t>(kind)].name; }
std::string_view kind_summary(Kind kind) { return kKinds[static_cast<std::size_t>(kind)].summary; }
Severity kind_severity(Kind kind) { return kKinds[static_cast<std::size_t>(kind)].severity; }

const std::vector<Kind>& all_kinds() {
  static const std::vector<Kind> kinds = [] {
    std::vector<Kind> v;
    for (std::size_t i = 0; i < kKinds.size(); ++i) v.push_back(static_cast<Kind>(i));
    return v;
  }();
  return kinds;
}

Diagnostic& DiagnosticEngine::report(Kind kind, SourceRange range, std::string message) {
  // The same fault seen again (an op expanded on many edges) is reported once, and a flood of
  // errors is cut off: the rest would only repeat the first ones.
  std::string key =
      fmt::format("{}:{}:{}:{}:{}", static_cast<int>(kind), range.file, range.line, range.column, message);
  Severity s = kind_severity(kind);
  if (!keys_.insert(std::move(key)).second || diags_.size() >= kMaxDiagnostics) {
    if (s == Severity::Error) ++errors_;
    suppressed_ = true;
    scratch_ = Diagnostic{kind, s, range, std::move(message), {}};
    return scratch_;
  }
  suppressed_ = false;
  if (s == Severity::Error) ++errors_;
  diags_.push_back(Diagnostic{kind, s, range, std::move(message), {}});
  return diags_.back();
}

void DiagnosticEngine::note(std::string message, SourceRange range) {
  if (suppressed_) return;
  if (!diags_.empty()) diags_.back().notes.push_back(Note{std::move(message), range});
}

bool DiagnosticEngine::has(Kind kind) const {
  return std::any_of(diags_.begin(), diags_.end(), [&](const Diagnostic& d) { return d.kind == kind; });
}

namespace {

std::string location(const SourceRange& r, const SourceManager& sm) {
  if (r.file == 0) return "cella";
  if (r.line == 0) return sm.name(r.file);
  return fmt::format("{}:{}:{}", sm.name(r.file), r.line, r.column);
}

void append_excerpt(std::string& out, const SourceRange& r, const SourceManager& sm, bool color) {
  if (!r.valid()) return;
  std::string_view line = sm.line(r.file, r.line);
  std::size_t col0 = r.column > 0 ? r.column - 1 : 0;
  if (col0 > line.size()) col0 = line.size();
  ShownLine shown = show_line(line, col0);
  std::string gutter = fmt::format("{:>5}", r.line);
  out += fmt::format("{} | {}\n", gutter, shown.text);
  std::string pad;
  for (std::size_t i = 0; i < shown.caret_column && i < shown.text.size(); ++i)
    pad.push_back(shown.text[i] == '\t' ? '\t' : ' ');
  while (pad.size() < shown.caret_column) pad.push_back(' ');
  std::size_t width = std::clamp<std::size_t>(r.length, 1, std::max<std::size_t>(1, line.size() - col0));
  width = std::min<std::size_t>(width, 120);
  std::string carets(width, '^');
  if (color) carets = "\033[1;32m" + carets + "\033[0m";
  out += fmt::format("{} | {}{}\n", std::string(gutter.size(), ' '), pad, carets);
}

}  // namespace

std::string render(const Diagnostic& d, const SourceManager& sm, bool color) {
  std::string out;
  std::string sev(severity_word(d.severity));
  if (color) sev = (d.severity == Severity::Error ? "\033[1;31m" : "\033[1;35m") + sev + "\033[0m";
  out += fmt::format("{}: {}: {} [{}]\n", location(d.range, sm), sev, d.message, kind_name(d.kind));
  append_excerpt(out, d.range, sm, color);
  for (const Note& n : d.notes) {
    if (n.range.valid()) {
      out += fmt::format("{}: note: {}\n", location(n.range, sm), n.message);
      append_excerpt(out, n.range, sm, color);
    } else {
      out += fmt::format("note: {}\n", n.message);
    }
  }
  return out;
}

std::string render_all(const DiagnosticEngine& engine, const SourceManager& sm, bool color, std::size_t limit) {
  std::string out;
  std::size_t shown = 0;
  for (const Diagnostic& d : engine.diagnostics()) {
    if (shown == limit) {
      out += fmt::format("cella: too many diagnostics; showing the first {}\n", limit);
      break;
    }
    out += render(d, sm, color);
    ++shown;
  }
  return out;
}

std::string grouped_digits(std::string_view digits) {
  std::string out;
  int n = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (n && n % 3 == 0 && *it != '-') out.push_back(',');
    out.push_back(*it);
    ++n;
  }
  return {out.rbegin(), out.rend()};
}

std::string closest_match(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_d = SIZE_MAX;
  for (const std::string& c : candidates) {
    if (c == word) continue;
    std::size_t d = edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  // A plausible typo: at most a third of the word wrong (at least one edit allowed).
  std::size_t allowed = std::max<std::size_t>(1, word.size() / 3);
  return best_d <= allowed ? best : std::string();
}

}  // namespace cella::diag
