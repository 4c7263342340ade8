// Elastic layers and input resolutions in the language: what sema builds from
// `mbv3(k = [3, 5, 7], e = [3, 4, 6])` and `resolution 128..224 step 4`, and how counting,
// encodings, genomes, sampling and enumeration treat them. Diagnostics are golden tests
// (tests/golden/fail_elastic_*, fail_resolution_*); OFA's parameter and MAC figures are in
// tests/unit/passes/stats_test.cpp.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "compiler/ir/arch.h"
#include "compiler/ir/genome.h"
#include "compiler/ir/subspace.h"
#include "compiler/passes/space.h"
#include "tests/unit/helpers.h"

namespace cella::sema {
namespace {

using testing_helpers::compile;
using testing_helpers::compile_space;
using testing_helpers::messages;

// Two elastic stages of at most two blocks, three resolutions.
const char* kTiny = R"(
network tiny(D = 2) {
  resolution 20..28 step 4
  stem conv(3, out = 8, stride = 2) >> bn >> relu
  stage mbv3(k = [5, 3], e = [3, 6]) * (1..D) width 8
  stage mbv3(k = [3], e = [4, 6], se = true, hswish = true) * [1, 2] width 16 stride 2
  head global_avg_pool >> linear(10)
}
)";

driver::CompileOptions profile() {
  driver::CompileOptions o;
  o.sema.overrides = {{"W", "2"}, {"D", "3"}, {"R_min", "20"}, {"R_max", "28"}};
  return o;
}

TEST(ElasticSpace, AnElasticLayerIsAChoiceAmongItsSubShapes) {
  auto c = compile(kTiny);
  ASSERT_TRUE(c->ok()) << messages(*c);
  const ir::Network& n = *c->program->network;
  EXPECT_EQ(n.resolutions, (std::vector<std::int64_t>{20, 24, 28}));
  const ir::Unit& u = n.units[1];
  ASSERT_EQ(u.kind, ir::UnitKind::Choice);
  // The lists are sets, kept increasing; the first dimension varies slowest.
  ASSERT_EQ(u.elastic.size(), 2u);
  EXPECT_EQ(u.elastic[0], (ir::ElasticDim{"k", {3, 5}}));
  EXPECT_EQ(u.elastic[1], (ir::ElasticDim{"e", {3, 6}}));
  std::vector<std::string> names;
  for (const ir::Op& op : u.choices) names.push_back(op.name);
  EXPECT_EQ(names, (std::vector<std::string>{"k3_e3", "k3_e6", "k5_e3", "k5_e6"}));
  // Each candidate is the primitive alone with its values, bound to the stage's width and stride.
  const ir::PrimCall& k5e3 = u.choices[2].seq.at(0);
  EXPECT_EQ(u.choices[2].seq.size(), 1u);
  EXPECT_EQ(k5e3.prim, "mbv3");
  EXPECT_EQ(k5e3.int_arg("k", 0), 5);
  EXPECT_EQ(k5e3.int_arg("e", 0), 3);
  EXPECT_EQ(k5e3.int_arg("out", 0), 8);
  EXPECT_TRUE(k5e3.elastic.empty());
  // A one-value list is still elastic in form; its candidates are the other dimension's.
  const ir::Unit& second = n.units[3];
  EXPECT_EQ(second.stride, 2);
  ASSERT_EQ(second.elastic.size(), 2u);
  EXPECT_EQ(second.choices.size(), 2u);
  EXPECT_TRUE(second.choices[1].seq[0].bool_arg("se", false));
  EXPECT_EQ(second.choices[1].seq[0].int_arg("stride", 0), 2);
}

TEST(ElasticSpace, OnceForAllCountsItsArchitecturesAtOneResolution) {
  auto c = compile_space("ofa_mbv3.cella");
  ASSERT_TRUE(c->ok()) << messages(*c);
  passes::SpaceSize s = passes::count(*c->program);
  // OFA: (9^2 + 9^3 + 9^4)^5 = 7,371^5, "over 10^19"; 25 resolutions from 128 to 224.
  EXPECT_EQ(s.raw, passes::BigInt("21758655492572485851"));
  EXPECT_EQ(s.raw, passes::BigInt(7371) * 7371 * 7371 * 7371 * 7371);
  EXPECT_EQ(s.resolutions, 25);
  ASSERT_TRUE(s.unique);
  EXPECT_EQ(*s.unique, s.raw);
  const ir::Network& n = *c->program->network;
  EXPECT_EQ(n.resolutions.front(), 128);
  EXPECT_EQ(n.resolutions.back(), 224);
  EXPECT_EQ(n.layer_groups.size(), 20u);
  EXPECT_EQ(n.depth_groups.size(), 5u);

  // The two-core profile: a quarter of the widths, depths {2, 3}, resolutions 20, 24, 28.
  auto small = compile_space("ofa_mbv3.cella", profile());
  ASSERT_TRUE(small->ok()) << messages(*small);
  passes::SpaceSize t = passes::count(*small->program);
  const passes::BigInt per_stage = 81 + 729;
  EXPECT_EQ(t.raw, per_stage * per_stage * per_stage * per_stage * per_stage);
  EXPECT_EQ(t.resolutions, 3);
  EXPECT_EQ(small->program->network->units[2].out.channels, 6);
}

TEST(ElasticSpace, DynastsFlatEncodingHas45IntegersAndRoundTrips) {
  auto c = compile_space("ofa_mbv3.cella");
  ASSERT_TRUE(c->ok()) << messages(*c);
  const ir::Program& p = *c->program;
  std::mt19937_64 rng(7);
  for (int i = 0; i < 20; ++i) {
    ir::Arch a = ir::sample(p, rng);
    std::vector<std::int64_t> flat = ir::elastic_encoding(p, a);
    ASSERT_EQ(flat.size(), 45u);
    for (int b = 0; b < 20; ++b) {
      EXPECT_TRUE(flat[b] == 3 || flat[b] == 5 || flat[b] == 7) << flat[b];
      EXPECT_TRUE(flat[20 + b] == 3 || flat[20 + b] == 4 || flat[20 + b] == 6) << flat[20 + b];
    }
    for (int s = 0; s < 5; ++s) EXPECT_EQ(flat[40 + s], p.network->stages[s].depths[a.depths[s]]);
    auto back = ir::decode_elastic(p, flat);
    ASSERT_TRUE(std::holds_alternative<ir::Arch>(back)) << std::get<std::string>(back);
    ir::Arch b = std::get<ir::Arch>(back);
    b.resolution = a.resolution;
    EXPECT_EQ(b, a);
    // As `--arch`: the encoding with the resolution after it; JSON names it too.
    std::string text = nlohmann::json(flat).dump();
    text.insert(text.size() - 1, "," + std::to_string(p.network->resolutions[a.resolution]));
    auto parsed = ir::parse_arch(p, text);
    ASSERT_TRUE(std::holds_alternative<ir::Arch>(parsed)) << std::get<std::string>(parsed);
    EXPECT_EQ(std::get<ir::Arch>(parsed), a);
    auto json = ir::parse_arch(p, ir::to_json(p, a).dump());
    ASSERT_TRUE(std::holds_alternative<ir::Arch>(json)) << std::get<std::string>(json);
    EXPECT_EQ(std::get<ir::Arch>(json), a);
    EXPECT_EQ(ir::to_json(p, a)["resolution"], p.network->resolutions[a.resolution]);
  }
}

TEST(ElasticSpace, EncodingErrorsSayWhatIsWrong) {
  auto c = compile_space("ofa_mbv3.cella");
  ASSERT_TRUE(c->ok()) << messages(*c);
  const ir::Program& p = *c->program;
  auto error = [&](const std::string& text) {
    auto r = ir::parse_arch(p, text);
    return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : std::string("parsed");
  };
  std::vector<std::int64_t> flat(45, 3);
  for (int s = 0; s < 5; ++s) flat[40 + s] = 2;
  std::string body = nlohmann::json(flat).dump();
  EXPECT_NE(error(body).find("the architecture has no resolution"), std::string::npos) << error(body);
  std::string at = body.substr(0, body.size() - 1) + ",130]";
  EXPECT_NE(error(at).find("no resolution 130"), std::string::npos) << error(at);
  flat[3] = 4;
  std::string even = nlohmann::json(flat).dump();
  even.insert(even.size() - 1, ",128");
  EXPECT_EQ(error(even), "layer layers.5 cannot have k 4 and e 3");
  EXPECT_NE(error("[3, 5]").find("has 45 integers"), std::string::npos) << error("[3, 5]");
  auto nb201 = compile_space("nb201.cella");
  EXPECT_EQ(std::get<std::string>(ir::parse_arch(*nb201->program, "[1, 2]")),
            "only a space of elastic layers has a flat encoding");
}

TEST(ElasticSpace, GenomeSamplingAndEnumerationCoverTheResolution) {
  auto c = compile(kTiny);
  ASSERT_TRUE(c->ok()) << messages(*c);
  const ir::Program& p = *c->program;
  std::vector<ir::Gene> genes = ir::genes(p);
  ASSERT_FALSE(genes.empty());
  EXPECT_EQ(genes.back().name, "resolution");
  EXPECT_EQ(genes.back().cardinality, 3);

  // Enumeration lists every architecture at every resolution; the count leaves them out.
  // Stage 1: 4 + 4^2 = 20, stage 2: 2 + 2^2 = 6.
  passes::SpaceSize s = passes::count(p);
  EXPECT_EQ(s.raw, 120);
  std::set<std::string> seen;
  std::set<int> resolutions;
  EXPECT_TRUE(passes::enumerate(p, 1000, [&](const ir::Arch& a) {
    EXPECT_FALSE(ir::check_arch(p, a));
    seen.insert(passes::canonical(p, a));
    resolutions.insert(a.resolution);
    EXPECT_EQ(ir::decode(p, ir::encode(p, a)), a);
    return true;
  }));
  EXPECT_EQ(seen.size(), 360u);
  EXPECT_EQ(resolutions, (std::set<int>{0, 1, 2}));

  // Uniform sampling draws the resolution uniformly too.
  std::mt19937_64 rng(3);
  std::vector<int> hits(3, 0);
  for (int i = 0; i < 3000; ++i) ++hits[static_cast<std::size_t>(ir::sample(p, rng).resolution)];
  for (int h : hits) EXPECT_NEAR(h, 1000, 120);
}

TEST(ElasticSpace, ANetworkWithoutResolutionsRunsAtTheDataSize) {
  auto c = compile(R"(
network n {
  stem conv(3, out = 8, stride = 2) >> bn >> relu
  stage mbv3(k = [3, 5], e = 4) * 2 width 8
  head global_avg_pool >> linear(10)
})");
  ASSERT_TRUE(c->ok()) << messages(*c);
  EXPECT_TRUE(c->program->network->resolutions.empty());
  for (const ir::Gene& g : ir::genes(*c->program)) EXPECT_NE(g.name, "resolution");
  passes::SpaceSize s = passes::count(*c->program);
  EXPECT_EQ(s.raw, 4);
  EXPECT_EQ(s.resolutions, 1);
  // `resolution 224` alone resizes every input to 224 and is no choice.
  auto fixed = compile(R"(
network n {
  resolution 32
  stem conv(3, out = 8, stride = 2) >> bn >> relu
  stage mbv3(k = [3, 5], e = 4) * 2 width 8
  head global_avg_pool >> linear(10)
})");
  ASSERT_TRUE(fixed->ok()) << messages(*fixed);
  EXPECT_EQ(fixed->program->network->resolutions, (std::vector<std::int64_t>{32}));
  EXPECT_EQ(passes::count(*fixed->program).resolutions, 1);
}

}  // namespace
}  // namespace cella::sema
