// Masks and the uniform sampler: every sample is an architecture of the declared space (node
// selection, optional edges, constraints) and of the mask it was drawn in.
#include "compiler/ir/subspace.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

#include "compiler/ir/split_sites.h"
#include "tests/unit/helpers.h"

namespace cella::ir {
namespace {

using testing_helpers::compile;
using testing_helpers::compile_space;
using testing_helpers::messages;

// A small DARTS-style space written as a user would: three inputs per node at most, each node
// keeps two of them.
const char* kSelectSpace = R"(
import std.ops
opset ops = [none, skip_connect, nor_conv_3x3, avg_pool_3x3]
cell c { inputs 2; nodes 2; edges all : ops; select 2; output concat }
network net(C = 4) {
  stem conv(1, out = C) >> bn
  stage c * 2 width C
  head global_avg_pool >> linear(10)
}
)";

TEST(Sample, IsUniformOverEdgesAndAlwaysValid) {
  auto c = compile_space("nb201.cella");
  std::mt19937_64 rng(0);
  std::vector<int> freq(5, 0);
  for (int i = 0; i < 20000; ++i) {
    Arch a = sample(*c->program, rng);
    ASSERT_FALSE(check_arch(*c->program, a));
    ++freq[a.cells[0].edge_op[3]];
  }
  for (int f : freq) EXPECT_NEAR(f, 4000, 300);
}

TEST(Sample, DartsSelectionKeepsTwoRealInputsPerNode) {
  auto c = compile_space("darts.cella");
  std::mt19937_64 rng(1);
  for (int i = 0; i < 3000; ++i) {
    Arch a = sample(*c->program, rng);
    ASSERT_FALSE(check_arch(*c->program, a)) << *check_arch(*c->program, a);
  }
}

TEST(Sample, SameSeedSameArchitectures) {
  auto c = compile_space("mobilenet.cella");
  std::mt19937_64 r1(9), r2(9);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(sample(*c->program, r1), sample(*c->program, r2));
}

// A sub-supernet's samples stay inside both the space and the mask: on the DARTS space with
// edge 2<-0 of the normal cell restricted to {sep_conv_3x3, none} and edge 4<-1 to {none}.
TEST(Sample, StaysInsideTheSpaceAndTheMask) {
  auto c = compile_space("darts.cella");
  const Program& p = *c->program;
  Mask m = Mask::full(p);
  const Cell& cell = p.cells[p.network->cell_groups[0].cell];
  const int e20 = cell.find_edge(0, 2), e41 = cell.find_edge(1, 4);
  ASSERT_GE(e20, 0);
  ASSERT_GE(e41, 0);
  m.cells[0][e20] = {true, false, false, false, true, false, false, false};
  m.cells[0][e41] = {true, false, false, false, false, false, false, false};
  ASSERT_FALSE(why_empty(p, m));
  std::mt19937_64 rng(3);
  int kept41 = 0;
  for (int i = 0; i < 2000; ++i) {
    Arch a = sample(p, m, rng);
    ASSERT_FALSE(check_arch(p, a)) << *check_arch(p, a);
    ASSERT_TRUE(holds(p, m, a));
    // Node 2 has two inputs: both kept, so 2<-0 runs its one real candidate.
    ASSERT_EQ(a.cells[0].edge_op[e20], 4);
    kept41 += a.cells[0].edge_op[e41] >= 0;
  }
  EXPECT_EQ(kept41, 0);  // an edge that keeps only `none` is never one of a node's inputs
}

TEST(Sample, AMaskThatHoldsNothingIsSaidWhy) {
  auto c = compile(kSelectSpace);
  ASSERT_TRUE(c->ok()) << messages(*c);
  const Program& p = *c->program;
  Mask m = Mask::full(p);
  const Cell& cell = p.cells[0];
  const int e = cell.find_edge(0, 2);
  m.cells[0][e] = {true, false, false, false};  // only `none`: node 2 cannot keep two inputs
  auto why = why_empty(p, m);
  ASSERT_TRUE(why);
  EXPECT_EQ(*why, "node 2 of cell 'c' must keep 2 inputs, but only 1 of its edges keep a real operation");
  std::mt19937_64 rng(0);
  EXPECT_THROW(sample(p, m, rng), std::invalid_argument);
  // On node 3 (three inputs) the same restriction leaves a space: 3<-0 is simply never kept.
  Mask n = Mask::full(p);
  n.cells[0][cell.find_edge(0, 3)] = {true, false, false, false};
  EXPECT_FALSE(why_empty(p, n));
}

// Uniform over the mask's architectures: with node 3's edge 3<-0 restricted to one real
// candidate, the input pairs {0,1}, {0,2}, {1,2} carry 1*3, 1*3 and 3*3 architectures.
TEST(Sample, InputPairsAreWeightedByTheirArchitectures) {
  auto c = compile(kSelectSpace);
  ASSERT_TRUE(c->ok()) << messages(*c);
  const Program& p = *c->program;
  const Cell& cell = p.cells[0];
  Mask m = Mask::full(p);
  m.cells[0][cell.find_edge(0, 3)] = {false, false, true, false};
  std::mt19937_64 rng(5);
  std::map<std::set<int>, int> pairs;
  const int n = 15000;
  for (int i = 0; i < n; ++i) {
    Arch a = sample(p, m, rng);
    std::set<int> kept;
    for (int e : cell.in_edges(3))
      if (a.cells[0].edge_op[e] >= 0) kept.insert(cell.source(e));
    ++pairs[kept];
  }
  EXPECT_NEAR((pairs[{0, 1}]), n * 3 / 15, 250);
  EXPECT_NEAR((pairs[{0, 2}]), n * 3 / 15, 250);
  EXPECT_NEAR((pairs[{1, 2}]), n * 9 / 15, 250);
}

TEST(Holds, AnEdgeLeftOutIsHeldByAnyMask) {
  auto c = compile(kSelectSpace);
  ASSERT_TRUE(c->ok()) << messages(*c);
  const Program& p = *c->program;
  const Cell& cell = p.cells[0];
  auto parsed =
      parse_arch(p, R"({"cells": {"c": {"edges": {"2<-0": "skip_connect", "2<-1": "nor_conv_3x3", "3<-0": null,
                                    "3<-1": "avg_pool_3x3", "3<-2": "skip_connect"}}}})");
  ASSERT_TRUE(std::holds_alternative<Arch>(parsed)) << std::get<std::string>(parsed);
  const Arch a = std::get<Arch>(parsed);
  Mask m = Mask::full(p);
  m.cells[0][cell.find_edge(0, 3)] = {false, false, true, true};  // 3<-0 is left out: held
  EXPECT_TRUE(holds(p, m, a));
  m.cells[0][cell.find_edge(1, 3)] = {false, false, true, false};  // 3<-1 runs avg_pool_3x3: not held
  EXPECT_FALSE(holds(p, m, a));
  EXPECT_TRUE(holds(p, Mask::of_arch(p, a), a));
}

// The deepest depth a mask leaves a stage: the whole space's deepest, the deepest still on after
// the deeper ones are turned off, none when every depth is off.
TEST(Mask, DeepestDepthLeftOn) {
  auto c = compile_space("ofa_mbv3.cella");
  ASSERT_TRUE(c->ok()) << messages(*c);
  const Program& p = *c->program;
  ASSERT_EQ(p.network->depth_groups.size(), 5u);
  Mask m = Mask::full(p);
  EXPECT_EQ(deepest_depth(p, m, 2), 2);  // depths {2, 3, 4}
  m.depths[2] = {true, true, false};
  EXPECT_EQ(deepest_depth(p, m, 2), 1);
  m.depths[2] = {true, false, false};
  EXPECT_EQ(deepest_depth(p, m, 2), 0);
  m.depths[2] = {false, false, false};
  EXPECT_EQ(deepest_depth(p, m, 2), -1);
  EXPECT_EQ(deepest_depth(p, m, 1), 2);
  m.depths.clear();  // a mask made without depths leaves them all
  EXPECT_EQ(deepest_depth(p, m, 2), 2);
}

// A network of elastic layers is split on each layer's first dimension (OFA's kernel sizes): a
// site's values are the sizes, a mask keeps those of some enabled candidate, and a restriction
// turns off every candidate whose kernel is not kept, whatever its expansion.
TEST(SplitSites, ElasticLayersSplitTheirFirstDimension) {
  driver::CompileOptions o;
  o.sema.overrides = {{"W", "2"}, {"D", "3"}, {"R_min", "20"}, {"R_max", "28"}};
  auto c = compile_space("ofa_mbv3.cella", o);
  ASSERT_TRUE(c->ok()) << messages(*c);
  const Program& p = *c->program;
  const SplitSites sites(p, "");
  ASSERT_TRUE(sites.elastic());
  EXPECT_EQ(sites.cell_group(), -1);
  ASSERT_EQ(sites.size(), 15);  // 5 stages of 3 elastic blocks
  EXPECT_EQ(sites.name(0), "layers.2 k");
  EXPECT_EQ(sites.values(0), 3);
  EXPECT_EQ(sites.value_name(0, 2), "7");
  EXPECT_EQ(sites.layer_group(4), 4);
  const Mask full = Mask::full(p);
  EXPECT_EQ(sites.kept(full, 3), (std::vector<int>{0, 1, 2}));
  const Mask m = sites.restrict(full, 3, {0, 2});  // kernels 3 and 7
  EXPECT_EQ(sites.kept(m, 3), (std::vector<int>{0, 2}));
  EXPECT_EQ(sites.kept(m, 4), (std::vector<int>{0, 1, 2}));  // the other layers untouched
  const Unit& u = p.network->units[static_cast<std::size_t>(p.network->layer_groups[3])];
  for (std::size_t k = 0; k < u.choices.size(); ++k)  // k3_e3 ... k7_e6: kernel slowest
    EXPECT_EQ(m.layers[3][k], u.choices[k].seq[0].int_arg("k", 0) != 5) << u.choices[k].name;
  // The candidate with another kernel and the same expansion: k3_e4 (1) -> k7_e4 (7).
  EXPECT_EQ(u.choices[1].name, "k3_e4");
  EXPECT_EQ(sites.with_value(3, 1, 2), 7);
  EXPECT_EQ(u.choices[7].name, "k7_e4");
  // Every architecture the restricted mask samples keeps layer 3's kernel in {3, 7}.
  std::mt19937_64 rng(4);
  for (int i = 0; i < 50; ++i) EXPECT_NE(sites.value_name(3, sample(p, m, rng).layers[3] / 3), "5");
}

// A network with cells is split on the edges of the plan's cell type, as before.
TEST(SplitSites, CellsSplitTheirEdges) {
  auto c = compile_space("nb201.cella");
  ASSERT_TRUE(c->ok()) << messages(*c);
  const Program& p = *c->program;
  const SplitSites sites(p, p.cells[p.network->cell_groups[0].cell].props().name);
  EXPECT_FALSE(sites.elastic());
  EXPECT_EQ(sites.cell_group(), 0);
  ASSERT_EQ(sites.size(), 6);
  EXPECT_EQ(sites.name(0), "1<-0");
  EXPECT_EQ(sites.values(0), 5);
  const Mask m = sites.restrict(Mask::full(p), 2, {1, 3});
  EXPECT_EQ(sites.kept(m, 2), (std::vector<int>{1, 3}));
  EXPECT_EQ(enabled_candidates(m.cells[0][2]), (std::vector<int>{1, 3}));
  EXPECT_EQ(sites.value_name(2, 3), p.cells[0].edge(2).candidates[3].name);
}

// A constraint that few choices satisfy (one edge set in 2^21 for NAS-Bench-101's cell with
// `edges <= 1` has at most one edge: 22 of them) is drawn exactly rather than by rejection, which
// would need millions of tries (the fuzzer found it): every draw satisfies it, and both counts
// allowed come up.
TEST(Sample, ARareConstraintIsDrawnExactly) {
  std::ifstream in(std::string(CELLA_SOURCE_DIR) + "/spaces/nasbench101.cella");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string from = "constraint edges <= 9";
  ASSERT_NE(text.find(from), std::string::npos);
  text.replace(text.find(from), from.size(), "constraint edges <= 1");
  auto c = compile(text);
  ASSERT_TRUE(c->ok()) << messages(*c);
  std::mt19937_64 rng(2);
  std::set<int> counts;
  for (int i = 0; i < 200; ++i) {
    const Arch a = sample(*c->program, rng);
    int present = 0;
    for (int op : a.cells[0].edge_op) present += op >= 0;
    EXPECT_LE(present, 1);
    counts.insert(present);
  }
  EXPECT_EQ(counts, (std::set<int>{0, 1}));
}

}  // namespace
}  // namespace cella::ir
