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
  /// Writes a whole file atomically and durably (runtime/base/durable_file.h); a failure (a full
  /// disk) is a WriteError naming the file, the previous version left as it was.
  void write(const std::string& name, const std::string& text) const;
  /// Writes `stem`.dot and, where graphviz is installed, renders it to `stem`.svg; returns
  /// whether the SVG was written.
  bool write_drawing(const std::string& stem, const std::string& dot) const;
  std::string read(const std::string& name) const;
  bool exists(const std::string& name) const;
  /// Appends one line of metrics.
  void metric(const nlohmann::json& record) const;
  /// Whether this object made the directory (a new run into a directory that did not exist).
  bool created() const { return created_; }

 private:
  std::string path_;
  bool created_ = false;
};

/// A new run that is not yet worth keeping: if the command fails before keep() (a bad `--init`,
/// a damaged checkpoint read after the directory was made, a refusal), the destructor removes
/// what it began, so a failed command leaves nothing behind and running it again is not refused as
/// "already holds a run". A directory this run made is removed whole; one that existed before
/// loses only config.json and space.cella. A killed process runs no destructor: what a kill leaves
/// is resumed (`--resume`), not removed.
class NewRun {
 public:
  explicit NewRun(const RunDir& run) : run_(&run) {}
  ~NewRun();
  NewRun(const NewRun&) = delete;
  NewRun& operator=(const NewRun&) = delete;
  void keep() { run_ = nullptr; }

 private:
  const RunDir* run_;
};

/// A fresh run directory name under `runs/`: runs/<stem>-<YYYYmmdd-HHMMSS>.
std::string new_run_path(const std::string& source_file, const std::string& command);

}  // namespace cella::runtime
