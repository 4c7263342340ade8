// The `cella` command line as a user runs it: exit codes, JSON output, file errors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/unit/process.h"

namespace {

struct Result {
  std::string out;
  int code;
};

Result cella(const std::string& args) {
  auto r = cella::testing_helpers::run_cella(args);
  return {r.text, r.code};
}

TEST(Cli, CheckAcceptsEveryShippedSpace) {
  Result r = cella("check spaces/nb201.cella spaces/darts.cella spaces/mobilenet.cella spaces/nasbench101.cella spaces/std/ops.cella");
  EXPECT_EQ(r.code, 0) << r.out;
}

TEST(Cli, ExitCodesSeparateBadInputFromBadUsage) {
  EXPECT_EQ(cella("check tests/golden/fail_cycle.cella").code, 1);
  EXPECT_EQ(cella("check no/such/file.cella").code, 1);
  EXPECT_EQ(cella("check --no-such-flag spaces/nb201.cella").code, 2);
  EXPECT_EQ(cella("count spaces/nb201.cella --set C").code, 2);
  EXPECT_EQ(cella("count spaces/nb201.cella --set Q=3").code, 2);
  EXPECT_EQ(cella("frobnicate").code, 2);
  EXPECT_EQ(cella("--help").code, 0);
  EXPECT_EQ(cella("count --help").code, 0);
}

TEST(Cli, CountPrintsTheRequiredFigures) {
  Result nb = cella("count spaces/nb201.cella --json");
  ASSERT_EQ(nb.code, 0) << nb.out;
  auto j = nlohmann::json::parse(nb.out);
  EXPECT_EQ(j["architectures"], "15625");
  EXPECT_EQ(j["unique"], "6466");
  Result darts = cella("count spaces/darts.cella --json");
  auto d = nlohmann::json::parse(darts.out);
  EXPECT_EQ(d["architectures"], "1076746950455072400");
  EXPECT_EQ(d["cells"][0]["architectures"], "1037664180");
}

TEST(Cli, SetChangesTheNetwork) {
  Result r = cella("show --emit json spaces/nb201.cella --set C=8 --set N=1");
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["network"]["params"]["C"], 8);
  EXPECT_EQ(j["network"]["units"].size(), 7u);
}

TEST(Cli, CheckJsonListsDiagnosticsWithLocations) {
  Result r = cella("check --json tests/golden/fail_unknown_op.cella");
  EXPECT_EQ(r.code, 1);
  auto j = nlohmann::json::parse(r.out);
  const auto& d = j[0]["diagnostics"][0];
  EXPECT_EQ(d["kind"], "UnknownOp");
  EXPECT_EQ(d["line"], 3);
  EXPECT_EQ(d["column"], 34);
  EXPECT_EQ(d["length"], 12);
}

TEST(Cli, SampleIsReproducibleAndParsesBack) {
  Result a = cella("sample spaces/nb201.cella -n 5 --seed 7");
  Result b = cella("sample spaces/nb201.cella -n 5 --seed 7");
  ASSERT_EQ(a.code, 0);
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(std::count(a.out.begin(), a.out.end(), '\n'), 5);
  EXPECT_EQ(cella("sample spaces/nb201.cella --format darts").code, 2);
}

TEST(Cli, EnumerateUniqueListsOneCellPerClass) {
  Result r = cella("enumerate --unique spaces/nb201.cella");
  ASSERT_EQ(r.code, 0);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 6466);
}

TEST(Cli, ShowDumpsAfterAPass) {
  Result r = cella("show spaces/nb201.cella --dump-after check-constraints");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("edge 5 3<-2: hierarchy 2"), std::string::npos);
  EXPECT_EQ(cella("show spaces/nb201.cella --dump-after nonsense").code, 2);
}

TEST(Cli, SvgNeedsGraphviz) {
  Result r = cella("show --emit svg spaces/nb201.cella");
  if (r.code == 0) EXPECT_NE(r.out.find("<svg"), std::string::npos);
  else EXPECT_NE(r.out.find("graphviz"), std::string::npos);
}

}  // namespace
