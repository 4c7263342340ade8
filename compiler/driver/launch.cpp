// `cella launch -n N COMMAND...`: starts N processes of COMMAND on this machine as the ranks of one
// data-parallel run, with the variables torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), and watches them: when one fails, it says which and
// stops the others, so that a dead rank never leaves the rest waiting. With --nodes and
// --node-rank the same command on each machine makes one run across them.
#include "compiler/driver/launch.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "compiler/driver/cli.h"

namespace cella::driver {

namespace {

volatile sig_atomic_t forwarded_signal = 0;

void remember_signal(int sig) { forwarded_signal = sig; }

// A TCP port free on this machine now (the kernel's choice), for the rank-0 store.
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

std::string describe(int status) {
  if (WIFSIGNALED(status)) {
    const char* name = sigabbrev_np(WTERMSIG(status));
    return fmt::format("was killed by signal {}{}", WTERMSIG(status), name ? fmt::format(" (SIG{})", name) : "");
  }
  return fmt::format("exited with code {}", WEXITSTATUS(status));
}

int exit_code_of(int status) { return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status); }

}  // namespace

int run_launch(int argc, char** argv) {
  CLI::App app{"cella launch: run a command as N processes of one data-parallel run"};
  app.prefix_command();  // everything from COMMAND on is the command's
  int processes = 1, nodes = 1, node_rank = 0;
  std::string master;
  double grace = 10;
  app.add_option("-n,--processes", processes, "Processes on this machine (default 1)")->check(CLI::Range(1, 1024));
  app.add_option("--nodes", nodes, "Machines taking part, each running this same launch (default 1)")
      ->check(CLI::Range(1, 4096));
  app.add_option("--node-rank", node_rank, "This machine's place among them, from 0 (default 0)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--master", master,
                 "ADDR:PORT of rank 0's machine (default 127.0.0.1 and a free port; needed with --nodes)");
  app.add_option("--grace", grace, "Seconds the other ranks get to stop after one fails (default 10)")
      ->check(CLI::Range(0.0, 3600.0));
  app.footer(
      "Example: cella launch -n 2 cella train spaces/nb201.cella --smoke\n"
      "Each process gets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT, as from "
      "torchrun.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kOk : kUsage;
  }
  std::vector<std::string> command = app.remaining();
  if (command.empty()) {
    std::cerr << "cella launch: error: no COMMAND to run (cella launch -n 2 cella train FILE ...)\n";
    return kUsage;
  }
  if (node_rank >= nodes) {
    std::cerr << fmt::format("cella launch: error: --node-rank {} with --nodes {}: ranks of machines go from 0 to {}\n",
                             node_rank, nodes, nodes - 1);
    return kUsage;
  }
  std::string addr = "127.0.0.1";
  int port = 0;
  if (!master.empty()) {
    auto colon = master.rfind(':');
    try {
      if (colon == std::string::npos) throw std::invalid_argument("no port");
      addr = master.substr(0, colon);
      std::size_t used = 0;
      port = std::stoi(master.substr(colon + 1), &used);
      if (used != master.size() - colon - 1 || port < 1 || port > 65535 || addr.empty())
        throw std::invalid_argument("bad port");
    } catch (const std::exception&) {
      std::cerr << fmt::format("cella launch: error: --master {}: expected ADDR:PORT, as 10.0.0.1:29500\n", master);
      return kUsage;
    }
  } else if (nodes > 1) {
    std::cerr << "cella launch: error: --nodes needs --master ADDR:PORT, the same on every machine\n";
    return kUsage;
  } else if ((port = free_port()) < 0) {
    std::cerr << fmt::format("cella launch: error: cannot find a free port: {}\n", std::strerror(errno));
    return kInternal;
  }
  // `cella` in the command is this cella, wherever it is installed or built.
  if (command[0] == "cella") {
    std::error_code ec;
    std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) command[0] = self.string();
  }

  struct sigaction forward {};
  forward.sa_handler = remember_signal;
  sigemptyset(&forward.sa_mask);
  sigaction(SIGINT, &forward, nullptr);
  sigaction(SIGTERM, &forward, nullptr);

  const int world = processes * nodes;
  const pid_t launcher = ::getpid();
  std::map<pid_t, int> running;  // pid → rank
  for (int local = 0; local < processes; ++local) {
    const int rank = node_rank * processes + local;
    pid_t pid = ::fork();
    if (pid < 0) {
      std::cerr << fmt::format("cella launch: error: cannot start rank {}: {}\n", rank, std::strerror(errno));
      for (auto& [p, r] : running) ::kill(p, SIGTERM);
      return kInternal;
    }
    if (pid == 0) {
      // A launcher that is killed takes its ranks with it (it cannot forward SIGKILL).
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != launcher) _exit(128 + SIGKILL);  // it died before the line above
      signal(SIGINT, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      setenv("RANK", std::to_string(rank).c_str(), 1);
      setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
      setenv("LOCAL_RANK", std::to_string(local).c_str(), 1);
      setenv("LOCAL_WORLD_SIZE", std::to_string(processes).c_str(), 1);
      setenv("MASTER_ADDR", addr.c_str(), 1);
      setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      std::vector<char*> args;
      for (std::string& a : command) args.push_back(a.data());
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      std::cerr << fmt::format("cella launch: error: cannot run {}: {}\n", command[0], std::strerror(errno));
      _exit(127);
    }
    running[pid] = rank;
  }

  int result = kOk;
  bool stopping = false;
  auto deadline = std::chrono::steady_clock::time_point::max();
  auto stop_others = [&](int sig) {
    for (auto& [p, r] : running) ::kill(p, sig);
  };
  while (!running.empty()) {
    if (forwarded_signal && !stopping) {  // Ctrl-C or a kill of the launcher reaches every rank
      stopping = true;
      stop_others(forwarded_signal);
      result = 128 + forwarded_signal;
      deadline = std::chrono::steady_clock::now() +
                 std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(grace));
    }
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0 && running.count(pid)) {
      const int rank = running[pid];
      running.erase(pid);
      const bool failed = !WIFEXITED(status) || WEXITSTATUS(status) != 0;
      if (failed && !stopping) {
        std::cerr << fmt::format("cella launch: rank {} (pid {}) {}; stopping the other {}\n", rank, pid,
                                 describe(status), running.size());
        stopping = true;
        result = exit_code_of(status);
        stop_others(SIGTERM);
        deadline = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                          std::chrono::duration<double>(grace));
      }
      continue;
    }
    if (pid < 0 && errno != EINTR) break;
    if (stopping && std::chrono::steady_clock::now() > deadline) {
      stop_others(SIGKILL);
      deadline = std::chrono::steady_clock::time_point::max();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return result;
}

}  // namespace cella::driver
