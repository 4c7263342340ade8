// SourceManager: file texts and line lookup for diagnostics.
#include "compiler/diag/source.h"

#include <stdexcept>

namespace cella::diag {

SourceRange SourceRange::to(const SourceRange& end) const {
  if (end.file != file || end.line != line || end.column < column) return *this;
  SourceRange r = *this;
  r.length = end.column + end.length - column;
  return r;
}

FileId SourceManager::add(std::string name, std::string text) {
  auto f = std::make_unique<File>();
  f->name = std::move(name);
  f->text = std::move(text);
  f->line_starts.push_back(0);
  for (std::size_t i = 0; i < f->text.size(); ++i)
    if (f->text[i] == '\n') f->line_starts.push_back(i + 1);
  files_.push_back(std::move(f));
  return static_cast<FileId>(files_.size());
}

const SourceManager::File& SourceManager::get(FileId id) const {
  if (id == 0 || id > files_.size()) throw std::out_of_range("cella: bad FileId");
  return *files_[id - 1];
}

const std::string& SourceManager::name(FileId id) const { return get(id).name; }

std::string_view SourceManager::text(FileId id) const { return get(id).text; }

std::string_view SourceManager::line(FileId id, std::uint32_t line) const {
  const File& f = get(id);
  if (line == 0 || line > f.line_starts.size()) return {};
  std::size_t begin = f.line_starts[line - 1];
  std::size_t end = line < f.line_starts.size() ? f.line_starts[line] - 1 : f.text.size();
  if (end > begin && f.text[end - 1] == '\r') --end;
  return std::string_view(f.text).substr(begin, end - begin);
}

}  // namespace cella::diag
