// Space passes: exact counts, unique counts against NAS-Bench-201's own canonical strings, edge
// order and hierarchies, enumeration and uniform sampling.
#include "compiler/passes/space.h"

#include <gtest/gtest.h>

#include <unordered_set>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "compiler/ir/subspace.h"
#include "tests/unit/helpers.h"
#include "tests/unit/process.h"

namespace cella::passes {
namespace {

using testing_helpers::compile;
using testing_helpers::compile_space;
using testing_helpers::messages;

TEST(Count, NasBench201HasFifteenThousandArchitecturesSixThousandUnique) {
  auto c = compile_space("nb201.cella");
  ASSERT_TRUE(c->ok()) << messages(*c);
  SpaceSize s = count(*c->program);
  EXPECT_EQ(s.raw, 15625);
  ASSERT_TRUE(s.unique);
  EXPECT_EQ(*s.unique, 6466);
}

TEST(Count, DartsCellAndNetworkFigures) {
  auto c = compile_space("darts.cella");
  ASSERT_TRUE(c->ok()) << messages(*c);
  SpaceSize s = count(*c->program);
  ASSERT_EQ(s.cells.size(), 2u);
  EXPECT_EQ(s.cells[0].raw, BigInt("1037664180"));
  EXPECT_EQ(s.raw, BigInt("1076746950455072400"));
}

TEST(Count, OnceForAllChainIsAbout2e19) {
  auto c = compile_space("mobilenet.cella");
  ASSERT_TRUE(c->ok()) << messages(*c);
  BigInt per_stage = 81 + 729 + 6561;
  EXPECT_EQ(count(*c->program).raw, per_stage * per_stage * per_stage * per_stage * per_stage);
}

// ProxylessNAS at its reference layout: 6 stage-opening blocks with 6 choices, 15 that may also be
// skipped (7), about 2.2 * 10^17 as the paper counts.
TEST(Count, ProxylessNasAtTheReferenceLayout) {
  driver::CompileOptions o;
  o.sema.overrides = {{"W", "8"}, {"blocks", "4"}};
  auto c = compile_space("proxyless.cella", o);
  ASSERT_TRUE(c->ok()) << messages(*c);
  BigInt want = 1;
  for (int i = 0; i < 6; ++i) want *= 6;
  for (int i = 0; i < 15; ++i) want *= 7;
  EXPECT_EQ(count(*c->program).raw, want);
  EXPECT_EQ(want, BigInt("221502229807900608"));
}

// Layers that may be an identity merge architectures: the unique count of a chain is the number
// of distinct words of operations its stages spell, computed without enumerating (ProxylessNAS's
// 2.2e17); here small enough to check against the canonical forms of every architecture, with
// depth choices with and without identities.
TEST(Count, ChainsWithIdentityLayersCountDistinctNetworksExactly) {
  auto c = compile(R"(
import std.ops
opset ab = [relu_conv_bn(3) as a, relu_conv_bn(1) as b]
opset ab_or_skip = ab + [skip_connect as skip]
network chain(classes = 10) {
  stem conv(3, out = 8) >> bn
  stage ab_or_skip * 3 width 8
  stage ab * [1, 2] width 8
  stage ab_or_skip * [1, 2, 3] width 8
  head global_avg_pool >> linear(classes)
}
)");
  ASSERT_TRUE(c->ok()) << messages(*c);
  SpaceSize s = count(*c->program);
  EXPECT_EQ(s.raw, 27 * 6 * 39);
  std::unordered_set<std::string> seen;
  enumerate(*c->program, kEnumerateLimit, [&](const ir::Arch& a) {
    seen.insert(canonical(*c->program, a));
    return true;
  });
  ASSERT_TRUE(s.unique);
  EXPECT_EQ(*s.unique, BigInt(seen.size()));
  EXPECT_EQ(*s.unique, 15 * 6 * 15);  // words of length <= 3 over {a, b}; 2 + 4; again <= 3
  // ProxylessNAS at its reference layout: per stage 1 + 6 + 36 + 216 distinct skippable runs.
  driver::CompileOptions o;
  o.sema.overrides = {{"W", "8"}, {"blocks", "4"}};
  auto px = compile_space("proxyless.cella", o);
  ASSERT_TRUE(px->ok()) << messages(*px);
  BigInt runs = 1 + 6 + 36 + 216, want = 1;
  for (int i = 0; i < 6; ++i) want *= 6;
  for (int i = 0; i < 5; ++i) want *= runs;
  EXPECT_EQ(count(*px->program).unique, std::optional<BigInt>(want));
}

TEST(Count, ConstraintsLimitTheNumberOfEdges) {
  auto c = compile_space("nasbench101.cella");
  ASSERT_TRUE(c->ok()) << messages(*c);
  // sum_{k<=9} C(21, k) graphs, times 3 operations on each of 5 nodes.
  BigInt graphs = 0, binom = 1;
  for (int k = 0; k <= 9; ++k) {
    graphs += binom;
    binom = binom * (21 - k) / (k + 1);
  }
  EXPECT_EQ(count(*c->program).raw, graphs * 243);
}

// NAS-Bench-101's paper: 423,624 unique graphs (isomorphism of the graphs pruned to the nodes on
// an input-output path, operations as labels), computed without enumerating the 169 million
// encodings.
TEST(Count, NasBench101UniqueGraphsAreThePublishedCount) {
  auto c = compile_space("nasbench101.cella");
  ASSERT_TRUE(c->ok()) << messages(*c);
  SpaceSize s = count(*c->program);
  ASSERT_TRUE(s.unique.has_value()) << s.unique_note;
  EXPECT_EQ(*s.unique, BigInt(423624));
}

// By hand, one inner node v with 3 operations: the graphs in->out (v pruned, whatever it runs:
// 1), in->v->out and in->v->out with in->out (3 labels each: 6); no path at all is no
// architecture. 7 of the 24 encodings.
TEST(Count, NodeOperationCellsCountGraphsUpToIsomorphism) {
  auto c = compile(R"(
import std.ops
opset ops = [conv3x3_bn_relu, conv1x1_bn_relu, maxpool3x3]
cell c { inputs 1; nodes 2; node 1 : ops; node 2 combine concat; edges all : [identity] optional; output last }
network n(C = 4) { stem conv(3, out = C); stage c * 1 width C; head global_avg_pool >> linear(2) }
)");
  ASSERT_TRUE(c->ok()) << messages(*c);
  SpaceSize s = count(*c->program);
  EXPECT_EQ(s.raw, BigInt(24));
  ASSERT_TRUE(s.unique.has_value()) << s.unique_note;
  EXPECT_EQ(*s.unique, BigInt(7));
}

// NASNet (spaces/nasnet.cella): block b picks two of 2 + b states, 13 operations each, and adds
// or concatenates them, so a cell has (2·3·4·5·6)² · 13^10 · 2^5 architectures, 2.29e18
// (../shared/reference/algorithms-wave2.md 5.3; 7.1e16 add only); counting each block's two
// picks as an unordered pair, 2^5 · Π_b m_b(m_b + 1)/2 with m_b = 13(2 + b).
TEST(Count, NasnetCellsWithAndWithoutSymmetricDuplicates) {
  auto c = compile_space("nasnet.cella");
  ASSERT_TRUE(c->ok()) << messages(*c);
  SpaceSize s = count(*c->program);
  BigInt per_cell = BigInt(720) * 720 * 32, swap_free = 32;
  for (int i = 0; i < 10; ++i) per_cell *= 13;
  for (int b = 0; b < 5; ++b) {
    const int m = 13 * (2 + b);
    swap_free *= m * (m + 1) / 2;
  }
  ASSERT_EQ(s.cells.size(), 2u);
  EXPECT_EQ(s.cells[0].raw, per_cell);
  EXPECT_EQ(s.cells[0].raw, BigInt("2286906949584691200"));
  EXPECT_EQ(s.cells[0].raw / 32, BigInt("71465842174521600"));
  ASSERT_TRUE(s.cells[0].without_swaps);
  EXPECT_EQ(*s.cells[0].without_swaps, swap_free);
  EXPECT_EQ(s.raw, per_cell * per_cell);
  ASSERT_TRUE(s.without_swaps);
  EXPECT_EQ(*s.without_swaps, swap_free * swap_free);
  // The output concatenates the states no block reads: inputs included in a normal cell; a
  // reduction cell's inputs are at twice its output's resolution and never in it.
  EXPECT_EQ(c->program->cells[0].props().output.nodes, (std::vector<int>{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(c->program->cells[1].props().output.nodes, (std::vector<int>{2, 3, 4, 5, 6}));
}

// The swap-free count against brute force on a two-block picks cell: architectures whose blocks
// pick the same unordered pairs are one.
TEST(Count, SymmetricDuplicatesCountedByBruteForce) {
  auto c = compile(R"(
import std.ops
cell c {
  inputs 2
  nodes 6
  edge [0, 1] -> [4, 5] : [skip_connect, nor_conv_3x3]
  edge 0..2 -> [6, 7] : [skip_connect, nor_conv_3x3]
  node 4..7 select 1
  edge [4, 5] -> 2 : [skip_connect]
  edge [6, 7] -> 3 : [skip_connect]
  output unused
}
network n(C = 4) { stem conv(3, out = C); stage c * 2 width C; head global_avg_pool >> linear(2) }
)");
  ASSERT_TRUE(c->ok()) << messages(*c);
  const ir::Cell& cell = c->program->cells[0];
  std::set<std::vector<std::pair<int, int>>> pairs;
  int all = 0;
  enumerate_cell(cell, [&](const ir::CellChoice& ch) {
    ++all;
    // Per pick node, the (source, operation) it keeps; a block's two picks as a sorted pair.
    std::vector<std::pair<int, int>> pick(cell.num_nodes(), {-1, -1});
    for (int e = 0; e < cell.num_edges(); ++e)
      if (ch.edge_op[e] >= 0 && cell.target(e) >= 4) pick[cell.target(e)] = {cell.source(e), ch.edge_op[e]};
    std::vector<std::pair<int, int>> key;
    for (int block : {4, 6}) {
      auto a = pick[block], b = pick[block + 1];
      key.push_back(std::min(a, b));
      key.push_back(std::max(a, b));
    }
    pairs.insert(key);
    return true;
  });
  EXPECT_EQ(all, 16 * 36);
  EXPECT_EQ(cell_size(cell), 16 * 36);
  ASSERT_TRUE(swap_free_size(cell));
  EXPECT_EQ(*swap_free_size(cell), BigInt(pairs.size()));
  EXPECT_EQ(pairs.size(), 10u * 21u);
  // A cell without interchangeable nodes has no such figure.
  EXPECT_FALSE(swap_free_size(compile_space("darts.cella")->program->cells[0]));
}

// A block that chooses its combiner: the count doubles per block, enumeration and sampling see
// both modes, and a concatenation's inputs trade places as a sum's do (its projection's weights
// permute with them), so the swap-free count doubles too; canonical forms tell sum from concat.
TEST(Count, CombineChoiceMultipliesAndEnumerates) {
  auto c = compile(R"(
import std.ops
cell c {
  inputs 2
  nodes 3
  edge [0, 1] -> [3, 4] : [skip_connect, nor_conv_3x3]
  node 3..4 select 1
  edge [3, 4] -> 2 : [skip_connect]
  node 2 combine [sum, concat]
  output unused
}
network n(C = 4) { stem conv(3, out = C); stage c * 2 width C; head global_avg_pool >> linear(2) }
)");
  ASSERT_TRUE(c->ok()) << messages(*c);
  const ir::Cell& cell = c->program->cells[0];
  std::set<std::vector<int>> seen;
  std::set<std::string> forms;
  int concat = 0;
  enumerate_cell(cell, [&](const ir::CellChoice& ch) {
    EXPECT_FALSE(ir::check_choice(cell, ch));
    seen.insert(ch.node_combine);
    concat += ir::combine_of(cell, ch, 2) == ir::Combine::Concat;
    forms.insert(canonical(cell, ch));
    return true;
  });
  EXPECT_EQ(cell_size(cell), 2 * 16);
  EXPECT_EQ(concat, 16);
  EXPECT_EQ(seen.size(), 2u);
  ASSERT_TRUE(swap_free_size(cell));
  EXPECT_EQ(*swap_free_size(cell), BigInt(2 * 10));
  EXPECT_EQ(forms.size(), 2u * 10u);  // skip_connect picks are the state itself: sum(a,b) = sum(b,a)
  std::mt19937_64 rng(3);
  int sampled_concat = 0;
  for (int i = 0; i < 400; ++i) {
    ir::Arch a = ir::sample(*c->program, rng);
    EXPECT_FALSE(ir::check_arch(*c->program, a));
    sampled_concat += ir::combine_of(cell, a.cells[0], 2) == ir::Combine::Concat;
  }
  EXPECT_GT(sampled_concat, 150);
  EXPECT_LT(sampled_concat, 250);
}

TEST(Count, PerCellChoicesMultiply) {
  auto c = compile(R"(
import std.ops
cell c { inputs 1; nodes 2; edges all : [none, skip_connect, nor_conv_3x3] }
network n(C = 4) { stem conv(3, out = C); stage c * 3 width C; head global_avg_pool >> linear(2); share none }
)");
  ASSERT_TRUE(c->ok()) << messages(*c);
  SpaceSize s = count(*c->program);
  EXPECT_EQ(s.raw, BigInt(27) * 27 * 27);
  EXPECT_EQ(c->program->network->cell_groups.size(), 3u);
}

TEST(Count, UniqueCountIsExactOnATinySpaceByBruteForce) {
  // Two intermediate nodes, 3 ops: count functionally distinct cells by hand-derived rules.
  auto c = compile(R"(
import std.ops
cell c { inputs 1; nodes 2; edges all : [none, skip_connect, nor_conv_3x3] }
network n(C = 4) { stem conv(3, out = C); stage c width C; head global_avg_pool >> linear(2) }
)");
  ASSERT_TRUE(c->ok()) << messages(*c);
  SpaceSize s = count(*c->program);
  EXPECT_EQ(s.raw, 27);
  std::set<std::string> forms;
  enumerate_cell(c->program->cells[0], [&](const ir::CellChoice& ch) {
    forms.insert(canonical(c->program->cells[0], ch));
    return true;
  });
  ASSERT_TRUE(s.unique);
  EXPECT_EQ(*s.unique, forms.size());
  EXPECT_LT(forms.size(), 27u);
  // x through skip on 2<-0 (node 1 zero) and x through two skips via node 1 are the same cell.
  const ir::Cell& cell = c->program->cells[0];
  EXPECT_EQ(canonical(cell, ir::CellChoice{{0, 1, 0}, {-1, -1, -1}, {}}),
            canonical(cell, ir::CellChoice{{1, 0, 1}, {-1, -1, -1}, {}}));
  EXPECT_NE(canonical(cell, ir::CellChoice{{0, 1, 0}, {-1, -1, -1}, {}}),
            canonical(cell, ir::CellChoice{{0, 2, 0}, {-1, -1, -1}, {}}));
}

// The unique count must come from a real canonicalisation: it has to split the 15,625 cells into
// the same classes as NAS-Bench-201's own UniqueString column.
TEST(Count, CanonicalFormsPartitionNb201LikeItsUniqueStrings) {
  std::filesystem::path csv = std::filesystem::path(CELLA_NB201_DIR) / "nats_bench.csv";
  if (!std::filesystem::exists(csv)) GTEST_SKIP() << csv << " not found";
  auto c = compile_space("nb201.cella");
  ASSERT_TRUE(c->ok());
  const ir::Program& p = *c->program;
  std::map<std::string, std::string> ours_to_theirs, theirs_to_ours;
  int rows = 0;
  for (const auto& f : testing_helpers::csv_rows(csv.string())) {
    ASSERT_EQ(f.size(), 5u);
    auto a = ir::parse_arch(p, f[3]);
    ASSERT_TRUE(std::holds_alternative<ir::Arch>(a)) << f[3];
    std::string ours = canonical(p.cells[0], std::get<ir::Arch>(a).cells[0]);
    auto [i1, new1] = ours_to_theirs.emplace(ours, f[4]);
    auto [i2, new2] = theirs_to_ours.emplace(f[4], ours);
    EXPECT_EQ(i1->second, f[4]) << f[3];
    EXPECT_EQ(i2->second, ours) << f[3];
    ++rows;
  }
  EXPECT_EQ(rows, 15625);
  EXPECT_EQ(ours_to_theirs.size(), 6466u);
}

TEST(EdgeOrder, Nb201OrderAndHierarchies) {
  auto c = compile_space("nb201.cella");
  const ir::Cell& cell = c->program->cells[0];
  std::vector<std::string> names;
  for (int e = 0; e < cell.num_edges(); ++e) names.push_back(cell.edge_name(e));
  EXPECT_EQ(names, (std::vector<std::string>{"1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2"}));
  EXPECT_EQ(cell.hierarchies, (std::vector<std::vector<int>>{{0}, {1, 2}, {3, 4, 5}}));
}

TEST(EdgeOrder, DartsHierarchies) {
  auto c = compile_space("darts.cella");
  const ir::Cell& cell = c->program->cells[0];
  EXPECT_EQ(cell.num_edges(), 14);
  EXPECT_EQ(cell.hierarchies, (std::vector<std::vector<int>>{{0, 1}, {2, 3, 4}, {5, 6, 7, 8}, {9, 10, 11, 12, 13}}));
}

TEST(Enumerate, VisitsEveryArchitectureOnce) {
  auto c = compile_space("nb201.cella");
  std::set<std::string> seen;
  ASSERT_TRUE(enumerate(*c->program, 100000, [&](const ir::Arch& a) {
    seen.insert(ir::to_nb201(*c->program, a));
    return true;
  }));
  EXPECT_EQ(seen.size(), 15625u);
  EXPECT_FALSE(enumerate(*c->program, 1000, [](const ir::Arch&) { return true; }));
}

TEST(Enumerate, DepthChoicesCountEachArchitectureOnce) {
  auto c = compile(R"(
import std.ops
opset l = [mb(3, 3) as a, mb(5, 3) as b]
network n { stem conv(3, out = 8); stage l * [1, 2] width 8; head global_avg_pool >> linear(2) }
)");
  ASSERT_TRUE(c->ok()) << messages(*c);
  int n = 0;
  enumerate(*c->program, 1000, [&](const ir::Arch&) { return ++n, true; });
  EXPECT_EQ(n, 2 + 4);
  EXPECT_EQ(count(*c->program).raw, 6);
}

}  // namespace
}  // namespace cella::passes
