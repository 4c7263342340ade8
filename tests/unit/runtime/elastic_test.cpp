// Elastic layers (runtime/ops/elastic.h) against hand computations: OFA's make_divisible, the
// centre crop, the kernel transformation's matrices and chain, batch norm on the first channels,
// a child's forward pass written out layer by layer, channel sorting that keeps the block's
// function and the nested widths, and extraction that equals the child; supernets of the
// language's elastic layers (runtime/supernet/network.h): one block per layer, depth, resolution,
// extraction (runtime/supernet/extract.h); BigNAS's sandwich step (runtime/train/sandwich.h): its
// children, its losses, its summed gradients, dropout on the largest child only,
// zero-initialised residual batch norms and calibration; OFA's progressive-shrinking phases,
// step and channel sorting.
#include "runtime/ops/elastic.h"

#include "runtime/split/split.h"
#include "runtime/supernet/extract.h"
#include "runtime/train/method.h"
#include "runtime/train/sandwich.h"
#include "runtime/train/trainer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <array>
#include <functional>
#include <map>
#include <set>

#include "compiler/ir/arch.h"
#include "compiler/passes/stats.h"
#include "tests/unit/helpers.h"

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
void scramble(torch::nn::Module& net, std::uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard no_grad;
  for (auto& p : net.named_parameters()) p.value().copy_(torch::randn_like(p.value()) * 0.3);
  for (auto& b : net.named_buffers())
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
  EXPECT_THROW(block.child(torch::zeros({1, 8, 6, 6}), 4, 6), std::invalid_argument);
  EXPECT_THROW(block.child(torch::zeros({1, 8, 6, 6}), 3, 5), std::invalid_argument);
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
  ofa.child(x, 5, 4).sum().backward();
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

// The child (k, e) written out with LibTorch's functions on hand-sliced weights: on the input's
// channels (the first of the block's), making `out` channels (0: the block's).
torch::Tensor by_hand(ElasticMBConvImpl& b, const torch::Tensor& x, std::int64_t k, std::int64_t e,
                      std::int64_t out = 0) {
  const std::int64_t in = x.size(1), c = ir::mbv3_mid(in, e), s = b.se_mid(c);
  if (out == 0) out = b.options.out;
  auto bn = [](BatchNormImpl& n, const torch::Tensor& t, std::int64_t ch) {
    return torch::batch_norm(t, n.weight.slice(0, 0, ch), n.bias.slice(0, 0, ch), n.running_mean.slice(0, 0, ch),
                             n.running_var.slice(0, 0, ch), false, 0.1, 1e-5, false);
  };
  torch::Tensor y =
      torch::hardswish(bn(*b.expand_bn, torch::conv2d(x, b.expand_weight.slice(0, 0, c).slice(1, 0, in)), c));
  y = torch::conv2d(y, b.active_filter(c, k), {}, b.options.stride, k / 2, 1, c);
  y = torch::hardswish(bn(*b.depthwise_bn, y, c));
  if (b.options.se) {
    torch::Tensor g = y.mean({2, 3});
    g = torch::relu(torch::matmul(g, b.se_reduce_weight.slice(0, 0, s).slice(1, 0, c).t()) +
                    b.se_reduce_bias.slice(0, 0, s));
    g = torch::matmul(g, b.se_expand_weight.slice(0, 0, c).slice(1, 0, s).t()) + b.se_expand_bias.slice(0, 0, c);
    y = y * (torch::clamp(g + 3, 0, 6) / 6).view({x.size(0), c, 1, 1});
  }
  y = bn(*b.project_bn, torch::conv2d(y, b.project_weight.slice(0, 0, out).slice(1, 0, c)), out);
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
          expect_close(block.child(x, k, e), by_hand(block, x, k, e));
        }
    }
}

TEST(Elastic, SortingChannelsKeepsTheBlocksFunction) {
  ElasticMBConvImpl block(options(true, KernelTransform::Ofa));
  scramble(block, 5);
  block.eval();
  torch::NoGradGuard no_grad;
  torch::Tensor x = torch::randn({3, 8, 7, 7});
  const torch::Tensor before = block.child(x, 7, 6);
  const torch::Tensor importance = block.project_weight.abs().sum({0, 2, 3});
  block.sort_channels(0);
  expect_close(block.child(x, 7, 6), before);
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
  const torch::Tensor child4 = block.child(x, 5, 4), full = block.child(x, 7, 6);
  // Make a channel beyond the first 32 the most important of all: a plain sort would move it
  // into the E4 child; the nested sort of phase "expand 2" keeps it behind width 32.
  block.project_weight.select(1, 40).mul_(100);
  const torch::Tensor full_scaled = block.child(x, 7, 6);
  block.sort_channels(1);
  EXPECT_EQ(channel_set(32), first32);
  expect_close(block.child(x, 5, 4), child4);
  expect_close(block.child(x, 7, 6), full_scaled, 1e-4);
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
          expect_close(alone->forward(x), block.child(x, k, e));
        }
    }
}

// A small elastic network for 1×16×16 images: two stages, resolutions 12 to 16.
// A small elastic space: two stages of elastic blocks (depths {1, 2} and {2, 3}), SE and h-swish
// in the second, three resolutions, on 1-channel images.
std::shared_ptr<const ir::Program> small_space() {
  auto c = testing_helpers::compile(R"(
network small {
  resolution [12, 14, 16]
  stem conv(3, out = 8, stride = 2) >> bn >> hswish
  layer mbv3(3, 1, out = 8)
  stage mbv3(k = [3, 5, 7], e = [3, 4, 6]) * [1, 2] width 16 stride 2
  stage mbv3(k = [3, 5, 7], e = [3, 4, 6], se = true, hswish = true) * [2, 3] width 24 stride 2
  head conv(1, out = 32) >> bn >> hswish >> global_avg_pool >> linear(48, bias = false) >> hswish >> dropout(0.1) >> linear(10)
  share none
}
)");
  EXPECT_TRUE(c->ok()) << testing_helpers::messages(*c);
  return std::make_shared<const ir::Program>(*c->program);
}

Network small_supernet() {
  auto p = small_space();
  return Network(p, Mask::full(*p), /*supernet=*/true);
}

// The elastic block of stage `s`, slot `b` of the small space (units 2-3 and 4-6).
ElasticMBConvImpl& block(Network& net, int s, int b) {
  const std::string name = "layers_" + std::to_string((s == 0 ? 2 : 4) + b);
  for (const auto& c : net->named_children())
    if (c.key() == name) return *c.value()->as<ElasticMBConvImpl>();
  throw std::logic_error("no block " + name);
}

std::int64_t count(const torch::nn::Module& m) {
  std::int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

std::shared_ptr<const ir::Program> ofa_for_imagenet() {
  driver::CompileOptions o;
  o.sema.data = "imagenet";
  auto c = testing_helpers::compile_space("ofa_mbv3.cella", o);
  EXPECT_TRUE(c->ok()) << testing_helpers::messages(*c);
  return std::make_shared<const ir::Program>(*c->program);
}

// The language's elastic stage lowers to one ElasticMBConv per layer, with the stage's lists.
TEST(ElasticSupernet, AnElasticLayerIsOneBlockWithTheStagesLists) {
  Network net = small_supernet();
  ElasticMBConvImpl& b = block(net, 1, 0);
  EXPECT_EQ(b.options.kernels, (std::vector<std::int64_t>{3, 5, 7}));
  EXPECT_EQ(b.options.expands, (std::vector<std::int64_t>{3, 4, 6}));
  EXPECT_EQ(b.options.in, 16);
  EXPECT_EQ(b.options.out, 24);
  EXPECT_EQ(b.options.stride, 2);
  EXPECT_TRUE(b.options.se);
  EXPECT_EQ(b.options.act, Activation::Hswish);
  EXPECT_EQ(b.options.transform, KernelTransform::Ofa);
  EXPECT_TRUE(b.options.affine);
  EXPECT_EQ(net->parameter_count(), passes::network_stats(net->program(), nullptr, 28, false).params);
}

// The largest (K7, E6, D4) and smallest (K3, E3, D2) children of OFA's space for ImageNet, cut
// out, have the parameters OFA's code gives (tests/unit/passes/stats_test.cpp says how they were
// obtained); the supernet holds two kernel transformations (25² + 9²) per elastic block more.
TEST(ElasticSupernet, OfaChildrenCutOutHaveOfasParameterCounts) {
  auto p = ofa_for_imagenet();
  Network net(p, Mask::full(*p), /*supernet=*/true);
  EXPECT_EQ(count(*extract(net, ir::largest_arch(*p))), 7'664'760);
  EXPECT_EQ(count(*extract(net, ir::smallest_arch(*p))), 3'410'792);
  EXPECT_EQ(count(*net), 7'664'760 + 20 * (625 + 81));
}

TEST(ElasticSupernet, ADepthRunsTheFirstBlocksOnly) {
  Network net = small_supernet();
  net->train();
  const ir::Arch a = ir::smallest_arch(net->program());  // depths 1 and 2 of 2 and 3
  torch::Tensor x = torch::randn({4, 1, 16, 16});
  net->forward(x, mixing_of(net->program(), a)).sum().backward();
  EXPECT_TRUE(block(net, 0, 0).depthwise_weight.grad().defined());
  EXPECT_FALSE(block(net, 0, 1).depthwise_weight.grad().defined());
  EXPECT_TRUE(block(net, 1, 1).depthwise_weight.grad().defined());
  EXPECT_FALSE(block(net, 1, 2).depthwise_weight.grad().defined());
  // A narrower child's gradient stops at its channels: expansion 3 of 16 input channels is 48.
  const torch::Tensor g = block(net, 1, 0).expand_weight.grad();
  EXPECT_GT(g.slice(0, 0, 48).abs().sum().item<double>(), 0);
  EXPECT_EQ(g.slice(0, 48).abs().sum().item<double>(), 0);
}

// Each child sees the batch at its own resolution, resized inside the network (bicubic, as
// BigNAS's code does).
TEST(ElasticSupernet, EachChildSeesTheBatchAtItsResolution) {
  Network net = small_supernet();
  scramble(*net, 21);
  net->eval();
  torch::NoGradGuard no_grad;
  const ir::Program& p = net->program();
  torch::Tensor x = torch::randn({2, 1, 16, 16});
  ir::Arch a = ir::largest_arch(p);
  a.resolution = 0;  // 12 pixels
  namespace F = torch::nn::functional;
  torch::Tensor x12 = F::interpolate(
      x,
      F::InterpolateFuncOptions().size(std::vector<std::int64_t>{12, 12}).mode(torch::kBicubic).align_corners(false));
  expect_close(net->forward(x, mixing_of(p, a)), net->forward(x12, mixing_of(p, a)), 1e-6);
  ir::Arch b = a;
  b.resolution = 2;  // 16
  const torch::Tensor at12 = net->forward(x, mixing_of(p, a));
  // Far above the 1e-6 of the equality above.
  EXPECT_GT((at12 - net->forward(x, mixing_of(p, b))).abs().max().item<double>(),
            1e-3 * at12.abs().max().item<double>());
}

TEST(ElasticSupernet, ExtractionEqualsTheSupernetsChild) {
  Network net = small_supernet();
  scramble(*net, 9);
  net->eval();
  torch::NoGradGuard no_grad;
  const ir::Program& p = net->program();
  torch::Tensor x = torch::randn({3, 1, 16, 16});
  std::mt19937_64 rng(3);
  std::vector<ir::Arch> archs{ir::largest_arch(p), ir::smallest_arch(p)};
  for (int i = 0; i < 6; ++i) archs.push_back(draw_child(p, {}, rng));
  for (const ir::Arch& a : archs) {
    SCOPED_TRACE(ir::to_text(p, a));
    Network alone = extract(net, a);
    EXPECT_FALSE(alone->is_training());
    expect_close(alone->forward(x, mixing_of(p, a)), net->forward(x, mixing_of(p, a)), 1e-4);
    // Only the chosen shapes: fewer parameters than the supernet, none of its transforms, and
    // what `cella stats` counts for the architecture.
    EXPECT_LT(count(*alone), count(*net));
    EXPECT_EQ(alone->parameter_count(), passes::network_stats(p, &a, 16, true).params);
    for (const auto& q : alone->named_parameters()) EXPECT_EQ(q.key().find("kernel_"), std::string::npos) << q.key();
  }
}

TEST(Sandwich, LossesByHand) {
  // Two rows, three classes. Teacher softmax of (0, ln 2, ln 3) is (1/6, 2/6, 3/6).
  const torch::Tensor teacher = torch::tensor({{0.0, std::log(2.0), std::log(3.0)}, {0.0, 0.0, 0.0}});
  const torch::Tensor student = torch::tensor({{1.0, 2.0, 3.0}, {0.5, -0.5, 0.0}});
  auto log_softmax_row = [](std::vector<double> z) {
    double m = 0;
    for (double v : z) m += std::exp(v);
    for (double& v : z) v -= std::log(m);
    return z;
  };
  const auto l0 = log_softmax_row({1, 2, 3}), l1 = log_softmax_row({0.5, -0.5, 0});
  const double expected = -((1.0 / 6 * l0[0] + 2.0 / 6 * l0[1] + 3.0 / 6 * l0[2]) + (l1[0] + l1[1] + l1[2]) / 3) / 2;
  EXPECT_NEAR(inplace_distillation_loss(student, teacher).item<double>(), expected, 1e-6);
  // No gradient reaches the teacher.
  torch::Tensor t = teacher.clone().requires_grad_(true), st = student.clone().requires_grad_(true);
  inplace_distillation_loss(st, t).backward();
  EXPECT_FALSE(t.grad().defined());
  EXPECT_TRUE(st.grad().defined());
  // Label smoothing 0.1: 0.9 · (−log p_y) + 0.1 · mean_c (−log p_c).
  const torch::Tensor labels = torch::tensor({2, 0}, torch::kLong);
  const double smoothed =
      ((0.9 * -l0[2] + 0.1 * -(l0[0] + l0[1] + l0[2]) / 3) + (0.9 * -l1[0] + 0.1 * -(l1[0] + l1[1] + l1[2]) / 3)) / 2;
  EXPECT_NEAR(label_smoothing_loss(student, labels, 0.1).item<double>(), smoothed, 1e-6);
}

TEST(Sandwich, FourChildrenLargestSmallestAndTwoRandom) {
  const auto p = small_space();
  std::mt19937_64 rng(5), same(5);
  const auto kids = sandwich_children(*p, 2, rng);
  ASSERT_EQ(kids.size(), 4u);
  EXPECT_EQ(kids[0], ir::largest_arch(*p));
  EXPECT_EQ(kids[1], ir::smallest_arch(*p));
  EXPECT_EQ(kids[2], draw_child(*p, {}, same));
  EXPECT_EQ(kids[3], draw_child(*p, {}, same));
  EXPECT_NE(kids[2], kids[3]);
  // The ends: K7 E6 and the deepest stages at 16 pixels; K3 E3, the shallowest, at 12.
  EXPECT_EQ(ir::elastic_encoding(*p, kids[0]), (std::vector<std::int64_t>{7, 7, 7, 7, 7, 6, 6, 6, 6, 6, 2, 3}));
  EXPECT_EQ(ir::elastic_encoding(*p, kids[1]), (std::vector<std::int64_t>{3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 1, 2}));
  EXPECT_EQ(kids[0].resolution, 2);
  EXPECT_EQ(kids[1].resolution, 0);
  EXPECT_FALSE(ir::check_arch(*p, kids[2]));
}

// In a sub-supernet of a split (a mask that keeps kernels 3 and 5 of one layer and depth 2 of the
// second stage) the children stay inside it: the largest there is K5 and the deepest left, the
// smallest K3, random ones never K7; on the whole space the draws are those without a mask.
TEST(Sandwich, ChildrenOfASubSupernetStayInsideIt) {
  const auto p = small_space();
  const ir::Network& n = *p->network;
  ir::Mask full = ir::Mask::full(*p), mask = full;
  const std::size_t g = 2;  // layers.4's group: the second stage's first block
  ASSERT_EQ(n.units[static_cast<std::size_t>(n.layer_groups[g])].name, "layers.4");
  for (std::size_t k = 0; k < mask.layers[g].size(); ++k)
    mask.layers[g][k] = n.units[static_cast<std::size_t>(n.layer_groups[g])].choices[k].seq[0].int_arg("k", 0) != 7;
  mask.depths[1] = {true, false};  // depths {2, 3}: 2 only
  const ir::Arch largest = ir::largest_arch(*p, &mask), smallest = ir::smallest_arch(*p, &mask);
  EXPECT_EQ(n.units[static_cast<std::size_t>(n.layer_groups[g])].choices[largest.layers[g]].name, "k5_e6");
  EXPECT_EQ(n.units[static_cast<std::size_t>(n.layer_groups[g])].choices[smallest.layers[g]].name, "k3_e3");
  EXPECT_EQ(largest.depths[1], 0);
  EXPECT_EQ(largest.layers[0], ir::largest_arch(*p).layers[0]);  // elsewhere the whole lists
  std::mt19937_64 rng(9);
  std::set<std::string> seen;
  for (const ir::Arch& a : sandwich_children(*p, 200, rng, &mask)) {
    EXPECT_TRUE(ir::holds(*p, mask, a));
    seen.insert(n.units[static_cast<std::size_t>(n.layer_groups[g])].choices[a.layers[g]].name);
  }
  EXPECT_EQ(seen.size(), 6u);  // k3 and k5, each with e 3, 4, 6
  std::mt19937_64 masked(5), plain(5);
  EXPECT_EQ(sandwich_children(*p, 3, masked, &full), sandwich_children(*p, 3, plain));
}

// What the step tests share: a fresh small supernet with dropout `p`, a batch of 6 images and
// labels drawn from `seed`, and an optimizer that leaves the weights as they are (learning rate
// 0), so that a step's gradients can be compared with its children's run one at a time.
struct StepBench {
  StepBench(double p, std::uint64_t seed) : frozen(net->parameters(), torch::optim::SGDOptions(0.0)) {
    set_dropout(net, p);
    torch::manual_seed(seed);
    x = torch::randn({6, 1, 16, 16});
    y = torch::randint(0, 10, {6}, torch::kLong);
  }
  Network net = small_supernet();
  torch::Tensor x, y;
  torch::optim::SGD frozen;
};

// A step's gradient (left in `net`'s parameters) equals the sum of its children's, each child i
// run again alone on `x` with the loss `loss_of(i, logits)`, which is also the loss the step
// reported for it.
void expect_step_sums_children(Network& net, const torch::Tensor& x, const ChildrenStep& step,
                               const std::function<torch::Tensor(std::size_t, const torch::Tensor&)>& loss_of) {
  std::vector<torch::Tensor> params = net->parameters(), got, sum;
  for (const torch::Tensor& p : params) {
    got.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
    sum.push_back(torch::zeros_like(p));
  }
  for (std::size_t i = 0; i < step.children.size(); ++i) {
    for (torch::Tensor& p : params)
      if (p.grad().defined()) p.mutable_grad().zero_();
    torch::Tensor loss = loss_of(i, net->forward(x, mixing_of(net->program(), step.children[i])));
    EXPECT_NEAR(loss.item<double>(), step.losses[i], 1e-5) << i;
    loss.backward();
    for (std::size_t j = 0; j < params.size(); ++j)
      if (params[j].grad().defined()) sum[j] += params[j].grad();
  }
  for (std::size_t j = 0; j < params.size(); ++j) expect_close(got[j], sum[j], 1e-5);
}

// The step's gradient is the sum of the four children's: the largest on label-smoothed
// cross-entropy, the others on in-place distillation from the largest's logits, computed here one
// child at a time.
TEST(Sandwich, TheStepsGradientSumsTheChildrens) {
  StepBench b(0, 2);
  Network& net = b.net;
  const torch::Tensor &x = b.x, &y = b.y;
  torch::optim::SGD& frozen = b.frozen;
  SandwichOptions o;
  o.clip_value = 0;
  std::mt19937_64 rng(11);
  ChildrenStep step = sandwich_step(net, x, y, frozen, rng, o);
  ASSERT_EQ(step.children.size(), 4u);
  ASSERT_EQ(step.losses.size(), 4u);
  torch::Tensor soft;
  expect_step_sums_children(net, x, step, [&](std::size_t i, const torch::Tensor& logits) {
    if (i > 0) return inplace_distillation_loss(logits, soft);
    soft = logits.detach();
    return label_smoothing_loss(logits, y, 0.1);
  });
  // The children after the largest learn from it, not from the labels.
  EXPECT_LT(step.losses[1], 3.0);
}

// The ablation of in-place distillation (`inplace_distillation false`): every child learns from the
// labels, with the largest's label smoothing.
TEST(Sandwich, WithoutInplaceDistillationEveryChildLearnsFromTheLabels) {
  StepBench b(0, 2);
  Network& net = b.net;
  const torch::Tensor &x = b.x, &y = b.y;
  torch::optim::SGD& frozen = b.frozen;
  SandwichOptions o;
  o.clip_value = 0;
  o.label_smoothing = 0.2;
  o.inplace_distillation = false;
  std::mt19937_64 rng(11);
  ChildrenStep step = sandwich_step(net, x, y, frozen, rng, o);
  ASSERT_EQ(step.children.size(), 4u);
  expect_step_sums_children(
      net, x, step, [&](std::size_t, const torch::Tensor& logits) { return label_smoothing_loss(logits, y, 0.2); });
}

// The sandwich's supernet starts with zero-initialised residual batch norms unless the plan turns
// them off (`zero_init_residual false`, the ablation); other methods never zero them.
TEST(Sandwich, ThePlanTurnsTheZeroInitialisedBatchNormsOff) {
  auto zeroed = [](const std::string& method, bool zero_init) {
    ir::SupernetPlan plan = testing_helpers::tiny_plan(method, 1);
    plan.elastic.zero_init_residual = zero_init;
    auto program = small_space();
    SupernetState s = make_supernet(program, Mask::full(*program), plan, 0);
    return block(s.net, 0, 1).project_bn->weight.abs().sum().item<double>() == 0;  // a residual block
  };
  EXPECT_TRUE(zeroed("sandwich", true));
  EXPECT_FALSE(zeroed("sandwich", false));
  EXPECT_FALSE(zeroed("uniform", true));
}

// The elastic methods derive among the largest and smallest children, which every sandwich step
// trains, besides the sampled ones: with no samples the result is one of the two (it used to be
// the best of uniform draws only, which on OFA's space rarely come near either: a user's smoke
// run derived a 31 % child while its largest child had 85 %).
TEST(Sandwich, DerivationConsidersTheLargestAndSmallestChildren) {
  auto program = small_space();
  const ir::SupernetPlan plan = testing_helpers::tiny_plan("sandwich", 1);
  SupernetState s = make_supernet(program, Mask::full(*program), plan, 0);
  torch::manual_seed(3);
  DataSplits data;
  data.valid.images = torch::randn({16, 1, 16, 16});
  data.valid.labels = torch::randint(0, 10, {16}, torch::kLong);
  const ir::Arch a = method_of(plan).derive(s, plan, data, 1, 0, {});
  EXPECT_TRUE(a == ir::largest_arch(*program) || a == ir::smallest_arch(*program)) << ir::to_text(*program, a);
}

// Dropout runs on the largest child only: replayed from the same generator state, the largest
// child with the network's dropout gives the step's loss and soft targets, and the smallest child
// without dropout gives its loss against them. After the step the dropout is the network's again.
TEST(Sandwich, OnlyTheLargestChildIsDroppedOut) {
  StepBench b(0.5, 3);
  Network& net = b.net;
  const torch::Tensor &x = b.x, &y = b.y;
  torch::optim::SGD& frozen = b.frozen;
  std::mt19937_64 rng(11);
  torch::manual_seed(7);
  const ChildrenStep step = sandwich_step(net, x, y, frozen, rng, {});
  EXPECT_EQ(set_dropout(net, 0.5), (std::vector<double>{0.5}));
  const ir::Program& p = net->program();
  net->train();
  torch::manual_seed(7);
  const torch::Tensor soft = net->forward(x, mixing_of(p, step.children[0])).detach();
  EXPECT_NEAR(label_smoothing_loss(soft, y, 0.1).item<double>(), step.losses[0], 1e-5);
  set_dropout(net, 0);
  const torch::Tensor smallest = net->forward(x, mixing_of(p, step.children[1]));
  EXPECT_NEAR(inplace_distillation_loss(smallest, soft).item<double>(), step.losses[1], 1e-5);
  set_dropout(net, 0.5);
  const double dropped =
      inplace_distillation_loss(net->forward(x, mixing_of(p, step.children[1])), soft).item<double>();
  EXPECT_GT(std::abs(dropped - step.losses[1]), 1e-4);
}

// BigNAS's drop-connect: the blocks of the last two stages get rate · i / n (i of the n blocks,
// the fixed first one included); a residual block drops its branch per image in training, the
// kept ones scaled by 1 / (1 - p), and never in evaluation; the step applies it to the largest
// child only and turns it off after.
TEST(Sandwich, DropConnectOnTheLargestChildsLastStages) {
  StepBench b(0.0, 3);
  Network& net = b.net;
  const std::vector<double> rates = set_drop_connect(net, 0.3);
  ASSERT_EQ(rates.size(), 6u);  // the fixed block, 2 + 3 elastic ones
  EXPECT_EQ(rates[0], 0.0);     // not in the last two stages
  for (std::size_t i = 1; i < rates.size(); ++i) EXPECT_NEAR(rates[i], 0.3 * static_cast<double>(i) / 6, 1e-12);
  set_drop_connect(net, 0.0);

  ElasticMBConvImpl& res = block(net, 1, 1);  // 24 -> 24 at stride 1
  ASSERT_TRUE(res.residual());
  res.train();
  torch::NoGradGuard no_grad;
  torch::Tensor x = torch::randn({16, 24, 4, 4});
  const torch::Tensor branch = res.child(x, 7, 6) - x;
  res.drop_connect = 0.5;
  torch::manual_seed(1);
  const torch::Tensor got = res.child(x, 7, 6) - x;
  int dropped = 0, kept = 0;
  for (std::int64_t i = 0; i < 16; ++i) {
    if (got[i].abs().max().item<double>() == 0) {
      ++dropped;
    } else {
      ++kept;
      expect_close(got[i], branch[i] * 2);
    }
  }
  EXPECT_GT(dropped, 0);
  EXPECT_GT(kept, 0);
  res.eval();
  const torch::Tensor evaluated = res.child(x, 7, 6);
  res.drop_connect = 0;
  expect_close(evaluated, res.child(x, 7, 6), 0);
}

TEST(Sandwich, TheStepDropsConnectionsOfTheLargestChildOnly) {
  StepBench b(0.0, 3);
  Network& net = b.net;
  SandwichOptions o;
  o.drop_connect = 0.6;
  std::mt19937_64 rng(11);
  torch::manual_seed(7);
  const ChildrenStep step = sandwich_step(net, b.x, b.y, b.frozen, rng, o);
  for (int s = 0; s < 2; ++s)
    for (int i = 0; i < (s == 0 ? 2 : 3); ++i) EXPECT_EQ(block(net, s, i).drop_connect, 0.0);
  const ir::Program& p = net->program();
  net->train();
  torch::manual_seed(7);
  set_drop_connect(net, 0.6);
  const torch::Tensor soft = net->forward(b.x, mixing_of(p, step.children[0])).detach();
  EXPECT_NEAR(label_smoothing_loss(soft, b.y, 0.1).item<double>(), step.losses[0], 1e-5);
  set_drop_connect(net, 0.0);
  EXPECT_NEAR(inplace_distillation_loss(net->forward(b.x, mixing_of(p, step.children[1])), soft).item<double>(),
              step.losses[1], 1e-5);
  torch::manual_seed(7);
  const torch::Tensor plain = net->forward(b.x, mixing_of(p, step.children[0]));
  EXPECT_GT(std::abs(label_smoothing_loss(plain, b.y, 0.1).item<double>() - step.losses[0]), 1e-4);
}

TEST(Sandwich, ZeroInitialisedResidualBlocksStartAsTheIdentity) {
  Network net = small_supernet();
  zero_residual_batch_norms(net);
  torch::NoGradGuard no_grad;
  int residual = 0;
  for (int s = 0; s < 2; ++s)
    for (int b = 0; b < (s == 0 ? 2 : 3); ++b) {
      ElasticMBConvImpl& blk = block(net, s, b);
      const torch::Tensor x = torch::randn({2, blk.options.in, 6, 6});
      if (blk.residual()) {
        ++residual;
        EXPECT_TRUE(blk.project_bn->weight.equal(torch::zeros_like(blk.project_bn->weight)));
        expect_close(blk.child(x, 5, 4), x, 0);
      } else {
        EXPECT_GT(blk.project_bn->weight.abs().sum().item<double>(), 0);  // a strided first block
      }
    }
  EXPECT_EQ(residual, 3);  // the blocks after each stage's first
}

// After calibration on one batch, the child in evaluation mode computes nearly what it computes
// on batch statistics (the running variances are unbiased, the batch's biased); before, with
// statistics other children left, it does not.
TEST(Sandwich, CalibrationGivesTheChildItsOwnStatistics) {
  Network net = small_supernet();
  scramble(*net, 13);
  set_dropout(net, 0);
  torch::NoGradGuard no_grad;
  const ir::Program& p = net->program();
  Dataset data;
  data.images = torch::randn({64, 1, 16, 16});
  data.labels = torch::zeros({64}, torch::kLong);
  std::mt19937_64 rng(2);
  const Mixing a = mixing_of(p, draw_child(p, {}, rng));
  net->train();
  const torch::Tensor batch_stats = net->forward(data.images, a);
  net->eval();
  const torch::Tensor before = net->forward(data.images, a);
  recalibrate_batch_norm(net, a, data, 1, 64);
  EXPECT_FALSE(net->is_training());
  const torch::Tensor calibrated = net->forward(data.images, a);
  const double scale = batch_stats.abs().max().item<double>();
  // Within a few per cent: in 2×2 maps of the last stage the unbiased variance of 256 values is
  // 0.4 % above the biased one, and a dozen batch norms compound it.
  EXPECT_LT((calibrated - batch_stats).abs().max().item<double>(), 0.05 * scale) << "of " << scale;
  EXPECT_GT((net->forward(data.images, mixing_of(p, ir::largest_arch(p))) - batch_stats).abs().max().item<double>(),
            0.05 * scale);
  EXPECT_GT((before - batch_stats).abs().max().item<double>(), 0.2 * scale);
  // The momentum is restored after the cumulative average.
  EXPECT_EQ(block(net, 0, 0).depthwise_bn->options.momentum().value(), 0.1);
}

TEST(ProgressiveShrinking, OfasPhasesAndTheirChildren) {
  const auto p = ofa_for_imagenet();
  const auto phases = progressive_shrinking_phases();
  ASSERT_EQ(phases.size(), 6u);
  EXPECT_EQ((std::vector<std::int64_t>{phases[0].children, phases[1].children, phases[2].children, phases[3].children,
                                       phases[4].children, phases[5].children}),
            (std::vector<std::int64_t>{1, 1, 2, 2, 4, 4}));
  EXPECT_EQ(phases[4].sort_nested, 0);
  EXPECT_EQ(phases[5].sort_nested, 1);
  // The values children take in each phase (the flat encoding: 20 kernels, 20 expansions, 5 depths).
  using S = std::set<std::int64_t>;
  auto seen = [&](const ShrinkingPhase& phase) {
    std::mt19937_64 rng(4);
    std::array<S, 3> out;
    for (int i = 0; i < 60; ++i) {
      const std::vector<std::int64_t> flat = ir::elastic_encoding(*p, draw_child(*p, phase.choices, rng));
      for (std::size_t j = 0; j < flat.size(); ++j) out[j < 20 ? 0 : j < 40 ? 1 : 2].insert(flat[j]);
    }
    return out;
  };
  EXPECT_EQ(seen(phases[0]), (std::array<S, 3>{S{7}, S{6}, S{4}}));
  EXPECT_EQ(seen(phases[1]), (std::array<S, 3>{S{3, 5, 7}, S{6}, S{4}}));
  EXPECT_EQ(seen(phases[2]), (std::array<S, 3>{S{3, 5, 7}, S{6}, S{3, 4}}));
  EXPECT_EQ(seen(phases[3]), (std::array<S, 3>{S{3, 5, 7}, S{6}, S{2, 3, 4}}));
  EXPECT_EQ(seen(phases[4]), (std::array<S, 3>{S{3, 5, 7}, S{4, 6}, S{2, 3, 4}}));
  EXPECT_EQ(seen(phases[5]), (std::array<S, 3>{S{3, 5, 7}, S{3, 4, 6}, S{2, 3, 4}}));
}

// A step's children share one resolution; their loss is cross-entropy plus distillation from the
// teacher's logits at that resolution, and the step's gradient is their sum. The teacher runs in
// training mode without its dropout (OFA builds it with dropout_rate=0): its soft targets are
// the same whenever they are computed (with dropout on, the check below would see other ones).
TEST(ProgressiveShrinking, TheStepSumsItsChildrensDistilledLosses) {
  StepBench b(0, 8);
  Network& net = b.net;
  const torch::Tensor &x = b.x, &y = b.y;
  torch::optim::SGD& frozen = b.frozen;
  Network teacher = small_supernet();
  const ShrinkingPhase phase = progressive_shrinking_phases().back();
  std::mt19937_64 rng(3);
  ChildrenStep step = shrinking_step(net, &teacher, phase, x, y, frozen, rng);
  ASSERT_EQ(step.children.size(), 4u);
  for (const ir::Arch& a : step.children) EXPECT_EQ(a.resolution, step.children[0].resolution);
  torch::Tensor soft;
  {
    torch::NoGradGuard no_grad;
    ir::Arch full = ir::largest_arch(teacher->program());
    full.resolution = step.children[0].resolution;
    soft = teacher->forward(x, mixing_of(teacher->program(), full));
  }
  expect_step_sums_children(net, x, step, [&](std::size_t, const torch::Tensor& logits) {
    return label_smoothing_loss(logits, y, 0.1) + inplace_distillation_loss(logits, soft);
  });
}

// Sorting every elastic layer's channels keeps the full network's function (the first block,
// without an expand layer, is left as it is).
TEST(ProgressiveShrinking, SortingTheNetworksChannelsKeepsItsFunction) {
  Network net = small_supernet();
  scramble(*net, 5);
  net->eval();
  torch::NoGradGuard no_grad;
  const Mixing full = mixing_of(net->program(), ir::largest_arch(net->program()));
  torch::Tensor x = torch::randn({2, 1, 16, 16});
  const torch::Tensor before = net->forward(x, full);
  sort_channels(net, 0);
  expect_close(net->forward(x, full), before, 1e-4);
}

// GM-NAS on an elastic layer's kernel sizes (runtime/split/split.h): a [K, K] cosine similarity
// over the kernel sizes the parent keeps (1 on the diagonal, 0 for sizes it does not keep),
// computed on every weight but the layer's own, and the parent's weights and batch-norm
// statistics are as they were.
TEST(ElasticSplit, GradientMatchingScoresAKernelSizesSimilarity) {
  auto program = small_space();
  const ir::SupernetPlan plan = testing_helpers::tiny_plan("uniform", 1);
  const ir::SplitSites sites(*program, "");
  ASSERT_TRUE(sites.elastic());
  ASSERT_EQ(sites.size(), 5);  // two stages of 2 and 3 elastic blocks
  torch::manual_seed(5);
  Dataset train;
  train.images = torch::randn({32, 1, 16, 16});
  train.labels = torch::randint(0, 10, {32}, torch::kLong);
  GradientMatchOptions o;
  o.batches = 3;
  o.batch = 8;
  o.seed = 9;
  SupernetState parent = make_supernet(program, sites.restrict(Mask::full(*program), 1, {0, 2}), plan, 0);
  std::vector<torch::Tensor> before, weights;
  for (const torch::Tensor& b : parent.net->buffers()) before.push_back(b.clone());
  for (const torch::Tensor& w : parent.net->parameters()) weights.push_back(w.clone());
  const torch::Tensor s = gradient_match_elastic_scores(parent, plan, train, sites, 1, o);
  ASSERT_EQ(s.sizes(), (std::vector<std::int64_t>{3, 3}));
  EXPECT_NEAR(s[0][0].item<double>(), 1.0, 1e-4);
  EXPECT_NEAR(s[2][2].item<double>(), 1.0, 1e-4);
  EXPECT_NEAR(s[0][2].item<double>(), s[2][0].item<double>(), 1e-9);
  EXPECT_LT(s[0][2].item<double>(), 1.0 - 1e-6);  // 3x3 and 7x7 do not pull the other weights alike
  EXPECT_GT(s[0][2].item<double>(), -1.0);
  EXPECT_EQ(s[1].abs().sum().item<double>(), 0);  // kernel 5 is not kept
  EXPECT_EQ(s.select(1, 1).abs().sum().item<double>(), 0);
  const std::vector<torch::Tensor> after = parent.net->buffers();
  for (std::size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(before[i].equal(after[i])) << i;
  const std::vector<torch::Tensor> now = parent.net->parameters();
  for (std::size_t i = 0; i < weights.size(); ++i) EXPECT_TRUE(weights[i].equal(now[i])) << i;
  // Children of a partition of the layer's kernel sizes keep one group each.
  Partition p{{{0}, {2}}, 0};
  const std::vector<Mask> children = partition_children(sites, parent.net->mask(), 1, p);
  ASSERT_EQ(children.size(), 2u);
  EXPECT_EQ(sites.kept(children[0], 1), (std::vector<int>{0}));
  EXPECT_EQ(sites.kept(children[1], 1), (std::vector<int>{2}));
  EXPECT_EQ(exhaustive_children(sites, parent.net->mask(), 1).size(), 2u);
}

// One minibatch's score by hand: the path the parent's method judges with, layer 3 (layer group
// 1, stage 0's second block, so stage 0 at depth 2) at kernel 3 and at kernel 7 with the path's
// expansion, the cross-entropy's gradients on every parameter not under `layers_3.`, and their
// cosine.
TEST(ElasticSplit, OneBatchsScoreByHand) {
  auto program = small_space();
  const ir::SupernetPlan plan = testing_helpers::tiny_plan("uniform", 1);
  const ir::SplitSites sites(*program, "");
  torch::manual_seed(5);
  Dataset train;
  train.images = torch::randn({32, 1, 16, 16});
  train.labels = torch::randint(0, 10, {32}, torch::kLong);
  GradientMatchOptions o;
  o.batches = 1;
  o.batch = 8;
  o.seed = 9;
  SupernetState parent = make_supernet(program, Mask::full(*program), plan, 0);
  set_dropout(parent.net, 0);  // no random draws in the passes, so that they can be replayed
  const double score = gradient_match_elastic_scores(parent, plan, train, sites, 1, o)[0][2].item<double>();

  std::mt19937_64 rng(o.seed);
  torch::Generator gen = at::detail::createCPUGenerator(o.seed * 7919);
  const torch::Tensor idx = torch::randint(32, {8}, gen, torch::kInt64);
  const torch::Tensor x = train.images.index_select(0, idx), y = train.labels.index_select(0, idx);
  Mixing base;
  {
    torch::NoGradGuard no_grad;
    base = method_of(plan).judging_mixing(parent, plan, rng);
  }
  auto gradient = [&](int kernel, bool own_too) {
    Mixing mix = base;
    mix.layers[1] = Mix{{sites.with_value(1, base.layers[1].ops.back(), kernel)}, {}};
    mix.depths[0] = 1;  // stage 0 at depth 2, so that its second block runs
    parent.net->train();
    for (const torch::Tensor& w : parent.net->parameters())
      if (w.grad().defined()) const_cast<torch::Tensor&>(w).mutable_grad().reset();
    torch::cross_entropy_loss(parent.net->forward(x, mix), y).backward();
    std::vector<torch::Tensor> parts;
    for (const auto& kv : parent.net->named_parameters())
      if (own_too || kv.key().rfind("layers_3.", 0) != 0)
        parts.push_back(kv.value().grad().defined() ? kv.value().grad().reshape({-1}).to(torch::kFloat64)
                                                    : torch::zeros({kv.value().numel()}, torch::kFloat64));
    return torch::cat(parts);
  };
  auto cosine = [](const torch::Tensor& a, const torch::Tensor& b) {
    return (a * b).sum().item<double>() / (a.norm().item<double>() * b.norm().item<double>() + 1e-6);
  };
  EXPECT_NEAR(score, cosine(gradient(0, false), gradient(2, false)), 1e-6);
  // The layer's own weights are left out: with them the similarity differs.
  EXPECT_GT(std::abs(score - cosine(gradient(0, true), gradient(2, true))), 1e-4);
}

// --- elastic widths (BigNAS) -------------------------------------------------------------------

// A narrower child of a block is the block on the first channels: its input's, its middle
// width's (make_divisible of the narrower input times e) and its output's.
TEST(ElasticWidth, ANarrowerChildIsTheSlicedBlock) {
  for (std::int64_t stride : {1, 2}) {
    ElasticMBConvOptions o = options(true, KernelTransform::Ofa, stride);
    o.in = 16;
    o.out = stride == 1 ? 16 : 24;
    ElasticMBConvImpl block(o);
    scramble(block, 31);
    block.eval();
    torch::NoGradGuard no_grad;
    for (std::int64_t in : {8, 16}) {
      const std::int64_t out = stride == 1 ? in : 16;  // a residual block keeps its input's width
      torch::Tensor x = torch::randn({2, in, 9, 9});
      for (std::int64_t k : {3, 7})
        for (std::int64_t e : {3, 6}) {
          SCOPED_TRACE(::testing::Message() << "stride " << stride << " in " << in << " k " << k << " e " << e);
          torch::Tensor y = block.child(x, k, e, out);
          EXPECT_EQ(y.size(1), out);
          expect_close(y, by_hand(block, x, k, e, out));
          // Its stand-alone cut computes the same.
          auto piece = block.extract(k, e, in, out);
          piece->eval();
          expect_close(piece->child(x, k, e), y);
        }
    }
    EXPECT_THROW(block.child(torch::randn({1, 20, 9, 9}), 3, 3), std::invalid_argument);
  }
}

// A fixed sequence of a width-elastic stage (convolution, batch norm, swish, then a linear layer
// after pooling) run on fewer channels is the sequence on its weights' first channels.
TEST(ElasticWidth, ANarrowedSequenceUsesTheFirstChannels) {
  namespace nn = torch::nn;
  nn::Conv2d conv(nn::Conv2dOptions(4, 12, 3).padding(1).bias(false));
  BatchNorm bn(nn::BatchNorm2dOptions(12));
  nn::Linear linear(12, 5);
  nn::Sequential seq(conv, bn, nn::Functional(torch::silu), nn::Functional([](const torch::Tensor& t) {
                       return t.mean({2, 3});
                     }),
                     linear);
  scramble(*seq, 8);
  seq->eval();
  auto call = [](std::string prim, std::vector<std::pair<std::string, std::int64_t>> args) {
    ir::PrimCall c;
    c.prim = std::move(prim);
    for (auto& [n, v] : args) c.set(n, ir::Scalar{v});
    return c;
  };
  ir::Op op;
  op.name = "conv_bn_swish";
  op.seq = {call("conv", {{"k", 3}, {"out", 12}, {"pad", 1}}), call("bn", {}), call("swish", {}),
            call("global_avg_pool", {}), call("linear", {{"out", 5}})};
  torch::NoGradGuard no_grad;
  torch::Tensor x = torch::randn({2, 3, 6, 6});  // 3 of the 4 input channels
  torch::Tensor y = run_narrowed(seq, op, x, 12, 8);
  torch::Tensor h = torch::conv2d(x, conv->weight.slice(0, 0, 8).slice(1, 0, 3), {}, 1, 1);
  h = torch::batch_norm(h, bn->weight.slice(0, 0, 8), bn->bias.slice(0, 0, 8), bn->running_mean.slice(0, 0, 8),
                        bn->running_var.slice(0, 0, 8), false, 0.1, 1e-5, false);
  h = torch::silu(h).mean({2, 3});
  expect_close(y, torch::linear(h, linear->weight.slice(1, 0, 8), linear->bias));
  // At its largest width and full input it is the sequence itself.
  torch::Tensor full = torch::randn({2, 4, 6, 6});
  expect_close(run_narrowed(seq, op, full, 12, 12), seq->forward(full));
}

// A small width-elastic space on 1-channel images: a width-elastic stem, two width-elastic stages
// of blocks (the second's width also narrows its swish and squeeze-and-excitation), a fixed
// last convolution that takes whatever width comes.
std::shared_ptr<const ir::Program> wide_space() {
  auto c = testing_helpers::compile(R"(
op conv_bn(out, k = 3, stride = 1) = conv(k, out = out, stride = stride) >> bn >> swish
network wide {
  resolution [12, 16]
  stage conv_bn * 1 width [8, 12] stride 2
  stage mbv3(k = [3, 5], e = [3, 6], transform = false) * [1, 2] width [8, 16] stride 2
  stage mbv3(k = [3, 5], e = 6, se = true, swish = true) * [1, 2] width [16, 24] stride 2
  layer conv(1, out = 40) >> bn >> swish
  head global_avg_pool >> dropout(0.1) >> linear(10)
  share none
}
)");
  EXPECT_TRUE(c->ok()) << testing_helpers::messages(*c);
  return std::make_shared<const ir::Program>(*c->program);
}

TEST(ElasticWidth, ExtractionEqualsTheSupernetsNarrowerChild) {
  auto p = wide_space();
  Network net(p, Mask::full(*p), /*supernet=*/true);
  scramble(*net, 12);
  net->eval();
  torch::NoGradGuard no_grad;
  EXPECT_EQ(net->parameter_count(), passes::network_stats(*p, nullptr, 16, false).params);
  torch::Tensor x = torch::randn({3, 1, 16, 16});
  std::mt19937_64 rng(4);
  std::vector<ir::Arch> archs{ir::largest_arch(*p), ir::smallest_arch(*p)};
  EXPECT_EQ(archs[0].widths, (std::vector<int>{1, 1, 1}));
  EXPECT_EQ(archs[1].widths, (std::vector<int>{0, 0, 0}));
  std::set<std::vector<int>> widths;
  for (int i = 0; i < 8; ++i) archs.push_back(draw_child(*p, {}, rng));
  for (const ir::Arch& a : archs) {
    SCOPED_TRACE(ir::to_text(*p, a));
    widths.insert(a.widths);
    Network alone = extract(net, a);
    // Built at the architecture's widths, with what `cella stats` counts for it.
    EXPECT_EQ(alone->parameter_count(), passes::network_stats(*p, &a, 16, true).params);
    expect_close(alone->forward(x, mixing_of(*p, a)), net->forward(x, mixing_of(*p, a)), 1e-4);
  }
  EXPECT_GE(widths.size(), 4u);  // the draws narrow different stages
}

// BigNAS's stem, MB1, MB2 and last convolution choose only their width: choice layers of one
// candidate, which mix nothing, so their batch norms keep γ and β as BigNAS trains them. The
// supernet then holds exactly its largest child's parameters (cropped kernels add none); it used
// to hold 5,424 fewer, and zero-initialisation skipped MB1's and MB2's residual blocks.
TEST(ElasticWidth, LayersWhoseOnlyChoiceIsTheirWidthKeepTheirBatchNormWeights) {
  driver::CompileOptions o;
  o.sema.data = "imagenet";
  auto c = testing_helpers::compile_space("bignas.cella", o);
  ASSERT_TRUE(c->ok()) << testing_helpers::messages(*c);
  const ir::Arch largest = ir::largest_arch(*c->program);
  const std::int64_t child = passes::network_stats(*c->program, &largest, 224, true).params;
  EXPECT_EQ(child, 19132664);
  EXPECT_EQ(passes::network_stats(*c->program, nullptr, 224, false).params, child);
  // Built, on the two-core profile.
  o.sema.data = "synthetic";
  o.sema.overrides = {{"S", "2"}, {"D4", "3"}, {"D", "3"}, {"R1", "16"}, {"R2", "20"}, {"R3", "24"}, {"R4", "28"}};
  auto small = testing_helpers::compile_space("bignas.cella", o);
  ASSERT_TRUE(small->ok()) << testing_helpers::messages(*small);
  auto p = std::make_shared<const ir::Program>(*small->program);
  Network net(p, Mask::full(*p), /*supernet=*/true);
  const ir::Arch widest = ir::largest_arch(*p);
  EXPECT_EQ(net->parameter_count(), passes::network_stats(*p, &widest, 28, true).params);
  zero_residual_batch_norms(net);
  int residual = 0;
  for (auto& m : net->modules(/*include_self=*/false))
    if (auto* b = m->as<ElasticMBConvImpl>(); b && b->residual()) {
      ++residual;
      ASSERT_TRUE(b->project_bn->weight.defined());
      EXPECT_EQ(b->project_bn->weight.abs().sum().item<double>(), 0);
    }
  // MB1's second block, MB2's 2, MB3's 2, MB4's 2, MB5's and MB6's 2 each, MB7's 1.
  EXPECT_EQ(residual, 1 + 2 + 2 + 2 + 2 + 2 + 1);
}

TEST(ElasticWidth, ANarrowerChildsGradientStopsAtItsChannels) {
  auto p = wide_space();
  Network net(p, Mask::full(*p), /*supernet=*/true);
  net->train();
  ir::Arch a = ir::largest_arch(*p);
  a.widths = {0, 1, 0};  // stem 8 of 12, stage 1 at 16, stage 2 at 16 of 24
  net->forward(torch::randn({4, 1, 16, 16}), mixing_of(*p, a)).sum().backward();
  std::map<std::string, torch::Tensor> grads;
  for (const auto& q : net->named_parameters()) grads[q.key()] = q.value().grad();
  // Parameter `name` has a gradient on its first `n` entries along `dim` and none beyond.
  auto expect_first = [&](const std::string& name, std::int64_t dim, std::int64_t n) {
    SCOPED_TRACE(name);
    const torch::Tensor& g = grads.at(name);
    EXPECT_GT(g.slice(dim, 0, n).abs().sum().item<double>(), 0);
    EXPECT_EQ(g.slice(dim, n).abs().sum().item<double>(), 0);
  };
  expect_first("layers_0/conv_bn.0.weight", 0, 8);
  expect_first("layers_1.expand_weight", 1, 8);  // stage 1's first block reads the stem's 8 channels
  expect_first("layers_3.project_weight", 0, 16);
  expect_first("layers_5.0.weight", 1, 16);  // the fixed last convolution reads 16 of its 24 inputs
}

}  // namespace
}  // namespace cella::runtime
