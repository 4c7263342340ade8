// `cella extract`: one architecture cut out of a trained supernet as a stand-alone network with
// only its layers and sub-shapes (runtime/supernet/extract.h), its batch norms calibrated on
// training images, written as a run that `cella eval`, `cella export` and `cella retrain --init`
// read as they read a retrained network.
#include <filesystem>

#include "runtime/driver/common.h"
#include "runtime/supernet/extract.h"

namespace cella::runtime::cli {

namespace {

namespace fs = std::filesystem;

// Moves a finished staging directory to `path`: a rename where `path` is free or an empty
// directory, else file by file into the directory that is there.
void publish(const std::string& staging, const std::string& path) {
  std::error_code ec;
  fs::rename(staging, path, ec);
  if (!ec) return;
  fs::create_directories(path);
  for (const auto& f : fs::directory_iterator(staging))
    if (f.path().filename() != "config.json") fs::rename(f.path(), fs::path(path) / f.path().filename());
  fs::rename(fs::path(staging) / "config.json", fs::path(path) / "config.json");  // last: it marks a run
  fs::remove(staging);
}

}  // namespace

int cmd_extract(Options& o) {
  RunDir run(o.weights, true);
  const std::string command = expect_kind(run, {"train", "search"}, "`cella extract --weights`");
  Opened opened = open_run(run, o);
  const ir::Program& p = *opened.r.program;
  const std::optional<SplitTree> tree = tree_of(run, command, o.node);
  const ir::Arch arch = parse_arch_or_fail(p, o.arch.empty() ? run.path() : o.arch);  // default: the derived one
  warn_if_mixture_trained(opened);
  const int node = node_for(p, tree, arch, o.node);
  SupernetState supernet = weights_of(opened, run, tree, node);
  Network net{nullptr};
  try {
    net = extract(supernet.net, arch);
  } catch (const std::invalid_argument& e) {
    throw Failure(kUsage, e.what());
  }
  // The supernet's statistics are every child's: OFA calibrates a child on 2,000 training
  // images in batches of 200 before it measures it.
  const std::int64_t batches = o.recalibrate > 0 ? o.recalibrate : 10;
  const Mixing mix = mixing_of(p, arch);
  recalibrate_batch_norm(net, mix, opened.data.train, batches, 200);
  const Evaluation valid = evaluate_with_running_statistics(net, mix, opened.data.valid, 256);

  // What calibration read: fewer training images than its batches ask for are read again.
  const std::int64_t images = opened.data.train.size();
  const std::string calibration =
      images >= batches * 200
          ? fmt::format("{} batches of 200 training images", batches)
          : fmt::format("the run's {} training images ({} batches of 200 asked for: each image read more than once)",
                        images, batches);
  // Written whole or not at all: into a staging directory beside the run, moved into place at the
  // end, so that a killed extract leaves no half-written run (it has no --resume: it is quick to
  // run again, and running it again works).
  const std::string path = o.out.empty() ? new_run_path(o.weights, "extract") : o.out;
  if (fs::exists(fs::path(path) / "config.json")) RunDir refuse(path, false);  // throws: it holds a run
  const std::string staging = path + ".partial";
  std::error_code ec;
  fs::remove_all(staging, ec);  // a killed extract's
  RunDir out(staging, false);
  NewRun fresh(out);
  out.write("space.cella", run.read("space.cella"));
  RunConfig config = opened.r.config;
  config.command = "extract";
  config.arch = ir::to_text(p, arch);
  config.write(out);
  save_weights(net, out.file("weights.pt"));
  write_arch(out, p, arch);
  json result = {{"arch", ir::to_text(p, arch)},     {"source", run.path()},           {"node", node},
                 {"params", net->parameter_count()}, {"calibration_batches", batches}, {"valid_acc", valid.accuracy},
                 {"valid_loss", valid.loss},         {"weights", "weights.pt"}};
  out.write("result.json", result.dump(2) + "\n");
  publish(staging, path);
  fresh.keep();
  if (o.json)
    std::cout << result.dump(2) << "\n";
  else
    std::cout << fmt::format(
        "extracted {} from {}{}: {} parameters, batch norms calibrated on {}, validation accuracy {:.2f}%; network "
        "in {}\n",
        ir::to_text(p, arch), run.path(), tree ? fmt::format(" (sub-supernet {})", node) : "", net->parameter_count(),
        calibration, valid.accuracy, path);
  return kOk;
}

}  // namespace cella::runtime::cli
