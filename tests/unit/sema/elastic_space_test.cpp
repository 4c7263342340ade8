// Elastic layers, widths and input resolutions in the language: what sema builds from
// `mbv3(k = [3, 5, 7], e = [3, 4, 6])`, `width [16, 24]` and `resolution 128..224 step 4`, and how
// counting, encodings, genomes, sampling and enumeration treat them. Diagnostics are golden tests
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

// DyNAS-T's encoding of OFA's space: 20 kernel genes, then 20 expansion genes, then 5 depth
// genes, three values each (45 genes, 135 one-hot columns), the resolution fixed; a gene for it
// only when it is searched. It used to be one gene per layer over its 9 kernel-expansion pairs
// and a 25-valued resolution gene (26 genes, 220 columns).
TEST(ElasticSpace, OfasGenomeIsDynastsFortyFiveGenes) {
  auto c = compile_space("ofa_mbv3.cella");
  ASSERT_TRUE(c->ok()) << messages(*c);
  const ir::Program& p = *c->program;
  const ir::GenomeOptions at_largest{static_cast<int>(p.network->resolutions.size()) - 1};
  const std::vector<ir::Gene> genes = ir::genes(p, at_largest);
  ASSERT_EQ(genes.size(), 45u);
  int columns = 0;
  for (std::size_t i = 0; i < genes.size(); ++i) {
    const char* want = i < 20 ? ".k" : i < 40 ? ".e" : "";
    EXPECT_TRUE(i < 40 ? genes[i].name.ends_with(want) : genes[i].name.starts_with("depth.")) << genes[i].name;
    EXPECT_EQ(genes[i].cardinality, 3) << genes[i].name;
    columns += genes[i].cardinality;
  }
  EXPECT_EQ(columns, 135);
  const std::vector<ir::Gene> searched = ir::genes(p);
  ASSERT_EQ(searched.size(), 46u);
  EXPECT_EQ(searched.back().name, "resolution");
  EXPECT_EQ(searched.back().cardinality, 25);
  // Each layer's kernel and expansion are the indices of its values: the flat encoding's lists.
  std::vector<std::int64_t> flat;
  for (int i = 0; i < 20; ++i) flat.push_back(std::vector<std::int64_t>{3, 5, 7}[i % 3]);
  for (int i = 0; i < 20; ++i) flat.push_back(std::vector<std::int64_t>{6, 4, 3}[i % 3]);
  for (int i = 0; i < 5; ++i) flat.push_back(4);
  flat.push_back(224);
  auto parsed = ir::parse_arch(p, nlohmann::json(flat).dump());
  ASSERT_TRUE(std::holds_alternative<ir::Arch>(parsed)) << std::get<std::string>(parsed);
  const ir::Arch& a = std::get<ir::Arch>(parsed);
  const std::vector<int> genome = ir::encode(p, a, at_largest);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(genome[static_cast<std::size_t>(i)], i % 3) << "kernel of layer " << i;
    EXPECT_EQ(genome[static_cast<std::size_t>(20 + i)], 2 - i % 3) << "expansion of layer " << i;
  }
  EXPECT_EQ(ir::decode(p, genome, at_largest), a);
  // Sampled architectures come back, at the fixed resolution.
  std::mt19937_64 rng(5);
  for (int i = 0; i < 50; ++i) {
    ir::Arch s = ir::sample(p, rng);
    s.resolution = at_largest.fixed_resolution;
    EXPECT_EQ(passes::canonical(p, ir::decode(p, ir::encode(p, s, at_largest), at_largest)), passes::canonical(p, s));
    EXPECT_EQ(passes::canonical(p, ir::decode(p, ir::encode(p, s))), passes::canonical(p, s));
  }
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

// --- elastic widths (BigNAS) -------------------------------------------------------------------

// A width-elastic stem (a stage of one convolution), two width-elastic stages of elastic blocks,
// a fixed-width last convolution and the head.
const char* kWide = R"(
op conv_bn(out, k = 3, stride = 1) = conv(k, out = out, stride = stride) >> bn >> relu
network wide {
  resolution [12, 16]
  stage conv_bn * 1 width [8, 12] stride 2
  stage mbv3(k = [3, 5], e = 4) * [1, 2] width [8, 16] stride 2
  stage mbv3(k = 3, e = 6, se = true, swish = true) * 2 width [16, 24, 32] stride 2
  layer conv(1, out = 40) >> bn >> relu
  head global_avg_pool >> linear(10)
  share none
}
)";

driver::CompileOptions bignas_profile() {
  driver::CompileOptions o;
  o.sema.overrides = {{"S", "2"}, {"D4", "3"}, {"D", "3"}, {"R1", "16"}, {"R2", "20"}, {"R3", "24"}, {"R4", "28"}};
  return o;
}

TEST(ElasticWidth, AStageWidthListIsOneChoiceForTheStage) {
  auto c = compile(kWide);
  ASSERT_TRUE(c->ok()) << messages(*c);
  const ir::Network& n = *c->program->network;
  EXPECT_EQ(n.width_groups, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(n.stages[1].widths, (std::vector<std::int64_t>{8, 16}));
  EXPECT_EQ(n.stages[2].width_group, 2);
  // Built at the largest width; the widths are not part of the layers' candidates.
  EXPECT_EQ(n.units[1].out.channels, 16);
  EXPECT_EQ(n.units[1].choices.size(), 2u);
  EXPECT_EQ(n.units[3].in.channels, 16);
  EXPECT_EQ(n.units[3].out.channels, 32);
  // ir::at_width narrows the channels that equal the stage's width, nothing else.
  const ir::Op narrowed = ir::at_width(n.units[0].choices[0], 12, 8);
  EXPECT_EQ(narrowed.seq[0].int_arg("out", 0), 8);
  EXPECT_EQ(narrowed.seq[0].int_arg("k", 0), 3);
  EXPECT_EQ(ir::at_width(n.units[3].choices[0], 32, 32).expansion(), n.units[3].choices[0].expansion());
  // Counting: 2 stem widths x (2 + 2^2 kernels over depths 1, 2) x 2 widths x 3 widths.
  passes::SpaceSize s = passes::count(*c->program);
  EXPECT_EQ(s.raw, 2 * 6 * 2 * 3);
  ASSERT_TRUE(s.unique);
  EXPECT_EQ(*s.unique, s.raw);
  EXPECT_EQ(s.resolutions, 2);
  // Every architecture once, each width at both resolutions, with its genome and JSON round trips.
  std::set<std::string> seen;
  std::set<std::vector<int>> widths;
  EXPECT_TRUE(passes::enumerate(*c->program, 1000, [&](const ir::Arch& a) {
    EXPECT_FALSE(ir::check_arch(*c->program, a));
    seen.insert(passes::canonical(*c->program, a));
    widths.insert(a.widths);
    EXPECT_EQ(ir::decode(*c->program, ir::encode(*c->program, a)), a);
    auto json = ir::parse_arch(*c->program, ir::to_json(*c->program, a).dump());
    EXPECT_TRUE(std::holds_alternative<ir::Arch>(json) && std::get<ir::Arch>(json) == a);
    return true;
  }));
  EXPECT_EQ(seen.size(), 72u * 2);  // every architecture at both resolutions
  EXPECT_EQ(widths.size(), 12u);
  // Uniform sampling draws each width of a stage equally often.
  std::mt19937_64 rng(5);
  std::vector<int> hits(3, 0);
  for (int i = 0; i < 3000; ++i) ++hits[static_cast<std::size_t>(ir::sample(*c->program, rng).widths[2])];
  for (int h : hits) EXPECT_NEAR(h, 1000, 120);
}

TEST(ElasticWidth, WidthsInTheArchitecturesTextAndErrors) {
  auto c = compile(kWide);
  ASSERT_TRUE(c->ok()) << messages(*c);
  const ir::Program& p = *c->program;
  std::mt19937_64 rng(2);
  ir::Arch a = ir::sample(p, rng);
  nlohmann::json j = ir::to_json(p, a);
  ASSERT_TRUE(j.contains("widths"));
  EXPECT_EQ(j["widths"]["stages.2"], p.network->stages[2].widths[a.widths[2]]);
  EXPECT_EQ(ir::unit_width(p, 3, a), p.network->stages[2].widths[a.widths[2]]);
  EXPECT_EQ(ir::unit_width(p, 5, a), 40);  // the fixed layer
  j["widths"]["stages.1"] = 12;
  auto bad = ir::parse_arch(p, j.dump());
  ASSERT_TRUE(std::holds_alternative<std::string>(bad));
  EXPECT_EQ(std::get<std::string>(bad), "stages.1 cannot have width 12 (it has 8, 16)");
  j["widths"].erase("stages.1");
  EXPECT_EQ(std::get<std::string>(ir::parse_arch(p, j.dump())), "the architecture has no width for stages.1");
  // The flat encoding: the kernels of the elastic layers, the depth, then the widths (the
  // stem's single-candidate layer and the fixed-kernel stage are not in it).
  std::vector<std::int64_t> flat = ir::elastic_encoding(p, a);
  ASSERT_EQ(flat.size(), 2u + 1u + 3u);
  EXPECT_EQ(flat[3], p.network->stages[0].widths[a.widths[0]]);
  EXPECT_EQ(flat[5], p.network->stages[2].widths[a.widths[2]]);
  auto back = ir::decode_elastic(p, flat);
  ASSERT_TRUE(std::holds_alternative<ir::Arch>(back)) << std::get<std::string>(back);
  ir::Arch b = std::get<ir::Arch>(back);
  b.resolution = a.resolution;
  // Layers beyond the chosen depth keep their encoded values; compare what runs.
  EXPECT_EQ(passes::canonical(p, b), passes::canonical(p, a));
  flat[4] = 20;
  EXPECT_EQ(std::get<std::string>(ir::decode_elastic(p, flat)), "stage 1 cannot have width 20 (it has 8, 16)");
}

// BigNAS's space (spaces/bignas.cella) for ImageNet: per stage its depths' kernel choices times
// its widths (stem 2 widths; MB1 2 depths x 2 widths; MB2 2 depths x 2; MB3 (2^2 + 2^3) x 2;
// MB4 (2^2 + 2^3 + 2^4) x 2; MB5 and MB6 (2^2 + ... + 2^6) x 3 and x 4; MB7 (2 + 2^2) x 2; the
// last convolution 2 widths, 1280 and 1408, as XNAS lists them): 190,451,810,304, times 4
// resolutions. The two-core profile: 764,411,904.
TEST(ElasticWidth, BigNasCountsItsArchitectures) {
  auto c = compile_space("bignas.cella");
  ASSERT_TRUE(c->ok()) << messages(*c);
  passes::SpaceSize s = passes::count(*c->program);
  EXPECT_EQ(s.raw, passes::BigInt(2) * 4 * 4 * 24 * 56 * 372 * 496 * 12 * 2);
  EXPECT_EQ(s.raw, passes::BigInt("190451810304"));
  EXPECT_EQ(s.resolutions, 4);
  const ir::Network& n = *c->program->network;
  EXPECT_EQ(n.resolutions, (std::vector<std::int64_t>{192, 224, 288, 320}));
  EXPECT_EQ(n.stages.front().widths, (std::vector<std::int64_t>{32, 40}));
  EXPECT_EQ(n.stages.back().widths, (std::vector<std::int64_t>{1280, 1408}));
  EXPECT_EQ(n.stages[n.stages.size() - 2].widths, (std::vector<std::int64_t>{320, 352}));
  auto small = compile_space("bignas.cella", bignas_profile());
  ASSERT_TRUE(small->ok()) << messages(*small);
  EXPECT_EQ(passes::count(*small->program).raw, passes::BigInt(2) * 4 * 4 * 24 * 24 * 36 * 48 * 12 * 2);
  EXPECT_EQ(small->program->network->resolutions.back(), 28);
}

}  // namespace
}  // namespace cella::sema
