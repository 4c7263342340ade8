// Run directories.
#include "runtime/run/run_dir.h"

#include "runtime/base/durable_file.h"
#include "runtime/run/config.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace cella::runtime {

namespace fs = std::filesystem;

RunDir::RunDir(std::string path, bool resume) : path_(std::move(path)) {
  std::error_code ec;
  if (resume) {
    if (!fs::is_directory(path_, ec)) throw std::runtime_error(fmt::format("{}: no such run directory", path_));
    if (!fs::exists(path_ + "/config.json"))
      throw std::runtime_error(fmt::format("{}: not a cella run (no config.json)", path_));
    return;
  }
  // A new run in a directory that holds another would pick up that run's checkpoints as if it
  // were resuming: training from another seed, plan or network, without a word.
  if (fs::exists(path_ + "/config.json", ec)) {
    std::string kind;  // "" for a damaged config.json: the refusal stands, without the advice
    try {
      kind = run_kind(*this);
    } catch (const std::runtime_error&) {}
    // An extraction has no --resume: it is written whole at its end (a killed one leaves
    // nothing), so one that is there is finished.
    if (kind == "extract")
      throw std::runtime_error(
          fmt::format("{} already holds a `cella extract` run (config.json); give a new --out, or delete it", path_));
    throw std::runtime_error(fmt::format(
        "{} already holds a {}run (config.json); continue it with `cella {}--resume "
        "{}`, or give a new --out",
        path_, kind.empty() ? "" : fmt::format("`cella {}` ", kind), kind.empty() ? "" : kind + " ", path_));
  }
  created_ = !fs::exists(path_, ec);
  fs::create_directories(path_, ec);
  if (ec) throw std::runtime_error(fmt::format("cannot create run directory {}: {}", path_, ec.message()));
}

NewRun::~NewRun() {
  if (!run_) return;
  std::error_code ec;  // best effort: a destructor reports nothing
  if (run_->created()) {
    fs::remove_all(run_->path(), ec);
    return;
  }
  for (const char* name : {"config.json", "space.cella"}) fs::remove(run_->file(name), ec);
}

bool RunDir::write_drawing(const std::string& stem, const std::string& dot) const {
  write(stem + ".dot", dot);
  std::string cmd = fmt::format("dot -Tsvg '{}' -o '{}' 2>/dev/null", file(stem + ".dot"), file(stem + ".svg"));
  return std::system(cmd.c_str()) == 0;
}

void RunDir::write(const std::string& name, const std::string& text) const { write_durably(file(name), text); }

std::string RunDir::read(const std::string& name) const {
  std::ifstream in(file(name), std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("{}: cannot read", file(name)));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool RunDir::exists(const std::string& name) const { return fs::exists(file(name)); }

void RunDir::metric(const nlohmann::json& record) const {
  std::ofstream out(file("metrics.jsonl"), std::ios::app);
  out << record.dump() << "\n";
  out.flush();
}

std::string new_run_path(const std::string& source_file, const std::string& command) {
  auto now = std::chrono::system_clock::now();
  std::string stamp = fmt::format("{:%Y%m%d-%H%M%S}", fmt::localtime(std::chrono::system_clock::to_time_t(now)));
  std::string base = fmt::format("runs/{}-{}-{}", fs::path(source_file).stem().string(), command, stamp);
  std::string path = base;
  for (int i = 2; fs::exists(path); ++i) path = fmt::format("{}-{}", base, i);
  return path;
}

}  // namespace cella::runtime
