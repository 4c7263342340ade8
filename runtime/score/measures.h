// The training-free measures on a network already built (runtime/score/proxies.h builds it from
// the architecture and the seed): each one a transcription of its reference code, apart so that
// tests can give them networks whose weights they know.
#pragma once

#include "runtime/supernet/network.h"

namespace cella::runtime::score {

/// synflow on `net` (changed: absolute weights, batch norms as identities, double precision),
/// input ones of shape [1, channels, size, size].
double synflow(Network& net, const Mixing& mix, std::int64_t channels, std::int64_t size);
/// snip on the batch (`net` in training mode, as built).
double snip(Network& net, const Mixing& mix, const torch::Tensor& images, const torch::Tensor& labels);
/// grasp on the batch.
double grasp(Network& net, const Mixing& mix, const torch::Tensor& images, const torch::Tensor& labels);
/// jacob_cov on the batch; NaN where the output ignores the input or a Jacobian is constant.
double jacob_cov(Network& net, const Mixing& mix, const torch::Tensor& images);
/// NASWOT's log-determinant on one batch.
double naswot(Network& net, const Mixing& mix, const torch::Tensor& images);
/// Zen-NAS's score on `net` as it is (the caller draws the Gaussian weights: gaussian_init) for
/// inputs `x` and `mixed` = x + 0.01·x'.
double zen(Network& net, const Mixing& mix, const torch::Tensor& x, const torch::Tensor& mixed);
/// Zen-NAS's network_weight_gaussian_init: N(0, 1) convolution and linear weights, biases 0,
/// batch-norm scales 1.
void gaussian_init(Network& net);

}  // namespace cella::runtime::score
