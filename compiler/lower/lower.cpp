// The one statement of how a network is constructed from the IR (see lower.h).
#include "compiler/lower/lower.h"

#include <fmt/format.h>

#include <algorithm>
#include <variant>

#include "compiler/ir/analysis.h"

namespace cella::lower {

namespace {

// A stand-alone network leaves out what the space marks as the supernet's alone (`search_bn`).
ir::Op as_built(const ir::Op& op, bool supernet) {
  if (supernet) return op;
  ir::Op out = op;
  std::erase_if(out.seq, [](const ir::PrimCall& c) { return c.prim == "search_bn"; });
  return out;
}

std::int64_t size_after(const ir::Op& op, std::int64_t size) {
  for (const ir::PrimCall& c : op.seq) size = ir::out_size(c, size);
  return size;
}

std::int64_t divided(std::int64_t size, std::int64_t by) { return (size + by - 1) / by; }

ir::PrimCall call(std::string prim, std::vector<std::pair<std::string, ir::Scalar>> args) {
  ir::PrimCall c;
  c.prim = std::move(prim);
  c.args = std::move(args);
  return c;
}

// A 1x1 convolution without bias to `out` channels, every argument written out.
ir::PrimCall conv1x1(std::int64_t out) {
  return call("conv", {{"k", std::int64_t{1}},
                       {"out", out},
                       {"stride", std::int64_t{1}},
                       {"pad", std::int64_t{0}},
                       {"dilation", std::int64_t{1}},
                       {"groups", std::int64_t{1}},
                       {"bias", false}});
}

// NAS-Bench-101's 1x1 projection of a cell's input (model_builder.py `projection`).
std::vector<ir::PrimCall> projection(std::int64_t out) { return {conv1x1(out), call("bn", {}), call("relu", {})}; }

// NAS-Bench-101's compute_vertex_channels on the nodes on an input-output path (`live`): the
// nodes feeding the output share `width` (the first ones one channel more when it does not
// divide), every other node has the most of the nodes it feeds. Node 0 is the input.
std::vector<std::int64_t> vertex_channels(const ir::Cell& c, const std::vector<bool>& present,
                                          const std::vector<bool>& live, std::int64_t in, std::int64_t width) {
  const int N = c.num_nodes(), out = N - 1;
  std::vector<std::int64_t> ch(N, 0);
  ch[0] = in;
  ch[out] = width;
  auto edge = [&](int a, int b) {
    int e = c.find_edge(a, b);
    return e >= 0 && present[e] && live[a] && live[b];
  };
  int fan_in = 0;
  for (int v = 1; v < out; ++v) fan_in += edge(v, out);
  if (fan_in == 0) return ch;
  std::int64_t share = width / fan_in, extra = width % fan_in;
  for (int v = 1; v < out; ++v)
    if (edge(v, out)) ch[v] = share + (extra-- > 0 ? 1 : 0);
  for (int v = out - 1; v >= 1; --v)
    if (!edge(v, out))
      for (int dst = v + 1; dst < out; ++dst)
        if (edge(v, dst)) ch[v] = std::max(ch[v], ch[dst]);
  return ch;
}

// A two-input cell's adapter for one input: a factorized reduce when the cell before the
// previous one halved the resolution, else ReLU-conv1x1-BN to the cell's width (DARTS).
ir::Op preprocess_op(std::int64_t width, bool reduce) {
  ir::Op op;
  op.name = reduce ? "factorized_reduce" : "relu_conv_bn";
  if (reduce) {
    op.seq = {call("factorized_reduce", {{"out", width}})};
  } else {
    op.seq = {call("relu", {}), conv1x1(width), call("bn", {})};
  }
  return op;
}

class Lowering {
 public:
  Lowering(const ir::Program& program, const ir::Mask& mask, bool supernet, std::int64_t input_size)
      : p_(program), mask_(mask), supernet_(supernet), input_size_(input_size) {}

  Network run() {
    const ir::Network& n = *p_.network;
    Network out;
    out.supernet = supernet_;
    // Channels are the IR's, except after a cell whose output is `unused`: a stand-alone network
    // has there the width its architecture gives, which the units after it take.
    std::int64_t c_pp = n.input.channels, c_p = n.input.channels;
    std::int64_t s_pp = input_size_, s_p = input_size_;
    bool prev_reduction = false;
    for (std::size_t i = 0; i < n.units.size(); ++i) {
      const ir::Unit& u = n.units[i];
      Unit lu;
      lu.kind = u.kind;
      lu.name = module_key(u.name);
      lu.in_size = s_p;
      std::int64_t c_out = u.out.channels;
      if (u.kind == ir::UnitKind::Fixed) {
        lu.fixed = module(Role::Fixed, lu.name, lu.name, static_cast<int>(i), -1, -1, -1, u.op, c_p, s_p, true);
        lu.out_size = lu.fixed->out_size;
        if (c_p != u.in.channels) {
          auto shape = u.op.shape(ir::Shape{c_p, u.in.reduction, u.in.flat});
          if (auto* sh = std::get_if<ir::Shape>(&shape)) c_out = sh->channels;
        }
        prev_reduction = u.out.reduction != u.in.reduction;
      } else if (u.kind == ir::UnitKind::Cell) {
        lu.cell = cell_unit(static_cast<int>(i), u, c_pp, c_p, s_pp, s_p, prev_reduction, lu.out_size);
        c_out = lu.cell->out_channels;
        prev_reduction = p_.cells[u.cell].props().reduction;
      } else if (!may_run(u)) {
        // Deeper than every depth the mask leaves: never runs, so nothing is allocated.
        lu.choices.assign(u.choices.size(), std::nullopt);
        lu.out_size = s_p;
        c_out = c_p;
        prev_reduction = u.stride > 1;
      } else if (supernet_ && !u.elastic.empty()) {
        // One set of weights, the largest sub-shape's (the last candidate), which every candidate
        // slices whatever the mask enables; its batch norms have weights, as OFA's and BigNAS's.
        c_out = width_of(u);
        lu.elastic = module(Role::ElasticLayer, lu.name, lu.name, static_cast<int>(i), u.group, -1, -1,
                            ir::at_width(u.choices.back(), u.out.channels, c_out), c_p, s_p, true);
        lu.elastic->elastic = u.elastic;
        lu.out_size = lu.elastic->out_size;
        prev_reduction = u.stride > 1;
      } else {
        lu.out_size = s_p;
        c_out = width_of(u);
        // Candidates of a supernet's choice layer are mixed, so their batch norms have no
        // weights (as DARTS'); a layer with one candidate (a stage whose only choice is its width,
        // as BigNAS's stem, MB1, MB2 and last convolution) mixes nothing and keeps them, as BigNAS
        // trains them.
        const bool affine = !supernet_ || u.choices.size() == 1;
        for (std::size_t k = 0; k < u.choices.size(); ++k) {
          std::optional<Module> m;
          if (mask_.layers[u.group][k]) {
            std::string name = lu.name + "/" + module_key(u.choices[k].name);
            m = module(Role::LayerCandidate, name, name, static_cast<int>(i), u.group, -1, static_cast<int>(k),
                       ir::at_width(u.choices[k], u.out.channels, c_out), c_p, s_p, affine);
            lu.out_size = m->out_size;
          }
          lu.choices.push_back(std::move(m));
        }
        prev_reduction = u.stride > 1;
      }
      // A cell reads the outputs of the two units before it; after the first unit (the stem)
      // both are that unit's output, as DARTS' `s0 = s1 = stem(input)` (and ImageNet's stem0,
      // stem1), never the raw image.
      c_pp = i == 0 ? c_out : c_p;
      c_p = c_out;
      s_pp = i == 0 ? lu.out_size : s_p;
      s_p = lu.out_size;
      out_channels_.push_back(c_out);
      out.units.push_back(std::move(lu));
    }
    if (n.auxiliary && !supernet_) {
      const ir::AuxiliaryHead& a = *n.auxiliary;
      out.auxiliary = module(Role::Auxiliary, "auxiliary_head", "auxiliary_head", a.after, -1, -1, -1, a.op,
                             out_channels_[static_cast<std::size_t>(a.after)],
                             out.units[static_cast<std::size_t>(a.after)].out_size, true);
    }
    return out;
  }

 private:
  // The channels a choice layer makes: in a width-elastic stage the widest width the mask leaves
  // (a network of one architecture: its width; a supernet: the largest, which the others slice).
  std::int64_t width_of(const ir::Unit& u) const {
    if (u.stage < 0) return u.out.channels;
    const ir::Stage& st = p_.network->stages[static_cast<std::size_t>(u.stage)];
    if (st.width_group < 0) return u.out.channels;
    const int widest = ir::widest_width(p_, mask_, st.width_group);
    return widest < 0 ? u.out.channels : st.widths[static_cast<std::size_t>(widest)];
  }

  // Whether a unit runs at some depth of its stage that the mask leaves on.
  bool may_run(const ir::Unit& u) const {
    if (u.stage < 0) return true;
    const ir::Stage& st = p_.network->stages[static_cast<std::size_t>(u.stage)];
    if (st.depth_group < 0) return true;
    const int deepest = ir::deepest_depth(p_, mask_, st.depth_group);
    return deepest >= 0 && u.depth_index < st.depths[static_cast<std::size_t>(deepest)];
  }

  Module module(Role role, std::string name, std::string path, int unit, int group, int slot, int candidate,
                const ir::Op& op, std::int64_t in_channels, std::int64_t in_size, bool affine) const {
    Module m;
    m.role = role;
    m.name = std::move(name);
    m.path = std::move(path);
    m.unit = unit;
    m.group = group;
    m.slot = slot;
    m.candidate = candidate;
    m.op = as_built(op, supernet_);
    m.in_channels = in_channels;
    m.in_size = in_size;
    m.out_size = in_size > 0 ? size_after(m.op, in_size) : 0;
    m.affine = affine;
    return m;
  }

  CellUnit cell_unit(int index, const ir::Unit& u, std::int64_t c_pp, std::int64_t c_p, std::int64_t s_pp,
                     std::int64_t s_p, bool prev_reduction, std::int64_t& out_size) const {
    const ir::Cell& c = p_.cells[u.cell];
    const ir::CellProps& cp = c.props();
    const std::string unit = module_key(u.name);
    const bool affine = !supernet_;
    const std::int64_t W = u.width;
    CellUnit cu;
    cu.cell = u.cell;
    cu.width = W;
    std::int64_t cell_size = s_p;
    if (cp.inputs >= 2) {
      cu.preprocess.push_back(module(Role::Preprocess, "preprocess0", unit + ".preprocess0", index, u.group, 0, -1,
                                     preprocess_op(W, prev_reduction), c_pp, s_pp, affine));
      cu.preprocess.push_back(module(Role::Preprocess, "preprocess1", unit + ".preprocess1", index, u.group, 1, -1,
                                     preprocess_op(W, false), c_p, s_p, affine));
    }
    cu.downsampling = ir::node_downsampling(c);
    auto size_at = [&](int node) { return cell_size > 0 ? divided(cell_size, cu.downsampling[node]) : 0; };
    const auto& edge_mask = mask_.cells[u.group];
    const auto& node_mask = mask_.nodes[u.group];
    // In a stand-alone network the mask holds one architecture: the edges it has are those
    // with an enabled, non-zero candidate.
    std::vector<bool> present(c.num_edges(), false);
    for (int e = 0; e < c.num_edges(); ++e)
      for (std::size_t k = 0; k < c.edge(e).candidates.size(); ++k)
        present[e] = present[e] || (edge_mask[e][k] && !c.edge(e).candidates[k].is_zero(1));
    // Concatenating output node (NAS-Bench-101): inputs projected; in a stand-alone network,
    // the vertex channels of the nodes on an input-output path.
    const int out_node = cp.output.nodes.front();
    cu.projects_inputs = ir::concatenates_at_output(c);
    std::vector<bool> live(c.num_nodes(), true);
    if (cu.projects_inputs && !supernet_) {
      std::vector<bool> from(c.num_nodes(), false), to(c.num_nodes(), false);
      from[0] = true;
      to[out_node] = true;
      const std::vector<int> order = ir::topological_order(c);
      for (int v : order)
        for (int e : c.in_edges(v)) from[v] = from[v] || (present[e] && from[c.source(e)]);
      for (auto it = order.rbegin(); it != order.rend(); ++it)
        for (int e = 0; e < c.num_edges(); ++e)
          if (c.source(e) == *it && present[e] && to[c.target(e)]) to[*it] = true;
      for (int v = 0; v < c.num_nodes(); ++v) live[v] = from[v] && to[v];
      cu.node_channels = vertex_channels(c, present, live, c_p, W);
    }
    // An intermediate node's channels.
    auto channels_of = [&](int v) { return cu.node_channels.empty() ? W : cu.node_channels[v]; };
    for (int e = 0; e < c.num_edges(); ++e) {
      const ir::EdgeProps& ep = c.edge(e);
      const int src = c.source(e), dst = c.target(e);
      std::vector<std::optional<Module>> row;
      for (std::size_t k = 0; k < ep.candidates.size(); ++k) {
        if (!edge_mask[e][k] || !live[src] || !live[dst]) {
          row.emplace_back();
          continue;
        }
        std::string name = c.edge_name(e) + "/" + module_key(ep.candidates[k].name);
        ir::Op op = ep.candidates[k];
        // A projected input enters at its own width; every other edge at its target's (inner
        // sources arrive truncated, a two-input cell's inputs preprocessed to W).
        const bool projected = cu.projects_inputs && src < cp.inputs;
        const std::int64_t in = projected ? c_p : channels_of(dst);
        if (projected && !op.is_zero(1)) {
          std::vector<ir::PrimCall> seq = projection(channels_of(dst));
          seq.insert(seq.end(), op.seq.begin(), op.seq.end());
          op.seq = std::move(seq);
        }
        row.push_back(module(Role::EdgeCandidate, name, unit + "." + name, index, u.group, e, static_cast<int>(k), op,
                             in, size_at(src), affine));
      }
      cu.edges.push_back(std::move(row));
    }
    for (int v = 0; v < c.num_nodes(); ++v) {
      const auto& ops = c.node(v).ops;
      std::vector<std::optional<Module>> row;
      for (std::size_t k = 0; k < ops.size(); ++k) {
        if (!node_mask[v][k] || !live[v]) {
          row.emplace_back();
          continue;
        }
        std::string name = fmt::format("node{}/{}", v, module_key(ops[k].name));
        row.push_back(module(Role::NodeOp, name, unit + "." + name, index, u.group, v, static_cast<int>(k), ops[k],
                             channels_of(v), size_at(v), affine));
      }
      cu.nodes.push_back(std::move(row));
    }
    const auto& combine_mask = mask_.combines[u.group];
    cu.combine.assign(c.num_nodes(), std::nullopt);
    cu.combine_mode.assign(c.num_nodes(), -1);
    for (int v = cp.inputs; v < c.num_nodes(); ++v) {
      const std::vector<ir::Combine>& modes = c.node(v).combines;
      std::vector<int> on;
      for (std::size_t k = 0; k < modes.size(); ++k)
        if (combine_mask[v][k]) on.push_back(static_cast<int>(k));
      if (on.size() == 1) cu.combine_mode[v] = on.front();
      if (!live[v] || (cu.projects_inputs && v == out_node)) continue;
      for (int k : on) {
        if (modes[k] != ir::Combine::Concat) continue;
        const auto in = static_cast<std::int64_t>(c.in_edges(v).size());
        ir::Op op = preprocess_op(channels_of(v), false);
        op.name = "concat_projection";
        std::string name = fmt::format("node{}/concat", v);
        cu.combine[v] = module(Role::Combine, name, unit + "." + name, index, u.group, v, k, op, in * channels_of(v),
                               size_at(v), affine);
      }
    }
    cu.output_concat = cp.output.kind != ir::CellOutput::Kind::Node;
    cu.output = cp.output.nodes;
    if (cp.output.kind == ir::CellOutput::Kind::Unused && !supernet_) {
      // The architecture's unused states: those no edge it has reads.
      std::vector<bool> used(c.num_nodes(), false);
      for (int e = 0; e < c.num_edges(); ++e) used[c.source(e)] = used[c.source(e)] || present[e];
      std::erase_if(cu.output, [&](int v) { return used[v]; });
    }
    cu.out_channels = W * (cu.output_concat ? static_cast<std::int64_t>(cu.output.size()) : 1);
    out_size = cell_size > 0 ? size_at(cu.output.front()) : 0;
    return cu;
  }

  const ir::Program& p_;
  std::vector<std::int64_t> out_channels_;  ///< per unit lowered so far: its output channels
  const ir::Mask& mask_;
  bool supernet_;
  std::int64_t input_size_;
};

}  // namespace

std::vector<const Module*> Network::modules() const {
  std::vector<const Module*> out;
  auto add = [&out](const std::optional<Module>& m) {
    if (m) out.push_back(&*m);
  };
  for (const Unit& u : units) {
    add(u.fixed);
    if (u.cell) {
      for (const auto& m : u.cell->preprocess) add(m);
      for (const auto& row : u.cell->edges)
        for (const auto& m : row) add(m);
      for (const auto& row : u.cell->nodes)
        for (const auto& m : row) add(m);
      for (const auto& m : u.cell->combine) add(m);
    }
    for (const auto& m : u.choices) add(m);
    add(u.elastic);
  }
  return out;
}

Network lower(const ir::Program& program, const ir::Mask& mask, bool supernet, std::int64_t input_size) {
  return Lowering(program, mask, supernet, input_size).run();
}

ir::Cost cost(const Module& m) {
  ir::Cost total;
  ir::Shape shape{m.in_channels, 1, false};
  std::int64_t size = m.in_size;
  for (const ir::PrimCall& c : m.op.seq) {
    ir::Cost part = ir::cost(c, shape, size, m.affine);
    total.params += part.params;
    total.macs += part.macs;
    auto next = ir::infer_shape(c, shape);
    if (auto* s = std::get_if<ir::Shape>(&next)) shape = *s;
    size = ir::out_size(c, size);
  }
  // OFA's kernel transformations: a k²×k² matrix per step down an elastic kernel list.
  if (!m.op.seq.empty() && m.op.seq[0].bool_arg("transform", false))
    for (const ir::ElasticDim& d : m.elastic)
      if (d.param == "k")
        for (std::size_t i = 0; i + 1 < d.values.size(); ++i)
          total.params += d.values[i] * d.values[i] * d.values[i] * d.values[i];
  return total;
}

std::string module_key(std::string s) {
  for (char& c : s)
    if (c == '.' || c == ' ') c = '_';
  return s;
}

}  // namespace cella::lower
