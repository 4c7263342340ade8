// What the path-sampling methods (`sampler uniform`, `sampler sandwich`) share.
#pragma once

#include <cstdint>

#include "runtime/train/method.h"

namespace cella::runtime {

/// Sample-and-evaluate: the best of `samples` architectures drawn uniformly from the supernet's
/// mask (ir::sample), and of `also` (architectures tried first, before the draws), by accuracy on
/// the first `images` validation images (0: all) with batch statistics. `distinct`: no
/// architecture is tried twice.
ir::Arch best_of_samples(SupernetState& state, const DataSplits& data, std::uint64_t seed, std::int64_t samples,
                         const ProgressFn& progress, const std::vector<ir::Arch>& also = {}, std::int64_t images = 1000,
                         bool distinct = false);

}  // namespace cella::runtime
