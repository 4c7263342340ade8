// Data-parallel training across processes with PyTorch's c10d (a TCP store for the rendezvous and
// the Gloo process group for collectives, on CPU tensors and on CUDA ones).
//
// A process is one rank, as with torch.distributed: the group is made once, from the variables
// `torchrun` and `cella launch` set (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), and
// every rank runs the same code on the same seeds, so sampled paths, batch orders and
// architecture steps agree without being sent. What differs is the share of each batch a rank
// computes: `shard` says which rows, and while a `Sharded` scope is open batch norm takes its
// statistics over the whole global batch (`synced_sum`), so that the sum of the ranks' gradients is
// the gradient of one process on the whole batch.
#pragma once

#include <torch/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace cella::runtime::distributed {

/// Where this process stands in a multi-process run, as the environment says.
struct Environment {
  int rank = 0, world = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  /// The environment's values, or nullopt when WORLD_SIZE is unset. Throws std::invalid_argument
  /// naming the variable when one is malformed (RANK out of range, a port that is no port...).
  static std::optional<Environment> from_environment();
};

/// A collective that failed: a rank died or stopped answering. The message names this rank, and
/// the one that is gone where the others can tell.
struct DistributedError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Joins the group of `env.world` processes (blocks until all have joined or `timeout` passes;
/// collectives later fail after `timeout` too). Throws DistributedError on failure.
void init(const Environment& env, std::chrono::milliseconds timeout);

/// This process's rank and the number of ranks (0 and 1 without init).
int rank();
int world();
/// Whether several processes train together.
inline bool active() { return world() > 1; }
/// Whether this rank writes the run directory and prints progress.
inline bool leader() { return rank() == 0; }

/// Rows [first, last) of `n` that this rank computes: contiguous and balanced (sizes differ by at
/// most one; a rank's share is empty when `n` < world()).
std::pair<std::int64_t, std::int64_t> shard(std::int64_t n);

/// Sums each tensor over the ranks, in place, in one collective (the tensors are flattened into
/// one buffer per dtype and device). Undefined tensors are skipped; every rank must pass the
/// same shapes in the same order.
void all_reduce_sum(std::vector<torch::Tensor>& tensors);

/// Sums `t` over the ranks, differentiably: the backward pass sums the gradient over the ranks
/// (every rank's loss depends on the sum). Batch norm's global statistics go through it.
torch::Tensor synced_sum(const torch::Tensor& t);

/// Sends rank `root`'s `t` to every rank, in place.
void broadcast(torch::Tensor& t, int root = 0);

/// Sends rank `root`'s `bytes` to every rank (the others' are replaced, whatever their length).
void broadcast_bytes(std::string& bytes, int root);

/// Every rank agrees on `value` (a hash of the plan, the seed...); throws DistributedError
/// naming `what` and the ranks' values otherwise.
void check_agreement(std::uint64_t value, const std::string& what);

/// What this rank's collectives took since init: their number, the bytes it sent into them, and
/// the seconds it spent in them (communication, and waiting for the slowest rank).
struct Communication {
  std::int64_t collectives = 0, bytes = 0;
  double seconds = 0;
};
Communication communication();

/// While one is open, training-mode batch norm (ops/modules.h's BatchNorm) computes its
/// statistics over the ranks' shards together. Opened around forward passes on shards of one
/// global batch; nested scopes are fine.
class Sharded {
 public:
  Sharded();
  ~Sharded();
  Sharded(const Sharded&) = delete;
  Sharded& operator=(const Sharded&) = delete;
};
/// Whether a Sharded scope is open and several ranks take part.
bool sharded();

/// While one is open, this rank computes by itself, as a process alone would: world() is 1,
/// active() false, `shard` gives every row and the collectives do nothing; rank() and leader()
/// stay what they are. The sub-supernets a search trains on different ranks at once train so.
class Solo {
 public:
  Solo();
  ~Solo();
  Solo(const Solo&) = delete;
  Solo& operator=(const Solo&) = delete;
};

}  // namespace cella::runtime::distributed
