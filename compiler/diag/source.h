// Source files and locations: every AST node and diagnostic points into a SourceManager.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace cella::diag {

/// Identifies a file held by a SourceManager; 0 means "no file" (command line, built-ins).
using FileId = std::uint32_t;

/// A span of source text: 1-based line and column of its first character and its length in bytes.
struct SourceRange {
  FileId file = 0;
  std::uint32_t line = 0;
  std::uint32_t column = 0;
  std::uint32_t length = 0;

  bool valid() const { return file != 0 && line != 0; }
  /// The smallest range covering both (same file and line only; otherwise `*this`).
  SourceRange to(const SourceRange& end) const;
};

/// Owns the text of every file read in one compilation.
class SourceManager {
 public:
  /// Adds a file's text under a display name and returns its id.
  FileId add(std::string name, std::string text);
  const std::string& name(FileId id) const;
  std::string_view text(FileId id) const;
  /// The text of a 1-based line, without its line terminator.
  std::string_view line(FileId id, std::uint32_t line) const;
  std::size_t size() const { return files_.size(); }

 private:
  struct File {
    std::string name;
    std::string text;
    std::vector<std::size_t> line_starts;
  };
  std::vector<std::unique_ptr<File>> files_;
  const File& get(FileId id) const;
};

}  // namespace cella::diag
