// The mixing of weighted methods.
#include "runtime/train/methods/weighted.h"

namespace cella::runtime {

Mixing weighted_mixing(const SupernetState& s,
                       const std::function<Mix(const std::vector<int>&, const torch::Tensor&)>& weigh) {
  const ir::Program& p = s.net->program();
  const Mask& mask = s.net->mask();
  const ir::Network& n = *p.network;
  auto edge = [&](const torch::Tensor& alpha, const std::vector<bool>& row) {
    std::vector<int> ops = enabled_candidates(row);
    torch::Tensor idx =
        torch::tensor(std::vector<std::int64_t>(ops.begin(), ops.end()), torch::kInt64).to(alpha.device());
    return weigh(ops, alpha.index_select(0, idx));
  };
  Mixing mix;
  for (std::size_t g = 0; g < n.cell_groups.size(); ++g) {
    const ir::Cell& c = p.cells[n.cell_groups[g].cell];
    CellMix cm;
    for (int e = 0; e < c.num_edges(); ++e) cm.edges.push_back(edge(s.alphas[g][e], mask.cells[g][e]));
    // Node operations (NAS-Bench-101 style) have no architecture weights: equal weights.
    for (int v = 0; v < c.num_nodes(); ++v) {
      std::vector<int> ops = enabled_candidates(mask.nodes[g][v]);
      Mix m;
      if (!ops.empty()) {
        m.ops = ops;
        m.weights = torch::full({static_cast<std::int64_t>(ops.size())}, 1.0 / static_cast<double>(ops.size()),
                                torch::TensorOptions().device(s.net->device()));
      }
      cm.nodes.push_back(m);
    }
    mix.cells.push_back(cm);
  }
  for (std::size_t l = 0; l < n.layer_groups.size(); ++l)
    mix.layers.push_back(edge(s.alphas[n.cell_groups.size() + l], mask.layers[l]));
  return mix;
}

Mixing WeightedMethod::step_mixing(const SupernetState& s, const ir::SupernetPlan&, Step step, std::uint64_t seed,
                                   double tau) const {
  torch::Generator gen = at::detail::createCPUGenerator(seed);
  return weighted_mixing(
      s, [&](const std::vector<int>& ops, const torch::Tensor& logits) { return weigh(ops, logits, step, gen, tau); });
}

Mixing WeightedMethod::judging_mixing(const SupernetState& s, const ir::SupernetPlan&, std::mt19937_64&) const {
  return weighted_mixing(s, [](const std::vector<int>& ops, const torch::Tensor& logits) {
    return Mix{ops, logits.softmax(-1)};
  });
}

ir::Arch WeightedMethod::derive(SupernetState& s, const ir::SupernetPlan&, const DataSplits&, std::uint64_t,
                                std::int64_t, const ProgressFn&) const {
  return strongest_arch(s);
}

torch::Tensor gumbel_softmax(const torch::Tensor& logits, torch::Generator& gen, double tau) {
  // Drawn on the CPU generator (the same noise on every device), then moved.
  torch::Tensor u = torch::rand(logits.sizes(), gen).clamp_(1e-10, 1.0 - 1e-7).to(logits.device());
  torch::Tensor g = -torch::log(-torch::log(u));
  return ((logits.log_softmax(-1) + g) / tau).softmax(-1);
}

}  // namespace cella::runtime
