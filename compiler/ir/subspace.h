// Sub-spaces of a network's architectures: a Mask keeps some candidates of each decision (a
// sub-supernet of a split holds the architectures its mask keeps), and the one uniform sampler
// that `cella sample`, path-sampling training, derivation and evaluation all draw from, so that
// nothing samples outside the declared space.
//
// What "holds" means: an architecture is held by a mask when every candidate it uses is
// enabled. An edge the architecture leaves out (an unselected input of a `select` node, an
// absent optional edge) uses no candidate, so any mask holds it there; a layer beyond its
// stage's chosen depth uses none either. A mask may hold no architecture at all: a `select 2`
// node with two inputs whose one edge keeps only `none` (a Few-Shot child for `none`) cannot
// keep two inputs.
#pragma once

#include <optional>
#include <random>
#include <string>
#include <vector>

#include "compiler/ir/arch.h"
#include "compiler/ir/ir.h"

namespace cella::ir {

/// Which candidates exist, per decision group.
struct Mask {
  std::vector<std::vector<std::vector<bool>>> cells;  ///< [cell group][edge][candidate]
  std::vector<std::vector<std::vector<bool>>> nodes;  ///< [cell group][node][operation]
  /// [cell group][node][combine mode] (NodeProps::combines): a supernet builds a concatenating
  /// node's projection where concat is on, a plain network combines with the one mode on
  std::vector<std::vector<std::vector<bool>>> combines;
  std::vector<std::vector<bool>> layers;  ///< [layer group][candidate]
  /// [depth group][index into Stage::depths]: a layer deeper than every depth left on never runs,
  /// and a network of the mask does not allocate it (lower.h)
  std::vector<std::vector<bool>> depths;
  /// [width group][index into Stage::widths]: a network of the mask is built at the widest width
  /// left on (lower.h), which the narrower ones slice
  std::vector<std::vector<bool>> widths;

  /// Every candidate enabled: the whole supernet.
  static Mask full(const Program& program);
  /// Only the architecture's choices: a plain network.
  static Mask of_arch(const Program& program, const Arch& arch);
  bool operator==(const Mask&) const = default;
};

/// The deepest depth `mask` leaves depth group `group`: an index into its stage's Stage::depths,
/// or -1 when it leaves none. A layer at or past that depth never runs under the mask.
int deepest_depth(const Program& program, const Mask& mask, int group);

/// The widest width `mask` leaves width group `group`: an index into its stage's Stage::widths,
/// or -1 when it leaves none.
int widest_width(const Program& program, const Mask& mask, int group);

/// Whether `mask` holds `arch` (see the file comment for absent edges and inactive layers).
bool holds(const Program& program, const Mask& mask, const Arch& arch);

/// Why `mask` holds no architecture of the network ("node 2 of cell 'normal' must keep 2
/// inputs but only 1 of its edges keeps a real operation"), or nullopt when it holds some.
std::optional<std::string> why_empty(const Program& program, const Mask& mask);

/// A uniformly random architecture among those `mask` holds: every architecture of that
/// sub-space is equally likely (as Few-Shot NAS samples a sub-supernet's pool). Inactive layers
/// keep their first enabled candidate, so equal architectures compare equal. Throws
/// std::invalid_argument with why_empty's reason when the mask holds none.
Arch sample(const Program& program, const Mask& mask, std::mt19937_64& rng);
/// A uniformly random architecture of the whole space.
Arch sample(const Program& program, std::mt19937_64& rng);

/// Indices of the enabled candidates in one row of a mask.
std::vector<int> enabled_candidates(const std::vector<bool>& row);
/// The enabled indices of row `row` of `rows`, or all `size` of them where there is no such row
/// (no mask: the whole space).
std::vector<int> enabled_or_all(const std::vector<std::vector<bool>>* rows, std::size_t row, std::size_t size);

/// The largest architecture of a space of elastic layers, or of the part `mask` holds (a split's
/// sub-supernet): every choice layer's last enabled candidate (an elastic layer's largest value of
/// every dimension the mask leaves), every stage at its deepest and widest, the largest
/// resolution. What BigNAS's sandwich trains with the labels; `--arch largest`.
Arch largest_arch(const Program& program, const Mask* mask = nullptr);
/// The smallest: every first enabled candidate, the shallowest and narrowest stages, the smallest
/// resolution (`--arch smallest`).
Arch smallest_arch(const Program& program, const Mask* mask = nullptr);

/// All k-subsets of {0..n-1}, in lexicographic order (the input sets a `select k` node can keep).
std::vector<std::vector<int>> k_subsets(int n, int k);

}  // namespace cella::ir
