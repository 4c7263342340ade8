// Test helpers that need no part of cella: run a shell command, read files and CSV rows.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace cella::testing_helpers {

struct Output {
  std::string text;
  int code;  ///< exit code, or -1 if the process did not exit normally
};

/// Runs `command` with /bin/sh and returns what it printed on standard output and its exit code.
inline Output run_shell(const std::string& command) {
  FILE* p = popen(command.c_str(), "r");
  std::string text;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) text.append(buf, n);
  int status = pclose(p);
  return {text, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

/// Runs the built `cella` from the source root with colour off; both output streams captured.
inline Output run_cella(const std::string& args) {
  return run_shell("cd '" CELLA_SOURCE_DIR "' && NO_COLOR=1 '" CELLA_BINARY "' " + args + " 2>&1");
}

/// An empty scratch path for one test: `<tmp>/<prefix><pid>`, removed if it was there.
inline std::filesystem::path fresh_dir(const std::string& prefix) {
  std::filesystem::path dir = std::filesystem::temp_directory_path() / (prefix + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  return dir;
}

// Starts `cella ARGS` in the background, waits (at most two minutes, polling every `poll`) for
// `file` to appear, waits `after` more, then kills it with SIGKILL. Returns whether the signal
// ended it, i.e. it was still running.
inline bool kill_cella_when(const std::string& args, const std::filesystem::path& file, std::chrono::milliseconds poll,
                            std::chrono::milliseconds after = std::chrono::milliseconds(0)) {
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    std::string cmd = "cd '" CELLA_SOURCE_DIR "' && exec '" CELLA_BINARY "' " + args + " >/dev/null 2>&1";
    execl("/bin/sh", "sh", "-c", cmd.c_str(), nullptr);
    _exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!std::filesystem::exists(file) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(poll);
  std::this_thread::sleep_for(after);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFSIGNALED(status);
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// The data rows of a comma-separated file without quoting (the header is skipped).
inline std::vector<std::vector<std::string>> csv_rows(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::vector<std::string>> rows;
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    std::stringstream ss(line);
    std::string field;
    while (std::getline(ss, field, ',')) fields.push_back(field);
    rows.push_back(std::move(fields));
  }
  return rows;
}

}  // namespace cella::testing_helpers
