// Split machinery on tiny networks: gradient-matching scores, partitions against brute force,
// children per strategy, the distillation loss against a hand computation, weight inheritance.
#include "runtime/split/split.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "runtime/search/context.h"
#include "runtime/search/search.h"
#include "runtime/train/method.h"
#include "tests/unit/helpers.h"

namespace cella::runtime {
namespace {

using testing_helpers::tiny_plan;

std::shared_ptr<const ir::Program> nb201_tiny() {
  driver::CompileOptions o;
  o.sema.overrides = {{"C", "4"}, {"N", "1"}};
  o.sema.data = "synthetic";
  auto c = testing_helpers::compile_space("nb201.cella", o);
  EXPECT_TRUE(c->ok()) << testing_helpers::messages(*c);
  return std::make_shared<const ir::Program>(*c->program);
}

// A supernet of `program` trained with `method` on synthetic data up to epoch `until` of a plan of
// `epochs` epochs, with the data and the plan it trained on.
struct Trained {
  DataSplits data;
  ir::SupernetPlan plan;
  SupernetState state;
};
Trained trained_supernet(const std::shared_ptr<const ir::Program>& program, const std::string& method,
                         std::int64_t epochs, std::int64_t until) {
  Trained t{load_data("synthetic", "", 256, 0.5, 4), tiny_plan(method, epochs), {}};
  t.state = make_supernet(program, Mask::full(*program), t.plan, 1);
  train_supernet(t.state, t.plan, testing_helpers::schedule_of(t.plan), t.data, 1, until, {}, {});
  return t;
}

// `mask` with the first edge of the first cell type keeping only the candidates `keep`.
Mask first_edge_keeping(const ir::Program& p, const Mask& mask, const std::vector<int>& keep) {
  return ir::SplitSites(p, p.cells[0].props().name).restrict(mask, 0, keep);
}

TEST(Split, CosineSimilarityOfConstructedGradients) {
  torch::Tensor s = cosine_similarity_matrix(
      {torch::tensor({1.0, 0.0}), torch::tensor({2.0, 0.0}), torch::tensor({0.0, 3.0}), torch::tensor({-1.0, 0.0})});
  EXPECT_NEAR(s[0][1].item<double>(), 1.0, 1e-6);
  EXPECT_NEAR(s[0][2].item<double>(), 0.0, 1e-9);
  EXPECT_NEAR(s[0][3].item<double>(), -1.0, 1e-6);
  EXPECT_NEAR(s[2][2].item<double>(), 1.0, 1e-6);
}

// Every way to cut 5 candidates into groups of 2 and 3, scored by hand.
TEST(Split, PartitionMatchesBruteForce) {
  torch::Generator gen = at::detail::createCPUGenerator(11);
  for (int trial = 0; trial < 20; ++trial) {
    torch::Tensor a = torch::rand({5, 5}, gen, torch::kFloat64) * 2 - 1;
    torch::Tensor sim = (a + a.t()) / 2;
    Partition p = best_partition(sim, {0, 1, 2, 3, 4}, 2, {}, ir::GmVariant::Nb201);
    double best = INFINITY;
    for (int i = 0; i < 5; ++i)
      for (int j = i + 1; j < 5; ++j) {
        double cut = 0;
        for (int x : {i, j})
          for (int y = 0; y < 5; ++y)
            if (y != i && y != j) cut += sim[x][y].item<double>();
        best = std::min(best, cut);
      }
    EXPECT_NEAR(p.cost, best, 1e-9);
    ASSERT_EQ(p.groups.size(), 2u);
    EXPECT_EQ(p.groups[0].size() + p.groups[1].size(), 5u);
  }
}

TEST(Split, PartitionKeepsAgreeingCandidatesTogether) {
  // 0,1 agree; 2,3,4 agree; the two blocks disagree.
  torch::Tensor sim = torch::full({5, 5}, -0.5, torch::kFloat64);
  for (auto [i, j] : std::vector<std::pair<int, int>>{{0, 1}, {2, 3}, {2, 4}, {3, 4}}) sim[i][j] = sim[j][i] = 0.9;
  for (int i = 0; i < 5; ++i) sim[i][i] = 1.0;
  for (ir::GmVariant variant : {ir::GmVariant::Nb201, ir::GmVariant::Darts}) {
    Partition p = best_partition(sim, {0, 1, 2, 3, 4}, 2, {}, variant);
    EXPECT_EQ(p.groups, (std::vector<std::vector<int>>{{0, 1}, {2, 3, 4}})) << ir::name_of(variant);
  }
  Partition sized = best_partition(sim, {0, 1, 2, 3, 4}, 2, {1, 4}, ir::GmVariant::Nb201);
  EXPECT_TRUE(sized.groups[0].size() == 1 || sized.groups[1].size() == 1);
}

TEST(Split, ChildrenPerStrategyOnNb201) {
  auto p = nb201_tiny();
  Mask full = Mask::full(*p);
  const ir::SplitSites sites(*p, p->cells[0].props().name);
  EXPECT_EQ(exhaustive_children(sites, full, 0).size(), 5u);
  torch::Tensor sim = torch::eye(5, torch::kFloat64);
  Partition two = best_partition(sim, {0, 1, 2, 3, 4}, 2, {}, ir::GmVariant::Nb201);
  const auto& h = p->cells[0].hierarchies;
  std::vector<std::size_t> counts;
  for (const auto& edges : h)
    counts.push_back(hierarchy_children(sites, full, edges, std::vector<Partition>(edges.size(), two)).size());
  EXPECT_EQ(counts, (std::vector<std::size_t>{2, 4, 8}));
  // Each child enables a different combination; together they cover the parent's space.
  auto children = hierarchy_children(sites, full, h[2], std::vector<Partition>(3, two));
  for (std::size_t i = 0; i < children.size(); ++i)
    for (std::size_t j = i + 1; j < children.size(); ++j) EXPECT_FALSE(children[i] == children[j]);
}

TEST(Split, DistillationLossMatchesAHandComputation) {
  torch::Tensor z = torch::tensor({{1.0, 2.0, 0.5}, {0.0, -1.0, 1.0}}), y = torch::tensor({1, 2}, torch::kInt64);
  torch::Tensor t = torch::tensor({{2.0, 1.0, 0.0}, {0.5, 0.5, 0.5}});
  torch::Tensor s1 = torch::tensor({{0.0, 3.0, 0.0}, {1.0, 0.0, 2.0}}),
                s2 = torch::tensor({{1.0, 1.0, 1.0}, {0.0, 0.0, 3.0}});
  auto softmax = [](const torch::Tensor& a, int b, int c) {
    double den = 0;
    for (int k = 0; k < 3; ++k) den += std::exp(a[b][k].item<double>());
    return std::exp(a[b][c].item<double>()) / den;
  };
  auto kl = [&](const torch::Tensor& target) {  // (1/B) sum_b sum_c P log(P/Q)
    double sum = 0;
    for (int b = 0; b < 2; ++b)
      for (int c = 0; c < 3; ++c) sum += softmax(target, b, c) * std::log(softmax(target, b, c) / softmax(z, b, c));
    return sum / 2;
  };
  double ce = (-std::log(softmax(z, 0, 1)) - std::log(softmax(z, 1, 2))) / 2;
  double want = ce + kl(t) + (kl(s1) + kl(s2)) / 2;
  EXPECT_NEAR(distillation_loss(z, y, t, {s1, s2}, ir::Distill::Smd).item<double>(), want, 1e-5);
  EXPECT_NEAR(distillation_loss(z, y, t, {s1, s2}, ir::Distill::Parent).item<double>(), ce + kl(t), 1e-5);
  EXPECT_NEAR(distillation_loss(z, y, t, {s1, s2}, ir::Distill::None).item<double>(), ce, 1e-5);
}

TEST(Split, ChildrenInheritWeightsStatisticsAndOptimizerState) {
  auto p = nb201_tiny();
  auto [data, plan, parent] = trained_supernet(p, "darts", 4, 2);
  Mask narrow = first_edge_keeping(*p, Mask::full(*p), {1, 3});  // drops nor_conv_1x1 and its weights
  SupernetState child = make_child(parent, narrow, plan, /*restart=*/false, 9);
  EXPECT_EQ(child.epoch, 2);
  auto pp = parent.net->named_parameters(), cp = child.net->named_parameters();
  EXPECT_LT(cp.size(), pp.size());
  for (const auto& kv : cp) EXPECT_TRUE(torch::equal(kv.value(), pp[kv.key()])) << kv.key();
  auto pb = parent.net->named_buffers();
  for (const auto& kv : child.net->named_buffers()) EXPECT_TRUE(torch::equal(kv.value(), pb[kv.key()])) << kv.key();
  EXPECT_TRUE(torch::equal(child.alphas[0], parent.alphas[0]));
  EXPECT_GT(child.optimizer->state().size(), 0u);
  EXPECT_LE(child.optimizer->state().size(), parent.optimizer->state().size());
  SupernetState fresh = make_child(parent, narrow, plan, /*restart=*/true, 9);
  EXPECT_EQ(fresh.epoch, 2);  // epochs count along the lineage, also from fresh weights
  EXPECT_EQ(fresh.optimizer->state().size(), 0u);
  EXPECT_FALSE(torch::equal(fresh.net->named_parameters()["stem.0.weight"], pp["stem.0.weight"]));
  // The child trains on from where the parent stopped.
  train_supernet(child, plan, testing_helpers::schedule_of(plan), data, 1, 3, {}, {});
  EXPECT_EQ(child.epoch, 3);
}

// GM-NAS's `restart final` with the architecture frozen until the last split: the re-initialised
// leaves learn architecture weights from their first epoch (the warm-up counts lineage epochs;
// it used to count from the restart, and kept the leaves frozen for as many epochs again).
TEST(Split, RestartedLeavesLearnArchitectureWeightsAfterTheWarmUp) {
  auto p = nb201_tiny();
  ir::SearchPlan plan;
  plan.supernet = tiny_plan("darts", 3);
  plan.supernet.arch_warmup = 2;
  plan.split.strategy = ir::SplitStrategy::GradientMatch;
  plan.split.at = {2};
  plan.split.restart = ir::Restart::Final;
  const ir::Schedule schedule(plan);
  DataSplits data = load_data("synthetic", "", 256, 0.5, 4);
  SupernetState parent = make_supernet(p, Mask::full(*p), plan.supernet, 1);
  const torch::Tensor initial = parent.alphas[0].clone();
  train_supernet(parent, plan.supernet, schedule, data, 1, 2, {}, {});
  EXPECT_TRUE(torch::equal(parent.alphas[0], initial)) << "architecture weights learned during the warm-up";
  SupernetState leaf =
      make_child(parent, first_edge_keeping(*p, Mask::full(*p), {1, 3}), plan.supernet, schedule.reinit(0), 9);
  const torch::Tensor fresh = leaf.alphas[0].clone();
  double first_lr = 0;
  train_supernet(leaf, plan.supernet, schedule, data, 1, 3,
                 [&](const Progress& pr) {
                   if (first_lr == 0) first_lr = pr.lr;
                 },
                 {});
  EXPECT_FALSE(torch::equal(leaf.alphas[0], fresh)) << "the leaf's architecture weights did not learn";
  EXPECT_DOUBLE_EQ(first_lr, plan.supernet.optimizer.lr);  // a fresh cosine starts at the initial rate
}

// A phase that starts fresh (Few-Shot NAS's sub-supernets) keeps the weights but clears the
// optimizer state where it starts: with a constant learning rate (so that only the momentum can
// differ), training through the fresh point equals clearing by hand there, and differs from
// training on with the momentum.
TEST(Split, AFreshPhaseKeepsTheWeightsAndClearsTheMomentum) {
  auto p = nb201_tiny();
  ir::SearchPlan plan;
  plan.supernet = tiny_plan("uniform", 2);
  plan.supernet.schedule.kind = ir::ScheduleKind::Constant;
  plan.split.at = {1};
  const ir::Schedule continuing(plan);
  plan.split.fresh_schedule = ir::Restart::Final;
  const ir::Schedule fresh(plan);
  DataSplits data = load_data("synthetic", "", 256, 0.5, 4);
  auto trained = [&](const ir::Schedule& schedule, bool clear_by_hand) {
    SupernetState s = make_supernet(p, Mask::full(*p), plan.supernet, 1);
    train_supernet(s, plan.supernet, schedule, data, 1, 1, {}, {});
    EXPECT_GT(s.optimizer->state().size(), 0u);
    if (clear_by_hand) fresh_optimizer_state(s);
    train_supernet(s, plan.supernet, schedule, data, 1, 2, {}, {});
    return s.net->named_parameters()["stem.0.weight"].clone();
  };
  const torch::Tensor through_fresh = trained(fresh, false), by_hand = trained(continuing, true),
                      with_momentum = trained(continuing, false);
  EXPECT_TRUE(torch::equal(through_fresh, by_hand));
  EXPECT_FALSE(torch::equal(through_fresh, with_momentum));
}

// HEP-NAS's sibling teachers under path sampling (cella's extension): the parent runs the
// student's path; a sibling runs a path of its own, inside its own mask on every edge of every
// cell, the same for the same batch.
TEST(Split, SiblingTeachersRunPathsOfTheirOwnInsideTheirMasks) {
  auto p = nb201_tiny();
  ir::SearchPlan plan;
  plan.supernet = tiny_plan("uniform", 2);
  plan.supernet.path = ir::PathMode::Cell;
  plan.split.strategy = ir::SplitStrategy::Hierarchical;
  plan.split.at = {1};
  plan.split.child_epochs = 1;
  plan.split.cell = "nb201_cell";
  DataSplits data = load_data("synthetic", "", 64, 0.5, 4);
  SearchContext ctx(p, plan, data, SearchOptions{});
  ctx.start();
  const Mask full = Mask::full(*p);
  const int a = ctx.add_child(0, first_edge_keeping(*p, full, {0, 1}), false, "test", {});
  const int b = ctx.add_child(0, first_edge_keeping(*p, full, {2, 3, 4}), false, "test", {});
  const TrainingMethod& method = method_of(plan.supernet);
  const Mixing student = method.step_mixing(ctx.node(a).state, plan.supernet, Step::Weights, 11, 1.0);
  const Mixing from_parent = ctx.teacher_path(0, a, student, 5);
  EXPECT_EQ(from_parent.cells[0].edges[0].ops, student.cells[0].edges[0].ops);
  const Mask& theirs = ctx.node(b).state.net->mask();
  for (std::int64_t first_image : {5, 6, 7, 8}) {
    const Mixing from_sibling = ctx.teacher_path(b, a, student, first_image);
    std::vector<const CellMix*> cells{&from_sibling.cells[0]};
    for (const auto& [unit, cm] : from_sibling.per_unit) cells.push_back(&cm);
    EXPECT_EQ(cells.size(), 1 + student.per_unit.size());  // one path per cell, as the plan says
    for (const CellMix* cm : cells)
      for (std::size_t e = 0; e < cm->edges.size(); ++e)
        for (int k : cm->edges[e].ops) EXPECT_TRUE(theirs.cells[0][e][k]) << "edge " << e << " candidate " << k;
    const Mixing again = ctx.teacher_path(b, a, student, first_image);
    EXPECT_EQ(again.cells[0].edges[0].ops, from_sibling.cells[0].edges[0].ops);
  }
}

// GM-NAS's DARTS-space code compares gradients on the mixed operations of the split cell type's
// other edges and on every mixed operation of the other cell type; never on the split edge, the
// cells' preprocessing, the stem or the head.
TEST(Split, GradientMatchWeightsSpanTheOtherCellTypeAndLeaveOutTheSplitEdge) {
  driver::CompileOptions o;
  o.sema.overrides = {{"C", "2"}, {"layers", "5"}};
  o.sema.data = "synthetic";
  auto c = testing_helpers::compile_space("darts.cella", o);
  ASSERT_TRUE(c->ok()) << testing_helpers::messages(*c);
  auto p = std::make_shared<const ir::Program>(*c->program);
  SupernetState s = make_supernet(p, Mask::full(*p), tiny_plan("darts", 1), 1);
  const int group = 0, edge = 3;
  std::set<std::string> taken;
  for (const auto& [name, tensor] : gradient_match_weights(s, group, edge)) taken.insert(name);
  std::map<std::string, bool> expected;  // parameter name -> whether it must be taken
  for (const lower::Module* m : s.net->description().modules()) {
    bool want = m->role == lower::Role::EdgeCandidate && (m->group != group || m->slot != edge);
    for (const auto& kv : s.net->named_parameters())
      if (kv.key().rfind(m->path + ".", 0) == 0) expected[kv.key()] = want;
  }
  int other_group = 0, split_edge = 0, preprocess = 0;
  for (const lower::Module* m : s.net->description().modules()) {
    other_group += m->role == lower::Role::EdgeCandidate && m->group != group;
    split_edge += m->role == lower::Role::EdgeCandidate && m->group == group && m->slot == edge;
    preprocess += m->role == lower::Role::Preprocess;
  }
  ASSERT_GT(other_group, 0);
  ASSERT_GT(split_edge, 0);
  ASSERT_GT(preprocess, 0);
  for (const auto& [name, want] : expected) EXPECT_EQ(taken.count(name) == 1, want) << name;
  for (const std::string& name : taken) EXPECT_TRUE(expected.count(name)) << name << " is not a module's parameter";
}

TEST(Split, GradientMatchScoresAreCosinesAndLeaveTheParentUnchanged) {
  auto p = nb201_tiny();
  auto [data, plan, parent] = trained_supernet(p, "uniform", 2, 1);
  std::vector<torch::Tensor> before;
  for (const auto& b : parent.net->buffers()) before.push_back(b.clone());
  GradientMatchOptions o;
  o.batches = 3;
  o.batch = 32;
  torch::Tensor s = gradient_match_scores(parent, plan, data.train, 0, 2, o);
  ASSERT_EQ(s.sizes(), (std::vector<std::int64_t>{5, 5}));
  EXPECT_TRUE(torch::allclose(s, s.t(), 1e-9, 1e-9));
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(s[i][i].item<double>(), 1.0, 1e-3);
  EXPECT_LE(s.max().item<double>(), 1.0 + 1e-6);
  EXPECT_GE(s.min().item<double>(), -1.0 - 1e-6);
  auto after = parent.net->buffers();
  for (std::size_t i = 0; i < after.size(); ++i) EXPECT_TRUE(torch::equal(after[i], before[i]));
  Partition part = best_partition(s, {0, 1, 2, 3, 4}, 2, {}, ir::GmVariant::Nb201);
  EXPECT_EQ(part.groups.size(), 2u);
}

}  // namespace
}  // namespace cella::runtime

namespace cella::runtime {
namespace {

// tree.json is written and read in one place: a tree survives the round trip, and a damaged
// one is a one-line error that names the file and what is wrong.
TEST(Search, SplitTreeRoundTripsAndRejectsDamage) {
  SplitTree t;
  t.strategy = "exhaustive";
  t.cell = "nb201_cell";
  TreeNode root;
  root.made_by = "root";
  root.mask = {{"1<-0", {"none", "skip_connect"}}};
  root.mask_index = {{0, 1}};
  root.curve = {{1, 2.25, 31.5}};
  root.valid_acc = 40.5;
  root.valid_loss = 1.75;
  TreeNode child = root;
  child.id = 1;
  child.parent = 0;
  child.level = 1;
  child.made_by = "edge 1<-0: {skip_connect}";
  child.split = {{"edge", "1<-0"}};
  child.mask = {{"1<-0", {"skip_connect"}}};
  child.mask_index = {{1}};
  child.kept = child.leaf = true;
  child.valid_loss.reset();
  t.nodes = {root, child};
  t.selected = 1;
  t.arch = "|skip_connect~0|";
  t.phases = {{"supernet", 1.5}};
  const nlohmann::json j = t.to_json();
  EXPECT_EQ(SplitTree::from_json(j, "tree.json").to_json(), j);
  EXPECT_TRUE(j["nodes"][1]["valid_loss"].is_null());
  EXPECT_TRUE(j["nodes"][0]["split"].is_null());

  auto error_of = [](const nlohmann::json& damaged) {
    try {
      SplitTree::from_json(damaged, "run/tree.json");
    } catch (const TreeError& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  nlohmann::json bad = j;
  bad["selected"] = 7;
  EXPECT_EQ(error_of(bad), "run/tree.json: not a cella split tree: the selected node 7 is not one of its 2 nodes");
  bad = j;
  bad["nodes"][1]["parent"] = 3;
  EXPECT_NE(error_of(bad).find("node 1: parent 3 is not an earlier node"), std::string::npos) << error_of(bad);
  bad = j;
  bad["nodes"][0].erase("mask_index");
  EXPECT_NE(error_of(bad).find("node 0: 'mask_index' is missing or not a list"), std::string::npos) << error_of(bad);
  bad = j;
  bad["nodes"][1]["curve"][0]["train_loss"] = "x";
  EXPECT_NE(error_of(bad).find("run/tree.json: not a cella split tree"), std::string::npos) << error_of(bad);
  EXPECT_EQ(error_of(nlohmann::json::array()),
            "run/tree.json: not a cella split tree: not a JSON object (damaged or truncated?)");
}

// The ranking of a Few-Shot split of DARTS' edge 3<-0 (node 3 keeps two of three inputs): an
// architecture that keeps the edge is judged by the child of its operation; one that leaves it
// out is held by every child and judged by the one that keeps `none` there.
TEST(Search, OwningNodeUnderstandsEdgesAnArchitectureLeavesOut) {
  driver::CompileOptions o;
  o.sema.overrides = {{"C", "2"}, {"layers", "5"}};
  auto c = testing_helpers::compile_space("darts.cella", o);
  ASSERT_TRUE(c->ok());
  const ir::Program& p = *c->program;
  const ir::Cell& cell = p.cells[p.network->cell_groups[0].cell];
  const int e = cell.find_edge(0, 3);
  SplitTree tree;
  tree.cell = "darts_normal";
  auto add = [&](int parent, std::vector<int> on_edge) {
    TreeNode n;
    n.id = static_cast<int>(tree.nodes.size());
    n.parent = parent;
    n.level = parent < 0 ? 0 : 1;
    for (int k = 0; k < cell.num_edges(); ++k)
      n.mask_index.push_back(k == e ? on_edge : std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7});
    tree.nodes.push_back(n);
  };
  add(-1, {0, 1, 2, 3, 4, 5, 6, 7});
  for (int k = 0; k < 8; ++k) add(0, {k});  // node 1 + k keeps candidate k
  auto arch = [&](const std::string& normal) {
    auto a = ir::parse_arch(
        p,
        "Genotype(normal=[" + normal +
            "], normal_concat=[2, 3, 4, 5], reduce=[('skip_connect', 0), "
            "('skip_connect', 1), ('skip_connect', 0), ('skip_connect', 1), ('skip_connect', 0), ('skip_connect', 1), "
            "('skip_connect', 0), ('skip_connect', 1)], reduce_concat=[2, 3, 4, 5])");
    EXPECT_TRUE(std::holds_alternative<ir::Arch>(a)) << std::get<std::string>(a);
    return std::get<ir::Arch>(a);
  };
  // Keeps 3<-0 with sep_conv_3x3 (candidate 4).
  ir::Arch keeps = arch(
      "('skip_connect', 0), ('skip_connect', 1), ('sep_conv_3x3', 0), ('skip_connect', 1), ('skip_connect', 0), "
      "('skip_connect', 1), ('skip_connect', 0), ('skip_connect', 1)");
  EXPECT_EQ(owning_node(p, tree, keeps), 1 + 4);
  EXPECT_FALSE(node_holds(p, tree, 1 + 3, keeps));
  // Leaves 3<-0 out (node 3 keeps 3<-1 and 3<-2).
  ir::Arch leaves = arch(
      "('skip_connect', 0), ('skip_connect', 1), ('skip_connect', 1), ('skip_connect', 2), ('skip_connect', 0), "
      "('skip_connect', 1), ('skip_connect', 0), ('skip_connect', 1)");
  for (int k = 0; k < 8; ++k) EXPECT_TRUE(node_holds(p, tree, 1 + k, leaves)) << k;
  EXPECT_EQ(owning_node(p, tree, leaves), 1 + 0);  // the child that keeps `none`
}

}  // namespace
}  // namespace cella::runtime
