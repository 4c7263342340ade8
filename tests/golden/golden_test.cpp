// Golden tests: runs the `cella` binary on every tests/golden/fail_*.cella (expected diagnostics
// and exit code in the .err file beside it) and on every space (expected IR, count, DOT, the
// drawing of a sampled architecture and each plan's schedule in tests/golden/spaces/). CELLA_UPDATE_GOLDEN=1 rewrites
// the expectations (scripts/update-golden.sh).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "compiler/diag/diagnostic.h"
#include "tests/unit/process.h"

namespace fs = std::filesystem;

namespace {

struct Result {
  std::string output;
  int exit_code;
};

// Runs cella from the source root; `stream` 2 keeps stderr, 1 keeps stdout.
Result run(const std::string& args, int stream) {
  std::string redirect = stream == 2 ? " 2>&1 1>/dev/null" : " 2>/dev/null";
  auto r = cella::testing_helpers::run_shell("cd '" CELLA_SOURCE_DIR "' && NO_COLOR=1 '" CELLA_BINARY "' " + args +
                                             redirect);
  return {r.text, r.code};
}

std::string slurp(const fs::path& p) { return cella::testing_helpers::slurp(p.string()); }

bool updating() { return std::getenv("CELLA_UPDATE_GOLDEN") != nullptr; }

void compare(const fs::path& expected_file, const std::string& actual) {
  if (updating()) {
    std::ofstream(expected_file, std::ios::binary) << actual;
    return;
  }
  ASSERT_TRUE(fs::exists(expected_file)) << expected_file << " is missing; run scripts/update-golden.sh";
  EXPECT_EQ(slurp(expected_file), actual)
      << "golden mismatch for " << expected_file << "; if the change is intended, run scripts/update-golden.sh";
}

std::vector<std::string> files(const std::string& dir, bool fail) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(fs::path(CELLA_SOURCE_DIR) / dir)) {
    std::string name = e.path().filename().string();
    if (e.path().extension() != ".cella") continue;
    if ((name.rfind("fail_", 0) == 0) == fail) out.push_back(dir + "/" + name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string test_name(const testing::TestParamInfo<std::string>& info) {
  std::string s = fs::path(info.param).stem().string();
  std::replace_if(
      s.begin(), s.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
  return s;
}

class FailFile : public testing::TestWithParam<std::string> {};

TEST_P(FailFile, MatchesExpectedDiagnostics) {
  const std::string& file = GetParam();
  std::string text = slurp(fs::path(CELLA_SOURCE_DIR) / file);
  std::string cmd = "check {file}";
  std::smatch m;
  if (std::regex_search(text, m, std::regex("// cmd: ([^\n]*)"))) cmd = m[1];
  cmd = std::regex_replace(cmd, std::regex("\\{file\\}"), file);
  Result r = run(cmd, 2);
  EXPECT_NE(r.exit_code, 0) << file << " must fail";
  compare(fs::path(CELLA_SOURCE_DIR) / fs::path(file).replace_extension(".err"),
          r.output + "exit " + std::to_string(r.exit_code) + "\n");
}

INSTANTIATE_TEST_SUITE_P(Golden, FailFile, testing::ValuesIn(files("tests/golden", true)), test_name);

class SpaceFile : public testing::TestWithParam<std::string> {};

TEST_P(SpaceFile, IrCountAndDotMatch) {
  const std::string& file = GetParam();
  fs::path base = fs::path(CELLA_SOURCE_DIR) / "tests/golden/spaces" / fs::path(file).stem();
  Result check = run("check " + file, 2);
  EXPECT_EQ(check.exit_code, 0) << check.output;
  Result ir = run("show --emit ir " + file, 1);
  ASSERT_EQ(ir.exit_code, 0);
  compare(base.string() + ".ir", ir.output);
  Result count = run("count " + file, 1);
  ASSERT_EQ(count.exit_code, 0);
  compare(base.string() + ".count", count.output);
  Result dot = run("show --emit dot " + file, 1);
  ASSERT_EQ(dot.exit_code, 0);
  compare(base.string() + ".dot", dot.output);
  // The drawing of one architecture (sampled with a fixed seed, passed as a file).
  Result sample = run("sample " + file + " -n 1 --seed 1", 1);
  if (sample.exit_code == 0) {
    fs::path arch = fs::temp_directory_path() / ("cella_golden_arch_" + fs::path(file).stem().string() + ".txt");
    std::ofstream(arch) << sample.output;
    Result drawing = run("show --emit dot " + file + " --arch " + arch.string(), 1);
    EXPECT_EQ(drawing.exit_code, 0) << sample.output;
    compare(base.string() + ".arch.dot", drawing.output);
    fs::remove(arch);
  }
  // Every search block's resolved schedule, epoch by epoch: a plan change shows as a diff here.
  const std::string text = slurp(fs::path(CELLA_SOURCE_DIR) / file);
  const std::regex block("(^|\n)search (\\w+) on ");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), block); it != std::sregex_iterator(); ++it) {
    const std::string name = (*it)[2];
    Result schedule = run("show --emit schedule " + file + " --search " + name, 1);
    ASSERT_EQ(schedule.exit_code, 0) << name;
    compare(base.string() + "." + name + ".schedule", schedule.output);
  }
}

std::vector<std::string> space_files() {
  std::vector<std::string> out = files("spaces", false);
  for (const std::string& f : files("tests/golden", false)) out.push_back(f);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Golden, SpaceFile, testing::ValuesIn(space_files()), test_name);

// Every diagnostic kind appears in at least one expected-diagnostics file.
TEST(Golden, EveryDiagnosticKindIsCovered) {
  std::string all;
  for (const std::string& f : files("tests/golden", true)) {
    fs::path err = fs::path(CELLA_SOURCE_DIR) / fs::path(f).replace_extension(".err");
    all += slurp(err);
  }
  for (cella::diag::Kind k : cella::diag::all_kinds()) {
    std::string tag = "[" + std::string(cella::diag::kind_name(k)) + "]";
    EXPECT_NE(all.find(tag), std::string::npos) << "no golden test shows diagnostic " << tag;
  }
}

// docs/language.md documents every plan setting and data set: its table is `cella settings`,
// between two markers (plan.def and datasets.def are the source; updating rewrites the docs).
TEST(Golden, LanguageDocsListEverySetting) {
  Result table = run("settings", 1);
  ASSERT_EQ(table.exit_code, 0);
  fs::path doc = fs::path(CELLA_SOURCE_DIR) / "docs/language.md";
  std::string text = slurp(doc);
  const std::string begin = "<!-- settings: generated by `cella settings` -->\n", end = "<!-- settings end -->";
  std::size_t b = text.find(begin), e = text.find(end);
  ASSERT_TRUE(b != std::string::npos && e != std::string::npos && b < e) << doc << " lacks the settings markers";
  b += begin.size();
  if (updating()) {
    std::ofstream(doc, std::ios::binary) << text.substr(0, b) + table.output + text.substr(e);
    return;
  }
  EXPECT_EQ(text.substr(b, e - b), table.output)
      << "docs/language.md's settings table is stale; run scripts/update-golden.sh";
}

TEST(Golden, AtLeastFortyFailFiles) { EXPECT_GE(files("tests/golden", true).size(), 40u); }

}  // namespace
