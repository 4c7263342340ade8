// The compilation pipeline: read -> parse (with imports) -> sema -> passes.
#include "compiler/driver/compile.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "compiler/frontend/parser.h"
#include "compiler/passes/pass_manager.h"

namespace cella::driver {

namespace fs = std::filesystem;

namespace {

std::optional<std::string> read_file(const fs::path& path, std::size_t limit, std::string& error) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    error = "is a directory";
    return std::nullopt;
  }
  auto size = fs::file_size(path, ec);
  if (!ec && size > limit) {
    error = fmt::format("is {} bytes; cella reads files of at most {} bytes", size, limit);
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = fs::exists(path, ec) ? std::strerror(errno) : "no such file";
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// How an imported file is named in diagnostics: standard-library files relative to the library
// (`<stdlib>/std/ops.cella`), so messages do not depend on where cella is installed.
std::string display_name(const fs::path& file) {
  std::error_code ec;
  fs::path lib = fs::weakly_canonical(stdlib_dir(), ec);
  fs::path f = fs::weakly_canonical(file, ec);
  auto [li, fi] = std::mismatch(lib.begin(), lib.end(), f.begin(), f.end());
  if (li == lib.end()) {
    fs::path rest;
    for (; fi != f.end(); ++fi) rest /= *fi;
    return "<stdlib>/" + rest.string();
  }
  return file.lexically_normal().string();
}

class Loader {
 public:
  Loader(Compilation& c, const CompileOptions& o) : c_(c), o_(o) {}

  void load_text(const std::string& name, std::string text, const fs::path& dir) {
    diag::FileId id = c_.sources.add(name, std::move(text));
    c_.files.push_back(frontend::parse(c_.sources, id, c_.diags, o_.max_file_bytes));
    imports(c_.files.size() - 1, dir);
  }

  void load_main(const std::string& path) {
    std::string error;
    auto text = read_file(path, o_.max_file_bytes, error);
    if (!text) {
      c_.diags.report(error.find("bytes") != std::string::npos ? diag::Kind::FileTooLarge : diag::Kind::FileUnreadable,
                      {}, fmt::format("cannot read {}: {}", path, error));
      return;
    }
    std::error_code ec;
    seen_.insert(fs::weakly_canonical(path, ec).string());
    load_text(path, std::move(*text), fs::path(path).parent_path());
  }

 private:
  void imports(std::size_t index, const fs::path& dir) {
    // Copy what we need: parsing more files grows c_.files.
    std::vector<std::pair<std::string, std::pair<bool, diag::SourceRange>>> wanted;
    for (const ast::Decl& d : c_.files[index].decls)
      if (d.kind == ast::Decl::Kind::Import) wanted.push_back({d.import->path, {d.import->is_file, d.import->range}});
    for (const auto& [path, info] : wanted) {
      auto [is_file, range] = info;
      std::vector<fs::path> candidates;
      if (is_file) {
        candidates.push_back(dir / path);
      } else {
        std::string rel = path;
        std::replace(rel.begin(), rel.end(), '.', '/');
        rel += ".cella";
        candidates.push_back(dir / rel);
        for (const std::string& inc : o_.include_dirs) candidates.push_back(fs::path(inc) / rel);
        if (const char* env = std::getenv("CELLA_PATH")) {
          std::string list = env;
          std::size_t pos = 0;
          while (pos <= list.size()) {
            std::size_t colon = list.find(':', pos);
            std::string part = list.substr(pos, colon == std::string::npos ? std::string::npos : colon - pos);
            if (!part.empty()) candidates.push_back(fs::path(part) / rel);
            if (colon == std::string::npos) break;
            pos = colon + 1;
          }
        }
        candidates.push_back(fs::path(stdlib_dir()) / rel);
      }
      std::optional<fs::path> found;
      std::error_code ec;
      for (const fs::path& p : candidates)
        if (fs::is_regular_file(p, ec)) {
          found = p;
          break;
        }
      if (!found) {
        c_.diags.report(diag::Kind::ImportNotFound, range, fmt::format("cannot find module '{}'", path));
        std::vector<std::string> tried;
        for (const fs::path& p : candidates) tried.push_back(display_name(p));
        c_.diags.note(fmt::format("looked for {}", fmt::join(tried, ", ")));
        continue;
      }
      std::string key = fs::weakly_canonical(*found, ec).string();
      if (!seen_.insert(key).second) continue;  // imported already (or an import cycle): once is enough
      std::string error;
      auto text = read_file(*found, o_.max_file_bytes, error);
      if (!text) {
        c_.diags.report(diag::Kind::FileUnreadable, range, fmt::format("cannot read {}: {}", found->string(), error));
        continue;
      }
      load_text(display_name(*found), std::move(*text), found->parent_path());
    }
  }

  Compilation& c_;
  const CompileOptions& o_;
  std::set<std::string> seen_;
};

void finish(Compilation& c, const CompileOptions& o) {
  if (c.diags.has_errors() || o.parse_only) return;
  c.program = sema::analyze(c.files, o.sema, c.diags);
  if (!c.program) return;
  for (const ast::File& f : c.files) c.program->files.push_back(c.sources.name(f.id));
  if (o.sema_only) return;
  bool ok = passes::run(passes::default_pipeline(), *c.program, c.diags, o.dump_after,
                        [&](const std::string& text) { c.dump = text; });
  if (!ok) c.program.reset();
}

}  // namespace

std::string stdlib_dir() {
  if (const char* env = std::getenv("CELLA_STDLIB")) return env;
  // The source tree's spaces/ while it exists (a build), else the installed copy.
  if (std::filesystem::is_directory(CELLA_STDLIB_DIR)) return CELLA_STDLIB_DIR;
  return CELLA_INSTALLED_STDLIB_DIR;
}

std::unique_ptr<Compilation> compile_file(const std::string& path, const CompileOptions& options) {
  auto c = std::make_unique<Compilation>();
  Loader(*c, options).load_main(path);
  finish(*c, options);
  return c;
}

std::unique_ptr<Compilation> compile_string(const std::string& name, const std::string& text,
                                            const CompileOptions& options) {
  auto c = std::make_unique<Compilation>();
  Loader(*c, options).load_text(name, text, fs::current_path());
  finish(*c, options);
  return c;
}

namespace {

// An `--arch` value as an architecture's text (see parse_arch_argument), without trailing white
// space; false with a one-line `error` naming the file it cannot read.
bool arch_argument(const std::string& value, std::string& text, std::string& error) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path path = value;
  if (fs::is_directory(path, ec)) {
    path /= "arch.txt";
  } else if (!fs::is_regular_file(path, ec)) {
    text = value;
    return true;
  }
  std::ifstream in(path);
  std::stringstream contents;
  if (!in || !(contents << in.rdbuf())) {
    error = fmt::format("--arch {}: cannot read {} (a run directory holds its architecture in arch.txt)", value,
                        path.string());
    return false;
  }
  text = contents.str();
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  return true;
}

}  // namespace

std::variant<ir::Arch, std::string> parse_arch_argument(const ir::Program& program, const std::string& value) {
  std::string text, error;
  if (!arch_argument(value, text, error)) return error;
  auto a = ir::parse_arch(program, text);
  if (auto* err = std::get_if<std::string>(&a)) return "--arch: " + *err;
  return std::get<ir::Arch>(a);
}

}  // namespace cella::driver
