// The specialisation library without LibTorch: fronts and hypervolumes of hand-made points,
// constraints, predictors, the tactics end to end on a synthetic objective (budget, determinism,
// resume), and the tabular benchmark's reader and its one-line errors.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "compiler/ir/genome.h"
#include "runtime/specialize/files.h"
#include "runtime/specialize/objectives.h"
#include "runtime/specialize/pareto.h"
#include "runtime/specialize/predictor.h"
#include "runtime/specialize/table.h"
#include "runtime/specialize/tactics.h"
#include "tests/unit/helpers.h"

namespace cella::specialize {
namespace {

using testing_helpers::compile_space;
namespace fs = std::filesystem;

TEST(Pareto, FrontOfHandMadePoints) {
  std::vector<Point> p = {{1, 5}, {2, 3}, {3, 4}, {4, 1}, {2, 3}, {5, 5}, {1, 6}};
  EXPECT_EQ(pareto_front(p), (std::vector<std::size_t>{0, 1, 3, 4}));
  std::vector<std::size_t> rank = pareto_ranks(p);
  EXPECT_EQ(rank[2], 1u);
  EXPECT_EQ(rank[6], 1u);
  EXPECT_EQ(rank[5], 2u);
}

TEST(Pareto, HypervolumeOfHandMadePoints) {
  EXPECT_DOUBLE_EQ(hypervolume({{1, 2}, {2, 1}}, {3, 3}), 3.0);
  // A dominated point adds nothing; one outside the box adds nothing.
  EXPECT_DOUBLE_EQ(hypervolume({{1, 2}, {2, 1}, {2, 2}, {4, 0}}, {3, 3}), 3.0);
  EXPECT_DOUBLE_EQ(hypervolume({{1, 1, 1}}, {2, 2, 2}), 1.0);
  // Two boxes of 2 overlapping in 1.
  EXPECT_DOUBLE_EQ(hypervolume({{0, 1, 1}, {1, 0, 1}}, {2, 2, 2}), 3.0);
  EXPECT_DOUBLE_EQ(hypervolume({{-90, 10}}, {0, 50}), 90.0 * 40.0);
  EXPECT_DOUBLE_EQ(hypervolume({{-90}, {-80}}, {0}), 90.0);
  EXPECT_EQ(hypervolume({}, {1, 1}), 0.0);
}

TEST(Pareto, HypervolumeCurveGrowsAndEndsAtTheWholeSet) {
  Goal goal{{Metric::Accuracy, Metric::Macs}, {}};
  std::vector<Evaluation> es;
  std::mt19937_64 rng(5);
  std::vector<Point> points;
  for (int i = 0; i < 60; ++i) {
    Evaluation e;
    e.index = i;
    e.measures[Metric::Accuracy] = std::uniform_real_distribution<double>(50, 95)(rng);
    e.measures[Metric::Macs] = std::uniform_real_distribution<double>(1e6, 1e8)(rng);
    points.push_back(goal.minimized(e.measures));
    es.push_back(e);
  }
  Point ref = {0, 2e8};
  std::vector<double> curve = hypervolume_curve(goal, es, ref);
  ASSERT_EQ(curve.size(), es.size());
  for (std::size_t i = 1; i < curve.size(); ++i) EXPECT_GE(curve[i], curve[i - 1]);
  // In the files' units: multiply-accumulates in millions.
  EXPECT_NEAR(curve.back(), hypervolume(points, ref) / 1e6, 1e-6 * curve.back());
}

TEST(Objectives, ParsesConstraintsWithUnits) {
  auto c = std::get<Constraint>(parse_constraint("latency <= 5ms"));
  EXPECT_EQ(c.metric, Metric::Latency);
  EXPECT_DOUBLE_EQ(c.bound, 5);
  EXPECT_DOUBLE_EQ(std::get<Constraint>(parse_constraint("params<=1.5M")).bound, 1.5e6);
  EXPECT_DOUBLE_EQ(std::get<Constraint>(parse_constraint("latency <= 300us")).bound, 0.3);
  EXPECT_DOUBLE_EQ(std::get<Constraint>(parse_constraint("accuracy >= 90")).bound, 90);
  EXPECT_DOUBLE_EQ(std::get<Constraint>(parse_constraint("flops <= 2G")).bound, 2e9);
  for (const char* bad :
       {"params >= 1M", "accuracy <= 90", "speed <= 3", "macs <= lots", "params 1M", "latency <= 5MB"})
    EXPECT_TRUE(std::holds_alternative<std::string>(parse_constraint(bad))) << bad;
  EXPECT_NE(std::get<std::string>(parse_constraint("params >= 1M")).find("upper bound"), std::string::npos);
  Constraint p = std::get<Constraint>(parse_constraint("params <= 1M"));
  EXPECT_DOUBLE_EQ(p.violation(0.5e6), 0);
  EXPECT_DOUBLE_EQ(p.violation(1.5e6), 0.5);
  Constraint a = std::get<Constraint>(parse_constraint("accuracy >= 80"));
  EXPECT_DOUBLE_EQ(a.violation(60), 0.25);
}

TEST(Predictor, RidgeRecoversAnAdditiveFunctionOfTheGenes) {
  std::vector<int> cards = {5, 5, 5, 5, 5, 5};
  std::mt19937_64 rng(1);
  std::vector<std::vector<double>> x;
  std::vector<double> y;
  auto truth = [](const std::vector<int>& g) {
    double v = 60;
    for (std::size_t i = 0; i < g.size(); ++i) v += (i + 1) * 0.7 * g[i];
    return v;
  };
  for (int n = 0; n < 80; ++n) {
    std::vector<int> g(6);
    for (int& v : g) v = std::uniform_int_distribution<int>(0, 4)(rng);
    x.push_back(one_hot(g, cards));
    y.push_back(truth(g));
  }
  Predictor p;
  p.fit(x, y);
  EXPECT_LT(p.cv_mape(), 1.0) << p.describe();
  std::vector<int> g = {4, 3, 2, 1, 0, 4};
  EXPECT_NEAR(p.predict(one_hot(g, cards)), truth(g), 0.5) << p.describe();
}

TEST(Predictor, SvrWinsOnANonAdditiveFunction) {
  std::vector<int> cards = {4, 4, 4};
  std::vector<std::vector<double>> x;
  std::vector<double> y;
  for (int a = 0; a < 4; ++a)
    for (int b = 0; b < 4; ++b)
      for (int c = 0; c < 4; ++c) {
        std::vector<int> g = {a, b, c};
        x.push_back(one_hot(g, cards));
        y.push_back(50 + (a == b ? 30 : 0) + c);  // an interaction no linear model has
      }
  Predictor p;
  p.fit(x, y);
  EXPECT_NE(p.describe().find("svr"), std::string::npos) << p.describe() << " MAPE " << p.cv_mape();
}

// A synthetic benchmark on NAS-Bench-201's genomes: accuracy rewards convolutions, costs grow
// with them, so the front is a real trade-off. Counts how often it measures.
class Synthetic : public Evaluator {
 public:
  explicit Synthetic(const ir::Program& p) : p_(p) {}
  Measures measure(const ir::Arch& a) override {
    ++measured;
    Measures m = exact(a);
    double acc = 40;
    for (int op : a.cells[0].edge_op) acc += op == 3 ? 9 : op == 2 ? 6 : op == 1 ? 3 : op == 4 ? 2 : 0;
    m[Metric::Accuracy] = acc;
    return m;
  }
  Measures exact(const ir::Arch& a) override {
    Measures m;
    double macs = 1e6, params = 1e4;
    for (int op : a.cells[0].edge_op) {
      macs += op == 3 ? 9e6 : op == 2 ? 1e6 : 0;
      params += op == 3 ? 9e3 : op == 2 ? 1e3 : 0;
    }
    m[Metric::Macs] = macs;
    m[Metric::Params] = params;
    return m;
  }
  std::optional<double> worst(Metric m) const override {
    return m == Metric::Accuracy ? std::optional<double>(0) : std::optional<double>(1e8);
  }
  int measured = 0;

 private:
  const ir::Program& p_;
};

// Small runs for tests: populations of 20, 400 predictor evaluations per LINAS batch.
TacticOptions small(Tactic t, int budget, std::uint64_t seed, int inner_evaluations = 400) {
  TacticOptions o;
  o.tactic = t;
  o.budget = budget;
  o.population = 20;
  o.inner_evaluations = inner_evaluations;
  o.seed = seed;
  return o;
}

std::vector<std::string> run(const ir::Program& p, Tactic t, int budget, std::uint64_t seed, Synthetic& ev,
                             const std::vector<Evaluation>& earlier = {}, Goal goal = {}) {
  if (goal.objectives.empty()) goal.objectives = {Metric::Accuracy, Metric::Macs};
  History h(p, ev, goal);
  h.seed_with(earlier);
  run_tactic(h, small(t, budget, seed));
  std::vector<std::string> archs;
  for (const Evaluation& e : h.evaluations()) archs.push_back(e.arch);
  return archs;
}

TEST(Tactics, EachValidatesItsBudgetOfDistinctArchitecturesDeterministically) {
  auto c = compile_space("nb201.cella");
  for (Tactic t : {Tactic::Random, Tactic::Evolution, Tactic::Nsga2, Tactic::Linas}) {
    SCOPED_TRACE(tactic_name(t));
    Synthetic a(*c->program), b(*c->program);
    std::vector<std::string> first = run(*c->program, t, 70, 3, a), second = run(*c->program, t, 70, 3, b);
    EXPECT_EQ(first.size(), 70u);
    EXPECT_EQ(std::set<std::string>(first.begin(), first.end()).size(), 70u);
    EXPECT_EQ(a.measured, 70);
    EXPECT_EQ(first, second);
  }
}

// A run killed after 33 evaluations and resumed ends as the uninterrupted one, and measures
// only what it had not measured.
TEST(Tactics, ResumedRunEndsLikeTheUninterruptedOne) {
  auto c = compile_space("nb201.cella");
  const ir::Program& p = *c->program;
  for (Tactic t : {Tactic::Evolution, Tactic::Nsga2, Tactic::Linas}) {
    SCOPED_TRACE(tactic_name(t));
    Synthetic whole_ev(p), rest_ev(p);
    Goal goal{{Metric::Accuracy, Metric::Macs}, {}};
    History whole(p, whole_ev, goal);
    run_tactic(whole, small(t, 80, 11));
    std::vector<Evaluation> killed(whole.evaluations().begin(), whole.evaluations().begin() + 33);
    std::vector<std::string> resumed = run(p, t, 80, 11, rest_ev, killed);
    std::vector<std::string> expected;
    for (const Evaluation& e : whole.evaluations()) expected.push_back(e.arch);
    EXPECT_EQ(resumed, expected);
    EXPECT_EQ(rest_ev.measured, 80 - 33);
  }
}

// On this objective the best accuracy per MAC is known: LINAS and NSGA-II find fronts that
// dominate more than random sampling with the same budget does, averaged over seeds.
TEST(Tactics, GuidedSearchBeatsRandomOnASyntheticFront) {
  auto c = compile_space("nb201.cella");
  const ir::Program& p = *c->program;
  Goal goal{{Metric::Accuracy, Metric::Macs}, {}};
  auto hv = [&](Tactic t) {
    double total = 0;
    for (std::uint64_t seed = 0; seed < 3; ++seed) {
      Synthetic ev(p);
      History h(p, ev, goal);
      run_tactic(h, small(t, 100, seed, 2000));
      total += hypervolume_curve(goal, h.evaluations(), {0, 1e8}).back();
    }
    return total / 3;
  };
  const double random = hv(Tactic::Random);
  EXPECT_GT(hv(Tactic::Linas), random);
  EXPECT_GT(hv(Tactic::Nsga2), random);
}

// Every architecture alike: for tests that look only at what a tactic proposes.
class Flat : public Evaluator {
 public:
  Measures measure(const ir::Arch& a) override {
    Measures m = exact(a);
    m[Metric::Accuracy] = 50;
    return m;
  }
  Measures exact(const ir::Arch&) override {
    Measures m;
    m[Metric::Macs] = 1e6;
    m[Metric::Params] = 1e4;
    return m;
  }
  std::optional<double> worst(Metric m) const override {
    return m == Metric::Accuracy ? std::optional<double>(0) : std::optional<double>(1e8);
  }
};

// Random architectures are drawn gene by gene, as DyNAS-T draws them: on OFA's space each stage
// depth a third of the time. Drawn uniformly over the space's architectures (`initial
// architectures`), 89 % of the stages are at depth 4: the first predictor would see almost no
// shallow network.
TEST(Tactics, RandomArchitecturesAreDrawnGeneByGene) {
  auto c = compile_space("ofa_mbv3.cella");
  const ir::Program& p = *c->program;
  Goal goal{{Metric::Accuracy, Metric::Macs}, {}};
  auto depths = [&](ir::SpecializeInitial initial) {
    Flat ev;
    History h(p, ev, goal, {static_cast<int>(p.network->resolutions.size()) - 1});
    TacticOptions o = small(Tactic::Random, 300, 2);
    o.initial = initial;
    run_tactic(h, o);
    std::vector<int> counts(3, 0);
    for (const Evaluation& e : h.evaluations()) {
      const ir::Arch a = h.decode(e.genome);
      EXPECT_EQ(a.resolution, 24);  // the largest, 224
      for (int d : a.depths) ++counts[static_cast<std::size_t>(d)];
    }
    return counts;  // of 1,500 stages
  };
  for (int n : depths(ir::SpecializeInitial::Genes)) EXPECT_NEAR(n, 500, 90);
  EXPECT_GT(depths(ir::SpecializeInitial::Architectures)[2], 1200);
}

TEST(Tactics, ConstraintsKeepInfeasibleArchitecturesOffTheFront) {
  auto c = compile_space("nb201.cella");
  const ir::Program& p = *c->program;
  Synthetic ev(p);
  Goal goal{{Metric::Accuracy, Metric::Macs}, {std::get<Constraint>(parse_constraint("params <= 30K"))}};
  History h(p, ev, goal);
  run_tactic(h, small(Tactic::Linas, 60, 0));
  int feasible = 0;
  for (const Evaluation& e : h.evaluations()) {
    EXPECT_EQ(e.feasible, e.measures[Metric::Params] <= 30e3);
    feasible += e.feasible;
  }
  EXPECT_GT(feasible, 0);
  for (const Evaluation& e : front_of(goal, h.evaluations())) EXPECT_LE(e.measures[Metric::Params], 30e3);
}

class TableFile : public ::testing::Test {
 protected:
  void SetUp() override {
    c_ = compile_space("nb201.cella");
    dir_ = fs::temp_directory_path() / fmt::format("cella_table_{}", ::getpid());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& text) {
    std::string path = (dir_ / "t.csv").string();
    std::ofstream(path) << text;
    return path;
  }
  std::string error(const std::string& text, const std::string& column = "") {
    std::string path = write(text);
    try {
      Table t(*c_->program, path, column);
    } catch (const TableError& e) {
      std::string m = e.what();
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
      EXPECT_EQ(m.rfind(path, 0), 0u) << m;
      return m.substr(path.size());
    }
    return "no error";
  }
  std::unique_ptr<driver::Compilation> c_;
  fs::path dir_;
};

const char* kArch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|";

TEST_F(TableFile, ErrorsNameTheFileAndRow) {
  EXPECT_EQ(error(fmt::format("acc,name\n93.5,{}\n", kArch)),
            ": no architecture column (ArchitectureString, arch_str, arch or architecture); it has: acc, name");
  EXPECT_EQ(error(fmt::format("arch,top1\n{},93.5\n", kArch)),
            ": no accuracy column (a name with 'accuracy'); it has: arch, top1; name one with --column");
  EXPECT_EQ(error(fmt::format("arch,accuracy\n{},93.5\n", kArch), "test_acc"),
            ": no column 'test_acc'; it has: arch, accuracy");
  EXPECT_EQ(
      error(fmt::format("arch,accuracy\n{},93.5\n{},abc\n", kArch, "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")),
      ":3: column 'accuracy' holds 'abc', not a number");
  std::string m = error("arch,accuracy\n|nor_conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|,90\n");
  EXPECT_EQ(m.rfind(":2: '|nor_conv_5x5~0|", 0), 0u) << m;
  EXPECT_NE(m.find("not an architecture of network nb201"), std::string::npos) << m;
  EXPECT_EQ(error(fmt::format("arch,accuracy\n{},93.5\n{},93.6\n", kArch, kArch)),
            fmt::format(":3: architecture {} is already on row 2", kArch));
  EXPECT_EQ(error(fmt::format("arch,accuracy\n{},93.5,7\n", kArch)), ":2: 3 fields, the header has 2");
  EXPECT_EQ(error("arch,accuracy\n"), ": the table has a header and no rows");
}

TEST_F(TableFile, LooksUpAccuracyAndComputesCosts) {
  std::string path = write(fmt::format("ArchitectureString,CIFAR10TestAccuracy200Epochs\n{},93.5\n", kArch));
  Table table(*c_->program, path, "");
  EXPECT_EQ(table.column(), "CIFAR10TestAccuracy200Epochs");
  Measurer t(*c_->program, 32, [&](const ir::Arch& a) { return table.accuracy(a); });
  ir::Arch a = std::get<ir::Arch>(ir::parse_arch(*c_->program, kArch));
  Measures m = t.measure(a);
  EXPECT_TRUE(std::isnan(m[Metric::Latency]));
  EXPECT_DOUBLE_EQ(m[Metric::Accuracy], 93.5);
  EXPECT_GT(m[Metric::Macs], 0);
  EXPECT_LT(m[Metric::Macs], *t.worst(Metric::Macs));
  ir::Arch other = a;
  other.cells[0].edge_op[0] = 0;
  try {
    t.measure(other);
    ADD_FAILURE() << "no error for an architecture the table lacks";
  } catch (const TableError& e) {
    EXPECT_NE(std::string(e.what()).find("no row for architecture"), std::string::npos) << e.what();
  }
}

// The real NAS-Bench-201 table: every row reads, and the architecture its README names as the
// best on CIFAR-10 has the table's largest value (another ties with it).
TEST_F(TableFile, ReadsTheNasBench201Table) {
  const std::string path = std::string(CELLA_NB201_DIR) + "/nats_bench.csv";
  if (!fs::exists(path)) GTEST_SKIP() << path << " is not here";
  Table t(*c_->program, path, "");
  EXPECT_EQ(t.rows(), 15625u);
  auto best = std::max_element(t.table().begin(), t.table().end(),
                               [](const auto& a, const auto& b) { return a.second < b.second; });
  const std::string named =
      "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|";
  EXPECT_EQ(t.table().at(named), best->second);
  EXPECT_NEAR(best->second, 94.3733, 1e-3);
}

TEST(Files, EvaluationsRoundTripAndACutLastLineIsDropped) {
  Evaluation e;
  e.index = 3;
  e.arch = kArch;
  e.genome = {3, 3, 4, 1, 3, 1};
  e.measures[Metric::Accuracy] = 93.5;
  e.measures[Metric::Macs] = 1.5e8;
  e.feasible = false;
  fs::path path = fs::temp_directory_path() / fmt::format("cella_evals_{}.jsonl", ::getpid());
  {
    std::ofstream f(path);
    f << evaluation_line(e) << "\n" << evaluation_line(e).substr(0, 20);
  }
  std::vector<Evaluation> back = read_evaluations(path.string());
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].arch, e.arch);
  EXPECT_EQ(back[0].genome, e.genome);
  EXPECT_EQ(back[0].feasible, false);
  EXPECT_DOUBLE_EQ(back[0].measures[Metric::Macs], 1.5e8);
  EXPECT_TRUE(std::isnan(back[0].measures[Metric::Latency]));
  {
    std::ofstream f(path);
    f << "garbage\n" << evaluation_line(e) << "\n";
  }
  EXPECT_THROW(read_evaluations(path.string()), std::runtime_error);
  fs::remove(path);
}

}  // namespace
}  // namespace cella::specialize
