// Parameters and multiply-accumulates of a network, computed from the IR (no LibTorch):
// for one architecture (a stand-alone network, affine batch norm) or for the whole supernet.
#pragma once

#include <cstdint>
#include <optional>

#include "compiler/ir/arch.h"
#include "compiler/ir/ir.h"

namespace cella::passes {

struct NetworkStats {
  std::int64_t params = 0;
  std::int64_t macs = 0;        ///< multiply-accumulates of convolutions and linear layers
  std::int64_t aux_params = 0;  ///< of the auxiliary head, which `params` leaves out (as DARTS counts)
};

/// Stats of `arch` (every unit at its chosen operations), or, with no architecture, of the
/// supernet holding every candidate (of an elastic layer, the largest sub-shape, whose weights
/// the others slice, and OFA's kernel transformations). `size` is the input's side length (28 for Fashion-MNIST); a
/// network with a resolution choice resizes it to the architecture's (the supernet: its largest).
/// `affine` says whether batch norms inside cells and choice layers have weights (stand-alone
/// networks) or not (supernets, as in the reference code).
NetworkStats network_stats(const ir::Program& program, const ir::Arch* arch, std::int64_t size, bool affine);

}  // namespace cella::passes
