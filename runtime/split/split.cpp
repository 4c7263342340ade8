// Gradient matching, partitions, children with inherited state, and distillation.
#include "runtime/split/split.h"

#include <fmt/format.h>

#include <functional>
#include <map>
#include <random>
#include <stdexcept>

#include "compiler/ir/primitives.h"
#include "runtime/train/method.h"

namespace cella::runtime {

namespace {

torch::Tensor flat_grad(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> parts;
  for (const torch::Tensor& p : params)
    parts.push_back(p.grad().defined() ? p.grad().reshape({-1}).clone() : torch::zeros({p.numel()}, p.options()));
  return parts.empty() ? torch::zeros({1}) : torch::cat(parts);
}

void copy_state(const SupernetState& from, SupernetState& to) {
  torch::NoGradGuard no_grad;
  auto src = from.net->named_parameters();
  for (auto& kv : to.net->named_parameters())
    if (auto* t = src.find(kv.key())) kv.value().copy_(*t);
  auto bsrc = from.net->named_buffers();
  for (auto& kv : to.net->named_buffers())
    if (auto* t = bsrc.find(kv.key())) kv.value().copy_(*t);
  for (std::size_t i = 0; i < to.alphas.size() && i < from.alphas.size(); ++i) to.alphas[i].copy_(from.alphas[i]);
  // Optimizer states are keyed by tensor identity: map them through parameter names.
  auto& from_state = from.optimizer->state();
  auto& to_state = to.optimizer->state();
  for (auto& kv : to.net->named_parameters()) {
    const torch::Tensor* old = src.find(kv.key());
    if (!old) continue;
    auto it = from_state.find(optimizer_state_key(*old));
    if (it == from_state.end()) continue;
    auto st = std::make_unique<torch::optim::SGDParamState>();
    st->momentum_buffer(static_cast<const torch::optim::SGDParamState&>(*it->second).momentum_buffer().clone());
    to_state[optimizer_state_key(kv.value())] = std::move(st);
  }
  if (from.arch_optimizer && to.arch_optimizer) {
    for (std::size_t i = 0; i < to.alphas.size() && i < from.alphas.size(); ++i) {
      auto it = from.arch_optimizer->state().find(optimizer_state_key(from.alphas[i]));
      if (it == from.arch_optimizer->state().end()) continue;
      const auto& a = static_cast<const torch::optim::AdamParamState&>(*it->second);
      auto st = std::make_unique<torch::optim::AdamParamState>();
      st->step(a.step());
      st->exp_avg(a.exp_avg().clone());
      st->exp_avg_sq(a.exp_avg_sq().clone());
      if (a.max_exp_avg_sq().defined()) st->max_exp_avg_sq(a.max_exp_avg_sq().clone());
      to.arch_optimizer->state()[optimizer_state_key(to.alphas[i])] = std::move(st);
    }
  }
  to.epoch = from.epoch;
}

}  // namespace

std::vector<std::pair<std::string, torch::Tensor>> gradient_match_weights(const SupernetState& s, int group, int edge) {
  // The candidates by their roles in the lowered network, taken in named_parameters() order so
  // that the flattened gradients of every candidate line up.
  const ir::Network& n = *s.net->program().network;
  std::vector<std::string> prefixes;
  for (const lower::Module* m : s.net->description().modules()) {
    // Every candidate of the split group's other edges and of every other group's edges (the
    // DARTS code takes the other cell type's mixed operations whole), and the fixed `layer`
    // units between stages (NAS-Bench-201's residual blocks).
    bool candidate = m->role == lower::Role::EdgeCandidate && (m->group != group || m->slot != edge);
    bool layer = m->role == lower::Role::Fixed && n.units[m->unit].role == "layer";
    if (candidate || layer) prefixes.push_back(m->path + ".");
  }
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& kv : s.net->named_parameters())
    for (const std::string& pre : prefixes)
      if (kv.key().rfind(pre, 0) == 0) {
        out.emplace_back(kv.key(), kv.value());
        break;
      }
  return out;
}

torch::Tensor cosine_similarity_matrix(const std::vector<torch::Tensor>& g) {
  const auto k = static_cast<std::int64_t>(g.size());
  torch::Tensor s = torch::zeros({k, k}, torch::kFloat64);
  for (std::int64_t i = 0; i < k; ++i)
    for (std::int64_t j = 0; j < k; ++j) {
      double dot = (g[i].to(torch::kFloat64) * g[j].to(torch::kFloat64)).sum().item<double>();
      double norm = g[i].to(torch::kFloat64).norm().item<double>() * g[j].to(torch::kFloat64).norm().item<double>();
      s[i][j] = dot / (norm + 1e-6);
    }
  return s;
}

namespace {

// What both scores share: for `o.batches` random minibatches, the mixing the parent's method
// judges with, then for each of `values` the mixing `with(base, value)`: the cosine similarity of
// the training-loss gradients on `params`, averaged. [K, K], rows and columns of other values 0.
torch::Tensor match_gradients(SupernetState& parent, const ir::SupernetPlan& plan, const Dataset& train,
                              const std::vector<int>& values, std::int64_t K, const std::vector<torch::Tensor>& params,
                              const std::function<Mixing(const Mixing&, int)>& with, const GradientMatchOptions& o) {
  KeepBuffers keep(parent.net);  // batch-norm statistics as they were: scoring must not change the parent
  torch::Tensor sum = torch::zeros({K, K}, torch::kFloat64);
  parent.net->train();
  std::mt19937_64 rng(o.seed);
  for (std::int64_t r = 0; r < o.batches; ++r) {
    torch::Generator gen = at::detail::createCPUGenerator(o.seed * 7919 + static_cast<std::uint64_t>(r));
    torch::Tensor idx = torch::randint(train.size(), {std::min(o.batch, train.size())}, gen, torch::kInt64);
    torch::Tensor x = train.images.index_select(0, idx), y = train.labels.index_select(0, idx).to(parent.net->device());
    Mixing base;
    {
      torch::NoGradGuard no_grad;
      base = method_of(plan).judging_mixing(parent, plan, rng);
    }
    std::vector<torch::Tensor> grads;
    for (int v : values) {
      clear_grads(parent.net->parameters());
      torch::cross_entropy_loss(parent.net->forward(x, with(base, v)), y).backward();
      grads.push_back(flat_grad(params));
    }
    torch::Tensor s = cosine_similarity_matrix(grads);
    for (std::size_t i = 0; i < values.size(); ++i)
      for (std::size_t j = 0; j < values.size(); ++j)
        sum[values[i]][values[j]] += s[static_cast<std::int64_t>(i)][static_cast<std::int64_t>(j)];
  }
  clear_grads(parent.net->parameters());
  return sum / static_cast<double>(std::max<std::int64_t>(1, o.batches));
}

}  // namespace

torch::Tensor gradient_match_scores(SupernetState& parent, const ir::SupernetPlan& plan, const Dataset& train,
                                    int group, int edge, const GradientMatchOptions& o) {
  const ir::Program& p = parent.net->program();
  const auto K = static_cast<std::int64_t>(p.cells[p.network->cell_groups[group].cell].edge(edge).candidates.size());
  std::vector<torch::Tensor> params;
  for (auto& [name, tensor] : gradient_match_weights(parent, group, edge)) params.push_back(tensor);
  auto with = [&](const Mixing& base, int c) {
    Mixing mix = base;
    Mix m{{c}, {}};
    if (o.variant == ir::GmVariant::Darts) {  // the parent's θ on this candidate (a sampled path has no weights)
      const Mix& full = base.cells[group].edges[edge];
      for (std::size_t j = 0; j < full.ops.size(); ++j)
        if (full.ops[j] == c && full.weights.defined())
          m.weights = full.weights.narrow(0, static_cast<std::int64_t>(j), 1).detach();
    }
    mix.cells[group].edges[edge] = m;
    return mix;
  };
  return match_gradients(parent, plan, train, enabled_candidates(parent.net->mask().cells[group][edge]), K, params,
                         with, o);
}

torch::Tensor gradient_match_elastic_scores(SupernetState& parent, const ir::SupernetPlan& plan, const Dataset& train,
                                            const ir::SplitSites& sites, int site, const GradientMatchOptions& o) {
  const int layer = sites.layer_group(site);
  if (layer < 0) throw std::invalid_argument("gradient_match_elastic_scores: not an elastic site");
  // Every weight but the elastic layer's own module(s), in named_parameters() order.
  std::vector<std::string> own;
  for (const lower::Module* m : parent.net->description().modules())
    if (m->role == lower::Role::ElasticLayer && m->group == layer) own.push_back(m->path + ".");
  std::vector<torch::Tensor> params;
  for (const auto& kv : parent.net->named_parameters())
    if (std::none_of(own.begin(), own.end(), [&](const std::string& pre) { return kv.key().rfind(pre, 0) == 0; }))
      params.push_back(kv.value());
  const ir::Program& p = parent.net->program();
  const ir::Unit& unit = p.network->units[static_cast<std::size_t>(p.network->layer_groups[layer])];
  const ir::Stage* stage = unit.stage >= 0 ? &p.network->stages[static_cast<std::size_t>(unit.stage)] : nullptr;
  const Mask& mask = parent.net->mask();
  auto with = [&](const Mixing& base, int value) {
    Mixing mix = base;
    // The layer's candidate as judged (its largest, should the method mix several), with the
    // split dimension at `value`.
    const std::vector<int>& ops = base.layers[static_cast<std::size_t>(layer)].ops;
    mix.layers[static_cast<std::size_t>(layer)] = Mix{{sites.with_value(site, ops.back(), value)}, {}};
    // A path whose stage is too shallow to run the layer is deepened to the least depth that
    // runs it: its kernel sizes would otherwise match perfectly (GM-NAS's OFA code scores such
    // draws as they come).
    if (stage && stage->depth_group >= 0 && !mix.depths.empty()) {
      const auto group = static_cast<std::size_t>(stage->depth_group);
      int& d = mix.depths[group];
      if (stage->depths[static_cast<std::size_t>(d)] <= unit.depth_index)
        for (std::size_t k = 0; k < stage->depths.size(); ++k)
          if (stage->depths[k] > unit.depth_index && (mask.depths.empty() || mask.depths[group][k])) {
            d = static_cast<int>(k);
            break;
          }
    }
    return mix;
  };
  return match_gradients(parent, plan, train, sites.kept(parent.net->mask(), site), sites.values(site), params, with,
                         o);
}

Partition best_partition(const torch::Tensor& sim, const std::vector<int>& cands, std::int64_t branches,
                         const std::vector<std::int64_t>& sizes_in, ir::GmVariant variant) {
  const int n = static_cast<int>(cands.size());
  std::vector<std::int64_t> sizes = sizes_in;
  // Default sizes as the references: NAS-Bench-201's code cuts as evenly as it can (2 and 3 of
  // 5), the DARTS-space code allows any groups of at least 2 (2 and 5, or 3 and 4, of 7).
  if (sizes.empty() && variant == ir::GmVariant::Darts && n >= 2 * 2)
    for (std::int64_t k = 2; k <= n - 2; ++k) sizes.push_back(k);
  if (sizes.empty()) sizes = {n / branches, (n + branches - 1) / branches};
  Partition best;
  best.cost = INFINITY;
  std::vector<int> label(n, 0);
  std::function<void(int, int)> go = [&](int i, int used) {
    if (i == n) {
      if (used != branches) return;
      std::vector<std::vector<int>> groups(branches);
      for (int j = 0; j < n; ++j) groups[label[j]].push_back(cands[j]);
      for (const auto& g : groups)
        if (std::find(sizes.begin(), sizes.end(), static_cast<std::int64_t>(g.size())) == sizes.end()) return;
      double cost = 0;
      for (int a = 0; a < n; ++a)
        for (int b = a + 1; b < n; ++b) {
          double s = sim[cands[a]][cands[b]].item<double>();
          bool same = label[a] == label[b];
          if (variant == ir::GmVariant::Darts)
            cost += same ? 1.0 - s : 0.0;  // distance within groups
          else
            cost += same ? 0.0 : s;  // similarity across groups (the cut)
        }
      if (cost < best.cost - 1e-12) best = Partition{groups, cost};
      return;
    }
    // Labels in order of first use: each partition is visited once.
    for (int l = 0; l <= std::min(used, static_cast<int>(branches) - 1); ++l) {
      label[i] = l;
      go(i + 1, std::max(used, l + 1));
    }
  };
  if (n >= branches) go(0, 0);
  return best;
}

SupernetState make_child(const SupernetState& parent, const Mask& mask, const ir::SupernetPlan& plan, bool restart,
                         std::uint64_t seed) {
  SupernetState child = make_supernet(parent.net->program_ptr(), mask, plan, seed);
  if (!restart) copy_state(parent, child);
  child.latency = parent.latency;  // one table per run (a measured one differs each time it is made)
  child.epoch = parent.epoch;      // epochs count along the lineage, also from fresh weights
  return child;
}

std::vector<Mask> exhaustive_children(const ir::SplitSites& sites, const Mask& parent, int site) {
  std::vector<Mask> out;
  for (int v : sites.kept(parent, site)) out.push_back(sites.restrict(parent, site, {v}));
  return out;
}

std::vector<Mask> partition_children(const ir::SplitSites& sites, const Mask& parent, int site, const Partition& p) {
  std::vector<Mask> out;
  for (const auto& g : p.groups) out.push_back(sites.restrict(parent, site, g));
  return out;
}

std::vector<Mask> hierarchy_children(const ir::SplitSites& sites, const Mask& parent, const std::vector<int>& edges,
                                     const std::vector<Partition>& partitions) {
  std::vector<Mask> out{parent};
  for (std::size_t i = 0; i < edges.size(); ++i) {
    std::vector<Mask> next;
    for (const Mask& m : out)
      for (const auto& g : partitions[i].groups) next.push_back(sites.restrict(m, edges[i], g));
    out.swap(next);
  }
  return out;
}

torch::Tensor distillation_loss(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& teacher,
                                const std::vector<torch::Tensor>& siblings, ir::Distill distill) {
  namespace F = torch::nn::functional;
  torch::Tensor loss = torch::cross_entropy_loss(logits, labels);
  torch::Tensor log_p = torch::log_softmax(logits, 1);
  auto kl = [&](const torch::Tensor& target) {
    return F::kl_div(log_p, torch::softmax(target.detach(), 1), F::KLDivFuncOptions().reduction(torch::kBatchMean));
  };
  const bool parent = distill == ir::Distill::Smd || distill == ir::Distill::Parent;
  const bool mutual = distill == ir::Distill::Smd || distill == ir::Distill::Mutual;
  if (parent && teacher.defined()) loss = loss + kl(teacher);
  if (mutual && !siblings.empty()) {
    torch::Tensor mutual = torch::zeros({}, logits.options());
    for (const torch::Tensor& s : siblings) mutual = mutual + kl(s);
    loss = loss + mutual / static_cast<double>(siblings.size());
  }
  return loss;
}

CriterionRegistry& CriterionRegistry::instance() {
  static CriterionRegistry r = [] {
    CriterionRegistry reg;
    reg.criteria_["gradient_match"] = gradient_match_scores;
    return reg;
  }();
  return r;
}

void CriterionRegistry::add(const std::string& name, SplitCriterion criterion) {
  const auto& declared = ir::split_criteria();
  if (std::find(declared.begin(), declared.end(), name) == declared.end())
    throw std::invalid_argument(fmt::format("split criterion '{}' has no signature in cella_plugin_signatures", name));
  if (criteria_.count(name)) throw std::invalid_argument(fmt::format("split criterion '{}' is registered twice", name));
  criteria_[name] = std::move(criterion);
}

const SplitCriterion* CriterionRegistry::find(const std::string& name) const {
  auto it = criteria_.find(name);
  return it == criteria_.end() ? nullptr : &it->second;
}

}  // namespace cella::runtime
