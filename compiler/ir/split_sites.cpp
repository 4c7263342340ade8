// The sites a split divides (split_sites.h).
#include "compiler/ir/split_sites.h"

#include <fmt/format.h>

#include <algorithm>

namespace cella::ir {

namespace {

// Candidates are the product of an elastic layer's dimensions, the first varying slowest
// (ir::Unit::elastic): the stride of dimension 0 is the product of the others' sizes.
int stride_of_first(const Unit& u) {
  int stride = 1;
  for (std::size_t d = 1; d < u.elastic.size(); ++d) stride *= static_cast<int>(u.elastic[d].values.size());
  return stride;
}

// The cell type of cell group `group`.
const Cell& cell_of(const Program& p, int group) {
  return p.cells[static_cast<std::size_t>(p.network->cell_groups[static_cast<std::size_t>(group)].cell)];
}

}  // namespace

SplitSites::SplitSites(const Program& program, const std::string& cell) : program_(&program) {
  const Network& n = *program.network;
  if (!n.cell_groups.empty()) {
    group_ = 0;
    for (std::size_t g = 0; g < n.cell_groups.size(); ++g)
      if (program.cells[n.cell_groups[g].cell].props().name == cell) group_ = static_cast<int>(g);
    for (int e = 0; e < cell_of(program, group_).num_edges(); ++e) sites_.push_back(e);
    return;
  }
  for (std::size_t l = 0; l < n.layer_groups.size(); ++l)
    if (!n.units[static_cast<std::size_t>(n.layer_groups[l])].elastic.empty()) sites_.push_back(static_cast<int>(l));
  elastic_ = !sites_.empty();
}

const Unit& SplitSites::unit(int site) const {
  const Network& n = *program_->network;
  return n.units[static_cast<std::size_t>(n.layer_groups[static_cast<std::size_t>(sites_[site])])];
}

std::string SplitSites::name(int site) const {
  if (!elastic_) return cell_of(*program_, group_).edge_name(sites_[site]);
  return fmt::format("{} {}", unit(site).name, unit(site).elastic.front().param);
}

int SplitSites::values(int site) const {
  if (!elastic_) return static_cast<int>(cell_of(*program_, group_).edge(sites_[site]).candidates.size());
  return static_cast<int>(unit(site).elastic.front().values.size());
}

std::string SplitSites::value_name(int site, int value) const {
  if (!elastic_) return cell_of(*program_, group_).edge(sites_[site]).candidates[static_cast<std::size_t>(value)].name;
  return std::to_string(unit(site).elastic.front().values[static_cast<std::size_t>(value)]);
}

int SplitSites::value_of(int site, int candidate) const {
  const Unit& u = unit(site);
  return candidate / stride_of_first(u) % static_cast<int>(u.elastic.front().values.size());
}

int SplitSites::with_value(int site, int candidate, int value) const {
  const int stride = stride_of_first(unit(site));
  return candidate - value_of(site, candidate) * stride + value * stride;
}

std::vector<int> SplitSites::kept(const Mask& mask, int site) const {
  if (!elastic_) return enabled_candidates(mask.cells[group_][sites_[site]]);
  std::vector<int> out;
  const std::vector<bool>& row = mask.layers[static_cast<std::size_t>(sites_[site])];
  for (int c = 0; c < static_cast<int>(row.size()); ++c)
    if (row[static_cast<std::size_t>(c)]) out.push_back(value_of(site, c));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Mask SplitSites::restrict(const Mask& mask, int site, const std::vector<int>& keep) const {
  Mask m = mask;
  std::vector<bool>& row = elastic_ ? m.layers[static_cast<std::size_t>(sites_[site])] : m.cells[group_][sites_[site]];
  for (int c = 0; c < static_cast<int>(row.size()); ++c) {
    const int value = elastic_ ? value_of(site, c) : c;
    if (std::find(keep.begin(), keep.end(), value) == keep.end()) row[static_cast<std::size_t>(c)] = false;
  }
  return m;
}

}  // namespace cella::ir
