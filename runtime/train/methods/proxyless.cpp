// ProxylessNAS (`weights proxyless`; Cai, Zhu and Han, ICLR 2019; mit-han-lab/proxylessnas
// search/modules/mix_op.py `MixedEdge`, search/nas_manager.py): binary gates. A weight step runs
// one path, each edge's and layer's candidate drawn from the softmax of its α; the candidates not
// drawn get no gradient at all (no decay, no momentum). An architecture step runs one such path
// on a validation batch and gives α the path-level BinaryConnect gradient
//   ∂L/∂g_j = ⟨∂L/∂y, o_j(x)⟩,   ∂L/∂α_i = Σ_j ∂L/∂g_j · p_j (δ_ij − p_i),
// y the edge's output and o_j(x) candidate j's output on the same input. As the reference's
// default `full_v2` it keeps one path's activations: the other candidates are recomputed on the
// recorded input after the backward pass, without gradients but in training mode (their
// batch-norm statistics move, as there). `binary_gates two` draws two candidates by p, the
// active one of them by their renormalised probabilities, sums over those two only, and after
// the Adam step shifts the two α by the change of their log-sum-exp, so that every other
// candidate keeps its probability; its latency term too goes through the pair alone, as the
// reference's expected latency reads `current_prob_over_ops` (the pair's renormalised
// probabilities, 0 elsewhere). An edge whose drawn candidate computes nothing of its own (a
// `zero`, or an identity that skips a choice layer: the reference's Zero in a residual block)
// gets no architecture gradient that step, latency term included: the reference sets it to None.
// The supernet is judged, and its architecture derived, by the strongest candidate per edge
// (`convert_to_normal_net`).
#include <fmt/format.h>

#include <map>

#include "runtime/train/methods/weighted.h"

namespace cella::runtime {

namespace {

// One edge's (or layer's) gates in one architecture step.
struct Gate {
  std::size_t alpha = 0;  ///< index into SupernetState::alphas
  int row = 0;            ///< the edge; 0 for a layer
  std::vector<int> ops;   ///< the candidates the gradient sums over
  torch::Tensor p;        ///< their probabilities
  int active = -1;        ///< the candidate that runs
  torch::Tensor before;   ///< their α before the step (`two`: for the rescaling)
};

class Proxyless : public WeightedMethod {
 public:
  std::string_view name() const override { return "proxyless"; }
  bool trains_single_paths() const override { return true; }

  // The architecture is judged by its strongest path, as the reference validates.
  Mixing judging_mixing(const SupernetState& s, const ir::SupernetPlan&, std::mt19937_64&) const override {
    return mixing_of(s.net->program(), strongest_arch(s));
  }

  // Its architecture step recomputes candidates on one process's batch; not summed over ranks yet.
  bool trains_data_parallel() const override { return false; }
  bool architecture_step(SupernetState& s, const ir::SupernetPlan& plan, const ArchitectureBatch& b) const override {
    const ir::Program& p = s.net->program();
    const ir::Network& n = *p.network;
    const Mask& mask = s.net->mask();
    const std::size_t cells = n.cell_groups.size();
    torch::Generator gen = at::detail::createCPUGenerator(b.seed);
    const bool two = plan.arch.binary_gates == ir::BinaryGates::Two;

    std::vector<Gate> gates;
    std::map<std::pair<std::size_t, int>, std::size_t> gate_of;
    auto draw = [&](std::size_t a, int row, const std::vector<bool>& enabled) {
      Gate g;
      g.alpha = a;
      g.row = row;
      g.ops = enabled_candidates(enabled);
      if (g.ops.empty()) return -1;
      torch::NoGradGuard no_grad;
      torch::Tensor all = a < cells ? s.alphas[a][row] : s.alphas[a];
      // On the CPU, where the draws' generator is (runtime/device).
      auto logits_of = [&](const std::vector<int>& ops) {
        return all.index_select(0, torch::tensor(std::vector<std::int64_t>(ops.begin(), ops.end())).to(all.device()))
            .to(torch::kCPU, /*non_blocking=*/false, /*copy=*/true);
      };
      torch::Tensor probs = logits_of(g.ops).softmax(-1);
      if (two && g.ops.size() >= 2) {
        torch::Tensor pair = torch::multinomial(probs, 2, false, gen);
        g.ops = {g.ops[pair[0].item<std::int64_t>()], g.ops[pair[1].item<std::int64_t>()]};
        g.before = logits_of(g.ops);
        probs = g.before.softmax(-1);
      }
      g.p = probs;
      g.active = g.ops[torch::multinomial(probs, 1, false, gen).item<std::int64_t>()];
      gate_of[{a, row}] = gates.size();
      gates.push_back(g);
      return g.active;
    };
    Mixing mix = weighted_mixing(s, [](const std::vector<int>& ops, const torch::Tensor&) { return Mix{ops, {}}; });
    for (std::size_t g = 0; g < cells; ++g)
      for (std::size_t e = 0; e < mix.cells[g].edges.size(); ++e) {
        int active = draw(g, static_cast<int>(e), mask.cells[g][e]);
        mix.cells[g].edges[e] = active < 0 ? Mix{} : Mix{{active}, {}};
      }
    for (std::size_t l = 0; l < mix.layers.size(); ++l) {
      int active = draw(cells + l, 0, mask.layers[l]);
      mix.layers[l] = active < 0 ? Mix{} : Mix{{active}, {}};
    }

    // One path forward and backward; every candidate's ⟨∂L/∂y, o_j(x)⟩ from the records.
    mix.record = std::make_shared<std::vector<GateRecord>>();
    torch::Tensor loss = torch::cross_entropy_loss(s.net->forward(b.x, mix), b.y);
    if (torch::Tensor extra = b.extra ? b.extra() : torch::Tensor(); extra.defined()) loss = loss + extra;
    loss.backward();
    std::vector<std::map<int, double>> gate_grads(gates.size());
    {
      torch::NoGradGuard no_grad;
      for (const GateRecord& r : *mix.record) {
        const ir::Unit& u = n.units[static_cast<std::size_t>(r.unit)];
        const std::size_t a =
            r.edge >= 0 ? static_cast<std::size_t>(u.group) : cells + static_cast<std::size_t>(u.group);
        auto it = gate_of.find({a, std::max(r.edge, 0)});
        if (it == gate_of.end() || !r.output.grad().defined()) continue;
        const Gate& g = gates[it->second];
        for (int j : g.ops) {
          torch::Tensor o =
              j == r.candidate ? r.output.detach() : s.net->candidate_output(r.unit, r.edge, j, r.input.detach());
          gate_grads[it->second][j] += (r.output.grad() * o).sum().item<double>();
        }
      }
    }
    std::vector<torch::Tensor> delta;
    for (const torch::Tensor& a : s.alphas) delta.push_back(torch::zeros_like(a));
    std::vector<torch::Tensor> silent;  // [alpha] rows without a gradient this step
    for (const torch::Tensor& a : s.alphas)
      silent.push_back(torch::zeros({a.dim() == 2 ? a.size(0) : 1}, a.options().dtype(torch::kBool)));
    for (std::size_t i = 0; i < gates.size(); ++i) {
      const Gate& g = gates[i];
      torch::Tensor row = g.alpha < cells ? delta[g.alpha][g.row] : delta[g.alpha];
      if (computes_nothing(s, g)) {
        silent[g.alpha][g.row] = true;
        continue;
      }
      torch::Tensor p64 = g.p.to(torch::kDouble);
      auto pr = p64.accessor<double, 1>();
      for (std::size_t x = 0; x < g.ops.size(); ++x) {
        double v = 0;
        for (std::size_t y = 0; y < g.ops.size(); ++y)
          v += gate_grads[i][g.ops[y]] * pr[static_cast<std::int64_t>(y)] *
               ((x == y ? 1.0 : 0.0) - pr[static_cast<std::int64_t>(x)]);
        row[g.ops[x]] += v;
      }
    }
    if (two && !s.latency.empty()) pair_latency_gradient(s, plan, gates, delta);
    for (std::size_t a = 0; a < s.alphas.size(); ++a) {
      torch::Tensor& grad = s.alphas[a].mutable_grad();
      grad = grad.defined() ? grad + delta[a] : delta[a];
      torch::Tensor keep = (~silent[a]).to(grad.dtype());
      grad = grad * (grad.dim() == 2 ? keep.unsqueeze(1) : keep);
    }
    s.arch_optimizer->step();

    if (two) {
      // Shift the two α so that their total probability, and every other candidate's, stays.
      torch::NoGradGuard no_grad;
      for (const Gate& g : gates) {
        if (!g.before.defined()) continue;
        torch::Tensor all = g.alpha < cells ? s.alphas[g.alpha][g.row] : s.alphas[g.alpha];
        torch::Tensor idx = torch::tensor(std::vector<std::int64_t>(g.ops.begin(), g.ops.end())).to(all.device());
        torch::Tensor after = all.index_select(0, idx);
        torch::Tensor offset = after.logsumexp(0) - g.before.to(all.device()).logsumexp(0);
        all.index_copy_(0, idx, after - offset);
      }
    }
    return true;
  }

 protected:
  // The weight step's path: one candidate drawn from the softmax of α.
  Mix weigh(const std::vector<int>& ops, const torch::Tensor& logits, Step, torch::Generator& gen,
            double) const override {
    std::int64_t j = torch::multinomial(logits.softmax(-1).cpu(), 1, false, gen).item<std::int64_t>();
    return Mix{{ops[static_cast<std::size_t>(j)]}, {}};
  }

 private:
  // `binary_gates two`: the latency term through each gate's pair alone. The trainer's term (in
  // the loss's `extra`) went through the softmax over every candidate; its gradient is taken out
  // of α's again and, per gate, λ/ref · q_x (t_x − Σ_j q_j t_j) put into `delta` for the pair's
  // candidates x, q their renormalised probabilities and t their latencies.
  static void pair_latency_gradient(SupernetState& s, const ir::SupernetPlan& plan, const std::vector<Gate>& gates,
                                    std::vector<torch::Tensor>& delta) {
    const ir::Program& p = s.net->program();
    const std::size_t cells = p.network->cell_groups.size();
    const double factor = plan.latency.weight / latency_reference(s.latency, p, plan.latency);
    {
      std::vector<torch::Tensor> alphas;
      for (const torch::Tensor& a : s.alphas) alphas.push_back(a);
      torch::Tensor all = factor * expected_latency(s.latency, s.net->mask(), alphas);
      std::vector<torch::Tensor> g = torch::autograd::grad({all}, alphas, {}, false, false, /*allow_unused=*/true);
      torch::NoGradGuard no_grad;
      for (std::size_t a = 0; a < s.alphas.size(); ++a)
        if (g[a].defined() && s.alphas[a].grad().defined()) s.alphas[a].mutable_grad() -= g[a];
    }
    torch::NoGradGuard no_grad;
    for (const Gate& g : gates) {
      if (!g.before.defined()) continue;  // one candidate: no latency gradient either way
      const torch::Tensor table = g.alpha < cells ? s.latency.entries[g.alpha][g.row] : s.latency.entries[g.alpha];
      torch::Tensor row = g.alpha < cells ? delta[g.alpha][g.row] : delta[g.alpha];
      std::vector<double> q, t;
      double mean = 0;
      for (std::size_t x = 0; x < g.ops.size(); ++x) {
        q.push_back(g.p[static_cast<std::int64_t>(x)].item<double>());
        t.push_back(table[g.ops[x]].item<double>());
        mean += q.back() * t.back();
      }
      for (std::size_t x = 0; x < g.ops.size(); ++x) row[g.ops[x]] += factor * q[x] * (t[x] - mean);
    }
  }

  // Whether the gate's drawn candidate computes nothing of its own: a `zero`, or on a choice
  // layer an identity (the layer skipped, the reference's Zero in a residual block; on a cell
  // edge an identity is a real candidate, `skip_connect`).
  static bool computes_nothing(const SupernetState& s, const Gate& g) {
    const ir::Program& p = s.net->program();
    const ir::Network& n = *p.network;
    const lower::Network& d = s.net->description();
    const std::size_t cells = n.cell_groups.size();
    if (g.alpha >= cells) {
      const auto& m = d.units[static_cast<std::size_t>(n.layer_groups[g.alpha - cells])]
                          .choices[static_cast<std::size_t>(g.active)];
      return m && (m->op.is_zero(m->in_channels) || m->op.is_identity(m->in_channels));
    }
    for (std::size_t i = 0; i < n.units.size(); ++i)
      if (n.units[i].kind == ir::UnitKind::Cell && n.units[i].group == static_cast<int>(g.alpha)) {
        const ir::Cell& c = p.cells[n.cell_groups[g.alpha].cell];
        return c.edge(g.row).candidates[static_cast<std::size_t>(g.active)].is_zero(d.units[i].cell->width);
      }
    return false;
  }
};

}  // namespace

std::unique_ptr<TrainingMethod> make_proxyless() { return std::make_unique<Proxyless>(); }

}  // namespace cella::runtime
