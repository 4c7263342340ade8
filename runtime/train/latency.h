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
/// eval mode (the median of `repeats` after a few warm-ups, at the current thread count), or
/// millions of multiply-accumulates.
LatencyTable latency_table(const ir::Program& program, ir::LatencySource source, std::int64_t size, int repeats = 15);

/// The median wall time in milliseconds of `repeats` calls of `forward`, after `warmups` more:
/// the one way cella times a network or a module on this machine.
double median_ms(const std::function<void()>& forward, int warmups, int repeats);

/// A network's measured forward time: the median and quartiles of the timed runs, with what they
/// were measured at (latency depends heavily on the batch, DyNAS-T's trap 5: it goes with the
/// numbers).
struct LatencyStats {
  double median_ms = 0, q1_ms = 0, q3_ms = 0;
  std::int64_t batch = 1;
  int threads = 1, warmups = 0, repeats = 0;
};

/// The forward time of `arch` as a stand-alone network (fresh weights from seed 0, eval mode, no
/// gradients) on random `batch` × channels × `size` × `size` inputs, on the CPU with the current
/// thread count: `warmups` untimed runs, then `repeats` timed ones.
LatencyStats measure_latency(const std::shared_ptr<const ir::Program>& program, const ir::Arch& arch, std::int64_t size,
                             std::int64_t batch = 1, int warmups = 5, int repeats = 30);

/// E[LAT] = fixed + Σ_groups Σ_edges Σ_k θ_k·table_k, θ the softmax of `alphas` over the
/// candidates `mask` enables; differentiable in `alphas`.
torch::Tensor expected_latency(const LatencyTable& table, const Mask& mask, const std::vector<torch::Tensor>& alphas);

/// What the table gives for one architecture: fixed + its candidates' entries, without the
/// choice layers a depth choice leaves out (cells count at their deepest).
double arch_latency(const LatencyTable& table, const ir::Program& program, const ir::Arch& arch);

/// E[LAT] of the whole space (every candidate) under uniform weights: the term's default ref.
double uniform_expected_latency(const LatencyTable& table, const ir::Program& program);

}  // namespace cella::runtime
