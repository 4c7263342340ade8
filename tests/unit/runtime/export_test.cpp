// `cella export` as a user runs it: the exported PyTorch module, loaded by Debian's Python with
// python3-torch, gives cella's logits on cella's example batch (the module's own self-check),
// for NB201, DARTS and MobileNet architectures, with fresh, retrained and inherited weights; and
// the ONNX file made from it, run by onnxruntime.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
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

TEST(Export, ShippedSpacesModulesGiveCellasLogits) {
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
  // The DARTS evaluation network (its shape; small here), with DARTS_V2.
  expect_logits_match(
      "darts_eval",
      "spaces/darts.cella --network darts_eval --set C=4 --set layers=5 --arch \"Genotype(normal=[('sep_conv_3x3', "
      "0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), "
      "('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
      "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), "
      "('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])\"");
  fs::path arch = scratch("mobilenet_arch.txt");
  Result sample = run_cella("sample spaces/mobilenet.cella -n 1 --seed 3");
  ASSERT_EQ(sample.code, 0) << sample.text;
  std::ofstream(arch) << sample.text;
  expect_logits_match("mobilenet", "spaces/mobilenet.cella --arch " + arch.string());
  fs::remove(arch);
  // OFA's space at its two-core profile: `mbv3` blocks with and without expansion, SE and
  // h-swish, shallower stages, and the input resized to the architecture's resolution (24).
  expect_logits_match("ofa_mbv3",
                      "spaces/ofa_mbv3.cella --data synthetic --set W=2 --set D=3 --set R_min=20 --set R_max=28 "
                      "--arch '[3,5,7,7,5,3,3,7,5,5,3,7,7,7,3,6,3,4,4,6,3,3,3,6,6,4,3,6,4,6,2,3,2,3,3,24]'");
  // BigNAS's space at its two-core profile: narrower widths in every stage, swish, no expansion in
  // MB1, the last convolution at 336 of 352 channels, resolution 20.
  expect_logits_match("bignas",
                      "spaces/bignas.cella --data synthetic --set S=2 --set D4=3 --set D=3 --set R1=16 --set R2=20 "
                      "--set R3=24 --set R4=28 "
                      "--arch '[5,3,5,3,5,3,5,5,3,3,3,5,5,3,2,3,2,3,2,3,1,8,6,6,10,22,30,50,88,352,20]'");
  // NAS-Bench-101: split vertex channels (C = 7 does not divide), projections, truncation, and a
  // pruned vertex; a class per cell unit.
  fs::path nb101 = scratch("nb101_arch.json");
  std::ofstream(nb101) << R"({"cells": {"nb101_cell": {"edges": {"1<-0": "identity", "2<-0": "identity",
      "6<-0": "identity", "3<-1": "identity", "4<-2": "identity", "6<-2": "identity", "6<-3": "identity",
      "6<-4": "identity", "5<-4": null}, "nodes": {"1": "conv3x3_bn_relu", "2": "conv1x1_bn_relu",
      "3": "maxpool3x3", "4": "conv3x3_bn_relu", "5": "conv3x3_bn_relu"}}}})";
  expect_logits_match("nasbench101", "spaces/nasbench101.cella --set C=7 --set cells=2 --arch " + nb101.string());
  fs::remove(nb101);
  // NASNet: picks, `output unused` (the cells' widths follow the architecture), the 1x7-7x1
  // convolution pair, striding in a reduction cell, and concatenating blocks.
  expect_logits_match(
      "nasnet",
      "spaces/nasnet.cella --set F=4 --set N=1 --arch \"Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 1), "
      "('conv_1x1', 0), ('max_pool_5x5', 2), ('skip_connect', 3), ('skip_connect', 3), ('conv_7x1_1x7', 4), "
      "('dil_conv_3x3', 1), ('avg_pool_3x3', 5), ('conv_3x3', 5)], normal_concat=[6], normal_combine=['concat', "
      "'sum', 'sum', 'concat', 'sum'], reduce=[('conv_7x1_1x7', 0), ('max_pool_7x7', 1), ('conv_3x1_1x3', 1), "
      "('sep_conv_5x5', 0), ('skip_connect', 2), ('avg_pool_3x3', 3), ('max_pool_3x3', 2), ('max_pool_3x3', 2), "
      "('sep_conv_3x3', 4), ('skip_connect', 0)], reduce_concat=[5, 6], reduce_combine=['sum', 'concat', 'sum', "
      "'sum', 'concat'])\"");
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
  // A retrain run holds one architecture.
  Result other =
      run_cella("export --weights " + run.string() +
                " --arch '|none~0|+|none~0|none~1|+|none~0|none~1|none~2|' --out " + scratch("other").string());
  EXPECT_EQ(other.code, 2) << other.text;
  EXPECT_NE(other.text.find("it holds no other architecture"), std::string::npos) << other.text;
  EXPECT_EQ(run_cella("export spaces/nb201.cella").code, 2);
  fs::remove_all(run);
}

// The accuracy a run of `cella eval --recalibrate N` prints for `arch`.
std::string eval_accuracy(const std::string& file, const fs::path& run, const std::string& arch, int batches) {
  Result r = run_cella("eval " + file + " --weights " + run.string() + " --arch '" + arch + "' --recalibrate " +
                       std::to_string(batches) + " --json --threads 1");
  EXPECT_EQ(r.code, 0) << r.text;
  std::size_t at = r.text.find("\"valid_acc\": ");
  if (at == std::string::npos) return "";
  double v = std::stod(r.text.substr(at + 13));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", v);
  return buf;
}

// Weights inherited from a search's sub-supernet (NB201: batch norms without weights in the
// cells), from a DARTS-space search (`search_bn`s, affine-free preprocessing) and from a
// MobileNet train run: the path's
// module gives cella's logits with batch-norm statistics re-estimated for it, and the validation
// accuracy reported with the export is the one `cella eval --recalibrate` gives.
TEST(Export, WeightsInheritedFromSupernets) {
  if (!python_has_torch()) GTEST_SKIP() << "/usr/bin/python3 cannot import torch (apt-get install python3-torch)";
  fs::path search = scratch("search_run");
  Result s = run_cella("search tests/search/exhaustive.cella --smoke --threads 1 --out " + search.string());
  ASSERT_EQ(s.code, 0) << s.text;
  fs::path out = scratch("inherited");
  Result e = run_cella("export --weights " + search.string() + " --recalibrate 3 --threads 1 --out " + out.string());
  ASSERT_EQ(e.code, 0) << e.text;
  std::ifstream arch_file(search / "arch.txt");
  std::string arch;
  std::getline(arch_file, arch);
  const std::string accuracy = eval_accuracy("tests/search/exhaustive.cella", search, arch, 3);
  ASSERT_FALSE(accuracy.empty());
  EXPECT_NE(e.text.find("validation accuracy " + accuracy), std::string::npos) << e.text << "\neval: " << accuracy;
  EXPECT_NE(e.text.find("weights inherited from sub-supernet"), std::string::npos) << e.text;
  Result check = run_shell("/usr/bin/python3 " + (out / "model.py").string() + " 2>&1");
  EXPECT_EQ(check.code, 0) << check.text;
  std::ifstream model(out / "model.py");
  std::string source((std::istreambuf_iterator<char>(model)), std::istreambuf_iterator<char>());
  EXPECT_NE(source.find("affine=False"), std::string::npos) << "a supernet's cells have batch norms without weights";
  // --node must hold the architecture.
  Result root = run_cella("export --weights " + search.string() + " --node 0 --out " + scratch("root").string());
  EXPECT_EQ(root.code, 0) << root.text;
  Result bad = run_cella("export --weights " + search.string() + " --node 99 --out " + scratch("bad").string());
  EXPECT_EQ(bad.code, 2) << bad.text;
  EXPECT_NE(bad.text.find("--node 99"), std::string::npos) << bad.text;
  EXPECT_EQ(run_cella("export --weights " + search.string() + " --recalibrate 0").code, 2);

  fs::path darts = scratch("darts_run");
  Result d =
      run_cella("search spaces/darts.cella --set C=4 --set layers=5 --smoke --threads 1 --out " + darts.string());
  ASSERT_EQ(d.code, 0) << d.text;
  expect_logits_match("darts_inherited", "--weights " + darts.string() + " --recalibrate 2");
  // A train run's supernet of choice layers (MobileNet: inverted residuals without batch-norm
  // weights).
  fs::path mobilenet = scratch("mobilenet_run");
  Result m = run_cella(
      "train spaces/mobilenet.cella --data synthetic --set data.subset=64 --set supernet.epochs=1 --threads 1 --out " +
      mobilenet.string());
  ASSERT_EQ(m.code, 0) << m.text;
  expect_logits_match("mobilenet_inherited", "--weights " + mobilenet.string() + " --recalibrate 2");
  for (const fs::path& p : {search, out, darts, mobilenet}) fs::remove_all(p);
}

// --format onnx: model.onnx from the exported module, run again by onnxruntime where the
// set-up's virtual environment has it (.venv, scripts/setup.sh); otherwise written and said to be
// unchecked.
TEST(Export, OnnxFileGivesCellasLogits) {
  if (!python_has_torch()) GTEST_SKIP() << "/usr/bin/python3 cannot import torch (apt-get install python3-torch)";
  const std::string venv_python = CELLA_SOURCE_DIR "/.venv/bin/python";
  const bool venv = run_shell(venv_python + " -c 'import onnxruntime' 2>/dev/null").code == 0;
  const std::string python = venv ? venv_python : "/usr/bin/python3";
  fs::path out = scratch("onnx");
  Result e = run_cella(
      "export spaces/darts.cella --set C=4 --set layers=5 --format onnx --python " + python +
      " --threads 1 --arch "
      "\"Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('dil_conv_5x5', 0), ('max_pool_3x3', 2), "
      "('sep_conv_5x5', 1), ('avg_pool_3x3', 3), ('skip_connect', 2), ('dil_conv_3x3', 4)], normal_concat=[2, 3, 4, "
      "5], reduce=[('max_pool_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 2), ('avg_pool_3x3', 0), "
      "('dil_conv_3x3', 3), ('sep_conv_5x5', 1), ('skip_connect', 2), ('max_pool_3x3', 4)], reduce_concat=[2, 3, 4, "
      "5])\" --out " +
      out.string());
  ASSERT_EQ(e.code, 0) << e.text;
  EXPECT_TRUE(fs::exists(out / "model.onnx"));
  if (venv) {
    EXPECT_NE(e.text.find("(ONNX, onnxruntime"), std::string::npos) << e.text;
  } else {
    EXPECT_NE(e.text.find("not checked: onnxruntime is not installed"), std::string::npos) << e.text;
    std::cout << "[ SKIPPED  ] the ONNX file's check: no onnxruntime in .venv (scripts/setup.sh installs it)\n";
  }
  fs::remove_all(out);
  Result missing = run_cella(
      "export spaces/nb201.cella --set C=4 --set N=1 --arch '|none~0|+|none~0|none~1|+|none~0|"
      "none~1|none~2|' --format onnx --python /nonexistent/python --out " +
      scratch("no_python").string());
  EXPECT_EQ(missing.code, 1) << missing.text;
  EXPECT_NE(missing.text.find("`/nonexistent/python` cannot be run"), std::string::npos) << missing.text;
}

}  // namespace
