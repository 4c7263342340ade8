// `cella specialize` from the command line, on the NAS-Bench-201 table: the run directory's
// files, a killed run resumed to the same front, a raised budget, and one-line errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/unit/process.h"

namespace cella {
namespace {

namespace fs = std::filesystem;
using testing_helpers::fresh_dir;
using testing_helpers::run_cella;
using testing_helpers::slurp;

const std::string kTable = std::string(CELLA_NB201_DIR) + "/nats_bench.csv";

std::string specialize(const std::string& args) {
  return "specialize spaces/nb201.cella --data cifar10 --table '" + kTable + "' " + args;
}

class SpecializeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kTable)) GTEST_SKIP() << kTable << " is not here";
    dir_ = fresh_dir("cella_specialize_");
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string run_dir(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST_F(SpecializeCli, WritesTheFrontTheCurveAndThePlot) {
  auto r = run_cella(
      specialize("--objectives accuracy,macs --tactic nsga2 --population 16 --budget 64 --out " + run_dir("a")));
  ASSERT_EQ(r.code, 0) << r.text;
  EXPECT_NE(r.text.find("64 evaluations"), std::string::npos) << r.text;
  for (const char* f : {"evaluations.jsonl", "evaluations.csv", "front.csv", "hypervolume.csv", "result.json",
                        "config.json", "space.cella"})
    EXPECT_TRUE(fs::exists(dir_ / "a" / f)) << f;
  auto result = nlohmann::json::parse(slurp(run_dir("a") + "/result.json"));
  EXPECT_EQ(result["evaluations"], 64);
  EXPECT_GT(result["hypervolume"].get<double>(), 0);
  EXPECT_DOUBLE_EQ(result["reference"]["accuracy"].get<double>(), 0);
  auto rows = testing_helpers::csv_rows(run_dir("a") + "/hypervolume.csv");
  EXPECT_EQ(rows.size(), 65u);  // the column names, then one row per evaluation
  if (std::system("command -v gnuplot > /dev/null") == 0) {
    std::string svg = slurp(run_dir("a") + "/plot.svg");
    EXPECT_NE(svg.find("multiply-accumulates (M)"), std::string::npos);
    EXPECT_NE(svg.find("accuracy (%)"), std::string::npos);
    // The accuracy axis starts just below the front, and says how many it leaves out: one of
    // NB201's 10 % architectures squeezed the front into the plot's top tenth.
    double lowest = 100;
    for (const auto& row : testing_helpers::csv_rows(run_dir("a") + "/evaluations.csv"))
      if (row.size() > 3 && row[3] != "accuracy") lowest = std::min(lowest, std::stod(row[3]));
    // This run evaluates some far below the front, whose cheapest member has 86.6 % (so the axis
    // starts at 85.6 % at most).
    ASSERT_LT(lowest, 80);
    EXPECT_NE(svg.find("evaluated below"), std::string::npos) << svg.substr(0, 2000);
  }
}

// A run killed after 30 evaluations (its log cut there, a last line half written) and resumed
// ends with the same evaluations as the uninterrupted run; so does one whose budget is raised.
TEST_F(SpecializeCli, ResumeEndsLikeTheUninterruptedRun) {
  for (const char* tactic : {"linas", "evolution"}) {
    SCOPED_TRACE(tactic);
    const std::string opts = std::string("--objectives accuracy,macs --tactic ") + tactic +
                             " --population 12 --inner-evaluations 600 --seed 4";
    fs::remove_all(dir_);
    ASSERT_EQ(run_cella(specialize(opts + " --budget 70 --out " + run_dir("whole"))).code, 0);
    ASSERT_EQ(run_cella(specialize(opts + " --budget 70 --out " + run_dir("killed"))).code, 0);
    std::ifstream in(run_dir("killed") + "/evaluations.jsonl");
    std::string kept, line;
    for (int i = 0; i < 30 && std::getline(in, line); ++i) kept += line + "\n";
    std::getline(in, line);
    in.close();
    std::ofstream(run_dir("killed") + "/evaluations.jsonl") << kept << line.substr(0, line.size() / 2);
    fs::remove(run_dir("killed") + "/result.json");
    auto r = run_cella("specialize --resume " + run_dir("killed"));
    ASSERT_EQ(r.code, 0) << r.text;
    EXPECT_EQ(slurp(run_dir("killed") + "/evaluations.csv"), slurp(run_dir("whole") + "/evaluations.csv"));
    EXPECT_EQ(slurp(run_dir("killed") + "/front.csv"), slurp(run_dir("whole") + "/front.csv"));
    auto result = nlohmann::json::parse(slurp(run_dir("killed") + "/result.json"));
    EXPECT_EQ(result["replayed"], 30);

    ASSERT_EQ(run_cella(specialize(opts + " --budget 40 --out " + run_dir("short"))).code, 0);
    ASSERT_EQ(run_cella("specialize --resume " + run_dir("short") + " --budget 70").code, 0);
    EXPECT_EQ(slurp(run_dir("short") + "/evaluations.csv"), slurp(run_dir("whole") + "/evaluations.csv"));
  }
}

// On a trained supernet (a smoke run of the main space): inherited accuracies, latency timed
// here, and a killed run resumed to the same evaluations (accuracies and parameters are exact;
// latency is re-timed by nobody: the resumed run reads it from the log).
TEST_F(SpecializeCli, SearchesATrainedSupernetsArchitectures) {
  ASSERT_EQ(
      run_cella("train spaces/nb201.cella --smoke --set supernet.sampler=uniform --threads 1 --out " + run_dir("train"))
          .code,
      0);
  auto r = run_cella("specialize --weights " + run_dir("train") +
                     " --objectives accuracy,latency --budget 16 --population 8 --inner-evaluations 200 --threads 1 "
                     "--out " +
                     run_dir("lat"));
  ASSERT_EQ(r.code, 0) << r.text;
  EXPECT_NE(r.text.find("latency at batch 1 on 1 thread"), std::string::npos) << r.text;
  // Without --reference the latency reference is the run's own: said, with how to fix one.
  EXPECT_NE(r.text.find("the hypervolume's latency reference is this run's own"), std::string::npos) << r.text;
  for (const auto& row : testing_helpers::csv_rows(run_dir("lat") + "/front.csv")) {
    ASSERT_GE(row.size(), 5u);
    EXPECT_GT(std::stod(row[4]), 0) << "latency of " << row[1];
  }
  auto result = nlohmann::json::parse(slurp(run_dir("lat") + "/result.json"));
  EXPECT_EQ(result["latency"]["batch"], 1);
  EXPECT_EQ(result["latency"]["threads"], 1);
  EXPECT_TRUE(result["latency"]["highest_load_average"].is_number()) << result.dump();

  const std::string opts =
      " --objectives accuracy,params --budget 24 --population 8 --inner-evaluations 200 --threads 1";
  ASSERT_EQ(run_cella("specialize --weights " + run_dir("train") + opts + " --out " + run_dir("whole")).code, 0);
  ASSERT_EQ(run_cella("specialize --weights " + run_dir("train") + opts + " --out " + run_dir("killed")).code, 0);
  std::ifstream in(run_dir("killed") + "/evaluations.jsonl");
  std::string kept, line;
  for (int i = 0; i < 10 && std::getline(in, line); ++i) kept += line + "\n";
  in.close();
  std::ofstream(run_dir("killed") + "/evaluations.jsonl") << kept;
  fs::remove(run_dir("killed") + "/result.json");
  r = run_cella("specialize --resume " + run_dir("killed"));
  ASSERT_EQ(r.code, 0) << r.text;
  EXPECT_EQ(slurp(run_dir("killed") + "/evaluations.csv"), slurp(run_dir("whole") + "/evaluations.csv"));
}

// A plan's `specialize` block sets what the options do not; an option replaces its setting.
TEST_F(SpecializeCli, ThePlansBlockGivesTheDefaults) {
  fs::create_directories(dir_);
  const std::string space = run_dir("space.cella");
  std::ofstream(space) << "import std.ops\n"
                          "opset ops = [none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3]\n"
                          "cell c { inputs 1; nodes 3; edges all : ops; output last }\n"
                          "network net(C = 16, N = 5) { stem conv(3, out = C) >> bn; stage c * N width C;\n"
                          "  layer resblock(2 * C, stride = 2); stage c * N width 2 * C;\n"
                          "  layer resblock(4 * C, stride = 2); stage c * N width 4 * C;\n"
                          "  head bn >> relu >> global_avg_pool >> linear(10) }\n"
                          "search s on net { specialize { objectives [accuracy, params]; constraints [params <= 5e5];\n"
                          "  tactic random; budget 12 } }\n";
  auto r = run_cella("specialize " + space + " --data cifar10 --table '" + kTable + "' --out " + run_dir("plan"));
  ASSERT_EQ(r.code, 0) << r.text;
  auto config = nlohmann::json::parse(slurp(run_dir("plan") + "/config.json"));
  EXPECT_EQ(config["tactic"], "random");
  EXPECT_EQ(config["budget"], 12);
  EXPECT_EQ(config["objectives"], nlohmann::json::array({"accuracy", "params"}));
  EXPECT_EQ(config["constraints"], nlohmann::json::array({"params <= 500000"}));
  EXPECT_NE(r.text.find("12 evaluations"), std::string::npos) << r.text;
  r = run_cella("specialize " + space + " --data cifar10 --table '" + kTable +
                "' --budget 20 --tactic evolution --out " + run_dir("override"));
  ASSERT_EQ(r.code, 0) << r.text;
  config = nlohmann::json::parse(slurp(run_dir("override") + "/config.json"));
  EXPECT_EQ(config["tactic"], "evolution");
  EXPECT_EQ(config["budget"], 20);
}

TEST_F(SpecializeCli, BadValuesAreOneLineErrors) {
  struct Case {
    std::string args, message;
    int code;
  };
  const std::vector<Case> cases = {
      {"--objectives accuracy,speed", "--objectives: unknown metric 'speed'", 2},
      {"--constraint 'params >= 1M'", "params takes an upper bound", 2},
      {"--tactic annealing", "--tactic annealing: random, evolution, nsga2 or linas", 2},
      {"--weights runs/none",
       "specialize needs accuracies from one place: --weights RUN (a trained supernet) or "
       "--table CSV",
       2},
      {"--reference macs", "--reference 'macs': expected METRIC=VALUE", 2},
      {"--column nope", "no column 'nope'", 1},
  };
  for (const Case& c : cases) {
    auto r = run_cella(specialize(c.args + " --out " + run_dir("bad")));
    EXPECT_EQ(r.code, c.code) << c.args << ": " << r.text;
    EXPECT_NE(r.text.find(c.message), std::string::npos) << c.args << ": " << r.text;
    EXPECT_EQ(r.text.find("internal"), std::string::npos) << r.text;
  }
  auto r = run_cella("specialize spaces/nb201.cella --table /nonexistent.csv --out " + run_dir("bad"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.text.find("cella: error: /nonexistent.csv: cannot open the table"), std::string::npos) << r.text;
  r = run_cella("specialize --resume " + run_dir("nothing"));
  EXPECT_EQ(r.code, 1) << r.text;
}

}  // namespace
}  // namespace cella
