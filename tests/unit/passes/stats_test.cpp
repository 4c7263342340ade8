// Static parameter counts against NAS-Bench-201's published numbers, for every architecture in
// the CIFAR-10 rows of ../shared/data/nb201/zc_nasbench201_flat.csv.
#include "compiler/passes/stats.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>

#include "tests/unit/helpers.h"
#include "tests/unit/process.h"

namespace cella::passes {
namespace {

TEST(Stats, Nb201ParameterCountsMatchThePublishedOnesForEveryArchitecture) {
  std::filesystem::path csv = std::filesystem::path(CELLA_NB201_DIR) / "zc_nasbench201_flat.csv";
  if (!std::filesystem::exists(csv)) GTEST_SKIP() << csv << " not found";
  driver::CompileOptions o;
  o.sema.data = "cifar10";
  auto c = testing_helpers::compile_space("nb201.cella", o);
  ASSERT_TRUE(c->ok()) << testing_helpers::messages(*c);
  int checked = 0;
  for (const auto& f : testing_helpers::csv_rows(csv.string())) {
    if (f[0] != "cifar10") continue;
    auto a = ir::parse_arch(*c->program, f[3]);
    ASSERT_TRUE(std::holds_alternative<ir::Arch>(a)) << f[3];
    NetworkStats s = network_stats(*c->program, &std::get<ir::Arch>(a), 32, true);
    std::int64_t published = std::llround(std::stod(f[7]) * 1e6);
    EXPECT_EQ(s.params, published) << f[3];
    ++checked;
  }
  EXPECT_EQ(checked, 724);
}

TEST(Stats, AllConv3x3FlopsAreTheConvolutionAndLinearMacs) {
  driver::CompileOptions o;
  o.sema.data = "cifar10";
  auto c = testing_helpers::compile_space("nb201.cella", o);
  auto a = ir::parse_arch(
      *c->program, "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|");
  NetworkStats s = network_stats(*c->program, &std::get<ir::Arch>(a), 32, true);
  EXPECT_EQ(s.params, 1531546);
  // Stem 432*32^2, 30 cell convs per stage, two residual blocks, the classifier: by hand.
  std::int64_t macs =
      432 * 1024 + 30 * (2304 * 1024 + 9216 * 256 + 36864 * 64) + 2 * (1179648 + 2359296 + 131072) + 640;
  EXPECT_EQ(s.macs, macs);
}

// The DARTS search supernet (C = 16, 8 cells, CIFAR-10): quark0/darts cnn/train_search.py logs
// "param size = 1.930618MB" (count_parameters_in_MB: every parameter but the auxiliary head's).
// The count holds only if the first cell reads the stem's output on both inputs (`s0 = s1 =
// stem(input)`); with the raw image as its first input it was 1,929,898.
TEST(Stats, DartsSearchSupernetHasTheReferenceParameterCount) {
  driver::CompileOptions o;
  o.sema.data = "cifar10";
  auto c = testing_helpers::compile_space("darts.cella", o);
  ASSERT_TRUE(c->ok()) << testing_helpers::messages(*c);
  EXPECT_EQ(network_stats(*c->program, nullptr, 32, false).params, 1930618);
}

// The DARTS evaluation network (spaces/darts.cella `darts_eval`: 36 channels, 20 cells) with
// the genotypes of quark0/darts cnn/genotypes.py: cnn/train.py prints "param size = 3.349342MB"
// for DARTS_V2 (without the auxiliary head), the paper's 3.3M; DARTS_V1 is 3,169,414 by the
// same code (NetworkCIFAR(36, 10, 20, True, DARTS_V1), parameters outside `auxiliary`). The
// auxiliary head, counted apart, has 476,426 (3,825,768 in all for DARTS_V2 by the same code).
TEST(Stats, DartsGenotypesOnTheEvaluationNetworkHaveTheReferenceParameterCounts) {
  driver::CompileOptions o;
  o.sema.data = "cifar10";
  o.sema.network = "darts_eval";
  auto c = testing_helpers::compile_space("darts.cella", o);
  ASSERT_TRUE(c->ok()) << testing_helpers::messages(*c);
  const std::vector<std::pair<std::string, std::int64_t>> genotypes = {
      {"Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
       "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
       "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
       "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
       "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])",
       3349342},  // DARTS_V2
      {"Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), "
       "('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
       "('skip_connect', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
       "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), "
       "('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])",
       3169414},  // DARTS_V1
  };
  for (const auto& [genotype, params] : genotypes) {
    auto a = ir::parse_arch(*c->program, genotype);
    ASSERT_TRUE(std::holds_alternative<ir::Arch>(a)) << genotype;
    NetworkStats stats = network_stats(*c->program, &std::get<ir::Arch>(a), 32, true);
    EXPECT_EQ(stats.params, params) << genotype;
    EXPECT_EQ(stats.aux_params, 476426) << genotype;
  }
  EXPECT_EQ(std::get<std::string>(ir::parse_arch(*c->program, "largest")),
            "--arch largest: only a space of elastic layers has a largest and a smallest architecture");
  // By name, as the README quotes them (`--arch DARTS_V2`): the same architectures.
  const std::vector<std::pair<std::string, std::string>> names = {{"DARTS_V2", genotypes[0].first},
                                                                  {"DARTS_V1", genotypes[1].first}};
  for (const auto& [name, genotype] : names) {
    auto by_name = ir::parse_arch(*c->program, name);
    ASSERT_TRUE(std::holds_alternative<ir::Arch>(by_name)) << std::get<std::string>(by_name);
    EXPECT_TRUE(std::get<ir::Arch>(by_name) == std::get<ir::Arch>(ir::parse_arch(*c->program, genotype))) << name;
  }
}

// NASNet-A in spaces/nasnet.cella, against quark0/darts' NetworkCIFAR(C, 10, layers, False,
// genotype) counted without the auxiliary head. Its skeleton is the `nasnet` network's (a
// 3C stem, N normal cells between reductions, filters doubled at each, DARTS' input
// preprocessing; layers = 3N + 2): C = 16, layers = 8 is F = 16, N = 2, and C = 32, layers = 20
// is TF-slim's CIFAR NASNet-A (6 @ 768). The genotype is DARTS' `NASNet`, whose concat lists
// the `nasnet` cells' `output unused` computes; TF-slim's hard-wired ones ([0, 2..6] and
// [3..6], the `nasnet_a_tf` network) were counted by the same code with those concat lists;
// its 3,328,234 at F = 32 is the paper's 3.3M.
TEST(Stats, NasnetAHasTheReferenceParameterCountsInBothLayouts) {
  const std::string pairs =
      "normal=[('sep_conv_5x5', 1), ('sep_conv_3x3', 0), ('sep_conv_5x5', 0), ('sep_conv_3x3', 0), "
      "('avg_pool_3x3', 1), ('skip_connect', 0), ('avg_pool_3x3', 0), ('avg_pool_3x3', 0), ('sep_conv_3x3', 1), "
      "('skip_connect', 1)], normal_concat={}, reduce=[('sep_conv_5x5', 1), ('sep_conv_7x7', 0), "
      "('max_pool_3x3', 1), ('sep_conv_7x7', 0), ('avg_pool_3x3', 1), ('sep_conv_5x5', 0), ('skip_connect', 3), "
      "('avg_pool_3x3', 2), ('sep_conv_3x3', 2), ('max_pool_3x3', 1)], reduce_concat={}";
  struct Case {
    std::string network, normal_concat, reduce_concat, F, N;
    std::int64_t params;
  };
  const std::vector<Case> cases = {
      {"nasnet", "[2, 3, 4, 5, 6]", "[4, 5, 6]", "16", "2", 333946},
      {"nasnet", "[2, 3, 4, 5, 6]", "[4, 5, 6]", "32", "6", 3061738},
      {"nasnet_a_tf", "[0, 2, 3, 4, 5, 6]", "[3, 4, 5, 6]", "16", "2", 357882},
      {"nasnet_a_tf", "[0, 2, 3, 4, 5, 6]", "[3, 4, 5, 6]", "32", "6", 3328234},
  };
  for (const Case& k : cases) {
    driver::CompileOptions o;
    o.sema.data = "cifar10";
    o.sema.network = k.network;
    o.sema.overrides = {{"F", k.F}, {"N", k.N}};
    auto c = testing_helpers::compile_space("nasnet.cella", o);
    ASSERT_TRUE(c->ok()) << testing_helpers::messages(*c);
    std::string genotype = "Genotype(" + fmt::format(fmt::runtime(pairs), k.normal_concat, k.reduce_concat) + ")";
    auto a = ir::parse_arch(*c->program, genotype);
    ASSERT_TRUE(std::holds_alternative<ir::Arch>(a)) << std::get<std::string>(a);
    NetworkStats stats = network_stats(*c->program, &std::get<ir::Arch>(a), 32, true);
    EXPECT_EQ(stats.params, k.params) << k.network << " F=" << k.F << " N=" << k.N;
    // The genotype's own text: the space computes the concat lists; the blocks add.
    std::string printed = ir::to_genotype(*c->program, std::get<ir::Arch>(a));
    const std::string adds = "_combine=['sum', 'sum', 'sum', 'sum', 'sum']";
    EXPECT_EQ(printed.replace(printed.find(", normal" + adds), adds.size() + 8, "")
                  .replace(printed.find(", reduce" + adds), adds.size() + 8, ""),
              genotype);
  }
}

// A block that concatenates keeps the cell's width through ReLU-conv1x1-BN from its two inputs'
// 2C channels: 2C·C weights and the BN's 2C, per cell of width C. NASNet-A at F = 16, N = 2 with
// the first normal block concatenating: N normal cells at each of C = 16, 32, 64 add
// 2 · (544 + 2112 + 8320) = 21,952; the last reduction block concatenating adds 2112 + 8320.
TEST(Stats, ConcatenatingBlocksAddTheirProjection) {
  driver::CompileOptions o;
  o.sema.data = "cifar10";
  o.sema.overrides = {{"F", "16"}, {"N", "2"}};
  auto c = testing_helpers::compile_space("nasnet.cella", o);
  ASSERT_TRUE(c->ok()) << testing_helpers::messages(*c);
  const std::string pairs =
      "Genotype(normal=[('sep_conv_5x5', 1), ('sep_conv_3x3', 0), ('sep_conv_5x5', 0), ('sep_conv_3x3', 0), "
      "('avg_pool_3x3', 1), ('skip_connect', 0), ('avg_pool_3x3', 0), ('avg_pool_3x3', 0), ('sep_conv_3x3', 1), "
      "('skip_connect', 1)], normal_combine={}, reduce=[('sep_conv_5x5', 1), ('sep_conv_7x7', 0), "
      "('max_pool_3x3', 1), ('sep_conv_7x7', 0), ('avg_pool_3x3', 1), ('sep_conv_5x5', 0), ('skip_connect', 3), "
      "('avg_pool_3x3', 2), ('sep_conv_3x3', 2), ('max_pool_3x3', 1)], reduce_combine={})";
  auto params = [&](const char* normal, const char* reduce) {
    auto a = ir::parse_arch(*c->program, fmt::format(fmt::runtime(pairs), normal, reduce));
    EXPECT_TRUE(std::holds_alternative<ir::Arch>(a)) << std::get<std::string>(a);
    return network_stats(*c->program, &std::get<ir::Arch>(a), 32, true).params;
  };
  const char* adds = "['sum', 'sum', 'sum', 'sum', 'sum']";
  EXPECT_EQ(params(adds, adds), 333946);
  EXPECT_EQ(params("['concat', 'sum', 'sum', 'sum', 'sum']", adds), 333946 + 21952);
  EXPECT_EQ(params(adds, "['sum', 'sum', 'sum', 'sum', 'concat']"), 333946 + 2112 + 8320);
}

// NAS-Bench-101's network (spaces/nasbench101.cella, the paper's 128-channel stem, 3 stacks of
// 3 cells, CIFAR-10) for two architectures, against a count that follows nasbench's
// model_builder.py line by line: prune the vertices off every input-output path, split the
// output's 128 / 256 / 512 channels among the vertices feeding it (compute_vertex_channels:
// the first ones one more when it does not divide, the others the most of what they feed),
// a conv1x1-BN-ReLU projection (conv without bias, BN with scale and offset) on every edge from
// the input to its target's channels and on input -> output to the cell's, the vertices'
// conv-BN-ReLU at their own channels, pooling and truncation free, the first cell of a stack
// projecting the doubled width. `sample` has input -> 1, 2, output; 1 -> 3; 2 -> 4, output;
// 3 -> 5; 4 -> output; 5 -> output (vertex channels 42, 43, 42, 43, 42 in the first stack);
// `chain` is input -> 1 -> 2 -> 3 -> output with vertices 4 and 5 unconnected (pruned).
TEST(Stats, NasBench101NetworksHaveTheReferenceBuildersParameterCounts) {
  const std::string sample =
      R"({"cells": {"nb101_cell": {"edges": {"1<-0": "identity", "2<-0": "identity", "6<-0": "identity", "3<-1": "identity", "4<-2": "identity", "6<-2": "identity", "5<-3": "identity",
      "6<-4": "identity", "6<-5": "identity"}, "nodes": {"1": "conv3x3_bn_relu", "2": "conv1x1_bn_relu",
      "3": "maxpool3x3", "4": "conv3x3_bn_relu", "5": "conv3x3_bn_relu"}}}})";
  const std::string chain =
      R"({"cells": {"nb101_cell": {"edges": {"1<-0": "identity", "2<-1": "identity", "3<-2": "identity",
      "6<-3": "identity"}, "nodes": {"1": "conv3x3_bn_relu", "2": "conv1x1_bn_relu", "3": "maxpool3x3",
      "4": "conv3x3_bn_relu", "5": "conv1x1_bn_relu"}}}})";
  const std::vector<std::tuple<std::string, std::string, std::int64_t>> cases = {
      {sample, "128", 4667839}, {sample, "16", 74116}, {chain, "128", 11215242}, {chain, "16", 177978}};
  for (const auto& [arch, C, params] : cases) {
    driver::CompileOptions o;
    o.sema.data = "cifar10";
    o.sema.overrides = {{"C", C}};
    auto c = testing_helpers::compile_space("nasbench101.cella", o);
    ASSERT_TRUE(c->ok()) << testing_helpers::messages(*c);
    auto a = ir::parse_arch(*c->program, arch);
    ASSERT_TRUE(std::holds_alternative<ir::Arch>(a)) << std::get<std::string>(a);
    EXPECT_EQ(network_stats(*c->program, &std::get<ir::Arch>(a), 32, true).params, params) << arch << " C=" << C;
  }
}

TEST(Stats, SupernetsHaveNoBatchNormWeightsInsideCells) {
  auto c = testing_helpers::compile_space("nb201.cella");
  NetworkStats super = network_stats(*c->program, nullptr, 28, false);
  NetworkStats affine = network_stats(*c->program, nullptr, 28, true);
  EXPECT_LT(super.params, affine.params);
  EXPECT_GT(super.params, 1531546 / 2);
}

// Once-for-All's MobileNetV3 subnets, against OFA's own code: mit-han-lab/once-for-all at
// f03b267, `OFAMobileNetV3(n_classes=1000, dropout_rate=0.1, ks_list=[3,5,7],
// expand_ratio_list=[3,4,6], depth_list=[2,3,4])`, `set_active_subnet(...)`,
// `get_active_subnet(preserve_weight=True)`, then `count_parameters(subnet)` and
// `ofa.utils.flops_counter.profile(subnet, (1, 3, r, r))` (convolutions' and linear layers'
// multiply-accumulates; not batch norms, activations or biases), run under PyTorch 1.13. OFA's
// profiler sums in float32 and printed 566,170,688 for the largest at 224: the exact sum,
// 566,170,656, is halfway between two float32 neighbours (their spacing is 64 there) and rounds
// to that one. Every other figure is exact.
TEST(Stats, OnceForAllSubnetsHaveOfaCodesParametersAndMacs) {
  driver::CompileOptions o;
  o.sema.data = "imagenet";
  auto c = testing_helpers::compile_space("ofa_mbv3.cella", o);
  ASSERT_TRUE(c->ok()) << testing_helpers::messages(*c);
  const ir::Program& p = *c->program;
  auto stats_of = [&](std::vector<std::int64_t> flat, std::int64_t resolution) {
    flat.push_back(resolution);
    auto a = ir::parse_arch(p, nlohmann::json(flat).dump());
    EXPECT_TRUE(std::holds_alternative<ir::Arch>(a)) << std::get<std::string>(a);
    return network_stats(p, &std::get<ir::Arch>(a), 224, true);
  };
  auto uniform = [](std::int64_t k, std::int64_t e, std::int64_t d) {
    std::vector<std::int64_t> flat(20, k);
    flat.insert(flat.end(), 20, e);
    flat.insert(flat.end(), 5, d);
    return flat;
  };
  NetworkStats largest = stats_of(uniform(7, 6, 4), 224);
  EXPECT_EQ(largest.params, 7664760);
  EXPECT_EQ(largest.macs, 566170656);
  NetworkStats smallest = stats_of(uniform(3, 3, 2), 128);
  EXPECT_EQ(smallest.params, 3410792);
  EXPECT_EQ(smallest.macs, 41476224);
  // By name (`--arch largest`, `--arch smallest`), without typing 46 integers; and printed back in
  // the flat encoding `cella sample --format flat` writes.
  for (const auto& [name, want] : {std::pair{"largest", largest}, std::pair{"smallest", smallest}}) {
    auto a = ir::parse_arch(p, name);
    ASSERT_TRUE(std::holds_alternative<ir::Arch>(a)) << std::get<std::string>(a);
    const NetworkStats s = network_stats(p, &std::get<ir::Arch>(a), 224, true);
    EXPECT_EQ(s.params, want.params) << name;
    EXPECT_EQ(s.macs, want.macs) << name;
    auto back = ir::parse_arch(p, ir::to_flat(p, std::get<ir::Arch>(a)));
    ASSERT_TRUE(std::holds_alternative<ir::Arch>(back)) << std::get<std::string>(back);
    EXPECT_EQ(std::get<ir::Arch>(back), std::get<ir::Arch>(a)) << name;
  }
  EXPECT_EQ(ir::to_flat(p, std::get<ir::Arch>(ir::parse_arch(p, "smallest"))),
            "[3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, "
            "3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 128]");
  EXPECT_EQ(stats_of(uniform(7, 6, 4), 128).macs, 188248320);
  // ks = [3,5,7,3, 5,7,3,5, ...], e = [3,4,6,3, 4,6,3,4, ...], d = [2,3,4,3,2] at 160.
  std::vector<std::int64_t> mixed;
  for (int i = 0; i < 20; ++i) mixed.push_back(std::vector<std::int64_t>{3, 5, 7}[i % 3]);
  for (int i = 0; i < 20; ++i) mixed.push_back(std::vector<std::int64_t>{3, 4, 6}[i % 3]);
  for (std::int64_t d : {2, 3, 4, 3, 2}) mixed.push_back(d);
  NetworkStats m = stats_of(mixed, 160);
  EXPECT_EQ(m.params, 4782920);
  EXPECT_EQ(m.macs, 131349824);
  // The supernet holds the largest subnet's weights, batch norms' included, every one shared,
  // and OFA's kernel transformations: 25x25 and 9x9 per block.
  NetworkStats super = network_stats(p, nullptr, 224, false);
  EXPECT_EQ(super.params, largest.params + 20 * (625 + 81));
  EXPECT_EQ(super.macs, largest.macs);
}

}  // namespace
}  // namespace cella::passes
