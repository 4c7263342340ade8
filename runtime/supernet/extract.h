// Cutting one architecture out of a weight-sharing chain supernet: a stand-alone network with
// only the architecture's layers and sub-shapes, its weights the supernet's (an elastic layer's
// sliced to the chosen kernel and expansion, OFA's kernel transformation baked into the filter;
// ../shared/reference/algorithms-wave2.md §1.8). `cella extract` writes it; `cella eval` and
// `retrain` read it as any run's network.
#pragma once

#include "compiler/ir/arch.h"
#include "runtime/supernet/network.h"

namespace cella::runtime {

/// The stand-alone network of `arch` (Mask::of_arch, supernet = false) with `supernet`'s weights
/// and batch-norm statistics: fixed layers copied, an elastic layer's sub-shape cut out
/// (ElasticMBConvImpl::extract), a plain choice layer's candidate copied (its batch norms, which
/// have no weights in a supernet, start as the identity). In evaluation mode it computes what the
/// supernet computes for `arch` with the same statistics; the statistics are the supernet's shared
/// ones, which a child needs recalibrated (recalibrate_batch_norm) before it is measured. Throws
/// std::invalid_argument when `arch` is not of the space or the space has cells (retrained, not cut).
Network extract(Network& supernet, const ir::Arch& arch);

}  // namespace cella::runtime
