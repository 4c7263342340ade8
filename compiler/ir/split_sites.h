// What a split divides (the split strategies of runtime/search): a site is one edge of the cell
// type the plan splits, whose values are the edge's candidates; or, in a network of elastic layers
// and no cell to split, one elastic layer's first dimension (OFA's kernel sizes, which GM-NAS's
// OFA code splits), whose values are the dimension's values. A sub-supernet keeps some values of
// each site: its mask restricts the edge's candidates, or the layer's candidates to those whose
// dimension takes a kept value. Sites are numbered as `split.edges` numbers them.
#pragma once

#include <string>
#include <vector>

#include "compiler/ir/ir.h"
#include "compiler/ir/subspace.h"

namespace cella::ir {

class SplitSites {
 public:
  /// The sites of `program`'s network for a split of cell type `cell` (empty: the first cell
  /// group): that group's edges; in a network without cell groups, its elastic layers.
  SplitSites(const Program& program, const std::string& cell);

  int size() const { return static_cast<int>(sites_.size()); }
  /// Whether the sites are elastic layers' dimensions (else cell edges).
  bool elastic() const { return elastic_; }
  /// The split cell group (cell sites only; -1 for elastic ones).
  int cell_group() const { return group_; }
  /// "2<-1" (an edge), "layers.3 k" (an elastic layer's dimension).
  std::string name(int site) const;
  /// How many values the site has in the whole space.
  int values(int site) const;
  /// An edge's candidate name, or the dimension's value ("5").
  std::string value_name(int site, int value) const;
  /// The values `mask` keeps on the site: an edge's enabled candidates; the dimension's values
  /// that some enabled candidate of the layer has.
  std::vector<int> kept(const Mask& mask, int site) const;
  /// `mask` with the site restricted to `keep` (values outside it disabled).
  Mask restrict(const Mask& mask, int site, const std::vector<int>& keep) const;
  /// For an elastic site: the candidate of the layer that has `value` in the split dimension and
  /// `candidate`'s values in the others.
  int with_value(int site, int candidate, int value) const;
  /// The layer group of an elastic site (-1 for an edge).
  int layer_group(int site) const { return elastic_ ? sites_[static_cast<std::size_t>(site)] : -1; }

 private:
  /// The dimension value of `candidate` of an elastic site's layer.
  int value_of(int site, int candidate) const;
  const Unit& unit(int site) const;

  const Program* program_;
  bool elastic_ = false;
  int group_ = -1;
  std::vector<int> sites_;  ///< edge indices, or layer-group indices
};

}  // namespace cella::ir
