// `cella export` as a user runs it: the exported PyTorch module, loaded by Debian's Python with
// python3-torch, gives cella's logits on cella's example batch (the module's own self-check),
// for NB201, DARTS and MobileNet architectures, with fresh and with retrained weights.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/unit/process.h"

namespace {

namespace fs = std::filesystem;
using cella::testing_helpers::run_cella;
using cella::testing_helpers::run_shell;
using Result = cella::testing_helpers::Output;

bool python_has_torch() { return run_shell("/usr/bin/python3 -c 'import torch' 2>/dev/null").code == 0; }

fs::path scratch(const std::string& name) { return cella::testing_helpers::fresh_dir("cella_export_" + name + "_"); }

// Exports with `args` into a scratch directory and runs the module's self-check in Python.
void expect_logits_match(const std::string& name, const std::string& args) {
  fs::path out = scratch(name);
  Result e = run_cella("export " + args + " --threads 1 --out " + out.string());
  ASSERT_EQ(e.code, 0) << e.text;
  for (const char* f : {"model.py", "weights.pt", "example.pt"}) EXPECT_TRUE(fs::exists(out / f)) << f;
  Result check = run_shell("/usr/bin/python3 " + (out / "model.py").string() + " 2>&1");
  EXPECT_EQ(check.code, 0) << check.text;
  EXPECT_NE(check.text.find("largest difference to cella's logits"), std::string::npos) << check.text;
  fs::remove_all(out);
}

TEST(Export, Nb201DartsAndMobileNetModulesGiveCellasLogits) {
  if (!python_has_torch()) GTEST_SKIP() << "/usr/bin/python3 cannot import torch (apt-get install python3-torch)";
  expect_logits_match("nb201",
                      "spaces/nb201.cella --set C=4 --set N=1 --arch "
                      "'|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|'");
  // A node fed only by `none` edges computes zeros.
  expect_logits_match("nb201_zero_node",
                      "spaces/nb201.cella --set C=4 --set N=1 --arch "
                      "'|skip_connect~0|+|none~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|'");
  expect_logits_match(
      "darts",
      "spaces/darts.cella --set C=4 --set layers=5 --arch \"Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', "
      "1), ('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_5x5', 1), ('skip_connect', 0), ('skip_connect', 0), "
      "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), "
      "('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
      "('avg_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])\"");
  fs::path arch = scratch("mobilenet_arch.txt");
  Result sample = run_cella("sample spaces/mobilenet.cella -n 1 --seed 3");
  ASSERT_EQ(sample.code, 0) << sample.text;
  std::ofstream(arch) << sample.text;
  expect_logits_match("mobilenet", "spaces/mobilenet.cella --arch " + arch.string());
  fs::remove(arch);
}

TEST(Export, RetrainedWeightsAndTheirErrors) {
  if (!python_has_torch()) GTEST_SKIP() << "/usr/bin/python3 cannot import torch (apt-get install python3-torch)";
  fs::path run = scratch("retrain_run");
  Result r = run_cella(
      "retrain spaces/nb201.cella --set C=4 --set N=1 --data synthetic --set data.subset=64 --epochs 1 "
      "--threads 1 --arch '|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|none~1|"
      "nor_conv_3x3~2|' --out " +
      run.string());
  ASSERT_EQ(r.code, 0) << r.text;
  expect_logits_match("retrained", "--weights " + run.string());
  // A supernet's run has no stand-alone weights to export: a usage error that says what to do.
  fs::path search = scratch("search_run");
  Result s = run_cella("search tests/search/exhaustive.cella --smoke --threads 1 --out " + search.string());
  ASSERT_EQ(s.code, 0) << s.text;
  Result e = run_cella("export --weights " + search.string() + " --out " + scratch("refused").string());
  EXPECT_EQ(e.code, 2) << e.text;
  EXPECT_NE(e.text.find("export takes the weights of a `cella retrain` run"), std::string::npos) << e.text;
  EXPECT_EQ(run_cella("export spaces/nb201.cella").code, 2);
  fs::remove_all(run);
  fs::remove_all(search);
}

}  // namespace
