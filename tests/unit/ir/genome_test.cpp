// Genomes: every architecture of a space encodes to a genome that decodes back to it, the
// layout has the genes the space declares, and out-of-range genomes are refused.
#include "compiler/ir/genome.h"

#include <gtest/gtest.h>

#include <random>

#include "compiler/ir/subspace.h"
#include "tests/unit/helpers.h"

namespace cella::ir {
namespace {

using testing_helpers::compile_space;

TEST(Genome, Nb201HasOneGenePerEdgeWithFiveValues) {
  auto c = compile_space("nb201.cella");
  std::vector<Gene> g = genes(*c->program);
  ASSERT_EQ(g.size(), 6u);
  for (const Gene& gene : g) EXPECT_EQ(gene.cardinality, 5);
  EXPECT_EQ(g[0].name, "edge 1<-0");
  Arch a = std::get<Arch>(parse_arch(*c->program,
                                     "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
                                     "skip_connect~2|"));
  EXPECT_EQ(encode(*c->program, a), (std::vector<int>{3, 3, 4, 1, 3, 1}));
}

// Round trip over every space shipped: sampled architectures survive encode/decode exactly,
// and random genomes decode to architectures of the space (or break only a constraint).
TEST(Genome, RoundTripsOnEveryShippedSpace) {
  for (const char* space :
       {"nb201.cella", "darts.cella", "mobilenet.cella", "nasnet.cella", "nasbench101.cella", "proxyless.cella"}) {
    SCOPED_TRACE(space);
    auto c = compile_space(space);
    const Program& p = *c->program;
    std::vector<Gene> g = genes(p);
    std::mt19937_64 rng(3);
    for (int i = 0; i < 300; ++i) {
      Arch a = sample(p, rng);
      std::vector<int> genome = encode(p, a);
      ASSERT_EQ(genome.size(), g.size());
      EXPECT_EQ(decode(p, genome), a) << to_text(p, a);
      std::vector<int> random(g.size());
      for (std::size_t k = 0; k < g.size(); ++k)
        random[k] = std::uniform_int_distribution<int>(0, g[k].cardinality - 1)(rng);
      Arch b = decode(p, random);
      if (auto why = check_arch(p, b)) EXPECT_NE(why->find("edge"), std::string::npos) << *why;
      if (!check_arch(p, b)) EXPECT_EQ(decode(p, encode(p, b)), b);
    }
  }
}

TEST(Genome, DartsSelectGenesPickInputPairs) {
  auto c = compile_space("darts.cella");
  std::vector<Gene> g = genes(*c->program);
  // Node 2 has 2 inputs (one pair, no gene); nodes 3, 4, 5 choose among 3, 6 and 10 pairs.
  int select_genes = 0;
  for (const Gene& gene : g)
    if (gene.name.find(".inputs") != std::string::npos) ++select_genes;
  EXPECT_EQ(select_genes, 6);  // three nodes in each of the two cell types
  // Selected edges never run `none`: 7 real candidates of 8.
  for (const Gene& gene : g)
    if (gene.name.find("edge") != std::string::npos) EXPECT_EQ(gene.cardinality, 7) << gene.name;
}

TEST(Genome, RefusesWrongLengthsAndValues) {
  auto c = compile_space("nb201.cella");
  EXPECT_THROW(decode(*c->program, {0, 0, 0}), std::invalid_argument);
  EXPECT_THROW(decode(*c->program, {0, 0, 0, 0, 0, 5}), std::invalid_argument);
  EXPECT_THROW(decode(*c->program, {0, 0, 0, 0, 0, 0, 0}), std::invalid_argument);
}

}  // namespace
}  // namespace cella::ir
