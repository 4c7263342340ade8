// The `cella` command line as a user runs it: exit codes, JSON output, file errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/unit/process.h"

namespace {

using Result = cella::testing_helpers::Output;
using cella::testing_helpers::run_cella;

TEST(Cli, CheckAcceptsEveryShippedSpace) {
  Result r = run_cella(
      "check spaces/nb201.cella spaces/darts.cella spaces/mobilenet.cella spaces/nasbench101.cella "
      "spaces/std/ops.cella");
  EXPECT_EQ(r.code, 0) << r.text;
}

TEST(Cli, ExitCodesSeparateBadInputFromBadUsage) {
  EXPECT_EQ(run_cella("check tests/golden/fail_cycle.cella").code, 1);
  EXPECT_EQ(run_cella("check no/such/file.cella").code, 1);
  EXPECT_EQ(run_cella("check --no-such-flag spaces/nb201.cella").code, 2);
  EXPECT_EQ(run_cella("count spaces/nb201.cella --set C").code, 2);
  EXPECT_EQ(run_cella("count spaces/nb201.cella --set Q=3").code, 2);
  EXPECT_EQ(run_cella("frobnicate").code, 2);
  EXPECT_EQ(run_cella("--help").code, 0);
  EXPECT_EQ(run_cella("count --help").code, 0);
}

TEST(Cli, CountPrintsTheRequiredFigures) {
  Result nb = run_cella("count spaces/nb201.cella --json");
  ASSERT_EQ(nb.code, 0) << nb.text;
  auto j = nlohmann::json::parse(nb.text);
  EXPECT_EQ(j["architectures"], "15625");
  EXPECT_EQ(j["unique"], "6466");
  Result darts = run_cella("count spaces/darts.cella --json");
  auto d = nlohmann::json::parse(darts.text);
  EXPECT_EQ(d["architectures"], "1076746950455072400");
  EXPECT_EQ(d["cells"][0]["architectures"], "1037664180");
}

TEST(Cli, SetChangesTheNetwork) {
  Result r = run_cella("show --emit json spaces/nb201.cella --set C=8 --set N=1");
  ASSERT_EQ(r.code, 0) << r.text;
  auto j = nlohmann::json::parse(r.text);
  EXPECT_EQ(j["network"]["params"]["C"], 8);
  EXPECT_EQ(j["network"]["units"].size(), 7u);
}

TEST(Cli, CheckJsonListsDiagnosticsWithLocations) {
  Result r = run_cella("check --json tests/golden/fail_unknown_op.cella");
  EXPECT_EQ(r.code, 1);
  auto j = nlohmann::json::parse(r.text);
  const auto& d = j[0]["diagnostics"][0];
  EXPECT_EQ(d["kind"], "UnknownOp");
  EXPECT_EQ(d["line"], 3);
  EXPECT_EQ(d["column"], 34);
  EXPECT_EQ(d["length"], 12);
}

TEST(Cli, SampleIsReproducibleAndParsesBack) {
  Result a = run_cella("sample spaces/nb201.cella -n 5 --seed 7");
  Result b = run_cella("sample spaces/nb201.cella -n 5 --seed 7");
  ASSERT_EQ(a.code, 0);
  EXPECT_EQ(a.text, b.text);
  EXPECT_EQ(std::count(a.text.begin(), a.text.end(), '\n'), 5);
  EXPECT_EQ(run_cella("sample spaces/nb201.cella --format darts").code, 2);
  // An elastic space's flat encoding (DyNAS-T's integers and the resolution), which `stats --arch`
  // reads back; a space of cells has none.
  Result flat = run_cella("sample spaces/ofa_mbv3.cella -n 1 --seed 3 --format flat");
  ASSERT_EQ(flat.code, 0) << flat.text;
  ASSERT_EQ(flat.text.front(), '[') << flat.text;
  EXPECT_EQ(std::count(flat.text.begin(), flat.text.end(), ','), 45) << flat.text;
  std::string arch = flat.text.substr(0, flat.text.find('\n'));
  Result stats = run_cella("stats spaces/ofa_mbv3.cella --data imagenet --arch '" + arch + "'");
  EXPECT_EQ(stats.code, 0) << stats.text;
  Result cells = run_cella("sample spaces/nb201.cella --format flat");
  EXPECT_EQ(cells.code, 2) << cells.text;
  EXPECT_NE(cells.text.find("only a space of elastic layers has a flat encoding"), std::string::npos) << cells.text;
}

TEST(Cli, EnumerateUniqueListsOneCellPerClass) {
  Result r = run_cella("enumerate --unique spaces/nb201.cella");
  ASSERT_EQ(r.code, 0);
  EXPECT_EQ(std::count(r.text.begin(), r.text.end(), '\n'), 6466);
}

TEST(Cli, ShowDumpsAfterAPass) {
  Result r = run_cella("show spaces/nb201.cella --dump-after check-constraints");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.text.find("edge 5 3<-2: hierarchy 2"), std::string::npos);
  EXPECT_EQ(run_cella("show spaces/nb201.cella --dump-after nonsense").code, 2);
}

// An architecture to draw comes as text, as a file holding it, or as a run directory (its
// arch.txt); the drawing keeps the chosen operations and leaves `none` edges out.
TEST(Cli, ShowDrawsAnArchitectureFromTextFileOrRunDirectory) {
  const std::string arch = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|";
  Result text = run_cella("show --emit dot spaces/nb201.cella --arch '" + arch + "'");
  ASSERT_EQ(text.code, 0) << text.text;
  EXPECT_NE(text.text.find("g0_n0 -> g0_n1 [label=\"nor_conv_3x3\"]"), std::string::npos) << text.text;
  EXPECT_EQ(text.text.find("g0_n0 -> g0_n2"), std::string::npos) << "a none edge is drawn";
  std::filesystem::path run = std::filesystem::temp_directory_path() / "cella_cli_run_dir";
  std::filesystem::create_directories(run);
  std::ofstream(run / "arch.txt") << arch << "\n";
  Result dir = run_cella("show --emit dot spaces/nb201.cella --arch " + run.string());
  EXPECT_EQ(dir.code, 0) << dir.text;
  EXPECT_EQ(dir.text, text.text);
  Result file = run_cella("show --emit dot spaces/nb201.cella --arch " + (run / "arch.txt").string());
  EXPECT_EQ(file.text, text.text);
  std::filesystem::remove(run / "arch.txt");
  Result empty = run_cella("show --emit dot spaces/nb201.cella --arch " + run.string());
  EXPECT_EQ(empty.code, 2);
  EXPECT_NE(empty.text.find((run / "arch.txt").string()), std::string::npos) << empty.text;
  std::filesystem::remove_all(run);
}

TEST(Cli, SvgNeedsGraphviz) {
  Result r = run_cella("show --emit svg spaces/nb201.cella");
  if (r.code == 0)
    EXPECT_NE(r.text.find("<svg"), std::string::npos);
  else
    EXPECT_NE(r.text.find("graphviz"), std::string::npos);
}

}  // namespace
