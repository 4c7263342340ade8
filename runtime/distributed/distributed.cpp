// The process group, its collectives and what a failed one says.
#include "runtime/distributed/distributed.h"

// The Gloo process group is declared only under this macro (LibTorch's build sets it); its header
// needs Gloo's headers (Debian's libgloo-dev, which the wheels' Gloo is compatible with here).
#define USE_C10D_GLOO 1
#include <torch/torch.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <thread>

namespace cella::runtime::distributed {

namespace {

struct Group {
  Environment env;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  std::vector<std::string> hosts;  ///< per rank, its host name
  std::vector<long> pids;          ///< per rank, its process id
  Communication spent;             ///< in collectives
};

std::unique_ptr<Group>& group() {
  static std::unique_ptr<Group> g;
  return g;
}

std::atomic<int> sharded_depth{0};
std::atomic<int> solo_depth{0};

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "?";
  return buf;
}

// Whether process `pid` on this host has ended (a zombie not yet reaped counts as ended).
bool process_ended(long pid) {
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return true;
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  std::string line;
  if (!std::getline(stat, line)) return true;
  auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

// What a failed collective says: which rank is gone where this host can tell.
[[noreturn]] void fail(const std::string& what, const std::string& cause) {
  const Group& g = *group();
  std::vector<std::string> gone;
  bool remote = false;
  // A rank's connections close while it exits, a moment before it has ended: look for a while.
  for (int attempt = 0; attempt < 40 && gone.empty(); ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (int r = 0; r < g.env.world; ++r) {
      if (r == g.env.rank) continue;
      if (g.hosts[static_cast<std::size_t>(r)] != g.hosts[static_cast<std::size_t>(g.env.rank)]) {
        remote = true;
      } else if (process_ended(g.pids[static_cast<std::size_t>(r)])) {
        gone.push_back(fmt::format("rank {} (pid {})", r, g.pids[static_cast<std::size_t>(r)]));
      }
    }
  }
  std::string who = !gone.empty() ? fmt::format("{} has stopped", fmt::join(gone, ", "))
                    : remote      ? "another rank stopped or cannot be reached (it may be on another machine)"
                                  : "another rank stopped answering";
  throw DistributedError(fmt::format("rank {}: {} failed: {} ({})", g.env.rank, what, who, cause));
}

template <class F>
void collective(const std::string& what, std::int64_t bytes, F&& f) {
  Group& g = *group();
  auto start = std::chrono::steady_clock::now();
  try {
    f(*g.pg);
  } catch (const DistributedError&) {
    throw;
  } catch (const c10::Error& e) {
    fail(what, e.what_without_backtrace());
  } catch (const std::exception& e) {
    fail(what, e.what());
  }
  g.spent.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  g.spent.collectives += 1;
  g.spent.bytes += bytes;
}

int parse_int(const char* name, const char* text, int lo, int hi) {
  int v = 0;
  const char* end = text + std::char_traits<char>::length(text);
  auto [p, ec] = std::from_chars(text, end, v);
  if (ec != std::errc() || p != end || v < lo || v > hi)
    throw std::invalid_argument(fmt::format("{}={}: expected an integer from {} to {}", name, text, lo, hi));
  return v;
}

struct SyncedSum : torch::autograd::Function<SyncedSum> {
  static torch::Tensor forward(torch::autograd::AutogradContext*, const torch::Tensor& t) {
    std::vector<torch::Tensor> s{t.detach().clone()};
    all_reduce_sum(s);
    return s[0];
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext*,
                                                 torch::autograd::variable_list grads) {
    std::vector<torch::Tensor> s{grads[0].contiguous().clone()};
    all_reduce_sum(s);
    return {s[0]};
  }
};

}  // namespace

std::optional<Environment> Environment::from_environment() {
  const char* world = std::getenv("WORLD_SIZE");
  if (!world) return std::nullopt;
  Environment e;
  e.world = parse_int("WORLD_SIZE", world, 1, 65536);
  const char* rank = std::getenv("RANK");
  if (!rank && e.world > 1) throw std::invalid_argument("WORLD_SIZE is set but RANK is not");
  if (rank) e.rank = parse_int("RANK", rank, 0, e.world - 1);
  if (const char* local = std::getenv("LOCAL_RANK")) e.local_rank = parse_int("LOCAL_RANK", local, 0, 65535);
  if (const char* addr = std::getenv("MASTER_ADDR"); addr && *addr) e.master_addr = addr;
  if (const char* port = std::getenv("MASTER_PORT")) e.master_port = parse_int("MASTER_PORT", port, 1, 65535);
  return e;
}

void init(const Environment& env, std::chrono::milliseconds timeout) {
  auto g = std::make_unique<Group>();
  g->env = env;
  if (env.world > 1) {
    try {
      // torchrun's static rendezvous serves the store from its agent (TORCHELASTIC_USE_AGENT_STORE):
      // every rank is a client there, under the prefix torch.distributed uses; otherwise rank 0
      // serves it, as with `cella launch`.
      const char* agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
      const bool agent_store = agent && std::string(agent) == "True";
      c10d::TCPStoreOptions so;
      so.port = static_cast<std::uint16_t>(env.master_port);
      so.isServer = !agent_store && env.rank == 0;
      so.numWorkers = static_cast<std::size_t>(env.world);
      so.waitWorkers = !agent_store;
      so.timeout = timeout;
      c10::intrusive_ptr<c10d::Store> tcp = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
      const char* attempt = std::getenv("TORCHELASTIC_RESTART_COUNT");
      g->store = tcp;
      if (agent_store)
        g->store =
            c10::make_intrusive<c10d::PrefixStore>(fmt::format("/worker/attempt_{}", attempt ? attempt : "0"), tcp);
      auto options = c10d::ProcessGroupGloo::Options::create(timeout);
      // Loopback when every rank is on this machine; otherwise the interface GLOO_SOCKET_IFNAME
      // names, or the one this host's name resolves to (as torch.distributed chooses).
      const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
      options->devices.push_back(env.master_addr == "127.0.0.1" || env.master_addr == "localhost"
                                     ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                 : ifname && *ifname ? c10d::ProcessGroupGloo::createDeviceForInterface(ifname)
                                                     : c10d::ProcessGroupGloo::createDefaultDevice());
      g->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(g->store, env.rank, env.world, options);
      // Who is who, kept here: once a rank has died the store may have gone with it.
      g->store->set(fmt::format("cella/proc/{}", env.rank), [&] {
        std::string s = fmt::format("{} {}", host_name(), static_cast<long>(::getpid()));
        return std::vector<std::uint8_t>(s.begin(), s.end());
      }());
      for (int r = 0; r < env.world; ++r) {
        std::vector<std::uint8_t> v = g->store->get(fmt::format("cella/proc/{}", r));
        std::string s(v.begin(), v.end());
        auto space = s.rfind(' ');
        g->hosts.push_back(s.substr(0, space));
        g->pids.push_back(std::strtol(s.c_str() + space + 1, nullptr, 10));
      }
    } catch (const c10::Error& e) {
      throw DistributedError(fmt::format("rank {}: cannot join the group of {} at {}:{}: {}", env.rank, env.world,
                                         env.master_addr, env.master_port, e.what_without_backtrace()));
    } catch (const std::exception& e) {
      throw DistributedError(fmt::format("rank {}: cannot join the group of {} at {}:{}: {}", env.rank, env.world,
                                         env.master_addr, env.master_port, e.what()));
    }
  }
  group() = std::move(g);
}

int rank() { return group() ? group()->env.rank : 0; }
int world() { return group() && solo_depth.load() == 0 ? group()->env.world : 1; }

std::pair<std::int64_t, std::int64_t> shard(std::int64_t n) {
  if (!active()) return {0, n};
  const std::int64_t r = rank(), w = world();
  return {n * r / w, n * (r + 1) / w};
}

void all_reduce_sum(std::vector<torch::Tensor>& tensors) {
  if (!active()) return;
  // One buffer per (dtype, device), in the order the tensors come.
  std::map<std::pair<int, std::string>, std::vector<std::size_t>> buckets;
  for (std::size_t i = 0; i < tensors.size(); ++i)
    if (tensors[i].defined())
      buckets[{static_cast<int>(tensors[i].scalar_type()), tensors[i].device().str()}].push_back(i);
  torch::NoGradGuard no_grad;
  for (auto& [key, members] : buckets) {
    std::vector<torch::Tensor> flat;
    for (std::size_t i : members) flat.push_back(tensors[i].reshape(-1));
    std::vector<torch::Tensor> buffer{torch::cat(flat)};
    collective("all-reduce", buffer[0].nbytes(), [&](c10d::ProcessGroupGloo& pg) { pg.allreduce(buffer)->wait(); });
    std::int64_t offset = 0;
    for (std::size_t i : members) {
      std::int64_t n = tensors[i].numel();
      tensors[i].copy_(buffer[0].narrow(0, offset, n).view_as(tensors[i]));
      offset += n;
    }
  }
}

torch::Tensor synced_sum(const torch::Tensor& t) {
  if (!active()) return t;
  return SyncedSum::apply(t);
}

void broadcast(torch::Tensor& t, int root) {
  if (!active()) return;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> v{t.contiguous()};
  c10d::BroadcastOptions from;
  from.rootRank = root;
  collective("broadcast", v[0].nbytes(), [&](c10d::ProcessGroupGloo& pg) { pg.broadcast(v, from)->wait(); });
  if (!v[0].is_same(t)) t.copy_(v[0]);
}

void broadcast_bytes(std::string& bytes, int root) {
  if (!active()) return;
  torch::Tensor size = torch::tensor({static_cast<std::int64_t>(bytes.size())}, torch::kInt64);
  broadcast(size, root);
  const auto n = size.item<std::int64_t>();
  torch::Tensor data = torch::empty({n}, torch::kUInt8);
  if (rank() == root) std::memcpy(data.data_ptr(), bytes.data(), bytes.size());
  broadcast(data, root);
  bytes.assign(static_cast<const char*>(data.data_ptr()), static_cast<std::size_t>(n));
}

void check_agreement(std::uint64_t value, const std::string& what) {
  if (!active()) return;
  const auto hi = static_cast<std::int64_t>(value >> 32), lo = static_cast<std::int64_t>(value & 0xffffffffu);
  std::vector<torch::Tensor> t{torch::tensor({hi, lo, -hi, -lo}, torch::kInt64)};
  c10d::AllreduceOptions max;
  max.reduceOp = c10d::ReduceOp::MAX;
  collective("agreement check", t[0].nbytes(), [&](c10d::ProcessGroupGloo& pg) { pg.allreduce(t, max)->wait(); });
  auto a = t[0].accessor<std::int64_t, 1>();
  if (a[0] != -a[2] || a[1] != -a[3])
    throw DistributedError(
        fmt::format("rank {}: the ranks disagree on {}: start every rank with the same command "
                    "and files",
                    rank(), what));
}

Communication communication() { return group() ? group()->spent : Communication{}; }

Sharded::Sharded() { ++sharded_depth; }
Sharded::~Sharded() { --sharded_depth; }
bool sharded() { return sharded_depth.load() > 0 && active(); }

Solo::Solo() { ++solo_depth; }
Solo::~Solo() { --solo_depth; }

}  // namespace cella::runtime::distributed
