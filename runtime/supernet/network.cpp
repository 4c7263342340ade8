// Building networks from the IR and running them.
#include "runtime/supernet/network.h"

#include <fmt/format.h>

#include <algorithm>

#include <set>

#include "compiler/ir/analysis.h"
#include "compiler/lower/lower.h"
#include "runtime/device/device.h"
#include "runtime/ops/elastic.h"
#include "runtime/ops/modules.h"
#include "runtime/ops/observe.h"
#include "runtime/ops/registry.h"

namespace cella::runtime {

namespace nn = torch::nn;

nn::Sequential build_module(const lower::Module& m) {
  nn::Sequential seq;
  ir::Shape shape{m.in_channels, 1, false};
  for (const ir::PrimCall& c : m.op.seq) {
    // Default child names ("0", "1", ...): Sequential::clone() renames children that way, and
    // a checkpoint must load into a clone.
    seq->push_back(build_primitive(c, BuildContext{shape.channels, m.affine}));
    auto r = ir::infer_shape(c, shape);
    if (auto* s = std::get_if<ir::Shape>(&r)) shape = *s;
  }
  return seq;
}

Mixing mixing_of(const ir::Program& p, const ir::Arch& a) {
  Mixing mix;
  const ir::Network& n = *p.network;
  for (std::size_t g = 0; g < n.cell_groups.size(); ++g) {
    const ir::Cell& c = p.cells[n.cell_groups[g].cell];
    CellMix cm;
    for (int e = 0; e < c.num_edges(); ++e) {
      Mix m;
      if (a.cells[g].edge_op[e] >= 0) m.ops = {a.cells[g].edge_op[e]};
      cm.edges.push_back(m);
    }
    for (int v = 0; v < c.num_nodes(); ++v) {
      Mix m;
      if (!c.node(v).ops.empty() && a.cells[g].node_op[v] >= 0) m.ops = {a.cells[g].node_op[v]};
      cm.nodes.push_back(m);
    }
    cm.combine = a.cells[g].node_combine;
    mix.cells.push_back(cm);
  }
  for (int op : a.layers) mix.layers.push_back(Mix{{op}, {}});
  mix.depths = a.depths;
  mix.widths = a.widths;
  mix.resolution = a.resolution;
  return mix;
}

namespace {

// An elastic layer of a supernet (lower::Role::ElasticLayer): one block holding the largest
// sub-shape's weights, with the unit's lists of kernels and expansions.
ElasticMBConv build_elastic(const ir::Unit& unit, const lower::Module& m) {
  const ir::PrimCall& largest = m.op.seq.at(0);
  if (largest.prim != "mbv3")
    throw std::invalid_argument(fmt::format("no elastic module for primitive '{}'", largest.prim));
  return ElasticMBConv(mbv3_options(largest, m.in_channels, m.affine, unit.elastic));
}

}  // namespace

std::int64_t resolution_of(const ir::Network& n, const Mixing& mix) {
  if (n.resolutions.empty()) return 0;
  return mix.resolution < 0 ? n.resolutions.back() : n.resolutions.at(static_cast<std::size_t>(mix.resolution));
}

torch::Tensor resize(const torch::Tensor& x, std::int64_t side) {
  if (side <= 0 || (x.size(-1) == side && x.size(-2) == side)) return x;
  return torch::nn::functional::interpolate(x, torch::nn::functional::InterpolateFuncOptions()
                                                   .size(std::vector<std::int64_t>{side, side})
                                                   .mode(torch::kBicubic)
                                                   .align_corners(false));
}

// --- cells -----------------------------------------------------------------------------------

class CellModuleImpl : public nn::Cloneable<CellModuleImpl> {
 public:
  CellModuleImpl(std::shared_ptr<const ir::Program> program, lower::CellUnit desc)
      : program_(std::move(program)), desc_(std::move(desc)) {
    reset();
  }

  void reset() override {
    const ir::Cell& c = program_->cells[desc_.cell];
    auto built = [this](const std::optional<lower::Module>& m) {
      return m ? register_module(m->name, build_module(*m)) : nn::Sequential(nullptr);
    };
    pre_.clear();
    for (const auto& m : desc_.preprocess) pre_.push_back(built(m));
    ops_.assign(c.num_edges(), {});
    zero_.assign(c.num_edges(), {});
    leading_relu_.assign(c.num_edges(), {});
    identity_.assign(c.num_edges(), {});
    for (int e = 0; e < c.num_edges(); ++e) {
      const ir::EdgeProps& ep = c.edge(e);
      for (std::size_t k = 0; k < ep.candidates.size(); ++k) {
        // What the module runs, which may start with a projection (lower::CellUnit::projects_inputs).
        const auto& m = desc_.edges[e][k];
        const ir::Op& op = m ? m->op : ep.candidates[k];
        zero_[e].push_back(ep.candidates[k].is_zero(desc_.width));
        identity_[e].push_back(op.is_identity(m ? m->in_channels : desc_.width));
        leading_relu_[e].push_back(!op.seq.empty() && op.seq[0].prim == "relu");
        ops_[e].push_back(built(m));
      }
    }
    node_ops_.assign(c.num_nodes(), {});
    for (int v = 0; v < c.num_nodes(); ++v)
      for (const auto& m : desc_.nodes[v]) node_ops_[v].push_back(built(m));
    combine_.clear();
    for (const auto& m : desc_.combine) combine_.push_back(built(m));
    order_ = ir::topological_order(c);
    in_edges_.assign(c.num_nodes(), {});
    for (int v = 0; v < c.num_nodes(); ++v) in_edges_[v] = c.in_edges(v);
  }

  /// The probability of dropping an operation's output in training (0: never).
  void set_drop_path(double p) { drop_prob_ = p; }

  /// Candidate k of edge e on the edge's input x (not ReLU'd).
  torch::Tensor candidate_output(int e, int k, const torch::Tensor& x) {
    if (!ops_[e][k]) throw std::logic_error(fmt::format("candidate {} of edge {} is not allocated", k, e));
    return ops_[e][k]->forward(x);
  }

  /// `record`: see Mixing::record; the records' unit is left for the network to fill in.
  torch::Tensor forward(const torch::Tensor& s0, const torch::Tensor& s1, const CellMix& mix,
                        std::vector<GateRecord>* record = nullptr) {
    const ir::Cell& c = program_->cells[desc_.cell];
    const int I = c.props().inputs;
    std::vector<torch::Tensor> states(c.num_nodes());
    if (I >= 2) {
      states[0] = pre_[0]->forward(s0);
      states[1] = pre_[1]->forward(s1);
    } else {
      states[0] = s1;
    }
    // ReLU(node) is shared by every candidate that starts with a ReLU on the edges leaving that
    // node (all of NB201's and DARTS' convolutions): computed once, not once per candidate.
    std::vector<torch::Tensor> relu_of(c.num_nodes());
    // NAS-Bench-101's channels (lower::CellUnit::node_channels): inner nodes read the first
    // channels of their sources, the output node concatenates the inner nodes feeding it.
    const bool split = !desc_.node_channels.empty();
    const int out_node = c.props().output.nodes.front();
    for (int v : order_) {
      if (v < I) continue;
      torch::Tensor acc;
      std::vector<torch::Tensor> parts;
      // A concatenating node (lower::CellUnit::combine): its inputs in edge order, absent ones
      // as zeros, projected back to the width.
      const bool concat = combine_[v] && mode(v, mix) == ir::Combine::Concat;
      std::vector<torch::Tensor> slots(concat ? in_edges_[v].size() : 0);
      for (std::size_t i = 0; i < in_edges_[v].size(); ++i) {
        const int e = in_edges_[v][i];
        const Mix& m = mix.edges[e];
        for (std::size_t j = 0; j < m.ops.size(); ++j) {
          int k = m.ops[j];
          if (zero_[e][k]) continue;  // contributes nothing: not computed at all
          if (!ops_[e][k]) {
            if (split) continue;  // off every input-output path: pruned, as NAS-Bench-101 does
            throw std::logic_error(
                fmt::format("candidate {} of edge {} is not allocated in this sub-supernet", k, c.edge_name(e)));
          }
          torch::Tensor y;
          int src = c.source(e);
          const bool truncate = split && src >= I && v != out_node && states[src].size(1) > desc_.node_channels[v];
          if (leading_relu_[e][k]) {
            if (!relu_of[src].defined()) relu_of[src] = torch::relu(states[src]);
            y = truncate ? relu_of[src].narrow(1, 0, desc_.node_channels[v]) : relu_of[src];
            if (forward_observer())
              observe_activation(truncate ? states[src].narrow(1, 0, desc_.node_channels[v]) : states[src]);
            nn::Sequential& seq = ops_[e][k];
            for (auto it = seq->begin() + 1; it != seq->end(); ++it) y = it->forward(y);
          } else {
            y = ops_[e][k]->forward(truncate ? states[src].narrow(1, 0, desc_.node_channels[v]) : states[src]);
          }
          if (drop_prob_ > 0 && is_training() && !identity_[e][k]) {
            // Drop path: each image's output of this operation is dropped with drop_prob_, and
            // kept outputs scaled by 1/keep (DARTS' drop_path, NASNet's ScheduledDropPath).
            const double keep = 1 - drop_prob_;
            // Drawn by the CPU's generator on every device (runtime/device), then moved.
            torch::Tensor mask =
                torch::empty({y.size(0), 1, 1, 1}, y.options().device(c10::kCPU)).bernoulli_(keep).to(y.device());
            y = y / keep * mask;
          }
          if (record && m.ops.size() == 1 && y.requires_grad()) {
            y.retain_grad();
            record->push_back(GateRecord{.edge = e, .candidate = k, .input = states[src], .output = y});
          }
          if (m.weights.defined()) y = y * m.weights[static_cast<std::int64_t>(j)];
          if (concat)
            slots[i] = slots[i].defined() ? slots[i] + y : y;
          else if (split && v == out_node && src >= I)
            parts.push_back(y);
          else
            acc = acc.defined() ? acc + y : y;
        }
      }
      if (concat) {
        torch::Tensor like;
        for (const torch::Tensor& t : slots)
          if (t.defined()) like = t;
        if (like.defined()) {
          for (torch::Tensor& t : slots)
            if (!t.defined()) t = torch::zeros_like(like);
          acc = combine_[v]->forward(torch::cat(slots, 1));
        }
      }
      if (!parts.empty()) {
        // The inner nodes in node order, plus the projected input (model_builder.py build_module).
        torch::Tensor cat = parts.size() == 1 ? parts[0] : torch::cat(parts, 1);
        acc = acc.defined() ? cat + acc : cat;
      }
      if (!acc.defined()) {
        // Every input of this node is `none` or absent: zeros of the node's own shape, which in
        // a reduction cell is the inputs' resolution divided by the strides on the way here.
        const torch::Tensor& ref = states[0];
        const int f = desc_.downsampling[v];
        acc = torch::zeros({ref.size(0), desc_.width, (ref.size(2) + f - 1) / f, (ref.size(3) + f - 1) / f},
                           ref.options());
      }
      if (!node_ops_[v].empty() && v < static_cast<int>(mix.nodes.size()) && !mix.nodes[v].ops.empty()) {
        const Mix& m = mix.nodes[v];
        torch::Tensor out;
        for (std::size_t j = 0; j < m.ops.size(); ++j) {
          if (!node_ops_[v][m.ops[j]]) continue;  // a pruned node (above)
          torch::Tensor y = node_ops_[v][m.ops[j]]->forward(acc);
          if (m.weights.defined()) y = y * m.weights[static_cast<std::int64_t>(j)];
          out = out.defined() ? out + y : y;
        }
        if (out.defined()) acc = out;
      }
      states[v] = acc;
    }
    if (!desc_.output_concat) return states[desc_.output.front()];
    std::vector<torch::Tensor> parts;
    for (int v : desc_.output) parts.push_back(states[v]);
    return torch::cat(parts, 1);
  }

 private:
  std::shared_ptr<const ir::Program> program_;
  lower::CellUnit desc_;
  std::vector<nn::Sequential> pre_;
  /// The mode node v combines with in this pass: the mask's, else the mixing's.
  ir::Combine mode(int v, const CellMix& mix) const {
    const ir::Cell& c = program_->cells[desc_.cell];
    int k = desc_.combine_mode[v];
    if (k < 0 && v < static_cast<int>(mix.combine.size())) k = mix.combine[v];
    if (k < 0)
      throw std::logic_error(
          fmt::format("node {} of cell '{}' chooses how it combines, and this pass does not say", v, c.props().name));
    return c.node(v).combines[k];
  }

  std::vector<std::vector<nn::Sequential>> ops_, node_ops_;  ///< null where the mask is off
  std::vector<nn::Sequential> combine_;                      ///< per node: the concatenation's projection
  std::vector<std::vector<bool>> zero_, leading_relu_, identity_;
  double drop_prob_ = 0;
  std::vector<int> order_;
  std::vector<std::vector<int>> in_edges_;
};

// --- the network -------------------------------------------------------------------------------

NetworkImpl::NetworkImpl(std::shared_ptr<const ir::Program> program, Mask mask, bool supernet)
    : program_(std::move(program)), mask_(std::move(mask)), supernet_(supernet), device_(run_device()) {
  reset();
  if (device_ != c10::Device(c10::kCPU)) to(device_);
}

void NetworkImpl::reset() {
  desc_ = lower::lower(*program_, mask_, supernet_);
  const std::size_t n = desc_.units.size();
  fixed_.assign(n, nullptr);
  cells_.assign(n, nullptr);
  choices_.assign(n, {});
  elastic_.assign(n, nullptr);
  // A supernet with width choices runs its layers on the first channels of their weights; a
  // network of one architecture is built at its widths (lower.h) and runs as built.
  narrowing_ = supernet_ && !program_->network->width_groups.empty();
  for (std::size_t i = 0; i < n; ++i) {
    const lower::Unit& u = desc_.units[i];
    if (u.fixed) fixed_[i] = register_module(u.fixed->name, build_module(*u.fixed));
    if (u.cell) cells_[i] = register_module(u.name, CellModule(program_, *u.cell));
    for (const auto& m : u.choices)
      choices_[i].push_back(m ? register_module(m->name, build_module(*m)) : nn::Sequential(nullptr));
    if (u.elastic)
      elastic_[i] = register_module(u.elastic->name, build_elastic(program_->network->units[i], *u.elastic));
  }
  auxiliary_ = desc_.auxiliary ? register_module(desc_.auxiliary->name, build_module(*desc_.auxiliary))
                               : nn::Sequential(nullptr);
}

torch::Tensor NetworkImpl::forward(const torch::Tensor& x, const Mixing& mix) { return run(x, mix, nullptr); }

std::pair<torch::Tensor, torch::Tensor> NetworkImpl::forward_with_auxiliary(const torch::Tensor& x, const Mixing& mix) {
  torch::Tensor aux;
  torch::Tensor logits = run(x, mix, auxiliary_ && is_training() ? &aux : nullptr);
  return {logits, aux};
}

double NetworkImpl::auxiliary_weight() const {
  return auxiliary_ && program_->network->auxiliary ? program_->network->auxiliary->weight : 0.0;
}

bool NetworkImpl::is_auxiliary(const std::string& name) { return name.rfind("auxiliary_head.", 0) == 0; }

torch::Tensor NetworkImpl::run(const torch::Tensor& x, const Mixing& mix, torch::Tensor* auxiliary) {
  const ir::Network& n = *program_->network;
  torch::Tensor input = x.device() == device_ ? x : x.to(device_);
  if (!n.resolutions.empty()) input = resize(input, resolution_of(n, mix));
  torch::Tensor prev_prev = input, prev = input;
  for (std::size_t i = 0; i < n.units.size(); ++i) {
    const ir::Unit& u = n.units[i];
    if (u.stage >= 0 && n.stages[u.stage].depth_group >= 0) {
      const ir::Stage& st = n.stages[u.stage];
      // Without a depth in the mixing: the deepest the mask leaves.
      const auto group = static_cast<std::size_t>(st.depth_group);
      const int depth = mix.depths.empty() ? ir::deepest_depth(*program_, mask_, st.depth_group) : mix.depths[group];
      if (depth < 0 || u.depth_index >= st.depths[static_cast<std::size_t>(depth)]) continue;
    }
    torch::Tensor y;
    const std::int64_t width = pass_width(i, mix);
    if (u.kind == ir::UnitKind::Fixed) {
      // After a width-elastic stage its input may be narrower than it was built for.
      y = narrowing_ ? run_narrowed(fixed_[i], u.op, prev, 0, 0) : fixed_[i]->forward(prev);
    } else if (u.kind == ir::UnitKind::Cell) {
      auto it = mix.per_unit.find(static_cast<int>(i));
      const std::size_t recorded = mix.record ? mix.record->size() : 0;
      y = cells_[i]->forward(prev_prev, prev, it != mix.per_unit.end() ? it->second : mix.cells[u.group],
                             mix.record.get());
      if (mix.record)
        for (std::size_t r = recorded; r < mix.record->size(); ++r) (*mix.record)[r].unit = static_cast<int>(i);
    } else {
      const Mix& m = mix.layers[u.group];
      for (std::size_t j = 0; j < m.ops.size(); ++j) {
        torch::Tensor z = layer_candidate(static_cast<int>(i), m.ops[j], prev, width);
        if (mix.record && m.ops.size() == 1 && z.requires_grad()) {
          z.retain_grad();
          mix.record->push_back(
              GateRecord{.unit = static_cast<int>(i), .edge = -1, .candidate = m.ops[j], .input = prev, .output = z});
        }
        if (m.weights.defined()) z = z * m.weights[static_cast<std::int64_t>(j)];
        y = y.defined() ? y + z : z;
      }
    }
    prev_prev = i == 0 ? y : prev;  // after the stem both inputs are its output (lower.cpp says why)
    prev = y;
    if (auxiliary && static_cast<int>(i) == n.auxiliary->after) *auxiliary = auxiliary_->forward(y);
  }
  return prev;
}

torch::Tensor NetworkImpl::candidate_output(int unit, int edge, int candidate, const torch::Tensor& x) {
  if (edge >= 0) return cells_[unit]->candidate_output(edge, candidate, x);
  return layer_candidate(unit, candidate, x);
}

torch::Tensor NetworkImpl::layer_candidate(int unit, int candidate, const torch::Tensor& x, std::int64_t width) {
  const ir::Unit& u = program_->network->units[static_cast<std::size_t>(unit)];
  if (const auto& block = elastic_[static_cast<std::size_t>(unit)]) {
    const ir::PrimCall& call = u.choices.at(candidate).seq[0];
    return block->child(x, call.int_arg("k", 0), call.int_arg("e", 0), width);
  }
  nn::Sequential& m = choices_[unit][candidate];
  if (!m) throw std::logic_error(fmt::format("candidate {} of unit {} is not allocated", candidate, unit));
  if (narrowing_) return run_narrowed(m, u.choices.at(candidate), x, u.out.channels, width);
  return m->forward(x);
}

std::int64_t NetworkImpl::pass_width(std::size_t unit, const Mixing& mix) const {
  if (!narrowing_) return 0;
  const ir::Network& n = *program_->network;
  const ir::Unit& u = n.units[unit];
  if (u.stage < 0) return 0;
  const ir::Stage& st = n.stages[static_cast<std::size_t>(u.stage)];
  if (st.width_group < 0) return 0;
  const auto group = static_cast<std::size_t>(st.width_group);
  const int index = mix.widths.empty() ? ir::widest_width(*program_, mask_, st.width_group) : mix.widths.at(group);
  return st.widths.at(static_cast<std::size_t>(index));
}

void NetworkImpl::set_drop_path(const std::vector<double>& per_cell) {
  std::size_t j = 0;
  for (auto& cell : cells_)
    if (cell) cell->set_drop_path(j < per_cell.size() ? per_cell[j++] : 0.0);
}

std::int64_t NetworkImpl::cell_count() const {
  return std::count_if(cells_.begin(), cells_.end(), [](const CellModule& c) { return static_cast<bool>(c); });
}

std::vector<torch::Tensor> NetworkImpl::unique_parameters() const {
  std::vector<torch::Tensor> out;
  std::set<const void*> seen;
  for (const torch::Tensor& t : parameters())
    if (seen.insert(t.unsafeGetTensorImpl()).second) out.push_back(t);
  return out;
}

std::int64_t NetworkImpl::parameter_count() const {
  std::int64_t n = 0;
  for (const torch::Tensor& t : unique_parameters()) n += t.numel();
  if (auxiliary_)
    for (const torch::Tensor& t : auxiliary_->parameters()) n -= t.numel();
  return n;
}

}  // namespace cella::runtime
