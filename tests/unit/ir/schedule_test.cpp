// The schedule a plan resolves to: phases along a lineage, the learning rate of each epoch,
// fresh starts, architecture warm-up, and the released schedules' quirks.
#include "compiler/ir/schedule.h"

#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

#include "tests/unit/helpers.h"

namespace cella::ir {
namespace {

SearchPlan plan_with(std::int64_t epochs, SplitStrategy strategy, std::vector<std::int64_t> at) {
  SearchPlan p;
  p.supernet.epochs = epochs;
  p.split.strategy = strategy;
  p.split.at = std::move(at);
  return p;
}

// A plan that does not split trains its epochs and no more, on one cosine that ends at min_lr
// (it used to add the default child_epochs to the cosine's length and end at 0.0067).
TEST(Schedule, AOneShotPlanAnnealsToMinLr) {
  SearchPlan p = plan_with(24, SplitStrategy::None, {});
  Schedule s(p);
  EXPECT_EQ(s.total(), 24);
  ASSERT_EQ(s.phases().size(), 1u);
  EXPECT_EQ(s.phases()[0].kind, PhaseKind::Supernet);
  EXPECT_DOUBLE_EQ(s.lr(0), 0.025);
  EXPECT_NEAR(s.lr(23), cosine_lr(0.025, 0.001, 23, 24), 1e-15);
  EXPECT_NEAR(cosine_lr(0.025, 0.001, 24, 24), 0.001, 1e-15);  // where the next epoch would start
  EXPECT_LT(s.lr(23), 0.0012);
}

// BigNAS's learning rate: exponential decay per epoch that stops at a floor and stays there; a
// fresh start (progressive shrinking's phases) starts the decay again.
TEST(Schedule, AnExponentialDecayStopsAtItsFloor) {
  SearchPlan p = plan_with(20, SplitStrategy::None, {});
  p.supernet.optimizer.lr = 0.05;
  p.supernet.schedule = {ScheduleKind::Exponential, 0.0025, 0.8};
  Schedule s(p);
  EXPECT_DOUBLE_EQ(s.lr(0), 0.05);
  EXPECT_DOUBLE_EQ(s.lr(1), 0.05 * 0.8);
  EXPECT_DOUBLE_EQ(s.lr(13), 0.05 * std::pow(0.8, 13));  // 0.00275, still above the floor
  EXPECT_DOUBLE_EQ(s.lr(14), 0.0025);                    // 0.8^14 would be 0.0022
  EXPECT_DOUBLE_EQ(s.lr(19), 0.0025);
  EXPECT_DOUBLE_EQ(scheduled_lr(p.supernet.schedule, 0.05, 3, 20), 0.05 * 0.8 * 0.8 * 0.8);
  // Constant and cosine through the same function.
  EXPECT_DOUBLE_EQ(scheduled_lr({ScheduleKind::Constant, 0.001, 0.8}, 0.05, 7, 20), 0.05);
  EXPECT_DOUBLE_EQ(scheduled_lr({ScheduleKind::Cosine, 0.001, 0.8}, 0.05, 7, 20), cosine_lr(0.05, 0.001, 7, 20));
  // The printed schedule names the decay and the floor.
  auto c = testing_helpers::compile(R"(
import std.ops
opset two = [conv(3), conv(5)]
network net(C = 4) {
  stem conv(1, out = C) >> bn
  stage two * 1 width C
  head global_avg_pool >> linear(10)
}
search s on net {
  supernet {
    epochs 4
    lr 0.05
    schedule exponential
    lr_decay 0.5
    min_lr 0.01
  }
}
)");
  ASSERT_TRUE(c->ok()) << testing_helpers::messages(*c);
  const std::string text = schedule_text(*c->program);
  EXPECT_NE(text.find("learning rate exponential from 0.05 times 0.5 per epoch, down to 0.01"), std::string::npos)
      << text;
}

// Progressive shrinking's phases start at fractions of the plan's rate (OFA's 1, 1/12, 1/4, ...)
// and end at the same fraction of the floor, so every phase's rate falls. With the floor
// absolute, depth 1 (from 0.01/12 = 0.00083, below the 0.001 floor) rose to 0.00098, and the
// exponential decay jumped to the floor at once.
TEST(Schedule, EveryProgressiveShrinkingPhaseFallsTowardItsOwnFloor) {
  for (ScheduleKind kind : {ScheduleKind::Cosine, ScheduleKind::Exponential}) {
    SCOPED_TRACE(kind == ScheduleKind::Cosine ? "cosine" : "exponential");
    SearchPlan p = plan_with(16, SplitStrategy::None, {});
    p.supernet.method = "progressive_shrinking";
    p.supernet.elastic.phases = {2, 2, 4, 2, 4, 2};
    p.supernet.optimizer.lr = 0.01;
    p.supernet.schedule = {kind, 0.001, 0.8};
    Schedule s(p);
    ASSERT_EQ(s.phases().size(), 6u);
    for (std::size_t k = 0; k < 6; ++k) {
      const Phase& ph = s.phases()[k];
      const double start = 0.01 * shrinking_lr_scale(k), floor = 0.001 * shrinking_lr_scale(k);
      EXPECT_NEAR(s.lr(ph.begin), start, 1e-15) << "phase " << k;
      for (std::int64_t e = ph.begin + 1; e < ph.end; ++e) {
        EXPECT_LT(s.lr(e), s.lr(e - 1)) << "phase " << k << ", epoch " << e;
        EXPECT_GE(s.lr(e), floor) << "phase " << k << ", epoch " << e;
      }
    }
    // Depth 1 (phase 2, epochs 4-7) by hand.
    if (kind == ScheduleKind::Cosine)
      EXPECT_NEAR(s.lr(5), cosine_lr(0.01 / 12, 0.001 / 12, 1, 4), 1e-15);
    else
      EXPECT_NEAR(s.lr(5), 0.01 / 12 * 0.8, 1e-15);
  }
}

// HEP-NAS: split points lie on the plain timeline; each split's children train `child_epochs` on
// top, and the kept child trains the plain epochs between split points.
TEST(Schedule, HierarchicalChildEpochsComeOnTopOfThePlainOnes) {
  SearchPlan p = plan_with(30, SplitStrategy::Hierarchical, {10, 20, 30});
  p.split.child_epochs = 10;
  p.split.distill = Distill::Smd;
  Schedule s(p);
  EXPECT_EQ(s.total(), 60);
  std::vector<std::tuple<PhaseKind, std::int64_t, std::int64_t, bool>> want = {
      {PhaseKind::Supernet, 0, 10, false}, {PhaseKind::Children, 10, 20, true}, {PhaseKind::Between, 20, 30, false},
      {PhaseKind::Children, 30, 40, true}, {PhaseKind::Between, 40, 50, false}, {PhaseKind::Children, 50, 60, true}};
  ASSERT_EQ(s.phases().size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    const Phase& ph = s.phases()[i];
    EXPECT_EQ(ph.kind, std::get<0>(want[i])) << i;
    EXPECT_EQ(ph.begin, std::get<1>(want[i])) << i;
    EXPECT_EQ(ph.end, std::get<2>(want[i])) << i;
    EXPECT_EQ(ph.distill, std::get<3>(want[i])) << i;
    EXPECT_FALSE(ph.fresh) << i;
  }
  EXPECT_EQ(s.split_epoch(0), 10);
  EXPECT_EQ(s.split_epoch(1), 30);
  EXPECT_EQ(s.split_epoch(2), 50);
  EXPECT_EQ(s.children_end(2), 60);
  // Without cosine_epochs the one cosine spans the whole lineage and ends at min_lr.
  EXPECT_EQ(s.segment_at(59).length, 60);
}

// The released HEP-NAS schedule: a 30-epoch cosine stepped 60 times climbs back to the initial
// rate, as PyTorch's CosineAnnealingLR does past its end.
TEST(Schedule, ACosineShorterThanTheLineageRisesAgain) {
  SearchPlan p = plan_with(30, SplitStrategy::Hierarchical, {10, 20, 30});
  p.split.child_epochs = 10;
  p.supernet.cosine_epochs = 30;
  Schedule s(p);
  EXPECT_NEAR(s.lr(30), 0.001, 1e-12);
  EXPECT_NEAR(s.lr(59), cosine_lr(0.025, 0.001, 59, 30), 1e-15);
  EXPECT_GT(s.lr(59), 0.024);
}

// GM-NAS's `restart final`: the leaves start from fresh weights at the last split, with a fresh
// cosine over their own epochs; epochs are still counted along the lineage, so an architecture
// warm-up of 6 lets the leaves' architecture weights learn from their first epoch.
TEST(Schedule, ARestartCountsFromThePhaseAndTheWarmUpAlongTheLineage) {
  SearchPlan p = plan_with(21, SplitStrategy::GradientMatch, {2, 4, 6});
  p.split.restart = Restart::Final;
  p.supernet.arch_warmup = 6;
  Schedule s(p);
  EXPECT_EQ(s.total(), 21);
  EXPECT_FALSE(s.reinit(0));
  EXPECT_FALSE(s.reinit(1));
  EXPECT_TRUE(s.reinit(2));
  EXPECT_TRUE(s.fresh_at(6));
  EXPECT_FALSE(s.fresh_at(2));
  const Phase& last = s.phase_at(6);
  EXPECT_EQ(last.kind, PhaseKind::Final);
  EXPECT_TRUE(last.reinit);
  EXPECT_EQ(last.begin, 6);
  EXPECT_EQ(last.end, 21);
  // Before the restart the cosine spans up to it; after it, a fresh one over the 15 leaf epochs.
  EXPECT_EQ(s.segment_at(5).length, 6);
  EXPECT_DOUBLE_EQ(s.lr(6), 0.025);
  EXPECT_NEAR(s.lr(20), cosine_lr(0.025, 0.001, 14, 15), 1e-15);
  EXPECT_FALSE(s.arch_steps(5));
  EXPECT_TRUE(s.arch_steps(6));
}

// Few-Shot NAS: the sub-supernets keep the supernet's weights but restart the schedule; `split
// none` with a point does the same to one supernet (the one-shot control of a restart).
TEST(Schedule, AFreshScheduleRestartsTheCosineAndKeepsTheWeights) {
  for (auto [epochs, strategy, point] :
       {std::tuple{900, SplitStrategy::Exhaustive, 600}, std::tuple{12, SplitStrategy::None, 8}}) {
    SearchPlan p = plan_with(epochs, strategy, {point});
    p.split.fresh_schedule = Restart::Final;
    Schedule s(p);
    EXPECT_EQ(s.total(), epochs);
    EXPECT_TRUE(s.fresh_at(point));
    EXPECT_FALSE(s.reinit(0));
    EXPECT_EQ(s.segment_at(0).length, point);
    EXPECT_NEAR(s.lr(point - 1), cosine_lr(0.025, 0.001, point - 1, point), 1e-15);
    EXPECT_DOUBLE_EQ(s.lr(point), 0.025);
    EXPECT_EQ(s.segment_at(epochs - 1).length, epochs - point);
  }
}

// `fresh_schedule first` restarts once, at the first split, and the rest of the lineage (the
// hierarchical children, the kept child's plain epochs and the later levels) continues that one
// cosine: the paper-shaped protocol of bench/README.md, where the root converges first.
TEST(Schedule, AFreshScheduleAtTheFirstSplitSpansTheRestOfTheLineage) {
  SearchPlan p = plan_with(21, SplitStrategy::Hierarchical, {16, 18, 20});
  p.split.child_epochs = 1;
  p.split.fresh_schedule = Restart::First;
  Schedule s(p);
  EXPECT_EQ(s.total(), 24);
  EXPECT_TRUE(s.fresh_at(16));
  EXPECT_EQ(s.first_fresh(), 16);
  EXPECT_EQ(s.segment_at(15).length, 16);
  EXPECT_NEAR(s.lr(15), cosine_lr(0.025, 0.001, 15, 16), 1e-15);
  EXPECT_DOUBLE_EQ(s.lr(16), 0.025);
  for (std::int64_t e = 17; e < 24; ++e) EXPECT_FALSE(s.fresh_at(e)) << e;
  EXPECT_EQ(s.segment_at(23).length, 8);
  EXPECT_NEAR(s.lr(23), cosine_lr(0.025, 0.001, 7, 8), 1e-15);
}

// HEP-NAS's DARTS code adds its confidence term to the architecture loss in the final epochs
// only: after the last split point, not in the children's or the kept child's earlier epochs.
TEST(Schedule, TheConfidenceTermAppliesAfterTheLastSplitOnly) {
  SearchPlan p = plan_with(60, SplitStrategy::Hierarchical, {15, 25, 35, 45});
  p.split.child_epochs = 5;
  p.split.final_confidence = 1;
  Schedule s(p);
  ASSERT_EQ(s.total(), 80);
  const std::int64_t last_children_end = s.children_end(3);
  EXPECT_EQ(last_children_end, 65);
  for (std::int64_t e = 0; e < s.total(); ++e) EXPECT_EQ(s.arch_confidence(e), e >= last_children_end ? 1.0 : 0.0) << e;
  p.split.final_confidence = 0;
  EXPECT_EQ(Schedule(p).arch_confidence(79), 0.0);
}

// Gumbel temperatures anneal over each cosine piece.
TEST(Schedule, TemperatureAnnealsOverEachPiece) {
  SearchPlan p = plan_with(10, SplitStrategy::GradientMatch, {5});
  p.split.restart = Restart::Final;
  p.supernet.tau_max = 1;
  p.supernet.tau_min = 0.1;
  Schedule s(p);
  EXPECT_DOUBLE_EQ(s.tau(0), 1.0);
  EXPECT_DOUBLE_EQ(s.tau(4), 0.1);
  EXPECT_DOUBLE_EQ(s.tau(5), 1.0);
  EXPECT_DOUBLE_EQ(s.tau(9), 0.1);
}

// The shipped plans compile and their schedules say what the reference codes do.
TEST(Schedule, ShippedPaperProfiles) {
  auto plan = [](const char* space, const char* search) {
    driver::CompileOptions o;
    o.sema.search = search;
    auto c = testing_helpers::compile_space(space, o);
    EXPECT_TRUE(c->ok()) << testing_helpers::messages(*c);
    return plan_of(*c->program);
  };
  auto schedule_of = [&](const char* space, const char* search) { return Schedule(plan(space, search)); };
  EXPECT_EQ(schedule_of("nb201.cella", "hep_paper").total(), 60);  // 30 + 3 x 10
  EXPECT_EQ(schedule_of("nb201.cella", "gm_paper").total(), 60);
  EXPECT_EQ(schedule_of("nb201.cella", "few_shot_paper").total(), 900);  // 600 + 300
  EXPECT_EQ(schedule_of("darts_s5.cella", "hep_paper").total(), 80);     // 45 + 4 x 5 + 15
  EXPECT_EQ(schedule_of("darts_s5.cella", "gm_paper").total(), 21);      // 6 + 15
  // HEP-NAS's DARTS code ends near 0.022 after 80 steps of a 45-epoch cosine.
  EXPECT_NEAR(schedule_of("darts_s5.cella", "hep_paper").lr(79), 0.0216, 1e-4);
  // The departures of review-methods-a4ff5ae.md, fixed (issue 31):
  // GM-NAS on the DARTS space: one 21-epoch cosine until the restart (0.0218 at epoch 6, not 0.0026).
  const Schedule gm_darts = schedule_of("darts_s5.cella", "gm_paper");
  EXPECT_NEAR(gm_darts.lr(5), 0.0218, 1e-4);
  EXPECT_DOUBLE_EQ(gm_darts.lr(6), 0.025);
  // GM-NAS on NB201: each restarted leaf a fresh 60-epoch cosine cut at 30 (0.0136, not 0.0011).
  const Schedule gm_nb201 = schedule_of("nb201.cella", "gm_paper");
  EXPECT_DOUBLE_EQ(gm_nb201.lr(30), 0.025);
  EXPECT_NEAR(gm_nb201.lr(59), cosine_lr(0.025, 0.001, 29, 60), 1e-15);
  EXPECT_NEAR(gm_nb201.lr(59), 0.0136, 1e-4);
  // HEP-NAS on the DARTS space: the confidence term in every architecture step while the code's
  // cur_model_id is -1.
  const Schedule hep = schedule_of("darts_s5.cella", "hep_paper");
  std::vector<std::int64_t> confident;
  for (std::int64_t e = 0; e < hep.total(); ++e)
    if (hep.arch_steps(e) && hep.arch_confidence(e) > 0) confident.push_back(e + 1);
  std::vector<std::int64_t> expected;
  for (auto [from, to] : {std::pair{11, 15}, {21, 30}, {36, 45}, {51, 60}, {66, 80}})
    for (std::int64_t e = from; e <= to; ++e) expected.push_back(e);
  EXPECT_EQ(confident, expected);
  // Few-Shot NAS: neither reference script clips gradients.
  EXPECT_EQ(plan("nb201.cella", "few_shot_paper").supernet.clip, 0);
}

}  // namespace
}  // namespace cella::ir
