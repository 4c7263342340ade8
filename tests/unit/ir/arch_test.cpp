// Architecture encodings: NB201 strings, DARTS genotypes and JSON, parsed and printed.
#include "compiler/ir/arch.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "compiler/ir/subspace.h"
#include "compiler/ir/verify.h"
#include "compiler/passes/space.h"
#include "tests/unit/helpers.h"

namespace cella::ir {
namespace {

using testing_helpers::compile_space;

TEST(Arch, Nb201StringsRoundTrip) {
  auto c = compile_space("nb201.cella");
  ASSERT_TRUE(c->ok());
  const std::string s =
      "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|";
  auto a = parse_arch(*c->program, s);
  ASSERT_TRUE(std::holds_alternative<Arch>(a)) << std::get<std::string>(a);
  EXPECT_EQ(to_nb201(*c->program, std::get<Arch>(a)), s);
  EXPECT_EQ(to_text(*c->program, std::get<Arch>(a)), s);
  // Edge k of the string is edge index k: 3<-1 is index 4.
  EXPECT_EQ(std::get<Arch>(a).cells[0].edge_op[4], 3);
}

TEST(Arch, Nb201ErrorsSayWhatIsWrong) {
  auto c = compile_space("nb201.cella");
  auto bad_op = parse_arch(*c->program, "|nor_conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|");
  ASSERT_TRUE(std::holds_alternative<std::string>(bad_op));
  EXPECT_NE(std::get<std::string>(bad_op).find("nor_conv_5x5"), std::string::npos);
  auto missing = parse_arch(*c->program, "|none~0|+|none~0|none~1|");
  ASSERT_TRUE(std::holds_alternative<std::string>(missing));
  auto bad_edge = parse_arch(*c->program, "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|");
  EXPECT_TRUE(std::holds_alternative<std::string>(bad_edge));
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_arch(*c->program, "hello")));
}

TEST(Arch, DartsGenotypesRoundTrip) {
  auto c = compile_space("darts.cella");
  ASSERT_TRUE(c->ok());
  // DARTS_V2 from quark0/darts cnn/genotypes.py, pairs listed per node in input order.
  const std::string g =
      "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
      "('skip_connect', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, "
      "5], "
      "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', "
      "0), "
      "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";
  auto a = parse_arch(*c->program, g);
  ASSERT_TRUE(std::holds_alternative<Arch>(a)) << std::get<std::string>(a);
  std::string printed = to_genotype(*c->program, std::get<Arch>(a));
  auto again = parse_arch(*c->program, printed);
  ASSERT_TRUE(std::holds_alternative<Arch>(again));
  EXPECT_EQ(std::get<Arch>(again), std::get<Arch>(a));
  EXPECT_NE(printed.find("normal_concat=[2, 3, 4, 5]"), std::string::npos);
}

// The concat lists belong to the space: DARTS' train_search.py prints `range(2, 6)`, which
// reads as [2, 3, 4, 5]; a list the cells do not compute names another network and is refused.
TEST(Arch, GenotypeConcatListsMustBeWhatTheSpaceComputes) {
  auto c = compile_space("darts.cella");
  ASSERT_TRUE(c->ok());
  const std::string normal =
      "normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
      "('skip_connect', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('dil_conv_3x3', 2)]";
  const std::string reduce =
      "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
      "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)]";
  auto ranged = parse_arch(
      *c->program, "Genotype(" + normal + ", normal_concat=range(2, 6), " + reduce + ", reduce_concat=range(2, 6))");
  EXPECT_TRUE(std::holds_alternative<Arch>(ranged)) << std::get<std::string>(ranged);
  auto wrong = parse_arch(
      *c->program, "Genotype(" + normal + ", normal_concat=[2, 3, 4], " + reduce + ", reduce_concat=[2, 3, 4, 5])");
  ASSERT_TRUE(std::holds_alternative<std::string>(wrong));
  EXPECT_NE(std::get<std::string>(wrong).find("normal_concat=[2, 3, 4] differs"), std::string::npos)
      << std::get<std::string>(wrong);
}

// NASNet's blocks: a genotype lists each pick (a `select 1` node); the blocks' fixed sums take
// no pair. The cells' `output unused` follows the picks.
TEST(Arch, NasnetGenotypesListOnePairPerPick) {
  auto c = compile_space("nasnet.cella");
  ASSERT_TRUE(c->ok());
  const std::string g =
      "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('conv_1x1', 0), ('max_pool_5x5', 2), "
      "('skip_connect', 3), ('skip_connect', 3), ('conv_7x1_1x7', 4), ('dil_conv_3x3', 1), ('avg_pool_3x3', 5), "
      "('conv_3x3', 5)], normal_concat=[6], reduce=[('sep_conv_7x7', 0), ('max_pool_7x7', 1), ('conv_3x1_1x3', 1), "
      "('sep_conv_5x5', 0), ('skip_connect', 2), ('avg_pool_3x3', 3), ('max_pool_3x3', 2), ('max_pool_3x3', 2), "
      "('sep_conv_3x3', 4), ('skip_connect', 2)], reduce_concat=[5, 6])";
  auto a = parse_arch(*c->program, g);
  ASSERT_TRUE(std::holds_alternative<Arch>(a)) << std::get<std::string>(a);
  // Without cella's combine lists every block adds, as DARTS' genotypes do; printed, the lists say so.
  const std::string adds = "['sum', 'sum', 'sum', 'sum', 'sum']";
  std::string printed = g;
  printed.insert(printed.find(", reduce="), ", normal_combine=" + adds);
  printed.insert(printed.size() - 1, ", reduce_combine=" + adds);
  EXPECT_EQ(to_genotype(*c->program, std::get<Arch>(a)), printed);
  const ir::Cell& normal = c->program->cells[0];
  EXPECT_EQ(output_nodes(normal, std::get<Arch>(a).cells[0]), std::vector<int>{6});
  EXPECT_TRUE(connects_input(normal, std::get<Arch>(a).cells[0]));
  // One pair too few: the last pick has no input.
  std::string short_g = g;
  short_g.erase(short_g.find(", ('conv_3x3', 5)"), std::string(", ('conv_3x3', 5)").size());
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_arch(*c->program, short_g)));
}

// A block's combiner: the genotype's `normal_combine` list, one word per choosing node.
TEST(Arch, NasnetCombinersReadAndPrint) {
  auto c = compile_space("nasnet.cella");
  ASSERT_TRUE(c->ok());
  const std::string pairs =
      "normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('conv_1x1', 0), ('max_pool_5x5', 2), "
      "('skip_connect', 3), ('skip_connect', 3), ('conv_7x1_1x7', 4), ('dil_conv_3x3', 1), ('avg_pool_3x3', 5), "
      "('conv_3x3', 5)], normal_concat=[6], normal_combine=['concat', 'sum', 'sum', 'concat', 'sum'], "
      "reduce=[('sep_conv_7x7', 0), ('max_pool_7x7', 1), ('conv_3x1_1x3', 1), "
      "('sep_conv_5x5', 0), ('skip_connect', 2), ('avg_pool_3x3', 3), ('max_pool_3x3', 2), ('max_pool_3x3', 2), "
      "('sep_conv_3x3', 4), ('skip_connect', 2)], reduce_concat=[5, 6]";
  const std::string g = "Genotype(" + pairs + ", reduce_combine=['sum', 'sum', 'sum', 'sum', 'concat'])";
  auto a = parse_arch(*c->program, g);
  ASSERT_TRUE(std::holds_alternative<Arch>(a)) << std::get<std::string>(a);
  EXPECT_EQ(to_genotype(*c->program, std::get<Arch>(a)), g);
  const Arch& arch = std::get<Arch>(a);
  EXPECT_EQ(combine_of(c->program->cells[0], arch.cells[0], 2), Combine::Concat);
  EXPECT_EQ(combine_of(c->program->cells[0], arch.cells[0], 3), Combine::Sum);
  EXPECT_EQ(combine_of(c->program->cells[1], arch.cells[1], 6), Combine::Concat);
  nlohmann::json j = to_json(*c->program, arch);
  EXPECT_EQ(j["cells"]["nasnet_normal"]["combine"]["5"], "concat");
  auto back = parse_arch(*c->program, j.dump());
  ASSERT_TRUE(std::holds_alternative<Arch>(back)) << std::get<std::string>(back);
  EXPECT_EQ(std::get<Arch>(back), arch);
  // A word that is no mode, or too few words, is refused with what the node allows.
  std::string bad = g;
  bad.replace(bad.find("'concat', 'sum', 'sum'"), 8, "'mean'");
  auto refused = parse_arch(*c->program, bad);
  ASSERT_TRUE(std::holds_alternative<std::string>(refused));
  EXPECT_NE(std::get<std::string>(refused).find("combines with sum, concat, not 'mean'"), std::string::npos)
      << std::get<std::string>(refused);
  std::string few = g;
  few.replace(few.find("['sum', 'sum', 'sum', 'sum', 'concat']"), 38, "['sum']");
  EXPECT_TRUE(std::holds_alternative<std::string>(parse_arch(*c->program, few)));
  // JSON without a mode for a choosing node names the node.
  j["cells"]["nasnet_reduce"].erase("combine");
  auto missing = parse_arch(*c->program, j.dump());
  ASSERT_TRUE(std::holds_alternative<std::string>(missing));
  EXPECT_NE(std::get<std::string>(missing).find("needs a combine mode (sum, concat)"), std::string::npos)
      << std::get<std::string>(missing);
}

TEST(Arch, DartsGenotypesMustKeepTwoInputsPerNode) {
  auto c = compile_space("darts.cella");
  auto a = parse_arch(
      *c->program,
      "Genotype(normal=[('sep_conv_3x3', 0)], normal_concat=[2, 3, 4, 5], reduce=[], reduce_concat=[2, 3, 4, 5])");
  ASSERT_TRUE(std::holds_alternative<std::string>(a));
  auto none = parse_arch(
      *c->program,
      "Genotype(normal=[('none', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', "
      "0), "
      "('sep_conv_3x3', 1), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
      "reduce=[('max_pool_3x3', 0), "
      "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), "
      "('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])");
  ASSERT_TRUE(std::holds_alternative<std::string>(none));
  EXPECT_NE(std::get<std::string>(none).find("real operation"), std::string::npos);
}

TEST(Arch, JsonRoundTripsForEverySpace) {
  for (const char* space : {"nb201.cella", "darts.cella", "mobilenet.cella", "nasbench101.cella", "nasnet.cella"}) {
    auto c = compile_space(space);
    ASSERT_TRUE(c->ok()) << space;
    std::mt19937_64 rng(3);
    for (int i = 0; i < 20; ++i) {
      Arch a = cella::ir::sample(*c->program, rng);
      ASSERT_FALSE(check_arch(*c->program, a)) << space << ": " << *check_arch(*c->program, a);
      std::string j = to_json(*c->program, a).dump();
      auto back = parse_arch(*c->program, j);
      ASSERT_TRUE(std::holds_alternative<Arch>(back)) << space << ": " << std::get<std::string>(back);
      EXPECT_EQ(std::get<Arch>(back), a) << space;
    }
  }
}

TEST(Arch, VerifierAcceptsEveryShippedSpace) {
  for (const char* space : {"nb201.cella", "darts.cella", "mobilenet.cella", "nasbench101.cella", "nasnet.cella"}) {
    auto c = compile_space(space);
    ASSERT_TRUE(c->ok()) << space;
    EXPECT_TRUE(verify(*c->program).empty()) << space;
  }
}

TEST(Arch, CellCopiesKeepTheirEdges) {
  auto c = compile_space("nb201.cella");
  Cell copy = c->program->cells[0];
  Cell moved = std::move(copy);
  ASSERT_EQ(moved.num_edges(), 6);
  for (int e = 0; e < 6; ++e) EXPECT_EQ(moved.edge(e).index, e);
  EXPECT_EQ(moved.edge_name(2), "2<-1");
}

}  // namespace
}  // namespace cella::ir

namespace cella::ir {
namespace {

TEST(Arch, DisconnectedCellsAreRecognised) {
  auto c = testing_helpers::compile_space("nb201.cella");
  auto arch = [&](const char* s) { return std::get<Arch>(parse_arch(*c->program, s)).cells[0]; };
  const Cell& cell = c->program->cells[0];
  EXPECT_FALSE(connects_input(cell, arch("|none~0|+|none~0|nor_conv_3x3~1|+|none~0|nor_conv_3x3~1|avg_pool_3x3~2|")));
  EXPECT_TRUE(
      connects_input(cell, arch("|none~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|")));
  EXPECT_TRUE(connects_input(cell, arch("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|skip_connect~1|none~2|")));
}

}  // namespace
}  // namespace cella::ir
