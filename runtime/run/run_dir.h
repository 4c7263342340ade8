// Run directories: what a training command leaves behind. config.json (everything needed to
// rebuild the run), space.cella (the source it ran), metrics.jsonl (one JSON object per line),
// checkpoint.pt (atomic), arch.txt / arch.json / arch.dot / arch.svg and result.json at the end.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace cella::runtime {

class RunDir {
 public:
  /// Creates (or, with `resume`, opens) the directory.
  RunDir(std::string path, bool resume);
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  /// Writes a whole file atomically (temporary file, fsync, rename).
  void write(const std::string& name, const std::string& text) const;
  /// Writes `stem`.dot and, where graphviz is installed, renders it to `stem`.svg; returns
  /// whether the SVG was written.
  bool write_drawing(const std::string& stem, const std::string& dot) const;
  std::string read(const std::string& name) const;
  bool exists(const std::string& name) const;
  /// Appends one line of metrics.
  void metric(const nlohmann::json& record) const;

 private:
  std::string path_;
};

/// A fresh run directory name under `runs/`: runs/<stem>-<YYYYmmdd-HHMMSS>.
std::string new_run_path(const std::string& source_file, const std::string& command);

}  // namespace cella::runtime
