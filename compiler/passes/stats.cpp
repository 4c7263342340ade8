// Static parameter and MAC counts, unit by unit, following the runtime's construction rules.
#include "compiler/passes/stats.h"

#include <algorithm>

namespace cella::passes {

namespace {

struct Acc {
  std::int64_t params = 0, macs = 0;
  void add(const ir::Cost& c) {
    params += c.params;
    macs += c.macs;
  }
};

// Runs `op` on an input of shape `in` and side `hw`; returns the output side. Batch norms count
// only when `affine`.
std::int64_t op_cost(const ir::Op& op, ir::Shape in, std::int64_t hw, bool affine, Acc& acc) {
  for (const ir::PrimCall& c : op.seq) {
    acc.add(ir::cost(c, in, hw, affine));
    auto r = ir::infer_shape(c, in);
    if (auto* s = std::get_if<ir::Shape>(&r)) in = *s;
    hw = ir::out_size(c, hw);
  }
  return hw;
}

ir::PrimCall relu_conv_bn_1x1(std::int64_t out) {
  ir::PrimCall c;
  c.prim = "conv";
  c.args = {{"k", ir::Scalar{std::int64_t{1}}}, {"out", ir::Scalar{out}}, {"stride", ir::Scalar{std::int64_t{1}}},
            {"pad", ir::Scalar{std::int64_t{0}}}, {"dilation", ir::Scalar{std::int64_t{1}}},
            {"groups", ir::Scalar{std::int64_t{1}}}, {"bias", ir::Scalar{false}}};
  return c;
}

}  // namespace

NetworkStats network_stats(const ir::Program& p, const ir::Arch* arch, std::int64_t size, bool affine) {
  Acc acc;
  const ir::Network& n = *p.network;
  std::int64_t hw = size;
  std::int64_t hw_prev = size, hw_prev_prev = size;
  ir::Shape prev = n.input, prev_prev = n.input;
  bool prev_reduction = false;
  auto active = [&](const ir::Unit& u) {
    if (u.stage < 0 || !arch) return true;
    const ir::Stage& st = n.stages[u.stage];
    return st.depth_group < 0 || u.depth_index < st.depths[arch->depths[st.depth_group]];
  };
  for (const ir::Unit& u : n.units) {
    if (!active(u)) continue;
    if (u.kind == ir::UnitKind::Fixed) {
      hw_prev_prev = hw_prev;
      hw = op_cost(u.op, u.in, hw, true, acc);
      hw_prev = hw;
      prev_prev = prev;
      prev = u.out;
      prev_reduction = u.out.reduction != u.in.reduction;
      continue;
    }
    if (u.kind == ir::UnitKind::Choice) {
      hw_prev_prev = hw_prev;
      std::int64_t out_hw = hw;
      for (std::size_t k = 0; k < u.choices.size(); ++k) {
        if (arch && static_cast<int>(k) != arch->layers[u.group]) continue;
        out_hw = op_cost(u.choices[k], u.in, hw, affine, acc);
      }
      hw = hw_prev = out_hw;
      prev_prev = prev;
      prev = u.out;
      prev_reduction = u.stride > 1;
      continue;
    }
    const ir::Cell& cell = p.cells[u.cell];
    const ir::CellProps& cp = cell.props();
    std::int64_t W = u.width;
    std::int64_t cell_hw = hw;
    if (cp.inputs >= 2) {
      // DARTS preprocessing: each input to the cell's width, by a factorized reduce when the
      // previous cell halved the resolution, else ReLU-conv1x1-BN.
      auto pre = [&](ir::Shape in, std::int64_t in_hw, bool reduce) {
        if (in.channels == W && !reduce) return;
        ir::Op op;
        if (reduce) {
          ir::PrimCall fr;
          fr.prim = "factorized_reduce";
          fr.args = {{"out", ir::Scalar{W}}};
          op.seq = {fr};
        } else {
          ir::PrimCall bn;
          bn.prim = "bn";
          op.seq = {relu_conv_bn_1x1(W), bn};
        }
        op_cost(op, in, in_hw, affine, acc);
      };
      pre(prev_prev, hw_prev_prev, prev_reduction);
      pre(prev, hw_prev, false);
      cell_hw = hw_prev;
    }
    const ir::CellChoice* choice = arch ? &arch->cells[u.group] : nullptr;
    std::int64_t out_hw = cell_hw;
    for (int e = 0; e < cell.num_edges(); ++e) {
      const ir::EdgeProps& ep = cell.edge(e);
      for (std::size_t k = 0; k < ep.candidates.size(); ++k) {
        if (choice && static_cast<int>(k) != choice->edge_op[e]) continue;
        std::int64_t h = op_cost(ep.candidates[k], ir::Shape{W, 1, false}, cell_hw, affine, acc);
        if (ep.stride > 1) out_hw = h;
      }
    }
    for (int v = cp.inputs; v < cell.num_nodes(); ++v) {
      const ir::NodeProps& np = cell.node(v);
      for (std::size_t k = 0; k < np.ops.size(); ++k) {
        if (choice && static_cast<int>(k) != choice->node_op[v]) continue;
        op_cost(np.ops[k], ir::Shape{W, 1, false}, out_hw, affine, acc);
      }
    }
    if (cp.reduction) out_hw = (cell_hw + 1) / 2;
    hw_prev_prev = hw_prev;
    hw = hw_prev = out_hw;
    prev_prev = prev;
    prev = u.out;
    prev_reduction = cp.reduction;
  }
  return NetworkStats{acc.params, acc.macs};
}

}  // namespace cella::passes
