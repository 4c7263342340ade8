// The space of architectures a program describes: its size (raw and without isomorphic
// duplicates), enumeration and canonical forms. Uniform sampling is ir::sample (subspace.h).
#pragma once

#include <boost/multiprecision/cpp_int.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "compiler/ir/arch.h"
#include "compiler/ir/ir.h"

namespace cella::passes {

using BigInt = boost::multiprecision::cpp_int;

/// Spaces up to this many architectures are enumerated to count unique ones.
inline constexpr std::uint64_t kEnumerateLimit = 1u << 22;

/// coefficients[k]: number of choices for the cell with exactly k edges present, ignoring
/// constraints.
std::vector<BigInt> edge_count_polynomial(const ir::Cell& cell);
/// Architectures of one cell type (constraints applied).
BigInt cell_size(const ir::Cell& cell);

struct CellCount {
  std::string cell;
  BigInt raw;
  std::optional<BigInt> unique;  ///< absent when the cell space is too large to enumerate
  /// Architectures up to swapping interchangeable inputs of a sum (see swap_free_size); absent
  /// when the cell has none.
  std::optional<BigInt> without_swaps;
};

/// The sizes count for one input resolution: a network that resizes its input to one of
/// several (`resolution 128..224 step 4`) has `resolutions` times as many architectures, which
/// the counts leave out, as Once-for-All's "10^19" does.
struct SpaceSize {
  BigInt raw;
  int resolutions = 1;
  std::optional<BigInt> unique;
  std::optional<BigInt> without_swaps;  ///< the whole space so counted; absent when no cell has swaps
  std::vector<CellCount> cells;         ///< one per cell type used by the network
  std::string unique_note;              ///< why `unique` is absent
};

/// Architectures of the cell counted once per set of symmetric duplicates: two nodes that differ
/// only in their choice and whose results are summed by the same node (NASNet's two picks of a
/// block; the paper's count "with symmetric duplicates" is cell_size) are interchangeable, so k of
/// them with m choices each give C(m+k-1, k) cells, not m^k. nullopt when the cell has no such
/// nodes, or has constraints (which couple the nodes' choices).
std::optional<BigInt> swap_free_size(const ir::Cell& cell);

/// Counts the network's space: one choice per decision group, depth choices summed over.
/// With `unique`, small cell spaces are enumerated to count architectures up to isomorphism.
SpaceSize count(const ir::Program& program, bool unique = true);

/// Calls `fn` for every valid choice of the cell, in a stable order; stops early if `fn` returns false.
void enumerate_cell(const ir::Cell& cell, const std::function<bool(const ir::CellChoice&)>& fn);
/// Every architecture of the network (only for spaces of at most `limit` architectures; returns
/// false without calling `fn` otherwise), at every input resolution, or at the first only.
bool enumerate(const ir::Program& program, std::uint64_t limit, const std::function<bool(const ir::Arch&)>& fn,
               bool every_resolution = true);

/// The canonical form of a cell choice: equal for choices that compute the same function up to
/// weight renaming. It follows NAS-Bench-201's convention: identity edges pass their input on,
/// zero edges and edges from all-zero nodes become '#', the terms of a sum are sorted, and nodes
/// that do not reach the output do not appear.
std::string canonical(const ir::Cell& cell, const ir::CellChoice& choice);
/// Canonical form of a whole architecture (cells, then the chain of layers without identities,
/// then `@` and the input resolution where the network has a resolution choice).
std::string canonical(const ir::Program& program, const ir::Arch& arch);

}  // namespace cella::passes
