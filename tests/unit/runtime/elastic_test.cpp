// Elastic layers (runtime/ops/elastic.h) against hand computations: OFA's make_divisible, the
// centre crop, the kernel transformation's matrices and chain, batch norm on the first channels,
// a child's forward pass written out layer by layer, channel sorting that keeps the block's
// function and the nested widths, and extraction that equals the child.
#include "runtime/ops/elastic.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <set>

namespace cella::runtime {
namespace {

ElasticMBConvOptions options(bool se, KernelTransform transform, std::int64_t stride = 1) {
  ElasticMBConvOptions o;
  o.in = 8;
  o.out = 8;
  o.stride = stride;
  o.se = se;
  o.act = Activation::Hswish;
  o.transform = transform;
  return o;
}

// Random values in every parameter and batch-norm statistic, so that no test passes because a
// weight is the identity, a zero or a one.
void scramble(ElasticMBConvImpl& block, std::uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard no_grad;
  for (auto& p : block.named_parameters()) p.value().copy_(torch::randn_like(p.value()) * 0.5);
  for (auto& b : block.named_buffers())
    if (b.key().find("running_var") != std::string::npos) {
      b.value().copy_(torch::rand_like(b.value()) + 0.5);
    } else if (b.key().find("running_mean") != std::string::npos) {
      b.value().copy_(torch::randn_like(b.value()) * 0.1);
    }
}

void expect_close(const torch::Tensor& a, const torch::Tensor& b, double tol = 1e-5) {
  ASSERT_EQ(a.sizes(), b.sizes());
  EXPECT_TRUE(torch::allclose(a, b, tol, tol)) << "max |a - b| = " << (a - b).abs().max().item<double>();
}

TEST(Elastic, MakeDivisibleIsOfas) {
  EXPECT_EQ(make_divisible(24), 24);
  EXPECT_EQ(make_divisible(12), 16);  // 16 // 8 * 8
  EXPECT_EQ(make_divisible(6), 8);    // at least the divisor
  EXPECT_EQ(make_divisible(10), 16);  // 8 would take off more than a tenth of 10
  EXPECT_EQ(make_divisible(100), 104);
  EXPECT_EQ(make_divisible(72 * 6), 432);
}

TEST(Elastic, ShapesOfABlock) {
  ElasticMBConvImpl block(options(true, KernelTransform::Ofa));
  EXPECT_EQ(block.mid(3), 24);
  EXPECT_EQ(block.mid(4), 32);
  EXPECT_EQ(block.mid(6), 48);
  EXPECT_EQ(block.se_mid(48), 16);  // make_divisible(48 // 4 = 12)
  EXPECT_EQ(block.se_mid(24), 8);
  EXPECT_EQ(block.expand_weight.sizes(), (std::vector<std::int64_t>{48, 8, 1, 1}));
  EXPECT_EQ(block.depthwise_weight.sizes(), (std::vector<std::int64_t>{48, 1, 7, 7}));
  EXPECT_EQ(block.se_reduce_weight.sizes(), (std::vector<std::int64_t>{16, 48}));
  EXPECT_EQ(block.project_weight.sizes(), (std::vector<std::int64_t>{8, 48, 1, 1}));
  // One matrix per step down the kernel list, initialised to the identity: 25² + 9² = 706 more
  // parameters per layer, as OFA counts.
  ASSERT_EQ(block.transforms.size(), 2u);
  EXPECT_EQ(block.transform_matrix(7).sizes(), (std::vector<std::int64_t>{25, 25}));
  EXPECT_EQ(block.transform_matrix(5).sizes(), (std::vector<std::int64_t>{9, 9}));
  EXPECT_TRUE(block.transform_matrix(7).equal(torch::eye(25)));
  EXPECT_TRUE(block.transform_matrix(5).equal(torch::eye(9)));
  auto params = block.named_parameters();
  EXPECT_NE(params.find("kernel_7to5"), nullptr);
  EXPECT_NE(params.find("kernel_5to3"), nullptr);
  EXPECT_THROW(block.forward(torch::zeros({1, 8, 6, 6}), 4, 6), std::invalid_argument);
  EXPECT_THROW(block.forward(torch::zeros({1, 8, 6, 6}), 3, 5), std::invalid_argument);
}

TEST(Elastic, CentreCropAndKernelTransformation) {
  ElasticMBConvImpl crop(options(false, KernelTransform::Crop));
  scramble(crop, 1);
  const torch::Tensor w = crop.depthwise_weight.detach();
  // The 3×3 centre of a 7×7 filter starts at 7 // 2 − 3 // 2 = 2.
  expect_close(crop.active_filter(24, 3), w.slice(0, 0, 24).slice(2, 2, 5).slice(3, 2, 5), 0);
  expect_close(crop.active_filter(48, 5), w.slice(2, 1, 6).slice(3, 1, 6), 0);
  expect_close(crop.active_filter(32, 7), w.slice(0, 0, 32), 0);

  ElasticMBConvImpl ofa(options(false, KernelTransform::Ofa));
  scramble(ofa, 2);
  const torch::Tensor v = ofa.depthwise_weight.detach();
  const torch::Tensor m75 = ofa.transform_matrix(7).detach(), m53 = ofa.transform_matrix(5).detach();
  // By hand: the 5×5 centre of each channel's filter as a row of 25, times M(7→5)ᵀ; the 3×3 one
  // is the same step again from that 5×5 filter (never a crop of the raw 7×7).
  const torch::Tensor f5 =
      torch::matmul(v.slice(0, 0, 24).slice(2, 1, 6).slice(3, 1, 6).reshape({24, 25}), m75.t()).reshape({24, 1, 5, 5});
  const torch::Tensor f3 =
      torch::matmul(f5.slice(2, 1, 4).slice(3, 1, 4).reshape({24, 9}), m53.t()).reshape({24, 1, 3, 3});
  expect_close(ofa.active_filter(24, 5), f5);
  expect_close(ofa.active_filter(24, 3), f3);
  expect_close(ofa.active_filter(24, 7), v.slice(0, 0, 24), 0);
  // At initialisation (identity matrices) the transformation is the crop.
  ElasticMBConvImpl fresh(options(false, KernelTransform::Ofa));
  expect_close(fresh.active_filter(48, 3), centre_crop(fresh.depthwise_weight, 3), 0);
  // A 3×3 child's gradient reaches both matrices, a 5×5 child's only the first.
  torch::Tensor x = torch::randn({2, 8, 6, 6});
  ofa.train();
  ofa.forward(x, 5, 4).sum().backward();
  EXPECT_TRUE(ofa.transform_matrix(7).grad().defined());
  EXPECT_FALSE(ofa.transform_matrix(5).grad().defined());
}

TEST(Elastic, BatchNormOnTheFirstChannels) {
  BatchNorm bn(torch::nn::BatchNorm2dOptions(6));
  torch::NoGradGuard no_grad;
  bn->weight.copy_(torch::arange(1, 7, torch::kFloat));
  bn->bias.copy_(torch::arange(0, 6, torch::kFloat) * 0.1);
  torch::manual_seed(3);
  torch::Tensor x = torch::randn({4, 4, 3, 3});
  bn->train();
  torch::Tensor y = bn->forward(x);
  // By hand: batch statistics (biased variance) of each of the 4 channels, the first 4 γ and β.
  torch::Tensor mean = x.mean({0, 2, 3}), var = x.var({0, 2, 3}, /*unbiased=*/false);
  torch::Tensor expected = (x - mean.view({1, 4, 1, 1})) / (var.view({1, 4, 1, 1}) + 1e-5).sqrt() *
                               bn->weight.slice(0, 0, 4).view({1, 4, 1, 1}) +
                           bn->bias.slice(0, 0, 4).view({1, 4, 1, 1});
  expect_close(y, expected);
  // The running statistics move on the first 4 channels only (momentum 0.1, unbiased variance).
  expect_close(bn->running_mean.slice(0, 0, 4), 0.1 * mean);
  expect_close(bn->running_var.slice(0, 0, 4), 0.9 + 0.1 * x.var({0, 2, 3}, /*unbiased=*/true));
  EXPECT_TRUE(bn->running_mean.slice(0, 4).equal(torch::zeros({2})));
  EXPECT_TRUE(bn->running_var.slice(0, 4).equal(torch::ones({2})));
  bn->eval();
  torch::Tensor z = bn->forward(x);
  expect_close(z, (x - bn->running_mean.slice(0, 0, 4).view({1, 4, 1, 1})) /
                          (bn->running_var.slice(0, 0, 4).view({1, 4, 1, 1}) + 1e-5).sqrt() *
                          bn->weight.slice(0, 0, 4).view({1, 4, 1, 1}) +
                      bn->bias.slice(0, 0, 4).view({1, 4, 1, 1}));
}

// The child (k, e) written out with LibTorch's functions on hand-sliced weights.
torch::Tensor by_hand(ElasticMBConvImpl& b, const torch::Tensor& x, std::int64_t k, std::int64_t e) {
  const std::int64_t c = b.mid(e), s = b.se_mid(c);
  auto bn = [](BatchNormImpl& n, const torch::Tensor& t, std::int64_t ch) {
    return torch::batch_norm(t, n.weight.slice(0, 0, ch), n.bias.slice(0, 0, ch), n.running_mean.slice(0, 0, ch),
                             n.running_var.slice(0, 0, ch), false, 0.1, 1e-5, false);
  };
  torch::Tensor y = torch::hardswish(bn(*b.expand_bn, torch::conv2d(x, b.expand_weight.slice(0, 0, c)), c));
  y = torch::conv2d(y, b.active_filter(c, k), {}, b.options.stride, k / 2, 1, c);
  y = torch::hardswish(bn(*b.depthwise_bn, y, c));
  if (b.options.se) {
    torch::Tensor g = y.mean({2, 3});
    g = torch::relu(torch::matmul(g, b.se_reduce_weight.slice(0, 0, s).slice(1, 0, c).t()) +
                    b.se_reduce_bias.slice(0, 0, s));
    g = torch::matmul(g, b.se_expand_weight.slice(0, 0, c).slice(1, 0, s).t()) + b.se_expand_bias.slice(0, 0, c);
    y = y * (torch::clamp(g + 3, 0, 6) / 6).view({x.size(0), c, 1, 1});
  }
  y = bn(*b.project_bn, torch::conv2d(y, b.project_weight.slice(1, 0, c)), b.options.out);
  return b.residual() ? x + y : y;
}

TEST(Elastic, AChildIsTheSlicedBlock) {
  for (bool se : {false, true})
    for (std::int64_t stride : {1, 2}) {
      ElasticMBConvImpl block(options(se, KernelTransform::Ofa, stride));
      scramble(block, 4);
      block.eval();
      torch::NoGradGuard no_grad;
      torch::Tensor x = torch::randn({3, 8, 9, 9});
      for (std::int64_t k : {3, 5, 7})
        for (std::int64_t e : {3, 4, 6}) {
          SCOPED_TRACE(::testing::Message() << "se " << se << " stride " << stride << " k " << k << " e " << e);
          expect_close(block.forward(x, k, e), by_hand(block, x, k, e));
        }
    }
}

TEST(Elastic, SortingChannelsKeepsTheBlocksFunction) {
  ElasticMBConvImpl block(options(true, KernelTransform::Ofa));
  scramble(block, 5);
  block.eval();
  torch::NoGradGuard no_grad;
  torch::Tensor x = torch::randn({3, 8, 7, 7});
  const torch::Tensor before = block.forward(x, 7, 6);
  const torch::Tensor importance = block.project_weight.abs().sum({0, 2, 3});
  block.sort_channels(0);
  expect_close(block.forward(x, 7, 6), before);
  // Sorted by the project layer's input weights: the most important channel first.
  const torch::Tensor sorted = block.project_weight.abs().sum({0, 2, 3});
  EXPECT_TRUE(torch::allclose(sorted, std::get<0>(importance.sort(0, true))));
  // The SE hidden units are sorted by the SE expand weights.
  const torch::Tensor hidden = block.se_expand_weight.abs().sum(0);
  EXPECT_TRUE(torch::equal(hidden, std::get<0>(hidden.sort(0, true))));
}

TEST(Elastic, NestedSortingKeepsTheNarrowerChildsChannels) {
  ElasticMBConvImpl block(options(false, KernelTransform::Ofa));
  scramble(block, 6);
  block.eval();
  torch::NoGradGuard no_grad;
  torch::Tensor x = torch::randn({3, 8, 7, 7});
  block.sort_channels(0);  // phase "expand 1": a plain sort
  // Mark each middle channel by its project weights, which move with it.
  auto channel_set = [&](std::int64_t width) {
    std::set<double> out;
    for (std::int64_t c = 0; c < width; ++c) out.insert(block.project_weight[0][c][0][0].item<double>());
    return out;
  };
  const auto first32 = channel_set(32);
  const torch::Tensor child4 = block.forward(x, 5, 4), full = block.forward(x, 7, 6);
  // Make a channel beyond the first 32 the most important of all: a plain sort would move it
  // into the E4 child; the nested sort of phase "expand 2" keeps it behind width 32.
  block.project_weight.select(1, 40).mul_(100);
  const torch::Tensor full_scaled = block.forward(x, 7, 6);
  block.sort_channels(1);
  EXPECT_EQ(channel_set(32), first32);
  expect_close(block.forward(x, 5, 4), child4);
  expect_close(block.forward(x, 7, 6), full_scaled, 1e-4);
  EXPECT_NE(full_scaled.sub(full).abs().max().item<double>(), 0);
}

TEST(Elastic, ExtractionEqualsTheChild) {
  for (KernelTransform t : {KernelTransform::Ofa, KernelTransform::Crop})
    for (bool se : {false, true}) {
      ElasticMBConvImpl block(options(se, t));
      scramble(block, 7);
      block.eval();
      torch::NoGradGuard no_grad;
      torch::Tensor x = torch::randn({2, 8, 8, 8});
      for (std::int64_t k : {3, 5, 7})
        for (std::int64_t e : {3, 4, 6}) {
          auto alone = block.extract(k, e);
          alone->eval();
          EXPECT_EQ(alone->depthwise_weight.size(0), block.mid(e));
          EXPECT_EQ(alone->depthwise_weight.size(-1), k);
          EXPECT_TRUE(alone->transforms.empty());
          expect_close(alone->forward(x), block.forward(x, k, e));
        }
    }
}

}  // namespace
}  // namespace cella::runtime
