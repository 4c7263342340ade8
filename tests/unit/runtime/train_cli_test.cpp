// The training commands as a user runs them: a run killed with SIGKILL in the middle of an
// epoch and resumed ends exactly like an uninterrupted run; bad inputs get one-line errors.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/unit/process.h"

namespace {

namespace fs = std::filesystem;

using Result = cella::testing_helpers::Output;
using cella::testing_helpers::run_cella;

std::string slurp(const fs::path& p) { return cella::testing_helpers::slurp(p.string()); }

using cella::testing_helpers::fresh_dir;

using cella::testing_helpers::kill_cella_when;

const std::string kTrain =
    "train spaces/nb201.cella --data synthetic --set C=6 --set N=1 --set split=none --set supernet.epochs=4 "
    "--set data.subset=3000 --set supernet.weights=darts --seed 3 --threads 1 --samples 5";

TEST(TrainCli, KilledMidEpochAndResumedEndsLikeAnUninterruptedRun) {
  fs::path base = fresh_dir("cella_kill_");
  fs::path a = base / "a", b = base / "b";
  Result straight = run_cella(kTrain + " --out " + a.string());
  ASSERT_EQ(straight.code, 0) << straight.text;

  // Wait for the first checkpoint, then kill during the next epoch.
  bool killed = kill_cella_when(kTrain + " --out " + b.string(), b / "checkpoint.pt", std::chrono::milliseconds(20),
                                std::chrono::milliseconds(300));
  ASSERT_TRUE(fs::exists(b / "checkpoint.pt"));
  ASSERT_TRUE(killed) << "the run finished before it could be killed; make it longer";
  ASSERT_FALSE(fs::exists(b / "result.json"));

  Result resumed = run_cella("train --resume " + b.string() + " --threads 1");
  ASSERT_EQ(resumed.code, 0) << resumed.text;
  EXPECT_NE(resumed.text.find("resuming after epoch"), std::string::npos) << resumed.text;
  EXPECT_EQ(slurp(a / "arch.txt"), slurp(b / "arch.txt"));
  auto ra = nlohmann::json::parse(slurp(a / "result.json")), rb = nlohmann::json::parse(slurp(b / "result.json"));
  EXPECT_EQ(ra["valid_acc_inherited"], rb["valid_acc_inherited"]);
  EXPECT_EQ(ra["epochs"], 4);
  // One metrics line per epoch, none repeated by the resume.
  std::string metrics = slurp(b / "metrics.jsonl");
  EXPECT_EQ(std::count(metrics.begin(), metrics.end(), '\n'), 4) << metrics;
  // The trained supernet judges an architecture; a training run has no sub-supernets to pick.
  const std::string arch = " --arch '|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|'";
  Result eval = run_cella("eval spaces/nb201.cella --threads 1 --weights " + b.string() + arch);
  EXPECT_EQ(eval.code, 0) << eval.text;
  // Trained with architecture weights (the file's DARTS): single paths do not rank, and eval says so.
  EXPECT_NE(eval.text.find("do not rank them"), std::string::npos) << eval.text;
  Result node = run_cella("eval spaces/nb201.cella --node 1 --weights " + b.string() + arch);
  EXPECT_EQ(node.code, 2) << node.text;
  EXPECT_NE(node.text.find("has no split tree"), std::string::npos) << node.text;
  fs::remove_all(base);
}

// A file without a search block (spaces/mobilenet.cella) runs the default plan with the command
// line's data set and settings. They used to be dropped: the network was built for `--data`'s
// images while Fashion-MNIST was loaded, and training died in LibTorch.
// A checkpoint written to a full disk: a one-line error, the previous checkpoint intact, and the
// resume ends as the uninterrupted run once there is space. The disk is a tmpfs with room for one
// checkpoint and a half (the second one's temporary file does not fit); mounting one needs root,
// as CI has, and the test is skipped without it.
TEST(TrainCli, AFullDiskDuringACheckpointLosesNothing) {
  fs::path base = fresh_dir("cella_full_disk_");
  Result straight = run_cella(kTrain + " --out " + (base / "a").string());
  ASSERT_EQ(straight.code, 0) << straight.text;
  const std::uintmax_t checkpoint = fs::file_size(base / "a" / "checkpoint.pt");
  const fs::path disk = base / "disk";
  fs::create_directories(disk);
  auto mount = [&](std::uintmax_t kib, const std::string& how) {
    const std::string cmd =
        "mount -t tmpfs -o " + how + "size=" + std::to_string(kib) + "k tmpfs '" + disk.string() + "' 2>/dev/null";
    return std::system(cmd.c_str()) == 0;
  };
  if (!mount(checkpoint * 3 / 2 / 1024 + 64, "")) GTEST_SKIP() << "cannot mount a tmpfs here (not root?)";
  struct Unmount {  // also when an assertion returns early; then the directory can go
    fs::path base, at;
    ~Unmount() {
      if (std::system(("umount '" + at.string() + "' 2>/dev/null").c_str()) == 0) fs::remove_all(base);
    }
  } unmount{base, disk};
  const fs::path run = disk / "run";
  Result full = run_cella(kTrain + " --out " + run.string());
  EXPECT_EQ(full.code, 1) << full.text;
  const std::size_t error = full.text.find("cella: error: ");
  ASSERT_NE(error, std::string::npos) << full.text;
  EXPECT_NE(full.text.find("checkpoint.pt.tmp: cannot write the checkpoint (cannot write it: No space left on device); "
                           "the previous one is intact",
                           error),
            std::string::npos)
      << full.text;
  EXPECT_EQ(std::count(full.text.begin() + static_cast<std::ptrdiff_t>(error), full.text.end(), '\n'), 1) << full.text;
  ASSERT_TRUE(fs::exists(run / "checkpoint.pt"));
  EXPECT_FALSE(fs::exists(run / "checkpoint.pt.tmp"));  // its space given back
  ASSERT_TRUE(mount(checkpoint * 8 / 1024 + 1024, "remount,"));
  Result resumed = run_cella("train --resume " + run.string() + " --threads 1");
  ASSERT_EQ(resumed.code, 0) << resumed.text;
  EXPECT_NE(resumed.text.find("resuming after epoch 1"), std::string::npos) << resumed.text;
  EXPECT_EQ(nlohmann::json::parse(slurp(run / "result.json"))["valid_acc_inherited"],
            nlohmann::json::parse(slurp(base / "a" / "result.json"))["valid_acc_inherited"]);
  EXPECT_EQ(slurp(run / "arch.txt"), slurp(base / "a" / "arch.txt"));
}

TEST(TrainCli, DataAndSettingsApplyWithoutASearchBlock) {
  fs::path out = cella::testing_helpers::fresh_dir("cella_no_search_block_");
  Result r = run_cella(
      "train spaces/mobilenet.cella --data synthetic --set data.subset=64 --set supernet.epochs=1 "
      "--threads 1 --out " +
      out.string());
  EXPECT_EQ(r.code, 0) << r.text;
  EXPECT_NE(r.text.find("(synthetic, 32 train / 32 valid images, 1 epoch,"), std::string::npos) << r.text;
  fs::remove_all(out);
}

// A warning about the file is given once, when the run is made: not again by the report at its
// end, nor by the commands that reopen the run.
TEST(TrainCli, WarningsAboutTheFileAreGivenOncePerRun) {
  fs::path out = cella::testing_helpers::fresh_dir("cella_warn_once_");
  Result r = run_cella(
      "train spaces/nb201.cella --set split=none --set C=4 --set N=1 --data synthetic "
      "--set data.subset=64 --set supernet.epochs=1 --threads 1 --out " +
      out.string());
  ASSERT_EQ(r.code, 0) << r.text;
  auto count = [](const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count(r.text, "[IgnoredSetting]"), 1u) << r.text;
  Result derive = run_cella("derive " + out.string() + " --threads 1");
  EXPECT_EQ(derive.code, 0) << derive.text;
  EXPECT_EQ(count(derive.text, "[IgnoredSetting]"), 0u) << derive.text;
  fs::remove_all(out);
}

TEST(TrainCli, BadInputsGetOneLineErrors) {
  Result no_data =
      run_cella("train spaces/nb201.cella --set split=none --data-dir /nonexistent --set supernet.epochs=1");
  EXPECT_EQ(no_data.code, 1);
  EXPECT_NE(no_data.text.find("cella: error: /nonexistent/train-images-idx3-ubyte.gz: no such file"), std::string::npos)
      << no_data.text;
  Result no_run = run_cella("derive /nonexistent/run");
  EXPECT_EQ(no_run.code, 1);
  EXPECT_NE(no_run.text.find("no such run directory"), std::string::npos) << no_run.text;
  Result bad_arch = run_cella("retrain spaces/nb201.cella --arch '|bogus~0|' --data synthetic");
  EXPECT_EQ(bad_arch.code, 2);
  EXPECT_EQ(std::count(bad_arch.text.begin(), bad_arch.text.end(), '\n'), 1) << bad_arch.text;
  Result bad_file = run_cella("train tests/golden/fail_cycle.cella");
  EXPECT_EQ(bad_file.code, 1);
  EXPECT_NE(bad_file.text.find("[Cycle]"), std::string::npos);
}

// `--device`: a device this build or machine cannot give is a usage error naming why, before
// anything is read or trained; `cpu` is the default, and `cella devices` says what there is.
TEST(TrainCli, DevicesAreCheckedBeforeAnythingRuns) {
  Result devices = run_cella("devices");
  ASSERT_EQ(devices.code, 0) << devices.text;
  EXPECT_EQ(devices.text.rfind("LibTorch ", 0), 0u) << devices.text;
  for (const char* bad : {"gpu", "cuda:x", "cuda:-1"}) {
    Result r = run_cella(std::string("train spaces/nb201.cella --data synthetic --device ") + bad);
    EXPECT_EQ(r.code, 2) << r.text;
    EXPECT_NE(r.text.find(std::string("cella: error: --device ") + bad + ": "), std::string::npos) << r.text;
    EXPECT_EQ(std::count(r.text.begin(), r.text.end(), '\n'), 1) << r.text;
  }
  // Here (no GPU, or a CPU-only LibTorch) CUDA is refused with the reason; on a GPU machine
  // scripts/gpu-check.sh runs the CUDA side.
  if (devices.text.find("CUDA linked, 0 devices") != std::string::npos ||
      devices.text.find("CPU only") != std::string::npos) {
    Result cuda = run_cella(
        "retrain spaces/nb201.cella --data synthetic --arch '|none~0|+|none~0|none~1|+|none~0|"
        "none~1|none~2|' --device cuda:0");
    EXPECT_EQ(cuda.code, 2) << cuda.text;
    const bool cpu_only = devices.text.find("CPU only") != std::string::npos;
    EXPECT_NE(cuda.text.find(cpu_only ? "built without LibTorch's CUDA libraries" : "no CUDA device found"),
              std::string::npos)
        << cuda.text;
  }
  Result exported = run_cella(
      "export spaces/nb201.cella --arch '|none~0|+|none~0|none~1|+|none~0|none~1|none~2|' "
      "--device cuda --out " +
      (fresh_dir("cella_device_export_") / "x").string());
  EXPECT_EQ(exported.code, 2) << exported.text;
  EXPECT_NE(exported.text.find("export runs on the CPU"), std::string::npos) << exported.text;
}

// Under path sampling a sub-supernet is judged by the best of `split.select_samples` distinct
// sampled architectures (it was a fixed 10; rsws judges 200 unique ones on the whole split).
TEST(TrainCli, SelectionJudgesAsManyArchitecturesAsThePlanSays) {
  fs::path out = fresh_dir("cella_select_samples_") / "run";
  Result r = run_cella(
      "search spaces/nb201.cella --smoke --threads 1 --set C=4 --set N=1 --search few_shot_paper --set "
      "split.select_samples=3 --set split.select_sample_images=0 --out " +
      out.string());
  ASSERT_EQ(r.code, 0) << r.text;
  EXPECT_NE(r.text.find("validation accuracy of the best of 3 sampled architectures"), std::string::npos) << r.text;
  fs::remove_all(out.parent_path());
}

// `train --smoke`: the search block's smoke parameters, synthetic images, a short schedule; the
// run says so, and so does its configuration (a resume stays a smoke run).
TEST(TrainCli, SmokeTrainsTheSupernetInSeconds) {
  fs::path out = fresh_dir("cella_train_smoke_") / "run";
  Result r = run_cella("train spaces/nasnet.cella --smoke --threads 1 --samples 2 --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.text;
  EXPECT_NE(r.text.find("(smoke test, synthetic, 128 train"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("cella: smoke test passed"), std::string::npos) << r.text;
  auto config = nlohmann::json::parse(slurp(out / "config.json"));
  EXPECT_TRUE(config["smoke"].get<bool>());
  auto result = nlohmann::json::parse(slurp(out / "result.json"));
  EXPECT_EQ(result["epochs"], 1);
  Result again = run_cella("train --resume " + out.string());
  EXPECT_EQ(again.code, 0) << again.text;
  EXPECT_NE(again.text.find("finished already"), std::string::npos) << again.text;
  // The run records its LibTorch; a resume on another one says that it will not end exactly as
  // the uninterrupted run would have (the versions' kernels differ in the last bits).
  EXPECT_FALSE(config["libtorch"].get<std::string>().empty());
  config["libtorch"] = "0.0.1";
  std::ofstream(out / "config.json") << config.dump(2);
  fs::remove(out / "result.json");
  Result other = run_cella("train --resume " + out.string() + " --threads 1");
  EXPECT_EQ(other.code, 0) << other.text;
  EXPECT_NE(other.text.find("the run began on LibTorch 0.0.1, this resume runs on"), std::string::npos) << other.text;
  fs::remove_all(out.parent_path());
}

// OFA's elastic space end to end on its two-core profile: `train --smoke` with the sandwich rule,
// one child cut out of the supernet (`extract`) with the parameters `stats` counts for it, tested
// by `eval`, fine-tuned by `retrain --init`.
TEST(TrainCli, ElasticSupernetTrainsAndAChildIsCutOut) {
  fs::path base = fresh_dir("cella_elastic_");
  Result r =
      run_cella("train spaces/ofa_mbv3.cella --smoke --threads 1 --samples 2 --json --out " + (base / "run").string());
  ASSERT_EQ(r.code, 0) << r.text;
  EXPECT_NE(r.text.find("cella: smoke test passed"), std::string::npos) << r.text;
  // The profile's flat encoding: 15 kernels, 15 expansions (5 stages of 3 slots), 5 depths, the
  // resolution: a mid-sized child.
  std::string flat = "[";
  for (int i = 0; i < 15; ++i) flat += i % 3 == 0 ? "7," : i % 3 == 1 ? "5," : "3,";
  for (int i = 0; i < 15; ++i) flat += i % 2 == 0 ? "6," : "3,";
  flat += "2,3,2,3,3,24]";
  const std::string arch = " --arch '" + flat + "'";
  Result x = run_cella("extract --threads 1 --json --weights " + (base / "run").string() + arch + " --out " +
                       (base / "child").string());
  ASSERT_EQ(x.code, 0) << x.text;
  auto extracted = nlohmann::json::parse(x.text.substr(x.text.find('{')));
  const std::string profile =
      "spaces/ofa_mbv3.cella --data synthetic --set W=2 --set D=3 --set R_min=20 --set R_max=28";
  Result stats = run_cella("stats " + profile + " --json" + arch);
  ASSERT_EQ(stats.code, 0) << stats.text;
  auto counted = nlohmann::json::parse(stats.text.substr(stats.text.find('{')));
  EXPECT_EQ(extracted["params"], counted["params"]);
  EXPECT_EQ(counted["resolution"], 24);
  EXPECT_EQ(extracted["calibration_batches"], 10);
  EXPECT_TRUE(fs::exists(base / "child" / "weights.pt"));
  Result e = run_cella("eval spaces/ofa_mbv3.cella --threads 1 --weights " + (base / "child").string() + arch);
  ASSERT_EQ(e.code, 0) << e.text;
  EXPECT_NE(e.text.find("test accuracy of the extracted network"), std::string::npos) << e.text;
  // As docs/cli.md writes it: the run alone, its own space and architecture (it was a bare
  // "file is required").
  Result own = run_cella("eval --threads 1 --weights " + (base / "child").string());
  ASSERT_EQ(own.code, 0) << own.text;
  EXPECT_EQ(own.text, e.text);
  // An extract run is called one (it was called a retrain run, with `cella retrain` as the fix).
  Result smallest = run_cella("eval --threads 1 --weights " + (base / "child").string() + " --arch smallest");
  EXPECT_EQ(smallest.code, 2) << smallest.text;
  EXPECT_NE(smallest.text.find((base / "child").string() + " extracted "), std::string::npos) << smallest.text;
  // The extracted child as a PyTorch module (export_test runs such a module's self-check).
  Result exported =
      run_cella("export --threads 1 --weights " + (base / "child").string() + " --out " + (base / "exported").string());
  ASSERT_EQ(exported.code, 0) << exported.text;
  EXPECT_NE(slurp(base / "exported" / "model.py").find("MBV3("), std::string::npos);
  // Straight from the supernet's run, the child is cut out as extract cuts it (it was a
  // segmentation fault: the supernet's whole tensors were copied into the child's narrower ones).
  Result direct = run_cella("export --threads 1 --weights " + (base / "run").string() + arch + " --out " +
                            (base / "direct").string());
  ASSERT_EQ(direct.code, 0) << direct.text;
  EXPECT_NE(slurp(base / "direct" / "model.py").find("MBV3("), std::string::npos);
  Result tuned = run_cella("retrain " + profile + " --set data.subset=256 --epochs 1 --threads 1 --init " +
                           (base / "child").string() + arch + " --out " + (base / "tuned").string());
  ASSERT_EQ(tuned.code, 0) << tuned.text;
  // Another architecture than the one extracted, and a supernet's run, are refused.
  Result other = run_cella("retrain " + profile + " --epochs 1 --threads 1 --init " + (base / "child").string() +
                           " --arch '[3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,2,2,2,2,2,20]'");
  EXPECT_EQ(other.code, 2) << other.text;
  EXPECT_NE(other.text.find("it holds"), std::string::npos) << other.text;
  // A retrain whose --init cannot be read leaves no run directory (retrain has no --resume, and
  // running it again was refused as "already holds a run").
  fs::copy(base / "child", base / "damaged", fs::copy_options::recursive);
  std::ofstream(base / "damaged" / "weights.pt", std::ios::trunc) << "not weights";
  Result bad = run_cella("retrain " + profile + " --set data.subset=256 --epochs 1 --threads 1 --init " +
                         (base / "damaged").string() + arch + " --out " + (base / "bad").string());
  EXPECT_EQ(bad.code, 1) << bad.text;
  EXPECT_FALSE(fs::exists(base / "bad")) << bad.text;
  Result supernet = run_cella("retrain " + profile + " --epochs 1 --init " + (base / "run").string() + arch);
  EXPECT_EQ(supernet.code, 2) << supernet.text;
  EXPECT_NE(supernet.text.find("(one network's weights) takes a `cella extract` or `cella retrain` run"),
            std::string::npos)
      << supernet.text;
  fs::remove_all(base);
}

// BigNAS's space end to end on its two-core profile: `train --smoke` with the sandwich rule over
// elastic kernels, depths, widths and resolutions, one child of narrower widths cut out with the
// parameters `stats` counts for it, and exported.
TEST(TrainCli, WidthElasticSupernetTrainsAndANarrowChildIsCutOut) {
  fs::path base = fresh_dir("cella_bignas_");
  Result r =
      run_cella("train spaces/bignas.cella --smoke --threads 1 --samples 2 --json --out " + (base / "run").string());
  ASSERT_EQ(r.code, 0) << r.text;
  EXPECT_NE(r.text.find("cella: smoke test passed"), std::string::npos) << r.text;
  // The flat encoding: 14 kernels (MB3-MB7), 7 depths (MB1-MB7), 9 widths (the stem, MB1-MB7,
  // the last convolution), the resolution.
  const std::string arch = " --arch '[5,3,5,3,5,3,5,5,3,3,3,5,5,3,2,3,2,3,2,3,1,8,6,6,10,22,30,50,88,352,24]'";
  Result x = run_cella("extract --threads 1 --json --weights " + (base / "run").string() + arch + " --out " +
                       (base / "child").string());
  ASSERT_EQ(x.code, 0) << x.text;
  auto extracted = nlohmann::json::parse(x.text.substr(x.text.find('{')));
  Result stats = run_cella(
      "stats spaces/bignas.cella --data synthetic --set S=2 --set D4=3 --set D=3 --set R1=16 --set R2=20 --set R3=24 "
      "--set R4=28 --json" +
      arch);
  ASSERT_EQ(stats.code, 0) << stats.text;
  auto counted = nlohmann::json::parse(stats.text.substr(stats.text.find('{')));
  EXPECT_EQ(extracted["params"], counted["params"]);
  EXPECT_EQ(counted["params"], 452'154);
  Result exported =
      run_cella("export --threads 1 --weights " + (base / "child").string() + " --out " + (base / "exported").string());
  ASSERT_EQ(exported.code, 0) << exported.text;
  EXPECT_NE(slurp(base / "exported" / "model.py").find("swish=True"), std::string::npos);
  // From the supernet's run directly: a narrower child cut out, not full-width tensors copied
  // into it (that was an internal error).
  Result direct = run_cella("export --threads 1 --weights " + (base / "run").string() + arch + " --out " +
                            (base / "direct").string());
  ASSERT_EQ(direct.code, 0) << direct.text;
  EXPECT_NE(slurp(base / "direct" / "model.py").find("swish=True"), std::string::npos);
  fs::remove_all(base);
}

// `stats --latency` times the architecture as a stand-alone network at batch 1 and at --batch, at
// its own resolution, and reports the same parameters and MACs as `stats`; it needs an
// architecture, and the timing options need --latency.
TEST(TrainCli, StatsMeasuresTheLatencyOfAnArchitecture) {
  const std::string profile =
      "stats spaces/ofa_mbv3.cella --data synthetic --set W=2 --set D=3 --set R_min=20 --set R_max=28";
  const std::string arch = " --arch '[3,5,7,3,5,7,3,5,7,3,5,7,3,5,7,3,4,6,3,4,6,3,4,6,3,4,6,3,4,6,2,3,2,3,2,24]'";
  Result plain = run_cella(profile + arch + " --json");
  ASSERT_EQ(plain.code, 0) << plain.text;
  Result timed = run_cella(profile + arch + " --latency --batch 4 --repeats 3 --warmups 1 --threads 1 --json");
  ASSERT_EQ(timed.code, 0) << timed.text;
  auto a = nlohmann::json::parse(plain.text.substr(plain.text.find('{')));
  auto b = nlohmann::json::parse(timed.text.substr(timed.text.find('{')));
  EXPECT_EQ(a["params"], b["params"]);
  EXPECT_EQ(a["macs"], b["macs"]);
  const nlohmann::json& runs = b["latency"]["runs"];
  ASSERT_EQ(runs.size(), 2u) << b.dump();
  EXPECT_EQ(runs[0]["batch"], 1);
  EXPECT_EQ(runs[1]["batch"], 4);
  for (const auto& r : runs) {
    EXPECT_GT(r["median_ms"].get<double>(), 0);
    EXPECT_LE(r["q1_ms"].get<double>(), r["median_ms"].get<double>());
    EXPECT_LE(r["median_ms"].get<double>(), r["q3_ms"].get<double>());
  }
  EXPECT_EQ(b["latency"]["input"][1], 24);  // the architecture's resolution, not the data's 28
  EXPECT_EQ(b["latency"]["threads"], 1);
  EXPECT_EQ(b["latency"]["repeats"], 3);
  EXPECT_EQ(b["latency"]["cores"], std::thread::hardware_concurrency());
  EXPECT_TRUE(b["latency"]["load_average"].is_number()) << b.dump();
  // Without --threads: one thread, said with the load it ran under.
  Result text = run_cella(profile + arch + " --latency --batch 1 --repeats 2 --warmups 0");
  ASSERT_EQ(text.code, 0) << text.text;
  EXPECT_NE(text.text.find("  latency:    batch 1: "), std::string::npos) << text.text;
  EXPECT_NE(text.text.find("1 CPU thread, 2 timed passes after 0 untimed, eval mode, load average"), std::string::npos)
      << text.text;
  EXPECT_EQ(text.text.find("batch 1: ", text.text.find("batch 1: ") + 1), std::string::npos) << text.text;
  Result no_arch = run_cella(profile + " --latency");
  EXPECT_EQ(no_arch.code, 2) << no_arch.text;
  EXPECT_NE(no_arch.text.find("needs --arch"), std::string::npos) << no_arch.text;
  Result no_latency = run_cella(profile + arch + " --repeats 3");
  EXPECT_EQ(no_latency.code, 2) << no_latency.text;
  EXPECT_NE(no_latency.text.find("--repeats times latency; it needs --latency"), std::string::npos) << no_latency.text;
}

// OFA's progressive shrinking on the two-core profile, one epoch per phase: killed after its first
// checkpoint and resumed (the teacher and the sorted channels come back from the checkpoint, or
// are made again at the same epoch), it ends as the uninterrupted run does.
TEST(TrainCli, ProgressiveShrinkingResumesToTheSameResult) {
  fs::path base = fresh_dir("cella_shrinking_");
  const std::string cmd = "train spaces/ofa_mbv3.cella --search ofa_shrinking --smoke --threads 1 --samples 2 --out ";
  Result straight = run_cella(cmd + (base / "a").string());
  ASSERT_EQ(straight.code, 0) << straight.text;
  std::string metrics = slurp(base / "a" / "metrics.jsonl");
  EXPECT_EQ(std::count(metrics.begin(), metrics.end(), '\n'), 6) << metrics;
  bool killed = kill_cella_when(cmd + (base / "b").string(), base / "b" / "checkpoint.pt",
                                std::chrono::milliseconds(20), std::chrono::milliseconds(1500));
  ASSERT_TRUE(killed) << "the run finished before it could be killed; make it longer";
  // The resume derives from the run's own --samples (2), recorded in its configuration.
  EXPECT_EQ(nlohmann::json::parse(slurp(base / "b" / "config.json"))["samples"], 2);
  Result resumed = run_cella("train --resume " + (base / "b").string() + " --threads 1");
  ASSERT_EQ(resumed.code, 0) << resumed.text;
  EXPECT_NE(resumed.text.find("resuming after epoch"), std::string::npos) << resumed.text;
  EXPECT_EQ(slurp(base / "a" / "metrics.jsonl"), slurp(base / "b" / "metrics.jsonl"));
  EXPECT_EQ(slurp(base / "a" / "arch.txt"), slurp(base / "b" / "arch.txt"));
  auto ra = nlohmann::json::parse(slurp(base / "a" / "result.json"));
  auto rb = nlohmann::json::parse(slurp(base / "b" / "result.json"));
  EXPECT_EQ(ra["valid_acc_inherited"], rb["valid_acc_inherited"]);
  fs::remove_all(base);
}

// A retrain keeps a checkpoint after every epoch: killed after one and resumed, it ends with the
// uninterrupted run's weights and accuracies (each epoch draws its randomness from the seed and
// its number), and its metrics have each epoch once.
TEST(TrainCli, RetrainTrainsAFixedArchitectureAndResumes) {
  fs::path base = fresh_dir("cella_retrain_");
  const std::string retrain =
      "retrain spaces/nb201.cella --data synthetic --set C=8 --set N=1 --set data.subset=2048 --epochs 4 --threads 1 "
      "--json --arch '|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_1x1~2|' "
      "--set retrain.drop_path=0.2 --out ";
  Result r = run_cella(retrain + (base / "a").string());
  ASSERT_EQ(r.code, 0) << r.text;
  auto j = nlohmann::json::parse(r.text.substr(r.text.find('{')));
  EXPECT_GT(j["test_acc"].get<double>(), 15.0);  // synthetic classes are learnable: well above 10% chance
  EXPECT_TRUE(fs::exists(base / "a" / "metrics.jsonl"));
  const fs::path b = base / "b";
  bool killed = kill_cella_when(retrain + b.string(), b / "checkpoint.pt", std::chrono::milliseconds(20),
                                std::chrono::milliseconds(200));
  ASSERT_TRUE(killed) << "the retrain finished before it could be killed";
  ASSERT_FALSE(fs::exists(b / "result.json"));
  Result again = run_cella(retrain + b.string());
  EXPECT_EQ(again.code, 1) << again.text;
  EXPECT_NE(again.text.find("continue it with `cella retrain --resume"), std::string::npos) << again.text;
  Result resumed = run_cella("retrain --resume " + b.string() + " --threads 1");
  ASSERT_EQ(resumed.code, 0) << resumed.text;
  EXPECT_NE(resumed.text.find("resuming the retrain"), std::string::npos) << resumed.text;
  auto ra = nlohmann::json::parse(slurp(base / "a" / "result.json"));
  auto rb = nlohmann::json::parse(slurp(b / "result.json"));
  EXPECT_EQ(ra["test_acc"], rb["test_acc"]);
  EXPECT_EQ(ra["train_acc"], rb["train_acc"]);
  EXPECT_TRUE(slurp(base / "a" / "weights.pt") == slurp(b / "weights.pt")) << "the weights differ";
  const std::string metrics = slurp(b / "metrics.jsonl");
  EXPECT_EQ(std::count(metrics.begin(), metrics.end(), '\n'), 4) << metrics;
  Result finished = run_cella("retrain --resume " + b.string() + " --threads 1");
  EXPECT_EQ(finished.code, 0) << finished.text;
  EXPECT_NE(finished.text.find("finished already"), std::string::npos) << finished.text;
  fs::remove_all(base);
}

TEST(Extending, AnOperationWrittenInCellaTrainsWithoutCpp) {
  fs::path out = fs::temp_directory_path() / ("cella_lang_" + std::to_string(getpid()));
  Result r = run_cella("train examples/custom_op_language/space.cella --threads 1 --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.text;
  std::string arch = slurp(out / "arch.txt");
  EXPECT_EQ(arch.front(), '|');
  fs::remove_all(out);
}

TEST(Extending, APluginAddsAnOperationToCheckAndTrain) {
  const std::string plugin = CELLA_PLUGIN;
  EXPECT_EQ(run_cella("check examples/custom_op_plugin/space.cella").code, 1);  // gelu_conv unknown without the plugin
  Result check = run_cella("check --plugin " + plugin + " examples/custom_op_plugin/space.cella");
  EXPECT_EQ(check.code, 0) << check.text;
  fs::path base = fresh_dir("cella_plugin_");
  fs::path out = base / "run";
  // The file has three search blocks: without --search the first runs, and the run says so.
  Result first = run_cella("train --plugin " + plugin + " examples/custom_op_plugin/space.cella --threads 1 --out " +
                           out.string());
  EXPECT_EQ(first.code, 0) << first.text;
  EXPECT_NE(first.text.find("running search block 'tiny', the first of 3 in examples/custom_op_plugin/space.cella "
                            "(tiny, random_gm, random_edge); pick another with --search NAME"),
            std::string::npos)
      << first.text;
  fs::remove_all(out);
  // A copy of the library, so that it can be moved away afterwards.
  fs::create_directories(base);
  fs::copy_file(plugin, base / "libmine.so");
  Result train = run_cella("train --plugin " + (base / "libmine.so").string() +
                           " examples/custom_op_plugin/space.cella --search tiny --threads 1 --out " + out.string());
  ASSERT_EQ(train.code, 0) << train.text;
  // The run records its plugins: commands that reopen it need no --plugin.
  Result derive = run_cella("derive " + out.string() + " --threads 1");
  EXPECT_EQ(derive.code, 0) << derive.text;
  Result eval = run_cella("eval examples/custom_op_plugin/space.cella --threads 1 --weights " + out.string() +
                          " --arch \"$(cat " + (out / "arch.txt").string() + ")\"");
  EXPECT_EQ(eval.code, 0) << eval.text;
  fs::rename(base / "libmine.so", base / "libmoved.so");
  Result moved = run_cella("derive " + out.string() + " --threads 1");
  EXPECT_EQ(moved.code, 1) << moved.text;
  EXPECT_NE(moved.text.find("which is no longer there; rebuild it, or pass the library's new path with --plugin"),
            std::string::npos)
      << moved.text;
  Result given = run_cella("derive " + out.string() + " --threads 1 --plugin " + (base / "libmoved.so").string());
  EXPECT_EQ(given.code, 0) << given.text;
  fs::remove_all(base);
}

// A split criterion from a plugin: `cella check` knows its name only with the plugin, and a
// gradient-matching plan that names it splits by it (random_partition ignores the gradients).
TEST(Extending, APluginAddsASplitCriterion) {
  const std::string plugin = CELLA_PLUGIN;
  const std::string file = " examples/custom_op_plugin/space.cella --search random_gm";
  Result check = run_cella("check --plugin " + plugin + file);
  EXPECT_EQ(check.code, 0) << check.text;
  fs::path out = fs::temp_directory_path() / ("cella_criterion_" + std::to_string(getpid()));
  Result search = run_cella("search --plugin " + plugin + file + " --smoke --threads 1 --out " + out.string());
  ASSERT_EQ(search.code, 0) << search.text;
  EXPECT_NE(search.text.find("split by criterion 'random_partition' into"), std::string::npos) << search.text;
  auto tree = nlohmann::json::parse(slurp(out / "tree.json"));
  ASSERT_EQ(tree["nodes"].size(), 3u);  // the root and its two groups
  const auto& scores = tree["nodes"][1]["split"]["scores"];
  // A gradient-matching score is a cosine of the same gradients for the same candidate: 1 on the
  // diagonal; the random criterion's off-diagonal values are uniform in [0, 1] and symmetric.
  EXPECT_EQ(scores[0][1], scores[1][0]);
  for (std::size_t i = 0; i < scores.size(); ++i) EXPECT_EQ(scores[i][i].get<double>(), 1.0);
  fs::remove_all(out);
}

// A split strategy from a plugin (examples/custom_op_plugin/my_strategy.cpp): the plan names it
// only with the plugin loaded; the search splits one of the cell's edges into one child per
// candidate and records the strategy in its tree.
TEST(Extending, APluginAddsASplitStrategy) {
  const std::string plugin = CELLA_PLUGIN;
  const std::string file = " examples/custom_op_plugin/space.cella --search random_edge";
  Result misspelt = run_cella("check --plugin " + plugin + file + " --set split=random_edg");
  EXPECT_EQ(misspelt.code, 1) << misspelt.text;
  EXPECT_NE(misspelt.text.find("did you mean 'random_edge'?"), std::string::npos) << misspelt.text;
  fs::path base = fresh_dir("cella_strategy_");
  Result r = run_cella("search --plugin " + plugin + file + " --threads 1 --out " + (base / "run").string());
  ASSERT_EQ(r.code, 0) << r.text;
  EXPECT_NE(r.text.find("random_edge split of edge"), std::string::npos) << r.text;
  auto tree = nlohmann::json::parse(slurp(base / "run" / "tree.json"));
  EXPECT_EQ(tree["strategy"], "random_edge");
  EXPECT_EQ(tree["nodes"].size(), 1u + 4u);  // the root and one child per candidate of the drawn edge
  EXPECT_EQ(tree["nodes"][1]["made_by"], "random_edge");
  fs::remove_all(base);
}

// A training method from a plugin (examples/custom_op_plugin/my_method.cpp): the plan names it
// only with the plugin loaded, and it trains differently from the DARTS it builds on.
TEST(Extending, APluginAddsATrainingMethod) {
  const std::string plugin = CELLA_PLUGIN;
  const std::string file = " examples/custom_op_plugin/space.cella --search tiny --threads 1";
  Result unknown = run_cella("check --plugin " + plugin + file.substr(0, file.find(" --threads")) +
                             " --set supernet.weights=smooth_dart");
  EXPECT_EQ(unknown.code, 1) << unknown.text;
  EXPECT_NE(unknown.text.find("did you mean 'smooth_darts'?"), std::string::npos) << unknown.text;
  fs::path base = fresh_dir("cella_method_");
  Result smooth = run_cella("train --plugin " + plugin + file + " --set supernet.weights=smooth_darts --out " +
                            (base / "smooth").string());
  ASSERT_EQ(smooth.code, 0) << smooth.text;
  EXPECT_NE(smooth.text.find("training the smooth_darts supernet"), std::string::npos) << smooth.text;
  Result darts =
      run_cella("train --plugin " + plugin + file + " --set supernet.weights=darts --out " + (base / "darts").string());
  ASSERT_EQ(darts.code, 0) << darts.text;
  auto first_loss = [&](const fs::path& run) {
    std::string metrics = slurp(run / "metrics.jsonl");
    return nlohmann::json::parse(metrics.substr(0, metrics.find('\n')))["train_loss"].get<double>();
  };
  EXPECT_NE(first_loss(base / "smooth"), first_loss(base / "darts"));  // the noise changed the weight steps
  Result derive = run_cella("derive " + (base / "smooth").string() + " --threads 1");  // the run recorded the plugin
  EXPECT_EQ(derive.code, 0) << derive.text;
  fs::remove_all(base);
}

TEST(Extending, PluginErrorsAreOneLine) {
  Result missing = run_cella("check --plugin /nonexistent/libnothing.so spaces/nb201.cella");
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.text.find("cannot load plugin /nonexistent/libnothing.so"), std::string::npos) << missing.text;
  Result not_a_plugin = run_cella("check --plugin spaces/nb201.cella spaces/nb201.cella");
  EXPECT_EQ(not_a_plugin.code, 1);
  Result twice = run_cella("check --plugin " CELLA_DUP_PLUGIN " spaces/nb201.cella");
  EXPECT_EQ(twice.code, 1);
  EXPECT_NE(twice.text.find("operation 'conv' is registered twice"), std::string::npos) << twice.text;
  EXPECT_EQ(std::count(twice.text.begin(), twice.text.end(), '\n'), 1) << twice.text;
  Result no_plugin = run_cella("check tests/search/gradient_match.cella --set split.criterion=random_partition");
  EXPECT_EQ(no_plugin.code, 1);
  EXPECT_NE(no_plugin.text.find("'random_partition' is not a valid value for 'split.criterion'"), std::string::npos)
      << no_plugin.text;
  // A plugin's criterion scores cell edges; elastic layers are scored by gradient matching alone.
  Result elastic = run_cella(std::string("check --plugin ") + CELLA_PLUGIN +
                             " spaces/ofa_mbv3.cella --search ofa_gm --set split.criterion=random_partition");
  EXPECT_EQ(elastic.code, 1) << elastic.text;
  EXPECT_NE(elastic.text.find("criterion 'random_partition' scores the edges of cells"), std::string::npos)
      << elastic.text;
}

nlohmann::json search_tree(const std::string& file, const std::string& extra, const fs::path& out) {
  Result r = run_cella("search " + file + " --smoke --threads 1 " + extra + " --out " + out.string());
  EXPECT_EQ(r.code, 0) << r.text;
  EXPECT_TRUE(fs::exists(out / "tree.json")) << r.text;
  EXPECT_TRUE(fs::exists(out / "arch.txt"));
  return nlohmann::json::parse(slurp(out / "tree.json"));
}

// A run's split tree without the phase times, which differ between runs.
nlohmann::json tree_without_times(const fs::path& run) {
  auto tree = nlohmann::json::parse(slurp(run / "tree.json"));
  tree.erase("phases");
  return tree;
}

int children_of(const nlohmann::json& tree, int parent) {
  int n = 0;
  for (const auto& node : tree["nodes"]) n += node["parent"] == parent;
  return n;
}

TEST(Search, EveryStrategyRunsEndToEndAndRecordsItsTree) {
  fs::path base = fresh_dir("cella_search_");
  auto few = search_tree("tests/search/exhaustive.cella", "", base / "few");
  EXPECT_EQ(few["strategy"], "exhaustive");
  EXPECT_EQ(children_of(few, 0), 5);  // one sub-supernet per operation of edge 1<-0
  for (const auto& node : few["nodes"]) {
    if (node["parent"] == 0) {
      EXPECT_EQ(node["mask"]["1<-0"].size(), 1u);
    }
  }

  auto gm = search_tree("tests/search/gradient_match.cella", "", base / "gm");
  EXPECT_EQ(gm["nodes"].size(), 7u);  // root, 2 children, 4 leaves
  EXPECT_EQ(children_of(gm, 0), 2);
  const auto& split = gm["nodes"][1]["split"];
  EXPECT_EQ(split["scores"].size(), 5u);
  EXPECT_EQ(split["groups"][0].size() + split["groups"][1].size(), 5u);

  auto hep = search_tree("spaces/nb201.cella", "--set C=4 --set N=1", base / "hep");
  EXPECT_EQ(hep["strategy"], "hierarchical");
  int kept = 0;
  for (const auto& node : hep["nodes"]) kept += node.value("kept", false);
  EXPECT_EQ(hep["nodes"].size(), 1u + 2u + 4u + 8u);
  EXPECT_EQ(kept, 3);  // one sub-supernet kept per hierarchy
  EXPECT_EQ(slurp(base / "hep" / "arch.txt").front(), '|');
  fs::remove_all(base);
}

// GM-NAS on OFA's space (`--search ofa_gm`, two of its three split points, stages of depth 2 to
// keep the test short): two splits of elastic layers' kernel sizes into two groups, 4 leaves; each
// split is recorded with its layer, scores and groups, each node's mask with the kernel sizes it
// keeps of every layer; the derived architecture is evaluated in the sub-supernet that holds it.
TEST(Search, GradientMatchingSplitsTheKernelSizesOfElasticLayers) {
  fs::path base = fresh_dir("cella_search_elastic_");
  auto gm = search_tree("spaces/ofa_mbv3.cella", "--search ofa_gm --set D=2 --set split.at=[4,8]", base / "gm");
  EXPECT_EQ(gm["strategy"], "gradient_match");
  ASSERT_EQ(gm["nodes"].size(), 1u + 2u + 4u);
  EXPECT_EQ(children_of(gm, 0), 2);
  const auto& root = gm["nodes"][0];
  EXPECT_EQ(root["mask"].size(), 10u);  // every elastic layer: 5 stages of 2
  EXPECT_EQ(root["mask"]["layers.2 k"], (nlohmann::json{"3", "5", "7"}));
  const auto& split = gm["nodes"][1]["split"];
  const std::string layer = split["edge"].get<std::string>();
  EXPECT_EQ(layer.substr(0, 7), "layers.");
  EXPECT_EQ(layer.substr(layer.size() - 2), " k");
  EXPECT_EQ(split["scores"].size(), 3u);
  EXPECT_EQ(split["groups"][0].size() + split["groups"][1].size(), 3u);
  for (int child : {1, 2}) {
    const auto& kept = gm["nodes"][child]["mask"][layer];
    EXPECT_EQ(kept, split["groups"][child - 1]) << gm["nodes"][child].dump();
  }
  Result e = run_cella("eval spaces/ofa_mbv3.cella --threads 1 --weights " + (base / "gm").string() + " --arch " +
                       (base / "gm").string());
  EXPECT_EQ(e.code, 0) << e.text;
  // The same split of a supernet the sandwich rule trains: its sub-supernets train their own
  // largest, smallest and random children (runtime unit tests check they stay inside).
  auto sandwich =
      search_tree("spaces/ofa_mbv3.cella",
                  "--search ofa_gm --set D=2 --set split.at=[4] --set supernet.sampler=sandwich", base / "sandwich");
  EXPECT_EQ(sandwich["nodes"].size(), 1u + 2u);
  fs::remove_all(base);
}

TEST(Search, TheSameSeedGivesTheSameTree) {
  fs::path base = fresh_dir("cella_search_seed_");
  search_tree("tests/search/gradient_match.cella", "--seed 4", base / "a");
  search_tree("tests/search/gradient_match.cella", "--seed 4", base / "b");
  EXPECT_EQ(tree_without_times(base / "a"), tree_without_times(base / "b"));
  fs::remove_all(base);
}

// A search killed in the middle (during the children's round-robin training) and resumed
// ends with the same split tree and architecture as an uninterrupted one.
TEST(Search, KilledAndResumedEndsLikeAnUninterruptedSearch) {
  fs::path base = fresh_dir("cella_search_kill_");
  const std::string args = "search spaces/nb201.cella --smoke --set C=6 --set N=1 --threads 1 --seed 5";
  auto straight = search_tree("spaces/nb201.cella", "--set C=6 --set N=1 --seed 5", base / "a");
  // Kill once the second level of children has started training.
  ASSERT_TRUE(kill_cella_when(args + " --out " + (base / "b").string(), base / "b" / "node-4-e4.pt",
                              std::chrono::milliseconds(10)))
      << "the search finished before it could be killed";
  ASSERT_FALSE(fs::exists(base / "b" / "tree.json"));
  Result resumed = run_cella("search --resume " + (base / "b").string() + " --threads 1");
  ASSERT_EQ(resumed.code, 0) << resumed.text;
  auto a = tree_without_times(base / "a"), b = tree_without_times(base / "b");
  EXPECT_EQ(a, b);
  EXPECT_EQ(slurp(base / "a" / "arch.txt"), slurp(base / "b" / "arch.txt"));
  // metrics.jsonl lists every epoch of every sub-supernet once, as the uninterrupted run's does,
  // those trained before the checkpoints the resume started from included.
  auto epochs = [](const fs::path& run) {
    std::vector<std::string> out;
    std::stringstream in(slurp(run / "metrics.jsonl"));
    for (std::string line; std::getline(in, line);) {
      auto j = nlohmann::json::parse(line);
      if (j.contains("epoch"))
        out.push_back(j.value("phase", "") + " " + std::to_string(j.value("node", -1)) + " " +
                      std::to_string(j["epoch"].get<int>()));
    }
    return out;
  };
  EXPECT_FALSE(epochs(base / "a").empty());
  EXPECT_EQ(epochs(base / "a"), epochs(base / "b"));
  fs::remove_all(base);
}

// HEP-NAS trains the children of a level round-robin; killed in the middle of the second round
// (one child a round ahead of its siblings), the resumed search skips what its checkpoints
// supersede and ends with the same tree. Each sub-supernet keeps only its newest checkpoint.
TEST(Search, KilledInARoundRobinRoundAndResumedEndsTheSame) {
  fs::path base = fresh_dir("cella_search_rr_");
  const std::string args = "search tests/search/hierarchical.cella --threads 1";
  Result straight = run_cella(args + " --out " + (base / "a").string());
  ASSERT_EQ(straight.code, 0) << straight.text;
  // Nodes 3-6 are the second level's children (lineage epochs 5 and 6, after the root's epoch,
  // the first children's two and the kept child's plain one); node 3 ends round 2 first.
  ASSERT_TRUE(kill_cella_when(args + " --out " + (base / "b").string(), base / "b" / "node-3-e6.pt",
                              std::chrono::milliseconds(2)))
      << "the search finished before it could be killed";
  // A kill between writing a checkpoint and removing the older one leaves both: the resumed
  // search removes the stale one (made here, since the kill rarely lands in that window).
  fs::copy_file(base / "b" / "node-3-e6.pt", base / "b" / "node-3-e1.pt");
  fs::copy_file(base / "b" / "node-3-e6.json", base / "b" / "node-3-e1.json");
  Result resumed = run_cella("search --resume " + (base / "b").string() + " --threads 1");
  ASSERT_EQ(resumed.code, 0) << resumed.text;
  EXPECT_FALSE(fs::exists(base / "b" / "node-3-e1.json"));
  auto a = tree_without_times(base / "a"), b = tree_without_times(base / "b");
  EXPECT_EQ(a, b);
  // The kept child of a level trains its two children's epochs (with distillation), then the
  // plain epoch between the split points, on top of them; the next children go on from there.
  auto epochs_of = [](const nlohmann::json& node) {
    std::vector<int> out;
    for (const auto& e : node["curve"]) out.push_back(e["epoch"].get<int>());
    return out;
  };
  for (const auto& n : a["nodes"]) {
    if (n["level"] == 1 && n.value("kept", false)) {
      EXPECT_EQ(epochs_of(n), (std::vector<int>{2, 3, 4}));
    }
    if (n["level"] == 2) {
      EXPECT_EQ(epochs_of(n).front(), 5);
    }
  }
  int checkpoints = 0;
  for (const auto& f : fs::directory_iterator(base / "b")) checkpoints += f.path().extension() == ".pt";
  EXPECT_EQ(checkpoints, static_cast<int>(b["nodes"].size()));
  fs::remove_all(base);
}

// Sub-supernets are judged on the whole validation split by default (the references' rule; it
// used to be the first 2,000 images), or on the first `select_images`.
TEST(Search, SelectionJudgesOnTheWholeValidationSplit) {
  fs::path base = fresh_dir("cella_search_images_");
  const std::string args =
      "search tests/search/exhaustive.cella --threads 1 --set data.subset=4400 "
      "--set supernet.epochs=2 --set split.at=[1] --out ";
  Result all = run_cella(args + (base / "all").string());
  ASSERT_EQ(all.code, 0) << all.text;
  EXPECT_NE(all.text.find("standard error of an accuracy on 2200 images"), std::string::npos) << all.text;
  Result some = run_cella(args + (base / "some").string() + " --set split.select_images=500");
  ASSERT_EQ(some.code, 0) << some.text;
  EXPECT_NE(some.text.find("standard error of an accuracy on 500 images"), std::string::npos) << some.text;
  fs::remove_all(base);
}

// `select valid_acc` keeps the sibling with the highest validation accuracy, `select valid_loss`
// the one with the lowest validation loss; both are recorded for every judged node.
TEST(Search, TheKeptSubSupernetIsTheBestByThePlansSelection) {
  fs::path base = fresh_dir("cella_search_select_");
  for (const std::string select : {"valid_acc", "valid_loss"}) {
    auto tree = search_tree("spaces/nb201.cella", "--set split.select=" + select, base / select);
    std::map<int, std::vector<nlohmann::json>> siblings;  // parent -> judged children
    for (const auto& n : tree["nodes"])
      if (n["valid_loss"].is_number() && n["parent"].get<int>() >= 0) siblings[n["parent"].get<int>()].push_back(n);
    ASSERT_EQ(siblings.size(), 3u) << select;  // one group of siblings per hierarchy
    for (const auto& [parent, kids] : siblings) {
      auto better = [&](const nlohmann::json& a, const nlohmann::json& b) {
        return select == "valid_acc" ? a["valid_acc"].get<double>() > b["valid_acc"].get<double>()
                                     : a["valid_loss"].get<double>() < b["valid_loss"].get<double>();
      };
      for (const auto& kept : kids) {
        if (!kept.value("kept", false)) continue;
        for (const auto& other : kids) {
          EXPECT_FALSE(better(other, kept)) << select << ": node " << other["id"] << " beats kept " << kept["id"];
        }
      }
    }
  }
  fs::remove_all(base);
}

// A search block's `smoke { C 2 }` sets network parameters under --smoke; `--set` still wins,
// and commands that reopen the run (eval) rebuild the same smaller network.
TEST(Search, TheSmokeBlockShrinksTheNetworkAndTheCommandLineWins) {
  fs::path base = fresh_dir("cella_search_smoke_");
  Result small = run_cella("search tests/search/exhaustive.cella --smoke --threads 1 --out " + (base / "a").string());
  ASSERT_EQ(small.code, 0) << small.text;
  EXPECT_NE(small.text.find("search of net(C=2, N=1, classes=10) (smoke test"), std::string::npos) << small.text;
  // A smoke result says what it is: a check that the plan runs, not an answer about the space.
  EXPECT_NE(small.text.find("smoke test passed: the whole plan ran end to end"), std::string::npos) << small.text;
  Result set =
      run_cella("search tests/search/exhaustive.cella --smoke --set C=3 --threads 1 --out " + (base / "b").string());
  ASSERT_EQ(set.code, 0) << set.text;
  EXPECT_NE(set.text.find("search of net(C=3, N=1, classes=10)"), std::string::npos) << set.text;
  Result full = run_cella("show tests/search/exhaustive.cella");  // without --smoke: the declared network
  EXPECT_NE(full.text.find("network net(C=4, N=1, classes=10)"), std::string::npos) << full.text;
  Result eval = run_cella("eval tests/search/exhaustive.cella --threads 1 --weights " + (base / "a").string() +
                          " --arch '|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|'");
  EXPECT_EQ(eval.code, 0) << eval.text;
  EXPECT_EQ(eval.text.find("do not rank them"), std::string::npos) << eval.text;  // trained by path sampling
  fs::remove_all(base);
}

// `cella eval --weights SEARCH_RUN` judges each architecture with the deepest sub-supernet of the
// split tree whose mask holds it.
TEST(Search, EvalUsesTheSubSupernetThatHoldsTheArchitecture) {
  fs::path base = fresh_dir("cella_search_eval_");
  auto tree = search_tree("tests/search/exhaustive.cella", "", base / "few");
  // Edge 1<-0 is split into one child per operation; the children are the leaves.
  std::map<std::string, int> child_of_op;
  for (const auto& n : tree["nodes"])
    if (n["parent"] == 0) child_of_op[n["mask"]["1<-0"][0].get<std::string>()] = n["id"].get<int>();
  ASSERT_EQ(child_of_op.size(), 5u);
  std::ofstream(base / "archs.txt") << "# two architectures\n"
                                    << "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|\n"
                                    << "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|\n";
  Result r = run_cella("eval tests/search/exhaustive.cella --threads 1 --json --weights " + (base / "few").string() +
                       " --archs " + (base / "archs.txt").string());
  ASSERT_EQ(r.code, 0) << r.text;
  auto rows = nlohmann::json::parse(r.text.substr(r.text.find("[\n")));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["node"], child_of_op["nor_conv_3x3"]);
  EXPECT_EQ(rows[1]["node"], child_of_op["avg_pool_3x3"]);
  for (const auto& row : rows) EXPECT_GE(row["valid_acc"].get<double>(), 0.0);
  // --node 0: the supernet as it was when first split holds every architecture.
  Result root = run_cella("eval tests/search/exhaustive.cella --threads 1 --json --node 0 --weights " +
                          (base / "few").string() + " --archs " + (base / "archs.txt").string());
  ASSERT_EQ(root.code, 0) << root.text;
  for (const auto& row : nlohmann::json::parse(root.text.substr(root.text.find("[\n")))) EXPECT_EQ(row["node"], 0);
  Result elsewhere = run_cella("eval tests/search/exhaustive.cella --node " + std::to_string(child_of_op["none"]) +
                               " --weights " + (base / "few").string() + " --archs " + (base / "archs.txt").string());
  EXPECT_EQ(elsewhere.code, 2) << elsewhere.text;
  EXPECT_NE(elsewhere.text.find("does not hold"), std::string::npos) << elsewhere.text;
  Result bad =
      run_cella("eval tests/search/exhaustive.cella --weights " + (base / "few").string() + " --arch '|bogus~0|'");
  EXPECT_EQ(bad.code, 2) << bad.text;
  fs::remove_all(base);
}

// What a new user hit on DARTS-style spaces, where every node keeps exactly two inputs: path
// sampling trained and derived outside the space, sub-supernet ranking fell back to the root,
// and Few-Shot NAS under path sampling crashed on the shipped DARTS space. Each search below
// must derive an architecture every command accepts, which `cella eval` then judges with the
// sub-supernet that derived it.
void expect_derived_arch_is_usable(const std::string& file, const fs::path& run, const std::string& sets) {
  const std::string arch = cella::testing_helpers::slurp((run / "arch.txt").string());
  ASSERT_FALSE(arch.empty());
  std::ofstream(run / "archs.txt") << arch;
  Result stats = run_cella("stats " + file + " " + sets + " --arch " + run.string());  // the run's arch.txt
  EXPECT_EQ(stats.code, 0) << stats.text;
  Result eval = run_cella("eval " + file + " --threads 1 --json --weights " + run.string() + " --archs " +
                          (run / "archs.txt").string());
  ASSERT_EQ(eval.code, 0) << eval.text;
  auto rows = nlohmann::json::parse(eval.text.substr(eval.text.find("[\n")));
  ASSERT_EQ(rows.size(), 1u);
  if (fs::exists(run / "tree.json")) {
    auto tree = nlohmann::json::parse(slurp(run / "tree.json"));
    EXPECT_EQ(rows[0]["node"], tree["selected"]) << "the leaf that derived the architecture must judge it";
    Result node = run_cella("eval " + file + " --threads 1 --node " + std::to_string(tree["selected"].get<int>()) +
                            " --weights " + run.string() + " --archs " + (run / "archs.txt").string());
    EXPECT_EQ(node.code, 0) << node.text;
  }
}

// The NASNet space's plan (single-path sampling) runs end to end, and its architecture (cells
// whose width depends on it) evaluates on the run's supernet and counts as a stand-alone network.
TEST(Nasnet, TheShippedPlanRunsAndItsArchitectureIsUsable) {
  fs::path base = fresh_dir("cella_nasnet_");
  Result r = run_cella("search spaces/nasnet.cella --smoke --threads 1 --out " + (base / "run").string());
  ASSERT_EQ(r.code, 0) << r.text;
  expect_derived_arch_is_usable("spaces/nasnet.cella", base / "run", "--set F=4 --set N=1");
  fs::remove_all(base);
}

TEST(SelectSpaces, PathSamplingAndDartsWeightsStayInsideTheSpace) {
  fs::path base = fresh_dir("cella_select_");
  const std::string file = "tests/search/select.cella";
  // Few-Shot NAS under path sampling: edge 2<-0 split by operation; the `none` child holds no
  // architecture (node 2 has two inputs, both kept) and is left out, with a word.
  Result few = run_cella("search " + file + " --smoke --threads 1 --out " + (base / "few").string());
  ASSERT_EQ(few.code, 0) << few.text;
  EXPECT_NE(few.text.find("a child is left out because it holds no architecture of the space"), std::string::npos)
      << few.text;
  auto tree = nlohmann::json::parse(slurp(base / "few" / "tree.json"));
  EXPECT_EQ(tree["nodes"].size(), 4u);
  expect_derived_arch_is_usable(file, base / "few", "");
  // GM-NAS with DARTS weights on the same space.
  Result gm = run_cella("search " + file +
                        " --smoke --threads 1 --set supernet.weights=darts --set split=gradient_match --out " +
                        (base / "gm").string());
  ASSERT_EQ(gm.code, 0) << gm.text;
  expect_derived_arch_is_usable(file, base / "gm", "");
  Result retrain = run_cella("retrain " + file + " --threads 1 --epochs 1 --set data.subset=64 --arch \"$(cat " +
                             (base / "gm" / "arch.txt").string() + ")\" --out " + (base / "retrain").string());
  EXPECT_EQ(retrain.code, 0) << retrain.text;
  fs::remove_all(base);
}

TEST(SelectSpaces, TheShippedDartsSpaceUnderPathSampling) {
  fs::path base = fresh_dir("cella_darts_uniform_");
  const std::string sets = "--set C=2 --set layers=5";
  Result train = run_cella("train spaces/darts.cella --data synthetic " + sets +
                           " --set supernet.epochs=1 --set supernet.sampler=uniform "
                           "--set split=none --set data.subset=128 --samples 3 --threads 1 --out " +
                           (base / "train").string());
  ASSERT_EQ(train.code, 0) << train.text;
  expect_derived_arch_is_usable("spaces/darts.cella", base / "train", sets);
  // Few-Shot NAS on the first normal edge under path sampling (an internal error before: a
  // node of a reduction cell fed only by `none` got the inputs' resolution).
  Result few = run_cella(
      "search spaces/darts.cella --smoke --threads 1 --set C=2 --set split=exhaustive --set split.at=[1] "
      "--set supernet.sampler=uniform --out " +
      (base / "few").string());
  ASSERT_EQ(few.code, 0) << few.text;
  expect_derived_arch_is_usable("spaces/darts.cella", base / "few", "");
  fs::remove_all(base);
}

// Second-order DARTS (supernet.unrolled) runs the shipped DARTS plan end to end.
TEST(SelectSpaces, TheShippedDartsSpaceWithSecondOrderDarts) {
  fs::path run = fresh_dir("cella_darts_unrolled_");
  Result r = run_cella("search spaces/darts.cella --smoke --threads 1 --set C=2 --set supernet.unrolled=true --out " +
                       run.string());
  ASSERT_EQ(r.code, 0) << r.text;
  expect_derived_arch_is_usable("spaces/darts.cella", run, "");
  fs::remove_all(run);
}

// ProxylessNAS on its space: the shipped plan end to end, a latency term that lowers the
// expected latency the further the larger its weight, and a kill and resume that ends like an
// uninterrupted run (the latency table travels in the checkpoint).
const std::string kProxyless =
    "train spaces/proxyless.cella --data synthetic --set W=1 --set blocks=2 --set data.subset=512 --set "
    "supernet.epochs=3 --set supernet.arch_warmup=0 --set supernet.arch_every=2 --set supernet.arch_lr=0.05 "
    "--set supernet.latency=macs --seed 4 --threads 1";

std::vector<double> expected_latencies(const fs::path& run) {
  std::vector<double> out;
  std::istringstream lines(slurp(run / "metrics.jsonl"));
  for (std::string line; std::getline(lines, line);) out.push_back(nlohmann::json::parse(line)["expected_latency"]);
  return out;
}

TEST(Proxyless, TheShippedPlanRunsAndTheLatencyTermLowersTheExpectedLatency) {
  fs::path base = fresh_dir("cella_proxyless_");
  Result smoke = run_cella("search spaces/proxyless.cella --smoke --threads 1 --out " + (base / "smoke").string());
  ASSERT_EQ(smoke.code, 0) << smoke.text;
  expect_derived_arch_is_usable("spaces/proxyless.cella", base / "smoke", "--set W=1 --set blocks=2");
  auto costs = nlohmann::json::parse(slurp(base / "smoke" / "arch_costs.json"));
  EXPECT_GT(costs["latency_ms"].get<double>(), 0);
  EXPECT_GT(costs["params"].get<std::int64_t>(), 0);
  std::vector<double> last;
  for (const char* weight : {"0", "1", "10"}) {
    fs::path run = base / weight;
    Result r = run_cella(kProxyless + " --set supernet.latency_weight=" + weight + " --out " + run.string());
    ASSERT_EQ(r.code, 0) << r.text;
    std::vector<double> e = expected_latencies(run);
    ASSERT_EQ(e.size(), 3u);
    last.push_back(e.back());
  }
  EXPECT_LT(last[1], last[0]);
  EXPECT_LT(last[2], last[1]);
  fs::remove_all(base);
}

TEST(Proxyless, KilledAndResumedEndsLikeAnUninterruptedRun) {
  fs::path base = fresh_dir("cella_proxyless_kill_");
  fs::path a = base / "a", b = base / "b";
  const std::string train = kProxyless + " --set supernet.latency_weight=1 --set supernet.epochs=4";
  Result straight = run_cella(train + " --out " + a.string());
  ASSERT_EQ(straight.code, 0) << straight.text;
  bool killed = kill_cella_when(train + " --out " + b.string(), b / "checkpoint.pt", std::chrono::milliseconds(20),
                                std::chrono::milliseconds(100));
  ASSERT_TRUE(killed) << "the run finished before it could be killed; make it longer";
  Result resumed = run_cella("train --resume " + b.string() + " --threads 1");
  ASSERT_EQ(resumed.code, 0) << resumed.text;
  EXPECT_NE(resumed.text.find("resuming after epoch"), std::string::npos) << resumed.text;
  EXPECT_EQ(slurp(a / "arch.txt"), slurp(b / "arch.txt"));
  EXPECT_EQ(expected_latencies(a), expected_latencies(b));
  fs::remove_all(base);
}

// Documented paths that ended in errors with no way forward.
TEST(DeadEnds, DeriveEvalAndResumeWorkOnEveryKindOfRun) {
  fs::path base = fresh_dir("cella_dead_ends_");
  const fs::path search = base / "search";
  Result few = run_cella("search tests/search/exhaustive.cella --smoke --threads 1 --out " + search.string());
  ASSERT_EQ(few.code, 0) << few.text;
  // derive on a search run derives from its selected leaf (it said "no such checkpoint").
  Result derive = run_cella("derive " + search.string() + " --threads 1");
  EXPECT_EQ(derive.code, 0) << derive.text;
  EXPECT_NE(derive.text.find("the search's selected leaf"), std::string::npos) << derive.text;
  // A finished run has nothing to resume, and says so at once.
  Result again = run_cella("search --resume " + search.string() + " --threads 1");
  EXPECT_EQ(again.code, 0) << again.text;
  EXPECT_NE(again.text.find("finished already; nothing to resume"), std::string::npos) << again.text;
  EXPECT_EQ(again.text.find("selected leaf"), std::string::npos) << "the search was replayed: " << again.text;
  // One line of metrics per epoch of each node, besides the events.
  std::string metrics = slurp(search / "metrics.jsonl");
  EXPECT_NE(metrics.find("\"node\":1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("\"valid_acc\""), std::string::npos) << metrics;
  // A damaged checkpoint: a one-line error that says what to do.
  const std::string arch = " --arch '|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|'";
  int owner = -1;  // the child that keeps nor_conv_3x3 on 1<-0
  const auto finished_tree = nlohmann::json::parse(slurp(search / "tree.json"));
  for (const auto& n : finished_tree["nodes"])
    if (n["parent"] == 0 && n["mask"]["1<-0"][0] == "nor_conv_3x3") owner = n["id"].get<int>();
  std::string checkpoint;
  for (const auto& f : fs::directory_iterator(search))
    if (f.path().filename().string().starts_with("node-" + std::to_string(owner) + "-e") &&
        f.path().extension() == ".pt")
      checkpoint = f.path().string();
  ASSERT_FALSE(checkpoint.empty());
  std::ofstream(checkpoint, std::ios::trunc) << "not a checkpoint";
  Result damaged = run_cella("eval tests/search/exhaustive.cella --threads 1 --weights " + search.string() + arch);
  EXPECT_EQ(damaged.code, 1) << damaged.text;
  EXPECT_NE(damaged.text.find(
                "not a cella checkpoint, or damaged; delete that file (and its .json, if it has one) and run `cella "
                "search --resume"),
            std::string::npos)
      << damaged.text;
  EXPECT_EQ(std::count(damaged.text.begin(), damaged.text.end(), '\n'), 1) << damaged.text;
  // Doing what it says recovers: that sub-supernet trains again, to the same tree.
  fs::remove(checkpoint);
  fs::remove(fs::path(checkpoint).replace_extension(".json"));
  Result recovered = run_cella("search --resume " + search.string() + " --threads 1");
  ASSERT_EQ(recovered.code, 0) << recovered.text;
  EXPECT_EQ(recovered.text.find("nothing to resume"), std::string::npos) << recovered.text;
  EXPECT_EQ(tree_without_times(search), [&] {
    auto t = finished_tree;
    t.erase("phases");
    return t;
  }());
  // A malformed split tree is the user's error (exit 1), not an internal one.
  std::ofstream(search / "tree.json", std::ios::trunc) << "{\"nodes\": 3";
  Result tree = run_cella("eval tests/search/exhaustive.cella --threads 1 --weights " + search.string() + arch);
  EXPECT_EQ(tree.code, 1) << tree.text;
  EXPECT_NE(tree.text.find("tree.json: not a cella split tree"), std::string::npos) << tree.text;
  // A retrained network keeps its weights, and eval judges it on the test images.
  const fs::path retrain = base / "retrain";
  Result r = run_cella("retrain tests/search/exhaustive.cella --threads 1 --epochs 1 --set data.subset=128 --out " +
                       retrain.string() + arch);
  ASSERT_EQ(r.code, 0) << r.text;
  EXPECT_TRUE(fs::exists(retrain / "weights.pt"));
  Result eval = run_cella("eval tests/search/exhaustive.cella --threads 1 --json --weights " + retrain.string() + arch);
  ASSERT_EQ(eval.code, 0) << eval.text;
  auto row = nlohmann::json::parse(eval.text.substr(eval.text.find('{')));
  EXPECT_DOUBLE_EQ(row["test_acc"].get<double>(),
                   nlohmann::json::parse(slurp(retrain / "result.json"))["test_acc"].get<double>());
  Result other = run_cella("eval tests/search/exhaustive.cella --threads 1 --weights " + retrain.string() +
                           " --arch '|none~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|'");
  EXPECT_EQ(other.code, 2) << other.text;
  // eval FILE --weights RUN uses the run's copy of the space; a FILE that differs is said.
  std::ofstream(base / "changed.cella") << slurp(fs::path(CELLA_SOURCE_DIR) / "tests/search/exhaustive.cella")
                                        << "// edited\n";
  Result differs =
      run_cella("eval " + (base / "changed.cella").string() + " --threads 1 --weights " + retrain.string() + arch);
  EXPECT_EQ(differs.code, 0) << differs.text;
  EXPECT_NE(differs.text.find("differs from the space the run was made with"), std::string::npos) << differs.text;
  fs::remove_all(base);
}

// Every file of a run directory, by name.
std::map<std::string, std::string> files_of(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& f : fs::directory_iterator(dir))
    if (f.is_regular_file()) files[f.path().filename().string()] = slurp(f.path());
  return files;
}

// Every command checks the kind of the run it is given before it writes anything: a run of
// the wrong kind is a usage error (2) that names the command that continues it. `train --resume`
// on an unfinished search used to train a one-shot supernet inside it and replace its results.
TEST(DeadEnds, ARunOfTheWrongKindIsRefusedBeforeAnythingIsWritten) {
  fs::path base = fresh_dir("cella_kind_");
  const fs::path search = base / "search", unfinished = base / "unfinished", train = base / "train";
  Result s = run_cella("search tests/search/exhaustive.cella --smoke --threads 1 --out " + search.string());
  ASSERT_EQ(s.code, 0) << s.text;
  fs::copy(search, unfinished, fs::copy_options::recursive);
  fs::remove(unfinished / "result.json");
  fs::remove(unfinished / "tree.json");
  Result t = run_cella("train tests/search/exhaustive.cella --smoke --threads 1 --out " + train.string());
  ASSERT_EQ(t.code, 0) << t.text;
  const auto before_search = files_of(search), before_unfinished = files_of(unfinished), before_train = files_of(train);
  struct Case {
    std::string command;
    fs::path run;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"train --resume", unfinished,
       "is a `cella search` run; `cella train --resume` takes a `cella train` run; "
       "`cella search --resume " +
           unfinished.string() + "` continues it"},
      {"train --resume", search, "is a `cella search` run"},
      {"search --resume", train, "is a `cella train` run; `cella search --resume` takes a `cella search` run"},
      {"specialize --objectives accuracy,macs --resume", train, "is a `cella train` run"},
      {"retrain tests/search/exhaustive.cella --arch " + search.string() + " --init", search,
       "`cella retrain --init` (one network's weights) takes a `cella extract` or `cella retrain` run"},
  };
  for (const Case& c : cases) {
    Result r = run_cella(c.command + " " + c.run.string() + " --threads 1");
    EXPECT_EQ(r.code, 2) << c.command << " " << c.run << ": " << r.text;
    EXPECT_NE(r.text.find(c.says), std::string::npos) << r.text;
    EXPECT_EQ(std::count(r.text.begin(), r.text.end(), '\n'), 1) << r.text;
  }
  EXPECT_EQ(files_of(search), before_search);
  EXPECT_EQ(files_of(unfinished), before_unfinished);
  EXPECT_EQ(files_of(train), before_train);
  // An unfinished search names the file it lacks.
  Result derive = run_cella("derive " + unfinished.string() + " --threads 1");
  EXPECT_EQ(derive.code, 1) << derive.text;
  EXPECT_NE(derive.text.find((unfinished / "tree.json").string() + ": no such file: the search has not finished"),
            std::string::npos)
      << derive.text;
  // A field of config.json with the wrong type is named (the JSON library's message was not).
  const fs::path edited = base / "edited";
  fs::copy(train, edited, fs::copy_options::recursive);
  auto config = nlohmann::json::parse(slurp(edited / "config.json"));
  config["seed"] = "zero";
  std::ofstream(edited / "config.json", std::ios::trunc) << config.dump(2);
  Result typed = run_cella("derive " + edited.string() + " --threads 1");
  EXPECT_EQ(typed.code, 1) << typed.text;
  EXPECT_NE(typed.text.find("config.json: \"seed\" is \"zero\", which is not what a cella run records there"),
            std::string::npos)
      << typed.text;
  // A command that fails after making its run directory takes it away again: specialize on a
  // damaged checkpoint left an empty evaluations.jsonl, and running it again was refused.
  const fs::path damaged = base / "damaged", spec = base / "spec";
  fs::copy(train, damaged, fs::copy_options::recursive);
  std::ofstream(damaged / "checkpoint.pt", std::ios::trunc) << "not a checkpoint";
  for (int attempt = 0; attempt < 2; ++attempt) {
    Result r = run_cella("specialize --weights " + damaged.string() +
                         " --objectives accuracy,macs --budget 2 --population 2 --threads 1 --out " + spec.string());
    EXPECT_EQ(r.code, 1) << r.text;
    EXPECT_NE(r.text.find("not a cella checkpoint"), std::string::npos) << r.text;
    EXPECT_FALSE(fs::exists(spec)) << "a failed specialize left " << spec;
  }
  fs::remove_all(base);
}

// One rule for exit codes: a command-line value that names nothing is a usage error (2) in
// every command; a bad file or data set is invalid input (1) and leaves no run directory.
TEST(DeadEnds, ExitCodesAndLeftovers) {
  fs::path base = fresh_dir("cella_exit_");
  const std::string out = " --out " + (base / "run").string();
  for (const std::string cmd : {"count", "train", "search"}) {
    Result r =
        run_cella(cmd + " tests/search/exhaustive.cella --set bogus=1 --threads 1" + (cmd == "count" ? "" : out));
    EXPECT_EQ(r.code, 2) << cmd << ": " << r.text;
    Result d = run_cella(cmd + " tests/search/exhaustive.cella --data svhn" + (cmd == "count" ? "" : out));
    EXPECT_EQ(d.code, 2) << cmd << ": " << d.text;
    EXPECT_NE(d.text.find("--data svhn: unknown data set; cella reads fashion_mnist, mnist, cifar10, imagenet, "
                          "synthetic [BadOption]"),
              std::string::npos)
        << d.text;
  }
  Result bad_file = run_cella("train tests/golden/fail_cycle.cella" + out);
  EXPECT_EQ(bad_file.code, 1) << bad_file.text;
  Result bad_data = run_cella("train tests/search/exhaustive.cella --data cifar10 --data-dir /nonexistent" + out);
  EXPECT_EQ(bad_data.code, 1) << bad_data.text;
  // --smoke honours --data (it ran on synthetic images whatever --data said).
  Result smoke = run_cella("search tests/search/exhaustive.cella --smoke --data cifar10 --data-dir /nonexistent" + out);
  EXPECT_EQ(smoke.code, 1) << smoke.text;
  EXPECT_NE(smoke.text.find("/nonexistent/"), std::string::npos) << smoke.text;
  EXPECT_FALSE(fs::exists(base / "run")) << "a failed command left a run directory";
  // A new run into a directory that holds another is refused: it would have loaded the other
  // run's checkpoints as if resuming (a search of another network failed on them; one of the same
  // network went on from another run's training without a word).
  Result first = run_cella("search tests/search/exhaustive.cella --smoke --threads 1" + out);
  ASSERT_EQ(first.code, 0) << first.text;
  for (const std::string cmd : {"search tests/search/exhaustive.cella --smoke --seed 3",
                                "train tests/search/exhaustive.cella --set supernet.epochs=3"}) {
    Result again = run_cella(cmd + " --threads 1" + out);
    EXPECT_EQ(again.code, 1) << cmd << ": " << again.text;
    EXPECT_NE(again.text.find("already holds a `cella search` run (config.json); continue it with `cella search "
                              "--resume"),
              std::string::npos)
        << again.text;
  }
  fs::remove_all(base);
}

}  // namespace
