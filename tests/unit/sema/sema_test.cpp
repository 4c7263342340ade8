// Semantic analysis: evaluation, operation expansion and bindings, overrides, cells, networks
// and search plans.
#include <gtest/gtest.h>

#include "compiler/ir/ir.h"
#include "tests/unit/helpers.h"

namespace cella::sema {
namespace {

using testing_helpers::compile;
using testing_helpers::messages;

const char* kSmall = R"(
import std.ops
opset ops = [none, skip_connect, nor_conv_3x3]
cell c { inputs 1; nodes 3; edges all : ops }
network net(C = 8, N = 2) {
  stem conv(3, out = C) >> bn
  stage c * N width C
  layer resblock(2 * C, stride = 2)
  stage c * N width 2 * C
  head global_avg_pool >> linear(10)
}
)";

TEST(Sema, CompositeOpsExpandToPrimitivesWithDefaults) {
  auto c = compile(kSmall);
  ASSERT_TRUE(c->ok()) << messages(*c);
  const ir::Cell& cell = c->program->cells[0];
  const ir::Op& conv = cell.edge(0).candidates[2];
  EXPECT_EQ(conv.name, "nor_conv_3x3");
  ASSERT_EQ(conv.seq.size(), 3u);
  EXPECT_EQ(conv.seq[0].prim, "relu");
  EXPECT_EQ(conv.seq[1].prim, "conv");
  EXPECT_EQ(conv.seq[1].int_arg("k", 0), 3);
  EXPECT_EQ(conv.seq[1].int_arg("pad", -1), 1);
  EXPECT_EQ(conv.seq[1].arg("out"), nullptr);  // inherits the input's channels
  EXPECT_TRUE(cell.edge(0).candidates[0].is_zero(8));
  EXPECT_TRUE(cell.edge(0).candidates[1].is_identity(8));
}

TEST(Sema, NetworkShapesFlowThroughEveryUnit) {
  auto c = compile(kSmall);
  ASSERT_TRUE(c->ok()) << messages(*c);
  const ir::Network& n = *c->program->network;
  ASSERT_EQ(n.units.size(), 7u);
  EXPECT_EQ(n.units[0].out.channels, 8);
  EXPECT_EQ(n.units[3].out.channels, 16);
  EXPECT_EQ(n.units[3].out.reduction, 2);
  EXPECT_EQ(n.units[5].width, 16);
  EXPECT_TRUE(n.units.back().out.flat);
  EXPECT_EQ(n.cell_groups.size(), 1u);  // `share all` by default
  EXPECT_EQ(n.cell_groups[0].units.size(), 4u);
}

TEST(Sema, SetOverridesNetworkParameters) {
  driver::CompileOptions o;
  o.sema.overrides = {{"C", "4"}, {"N", "1"}};
  auto c = compile(kSmall, o);
  ASSERT_TRUE(c->ok()) << messages(*c);
  EXPECT_EQ(c->program->network->units[0].out.channels, 4);
  EXPECT_EQ(c->program->network->units.size(), 5u);
}

TEST(Sema, SetRejectsUnknownParametersWithASuggestion) {
  driver::CompileOptions o;
  o.sema.overrides = {{"c", "4"}};
  auto c = compile(kSmall, o);
  ASSERT_FALSE(c->ok());
  EXPECT_TRUE(c->diags.has(diag::Kind::BadOverride));
  EXPECT_NE(messages(*c).find("did you mean 'C'?"), std::string::npos);
}

TEST(Sema, ReductionCellsBindStrideOnInputEdges) {
  auto c = testing_helpers::compile_space("darts.cella");
  ASSERT_TRUE(c->ok()) << messages(*c);
  const ir::Cell& reduce = c->program->cells[1];
  ASSERT_TRUE(reduce.props().reduction);
  for (int e = 0; e < reduce.num_edges(); ++e) {
    int want = reduce.source(e) < 2 ? 2 : 1;
    EXPECT_EQ(reduce.edge(e).stride, want) << reduce.edge_name(e);
    const ir::Op& sep = reduce.edge(e).candidates[4];
    EXPECT_EQ(sep.name, "sep_conv_3x3");
    EXPECT_EQ(sep.seq[1].int_arg("stride", 0), want);  // only the first depthwise conv strides
    EXPECT_EQ(sep.seq[5].int_arg("stride", 0), 1);
  }
}

TEST(Sema, DartsNetworkPlacesReductionsAtThirds) {
  for (int layers : {8, 20}) {
    driver::CompileOptions o;
    o.sema.overrides = {{"layers", std::to_string(layers)}};
    auto c = testing_helpers::compile_space("darts.cella", o);
    ASSERT_TRUE(c->ok()) << messages(*c);
    std::vector<int> reductions;
    int cell_index = 0;
    for (const ir::Unit& u : c->program->network->units) {
      if (u.kind != ir::UnitKind::Cell) continue;
      if (c->program->cells[u.cell].props().reduction) reductions.push_back(cell_index);
      ++cell_index;
    }
    EXPECT_EQ(cell_index, layers);
    EXPECT_EQ(reductions, (std::vector<int>{layers / 3, 2 * layers / 3}));
  }
}

TEST(Sema, ComprehensionsNameCandidatesFromTemplates) {
  auto c = testing_helpers::compile_space("mobilenet.cella");
  ASSERT_TRUE(c->ok()) << messages(*c);
  const ir::Network& n = *c->program->network;
  const ir::Unit& layer = n.units[n.layer_groups[0]];
  ASSERT_EQ(layer.choices.size(), 9u);
  EXPECT_EQ(layer.choices[0].name, "mb3_k3");
  EXPECT_EQ(layer.choices[8].name, "mb6_k7");
  // The stage binds `out` and `stride`: the first layer of the first stage strides to width 24.
  EXPECT_EQ(layer.choices[0].seq[0].int_arg("out", 0), 24);
  EXPECT_EQ(layer.choices[0].seq[0].int_arg("stride", 0), 2);
  EXPECT_EQ(n.units[n.layer_groups[1]].choices[0].seq[0].int_arg("stride", 0), 1);
}

TEST(Sema, SearchPlanIsReadWithDefaultsAndOverrides) {
  driver::CompileOptions o;
  o.sema.overrides = {{"supernet.epochs", "40"}, {"split.at", "[5, 15, 25]"}};
  auto c = testing_helpers::compile_space("nb201.cella", o);
  ASSERT_TRUE(c->ok()) << messages(*c);
  const ir::SearchPlan& s = *c->program->search;
  EXPECT_EQ(s.supernet.epochs, 40);
  EXPECT_EQ(s.supernet.method, "darts");
  EXPECT_EQ(s.split.strategy, ir::SplitStrategy::Hierarchical);
  EXPECT_EQ(s.split.at, (std::vector<std::int64_t>{5, 15, 25}));
  EXPECT_EQ(s.split.batches, 10);  // criterion gradient_match(batches = 10): call arguments are settings
  EXPECT_EQ(s.split.distill, ir::Distill::Smd);
  EXPECT_EQ(s.split.cell, "nb201_cell");
  EXPECT_DOUBLE_EQ(s.supernet.optimizer.weight_decay, 3e-4);
}

// Every row of plan.def has a reader that accepts the row's own default from the command line
// (with `--set split=` a strategy that reads it, where the file's hierarchical split does not).
TEST(Sema, EveryPlanSettingTakesItsDefaultFromSet) {
  int tried = 0;
  for (const ir::PlanSetting& row : ir::plan_settings()) {
    if (row.block || row.default_text.empty()) continue;
    // Metric names are not values: `cella specialize --objectives` sets them, and `--set` says so
    // (golden fail_specialize_set_objectives).
    if (row.key == "specialize.objectives") continue;
    driver::CompileOptions o;
    o.sema.overrides = {{std::string(row.key), row.default_text}};
    if (!ir::applies_to(row, ir::SplitStrategy::Hierarchical))
      for (auto strategy : {ir::SplitStrategy::Exhaustive, ir::SplitStrategy::GradientMatch})
        if (ir::applies_to(row, strategy)) {
          ir::SplitPlan split;
          split.strategy = strategy;
          o.sema.overrides.insert(o.sema.overrides.begin(), {"split", ir::strategy_word(split)});
          o.sema.overrides.push_back({"supernet.epochs", "10"});  // the leaves train after the last split
          break;
        }
    auto c = testing_helpers::compile_space("nb201.cella", o);
    EXPECT_TRUE(c->ok()) << row.key << "=" << row.default_text << ": " << messages(*c);
    ++tried;
  }
  EXPECT_GT(tried, 35);
  const ir::PlanSetting* edges = ir::find_plan_setting("split.edges");
  ASSERT_NE(edges, nullptr);
  EXPECT_TRUE(ir::applies_to(*edges, ir::SplitStrategy::Exhaustive));
  EXPECT_FALSE(ir::applies_to(*edges, ir::SplitStrategy::Hierarchical));
  EXPECT_TRUE(ir::applies_to(*ir::find_plan_setting("split.batches"), ir::SplitStrategy::Hierarchical));
  EXPECT_EQ(ir::find_plan_setting("no.such"), nullptr);
  // `plugin` is the enum's placeholder for a plugin's strategy, not a word a plan may write.
  driver::CompileOptions o;
  o.sema.overrides = {{"split", "plugin"}};
  EXPECT_FALSE(testing_helpers::compile_space("nb201.cella", o)->ok());
}

TEST(Sema, DataSetSetsTheInputChannels) {
  driver::CompileOptions o;
  o.sema.data = "cifar10";
  auto c = testing_helpers::compile_space("nb201.cella", o);
  ASSERT_TRUE(c->ok()) << messages(*c);
  EXPECT_EQ(c->program->network->input.channels, 3);
  EXPECT_EQ(c->program->search->data.name, "cifar10");
  auto f = testing_helpers::compile_space("nb201.cella");
  EXPECT_EQ(f->program->network->input.channels, 1);  // fashion_mnist is grey
}

TEST(Sema, AllErrorsOfAFileAreReportedInOneRun) {
  auto c = compile(R"(
import std.ops
opset a = [nor_conv_5x5]
opset b = [skip_conect]
op c = conv(0)
)");
  EXPECT_EQ(c->diags.error_count(), 3u) << messages(*c);
}

TEST(Sema, NodeOperationsAndConstraints) {
  auto c = testing_helpers::compile_space("nasbench101.cella");
  ASSERT_TRUE(c->ok()) << messages(*c);
  const ir::Cell& cell = c->program->cells[0];
  EXPECT_EQ(cell.num_edges(), 21);
  EXPECT_EQ(cell.node(1).ops.size(), 3u);
  EXPECT_TRUE(cell.node(6).ops.empty());
  EXPECT_EQ(cell.node(6).combines, std::vector<ir::Combine>{ir::Combine::Concat});
  EXPECT_TRUE(cell.props().allowed_edge_counts[9]);
  EXPECT_FALSE(cell.props().allowed_edge_counts[10]);
}

}  // namespace
}  // namespace cella::sema
