// ProxylessNAS (`weights proxyless`): the binary-gate architecture gradient against a dense
// reference, the two-path rescaling, and the latency table and term.
#include <gtest/gtest.h>

#include <filesystem>
#include <numeric>

#include "compiler/lower/lower.h"
#include "runtime/supernet/network.h"
#include "runtime/train/latency.h"
#include "runtime/train/method.h"
#include "runtime/train/trainer.h"
#include "tests/unit/helpers.h"

namespace cella::runtime {
namespace {

using testing_helpers::tiny_plan;

std::shared_ptr<const ir::Program> proxyless_program() {
  driver::CompileOptions o;
  o.sema.overrides = {{"W", "1"}, {"blocks", "2"}};
  o.sema.data = "synthetic";
  auto c = testing_helpers::compile_space("proxyless.cella", o);
  EXPECT_TRUE(c->ok()) << testing_helpers::messages(*c);
  return std::make_shared<const ir::Program>(*c->program);
}

ir::SupernetPlan proxyless_plan(ir::BinaryGates gates, double arch_lr) {
  ir::SupernetPlan plan = tiny_plan("proxyless", 1);
  plan.arch.binary_gates = gates;
  plan.arch.lr = arch_lr;
  plan.arch.beta1 = 0;
  plan.arch.weight_decay = 0;
  return plan;
}

// Spread architecture weights, so that the softmax Jacobian is not the uniform one.
void spread(SupernetState& s, std::uint64_t seed) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(seed);
  for (torch::Tensor& a : s.alphas) a.copy_(torch::randn_like(a));
}

// The candidate of each choice layer that ran: the one whose parameters got gradients (a
// skip has none; the recomputed candidates ran without gradients).
std::vector<int> active_layers(const SupernetState& s) {
  const ir::Network& n = *s.net->program().network;
  std::vector<int> active;
  for (int u : n.layer_groups) {
    int found = -1;
    for (std::size_t k = 0; k < n.units[u].choices.size(); ++k) {
      const std::string prefix =
          lower::module_key(n.units[u].name) + "/" + lower::module_key(n.units[u].choices[k].name) + ".";
      for (const auto& kv : s.net->named_parameters())
        if (kv.value().grad().defined() && kv.key().rfind(prefix, 0) == 0) found = static_cast<int>(k);
    }
    active.push_back(found);
  }
  return active;
}

// ∂L/∂α_i = Σ_j ⟨∂L/∂y, o_j(x)⟩ p_j (δ_ij − p_i), computed densely: every candidate runs, weighted
// by one-hot(active) + p − p.detach(), whose value is the one path and whose gradient through p
// is exactly that sum. The method gets the same from one path and recomputation (`full_v2`).
TEST(Proxyless, BinaryGateGradientMatchesADenseReference) {
  auto p = proxyless_program();
  ir::SupernetPlan plan = proxyless_plan(ir::BinaryGates::One, 0.0);  // lr 0: the step leaves α.grad to read
  SupernetState s = make_supernet(p, Mask::full(*p), plan, 3);
  spread(s, 4);
  // In float64, so that the two summation orders agree to far below the tolerance.
  s.net->to(torch::kDouble);
  for (torch::Tensor& a : s.alphas) a = a.detach().to(torch::kDouble).requires_grad_();
  s.arch_optimizer = std::make_shared<torch::optim::Adam>(s.alphas, torch::optim::AdamOptions(0.0));
  s.net->train();
  torch::manual_seed(5);
  torch::Tensor x = torch::randn({8, p->network->input.channels, 28, 28}, torch::kDouble);
  torch::Tensor y = torch::randint(0, 10, {8}, torch::kLong);
  ASSERT_TRUE(method_of(plan).architecture_step(s, plan, ArchitectureBatch{x, y, 11, 1.0, {}}));
  const std::vector<int> active = active_layers(s);
  const std::size_t layers = active.size();
  ASSERT_GT(layers, 0u);
  std::vector<torch::Tensor> got;
  for (const torch::Tensor& a : s.alphas) got.push_back(a.grad().clone());

  // The dense reference on the same path.
  for (const torch::Tensor& a : s.alphas) const_cast<torch::Tensor&>(a).mutable_grad().reset();
  Mixing dense;
  std::vector<bool> skipped;
  for (std::size_t l = 0; l < layers; ++l) {
    const torch::Tensor& alpha = s.alphas[l];
    torch::Tensor prob = alpha.softmax(-1);
    torch::Tensor hot = torch::zeros_like(prob);
    // A skip (no parameters) is the only candidate whose gradients never show: the active one
    // when none has gradients.
    int a = active[l];
    if (a < 0)
      for (std::size_t k = 0; k < p->network->units[p->network->layer_groups[l]].choices.size(); ++k)
        if (p->network->units[p->network->layer_groups[l]].choices[k].name == "skip") a = static_cast<int>(k);
    ASSERT_GE(a, 0);
    skipped.push_back(active[l] < 0);
    hot[a] = 1.0;
    std::vector<int> all(static_cast<std::size_t>(alpha.size(0)));
    std::iota(all.begin(), all.end(), 0);
    dense.layers.push_back(Mix{all, hot + prob - prob.detach()});
  }
  torch::cross_entropy_loss(s.net->forward(x, dense), y).backward();
  int compared = 0;
  for (std::size_t l = 0; l < layers; ++l) {
    if (skipped[l]) {  // the reference's Zero: no gradient that step
      EXPECT_TRUE(torch::equal(got[l], torch::zeros_like(got[l]))) << "layer group " << l;
      continue;
    }
    const torch::Tensor& want = s.alphas[l].grad();
    EXPECT_TRUE(torch::allclose(got[l], want, 1e-7, 1e-10)) << "layer group " << l << "\n" << got[l] << "\n" << want;
    compared += want.abs().sum().item<double>() > 0;
  }
  EXPECT_GT(compared, 2);
}

// `two`: two candidates drawn, the gradient over them alone, and after the step their α shifted
// so that their summed probability, and every other candidate's, is what it was.
TEST(Proxyless, TwoPathRescalingKeepsTheOtherProbabilities) {
  auto p = proxyless_program();
  ir::SupernetPlan plan = proxyless_plan(ir::BinaryGates::Two, 0.5);
  SupernetState s = make_supernet(p, Mask::full(*p), plan, 6);
  spread(s, 7);
  s.net->train();
  std::vector<torch::Tensor> before;
  for (const torch::Tensor& a : s.alphas) before.push_back(a.detach().softmax(-1));
  torch::manual_seed(8);
  torch::Tensor x = torch::randn({8, p->network->input.channels, 28, 28});
  torch::Tensor y = torch::randint(0, 10, {8}, torch::kLong);
  method_of(plan).architecture_step(s, plan, ArchitectureBatch{x, y, 12, 1.0, {}});
  int moved_layers = 0;
  for (std::size_t l = 0; l < s.alphas.size(); ++l) {
    torch::Tensor after = s.alphas[l].detach().softmax(-1);
    torch::Tensor changed = (after - before[l]).abs() > 1e-6;
    const std::int64_t n = changed.sum().item<std::int64_t>();
    EXPECT_TRUE(n == 0 || n == 2) << "layer group " << l << ": " << n << " probabilities changed";
    moved_layers += n == 2;
    // The two that moved kept their sum.
    EXPECT_NEAR((after * changed).sum().item<double>(), (before[l] * changed).sum().item<double>(), 1e-5);
  }
  EXPECT_GT(moved_layers, 0);
}

// `two` with a latency term: the term goes through each drawn pair's renormalised probabilities
// alone (the reference's `current_prob_over_ops`), so every other α keeps its value to the bit
// (Adam without momentum moves no α whose gradient is 0). The term through every candidate's
// softmax moved them all.
TEST(Proxyless, TwoPathLatencyGradientReachesThePairAlone) {
  auto p = proxyless_program();
  ir::SupernetPlan plan = proxyless_plan(ir::BinaryGates::Two, 0.5);
  plan.latency.source = ir::LatencySource::Macs;
  plan.latency.weight = 0.5;
  SupernetState s = make_supernet(p, Mask::full(*p), plan, 6);
  s.latency = latency_table(*p, ir::LatencySource::Macs, 28);
  spread(s, 7);
  s.net->train();
  std::vector<torch::Tensor> before;
  for (const torch::Tensor& a : s.alphas) before.push_back(a.detach().clone());
  torch::manual_seed(8);
  torch::Tensor x = torch::randn({8, p->network->input.channels, 28, 28});
  torch::Tensor y = torch::randint(0, 10, {8}, torch::kLong);
  // The trainer's term: λ·(E[LAT] − ref)/ref over the softmax of every candidate.
  const double ref = uniform_expected_latency(s.latency, *p);
  auto extra = [&] { return plan.latency.weight * (expected_latency(s.latency, s.net->mask(), s.alphas) - ref) / ref; };
  method_of(plan).architecture_step(s, plan, ArchitectureBatch{x, y, 12, 1.0, extra});
  int moved = 0;
  for (std::size_t l = 0; l < s.alphas.size(); ++l) {
    const std::int64_t changed = (s.alphas[l].detach() != before[l]).sum().item<std::int64_t>();
    EXPECT_TRUE(changed == 0 || changed == 2) << "layer group " << l << ": " << changed << " α changed";
    moved += changed == 2;
  }
  EXPECT_GT(moved, 0);
}

// Multiply-accumulates per candidate are the lowering's costs; a skip costs nothing; the
// expected latency under uniform weights is the mean per layer; the table survives a checkpoint.
TEST(Proxyless, LatencyTableFromMacsAndThroughACheckpoint) {
  auto p = proxyless_program();
  LatencyTable t = latency_table(*p, ir::LatencySource::Macs, 28);
  const ir::Network& n = *p->network;
  ASSERT_EQ(t.entries.size(), n.layer_groups.size());
  lower::Network net = lower::lower(*p, ir::Mask::full(*p), true, 28);
  double total = 0;
  for (const lower::Module* m : net.modules()) total += static_cast<double>(lower::cost(*m).macs) / 1e6;
  double sum = t.fixed;
  for (std::size_t l = 0; l < t.entries.size(); ++l) {
    const auto& choices = n.units[n.layer_groups[l]].choices;
    for (std::size_t k = 0; k < choices.size(); ++k) {
      double v = t.entries[l][static_cast<std::int64_t>(k)].item<double>();
      sum += v;
      if (choices[k].name == "skip")
        EXPECT_EQ(v, 0.0);
      else
        EXPECT_GT(v, 0.0);
    }
    // A larger expansion at the same kernel costs more.
    auto index = [&](const std::string& name) {
      for (std::size_t k = 0; k < choices.size(); ++k)
        if (choices[k].name == name) return static_cast<std::int64_t>(k);
      return std::int64_t{-1};
    };
    EXPECT_GT(t.entries[l][index("mb6_k5")].item<double>(), t.entries[l][index("mb3_k5")].item<double>());
  }
  EXPECT_NEAR(sum, total, 1e-3 * total);
  double uniform = t.fixed;
  for (const torch::Tensor& e : t.entries) uniform += e.mean().item<double>();
  EXPECT_NEAR(uniform_expected_latency(t, *p), uniform, 1e-4 * uniform);

  ir::SupernetPlan plan = proxyless_plan(ir::BinaryGates::One, 1e-3);
  SupernetState s = make_supernet(p, Mask::full(*p), plan, 1);
  s.latency = latency_table(*p, ir::LatencySource::Measured, 28, 3);
  for (const torch::Tensor& e : s.latency.entries) EXPECT_GT(e.max().item<double>(), 0.0);
  const std::string file = (std::filesystem::temp_directory_path() / "cella_latency_ckpt.pt").string();
  save_state(s, file);
  SupernetState r = make_supernet(p, Mask::full(*p), plan, 2);
  load_state(r, file);
  std::filesystem::remove(file);
  ASSERT_EQ(r.latency.entries.size(), s.latency.entries.size());
  EXPECT_EQ(r.latency.fixed, s.latency.fixed);
  for (std::size_t i = 0; i < s.latency.entries.size(); ++i)
    EXPECT_TRUE(torch::equal(r.latency.entries[i], s.latency.entries[i]));
}

// Latency is timed on one thread unless asked otherwise, whatever the command computes with, and
// LibTorch's thread count is given back afterwards; every figure carries the threads, the cores and
// the load average, and a busy machine (more runnable work than the cores left to the timing,
// plus one) is warned about. A user's 0.7 ms network timed at 260 ms on two threads of two busy
// cores.
TEST(Latency, TimedOnOneThreadByDefaultWithTheLoadItRanUnder) {
  EXPECT_EQ(latency_threads(0), 1);
  EXPECT_EQ(latency_threads(3), 3);
  auto p = proxyless_program();
  std::mt19937_64 rng(1);
  const ir::Arch arch = ir::sample(*p, rng);
  const int before = torch::get_num_threads();
  torch::set_num_threads(2);
  LatencyStats one = measure_latency(p, arch, 28, 1, 0, 2);
  EXPECT_EQ(one.conditions.threads, 1);
  EXPECT_EQ(torch::get_num_threads(), 2);  // restored
  LatencyStats two = measure_latency(p, arch, 28, 1, 0, 2, 2);
  EXPECT_EQ(two.conditions.threads, 2);
  EXPECT_GE(one.conditions.cores, 1);
  EXPECT_EQ(torch::get_num_threads(), 2);
  torch::set_num_threads(before);

  TimingConditions c{1, 2, 1.9};
  EXPECT_FALSE(c.busy());  // this process and one more task on two cores
  EXPECT_EQ(c.warning(), "");
  c.load = 2.5;
  EXPECT_TRUE(c.busy());
  EXPECT_NE(c.warning().find("load average 2.5 on 2 cores, timing on 1 thread)"), std::string::npos) << c.warning();
  c = {2, 2, 1.5};  // both cores timed: any other runnable task competes
  EXPECT_TRUE(c.busy());
}

}  // namespace
}  // namespace cella::runtime
