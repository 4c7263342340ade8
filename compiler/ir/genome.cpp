// Genomes: the integer-vector form of architectures (layout in genome.h).
#include "compiler/ir/genome.h"

#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

#include "compiler/ir/subspace.h"

namespace cella::ir {
namespace {

// One decision of the network, with the values it can take. Decisions with one value are kept
// here (decoding still has to fill them in) but get no gene.
struct Slot {
  enum class Kind { Select, Edge, NodeOp, Combine, Layer, ElasticDim, Depth, Width, Resolution } kind;
  int group = 0;            // cell group, layer group, depth group or width group
  int node = -1;            // Select, NodeOp, Combine: the node; Edge: its target
  int edge = -1;            // Edge
  std::vector<int> values;  // Edge: candidate per value (-1: absent); Select: unused
  int cardinality = 1;
  std::string name;
  int stride = 1;  // ElasticDim: its value's weight in the layer's choice index
};

// A selected edge runs a real operation (sema and check_arch refuse `none` there).
std::vector<int> real_candidates(const Cell& c, int e) {
  std::vector<int> out;
  for (std::size_t k = 0; k < c.edge(e).candidates.size(); ++k)
    if (!c.edge(e).candidates[k].is_zero(1)) out.push_back(static_cast<int>(k));
  return out;
}

std::vector<Slot> layout(const Program& p, const GenomeOptions& options) {
  const Network& n = *p.network;
  std::vector<Slot> slots;
  for (std::size_t g = 0; g < n.cell_groups.size(); ++g) {
    const Cell& c = p.cells[n.cell_groups[g].cell];
    const std::string prefix = n.cell_groups.size() > 1 ? n.cell_groups[g].name + "." : "";
    for (int v = c.props().inputs; v < c.num_nodes(); ++v) {
      const NodeProps& np = c.node(v);
      std::vector<int> in = c.in_edges(v);
      if (np.select > 0) {
        int subsets = static_cast<int>(k_subsets(static_cast<int>(in.size()), np.select).size());
        slots.push_back(
            {Slot::Kind::Select, static_cast<int>(g), v, -1, {}, subsets, fmt::format("{}node {}.inputs", prefix, v)});
      }
      for (int e : in) {
        Slot s{Slot::Kind::Edge, static_cast<int>(g), v, e, {}, 0, fmt::format("{}edge {}", prefix, c.edge_name(e))};
        if (np.select > 0) {
          s.values = real_candidates(c, e);
        } else {
          if (c.edge(e).optional) s.values.push_back(-1);
          for (std::size_t k = 0; k < c.edge(e).candidates.size(); ++k) s.values.push_back(static_cast<int>(k));
        }
        s.cardinality = static_cast<int>(s.values.size());
        slots.push_back(std::move(s));
      }
      if (!np.ops.empty())
        slots.push_back({Slot::Kind::NodeOp,
                         static_cast<int>(g),
                         v,
                         -1,
                         {},
                         static_cast<int>(np.ops.size()),
                         fmt::format("{}node {}.op", prefix, v)});
      if (np.chooses_combine())
        slots.push_back({Slot::Kind::Combine,
                         static_cast<int>(g),
                         v,
                         -1,
                         {},
                         static_cast<int>(np.combines.size()),
                         fmt::format("{}node {}.combine", prefix, v)});
    }
  }
  std::size_t dimensions = 0;
  for (std::size_t l = 0; l < n.layer_groups.size(); ++l) {
    const Unit& u = n.units[n.layer_groups[l]];
    dimensions = std::max(dimensions, u.elastic.size());
    if (u.elastic.empty())
      slots.push_back({Slot::Kind::Layer, static_cast<int>(l), -1, -1, {}, static_cast<int>(u.choices.size()), u.name});
  }
  // An elastic layer's candidates are its dimensions' combinations, the first varying slowest
  // (ir.h, Unit::elastic): a dimension's value weighs the product of the later ones' sizes.
  for (std::size_t d = 0; d < dimensions; ++d)
    for (std::size_t l = 0; l < n.layer_groups.size(); ++l) {
      const Unit& u = n.units[n.layer_groups[l]];
      if (u.elastic.size() <= d) continue;
      int stride = 1;
      for (std::size_t later = d + 1; later < u.elastic.size(); ++later)
        stride *= static_cast<int>(u.elastic[later].values.size());
      Slot s{Slot::Kind::ElasticDim,
             static_cast<int>(l),
             static_cast<int>(d),
             -1,
             {},
             static_cast<int>(u.elastic[d].values.size()),
             u.name + "." + u.elastic[d].param};
      s.stride = stride;
      slots.push_back(std::move(s));
    }
  for (std::size_t d = 0; d < n.depth_groups.size(); ++d)
    slots.push_back({Slot::Kind::Depth,
                     static_cast<int>(d),
                     -1,
                     -1,
                     {},
                     static_cast<int>(n.stages[n.depth_groups[d]].depths.size()),
                     fmt::format("depth.stage {}", n.depth_groups[d])});
  for (std::size_t w = 0; w < n.width_groups.size(); ++w)
    slots.push_back({Slot::Kind::Width,
                     static_cast<int>(w),
                     -1,
                     -1,
                     {},
                     static_cast<int>(n.stages[n.width_groups[w]].widths.size()),
                     fmt::format("width.stage {}", n.width_groups[w])});
  const int resolutions = options.fixed_resolution >= 0 ? 1 : std::max<int>(1, static_cast<int>(n.resolutions.size()));
  slots.push_back({Slot::Kind::Resolution, 0, -1, -1, {}, resolutions, "resolution"});
  return slots;
}

// The input edges a select node keeps, as positions in in_edges.
std::vector<int> kept_inputs(const Cell& c, int v, int subset) {
  return k_subsets(static_cast<int>(c.in_edges(v).size()), c.node(v).select).at(static_cast<std::size_t>(subset));
}

int position(const std::vector<int>& values, int value) {
  for (std::size_t i = 0; i < values.size(); ++i)
    if (values[i] == value) return static_cast<int>(i);
  return 0;
}

}  // namespace

std::vector<Gene> genes(const Program& program, const GenomeOptions& options) {
  std::vector<Gene> out;
  for (const Slot& s : layout(program, options))
    if (s.cardinality > 1) out.push_back({s.name, s.cardinality});
  return out;
}

std::vector<int> encode(const Program& program, const Arch& arch, const GenomeOptions& options) {
  const Network& n = *program.network;
  std::vector<int> genome;
  for (const Slot& s : layout(program, options)) {
    int value = 0;
    switch (s.kind) {
      case Slot::Kind::Select: {
        const Cell& c = program.cells[n.cell_groups[s.group].cell];
        std::vector<int> in = c.in_edges(s.node), kept;
        for (std::size_t i = 0; i < in.size(); ++i)
          if (arch.cells[s.group].edge_op[in[i]] >= 0) kept.push_back(static_cast<int>(i));
        std::vector<std::vector<int>> picks = k_subsets(static_cast<int>(in.size()), c.node(s.node).select);
        for (std::size_t i = 0; i < picks.size(); ++i)
          if (picks[i] == kept) value = static_cast<int>(i);
        break;
      }
      case Slot::Kind::Edge: value = position(s.values, arch.cells[s.group].edge_op[s.edge]); break;
      case Slot::Kind::NodeOp: value = arch.cells[s.group].node_op[s.node]; break;
      case Slot::Kind::Combine: value = arch.cells[s.group].node_combine[s.node]; break;
      case Slot::Kind::Layer:
        value = unit_runs(program, n.layer_groups[s.group], arch) ? arch.layers[s.group] : 0;
        break;
      case Slot::Kind::ElasticDim:
        value = unit_runs(program, n.layer_groups[s.group], arch) ? arch.layers[s.group] / s.stride % s.cardinality : 0;
        break;
      case Slot::Kind::Depth: value = arch.depths[s.group]; break;
      case Slot::Kind::Width: value = arch.widths[s.group]; break;
      case Slot::Kind::Resolution: value = arch.resolution; break;
    }
    if (s.cardinality > 1) genome.push_back(value);
  }
  return genome;
}

Arch decode(const Program& program, const std::vector<int>& genome, const GenomeOptions& options) {
  const Network& n = *program.network;
  std::vector<Slot> slots = layout(program, options);
  Arch a;
  for (const CellGroup& g : n.cell_groups) {
    const Cell& c = program.cells[g.cell];
    a.cells.push_back({std::vector<int>(c.num_edges(), -1), std::vector<int>(c.num_nodes(), -1),
                       std::vector<int>(c.num_nodes(), -1)});
  }
  a.layers.assign(n.layer_groups.size(), 0);
  a.depths.assign(n.depth_groups.size(), 0);
  a.widths.assign(n.width_groups.size(), 0);
  std::size_t next = 0;
  std::vector<int> kept;  // of the select node whose edges come next
  for (const Slot& s : slots) {
    int value = 0;
    if (s.cardinality > 1) {
      if (next >= genome.size())
        throw std::invalid_argument(fmt::format("genome has {} genes, the space needs more", genome.size()));
      value = genome[next++];
      if (value < 0 || value >= s.cardinality)
        throw std::invalid_argument(fmt::format("gene '{}' is {}, outside 0..{}", s.name, value, s.cardinality - 1));
    }
    switch (s.kind) {
      case Slot::Kind::Select: kept = kept_inputs(program.cells[n.cell_groups[s.group].cell], s.node, value); break;
      case Slot::Kind::Edge: {
        const Cell& c = program.cells[n.cell_groups[s.group].cell];
        if (c.node(s.node).select > 0) {
          std::vector<int> in = c.in_edges(s.node);
          bool selected = false;
          for (int i : kept) selected = selected || in[i] == s.edge;
          if (!selected) break;
        }
        a.cells[s.group].edge_op[s.edge] = s.values.at(value);
        break;
      }
      case Slot::Kind::NodeOp: a.cells[s.group].node_op[s.node] = value; break;
      case Slot::Kind::Combine: a.cells[s.group].node_combine[s.node] = value; break;
      case Slot::Kind::Layer: a.layers[s.group] = value; break;
      case Slot::Kind::ElasticDim: a.layers[s.group] += value * s.stride; break;
      case Slot::Kind::Depth: a.depths[s.group] = value; break;
      case Slot::Kind::Width: a.widths[s.group] = value; break;
      case Slot::Kind::Resolution:
        a.resolution = options.fixed_resolution >= 0 ? options.fixed_resolution : value;
        break;
    }
  }
  if (next != genome.size())
    throw std::invalid_argument(fmt::format("genome has {} genes, the space has {}", genome.size(), next));
  for (std::size_t l = 0; l < n.layer_groups.size(); ++l)
    if (!unit_runs(program, n.layer_groups[l], a)) a.layers[l] = 0;
  return a;
}

std::optional<Arch> decode_valid(const Program& program, const std::vector<int>& genome, const GenomeOptions& options) {
  Arch a = decode(program, genome, options);
  if (check_arch(program, a)) return std::nullopt;
  return a;
}

}  // namespace cella::ir
