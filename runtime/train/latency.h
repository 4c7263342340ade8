// The latency table of a supernet and the expected latency its architecture weights imply
// (ProxylessNAS, super_proxyless.py `expected_latency`): every candidate of every cell edge and
// choice layer timed on this machine (or its multiply-accumulates counted), laid out as the
// architecture weights are, so that E[LAT] = fixed + Σ softmax(α)·table is differentiable in α.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "compiler/ir/arch.h"
#include "compiler/ir/plan.h"
#include "runtime/supernet/network.h"

namespace cella::runtime {

struct LatencyTable {
  /// Per cell group [edges, candidates], then per layer group [candidates], summed over the
  /// units of the group: the shapes of SupernetState::alphas. Empty: no table.
  std::vector<torch::Tensor> entries;
  /// Everything without architecture weights: stem, head, fixed layers, cell input adapters, and
  /// node operations (NAS-Bench-101 style) at the mean of their candidates.
  double fixed = 0;
  bool empty() const { return entries.empty(); }
};

/// The table of `program`'s whole space (every candidate, so that every sub-supernet can use it)
/// for images of `size` × `size` pixels: milliseconds of one single-image forward pass in
/// eval mode (the median of `repeats` after a few warm-ups, on one thread, as every latency
/// cella times by default), or millions of multiply-accumulates.
LatencyTable latency_table(const ir::Program& program, ir::LatencySource source, std::int64_t size, int repeats = 15);

/// The median wall time in milliseconds of `repeats` calls of `forward`, after `warmups` more:
/// the one way cella times a network or a module on this machine.
double median_ms(const std::function<void()>& forward, int warmups, int repeats);

/// What a latency figure was timed under. Latency depends on the batch (DyNAS-T's trap 5), on the
/// threads and on whatever else the machine runs: with two threads on two busy cores a network of
/// 0.7 ms timed at 260 ms, with tight quartiles. So every figure goes with these.
struct TimingConditions {
  int threads = 1;  ///< LibTorch's intra-op threads while timing
  int cores = 1;    ///< this machine's
  double load = 0;  ///< the 1-minute load average when the timing began (-1: unknown)
  /// Whether other work competed for the cores: the load average above what this process's
  /// own threads and one more runnable task account for, on the cores left to it.
  bool busy() const;
  /// A one-line warning when busy(), else "".
  std::string warning() const;
};

/// The conditions now, for a timing on `threads` threads.
TimingConditions timing_conditions(int threads);

/// The threads latency is timed with: one unless the command line asked for others (`--threads`
/// given, `requested` > 0). DyNAS-T's notebooks time on one thread; one thread is also what is
/// least disturbed by other work on a shared machine.
int latency_threads(int requested);

/// A network's measured forward time: the median and quartiles of the timed runs, with what they
/// were measured at.
struct LatencyStats {
  double median_ms = 0, q1_ms = 0, q3_ms = 0;
  std::int64_t batch = 1;
  int warmups = 0, repeats = 0;
  TimingConditions conditions;
};

/// The forward time of `arch` as a stand-alone network (fresh weights from seed 0, eval mode, no
/// gradients) on random `batch` × channels × `size` × `size` inputs, on the CPU with `threads`
/// threads (LibTorch's count is restored after): `warmups` untimed runs, then `repeats` timed
/// ones.
LatencyStats measure_latency(const std::shared_ptr<const ir::Program>& program, const ir::Arch& arch, std::int64_t size,
                             std::int64_t batch = 1, int warmups = 5, int repeats = 30, int threads = 1);

/// E[LAT] = fixed + Σ_groups Σ_edges Σ_k θ_k·table_k, θ the softmax of `alphas` over the
/// candidates `mask` enables; differentiable in `alphas`.
torch::Tensor expected_latency(const LatencyTable& table, const Mask& mask, const std::vector<torch::Tensor>& alphas);

/// What the table gives for one architecture: fixed + its candidates' entries, without the
/// choice layers a depth choice leaves out (cells count at their deepest).
double arch_latency(const LatencyTable& table, const ir::Program& program, const ir::Arch& arch);

/// E[LAT] of the whole space (every candidate) under uniform weights: the term's default ref.
double uniform_expected_latency(const LatencyTable& table, const ir::Program& program);

/// The latency term's reference point: the plan's `latency.ref`, else uniform_expected_latency
/// (1 without a table).
double latency_reference(const LatencyTable& table, const ir::Program& program, const ir::LatencyPlan& plan);

}  // namespace cella::runtime
