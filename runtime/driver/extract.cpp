// `cella extract`: one architecture cut out of a trained supernet as a stand-alone network with
// only its layers and sub-shapes (runtime/supernet/extract.h), its batch norms calibrated on
// training images, written as a run that `cella eval`, `cella export` and `cella retrain --init`
// read as they read a retrained network.
#include <filesystem>

#include "runtime/driver/common.h"
#include "runtime/supernet/extract.h"

namespace cella::runtime::cli {

int cmd_extract(Options& o) {
  RunDir run(o.weights, true);
  Opened opened = open_run(run, o);
  const ir::Program& p = *opened.r.program;
  const std::string command = opened.r.config.command;
  if (command != "train" && command != "search")
    throw Failure(kUsage, fmt::format("{} is a `cella {}` run; extract cuts architectures out of the supernet of a "
                                      "`cella train` or `cella search` run",
                                      run.path(), command));
  const bool search = command == "search";
  if (search && !run.exists("tree.json"))
    throw Failure(kInvalid, fmt::format("{} is a search that has not finished; `cella search --resume {}` finishes it",
                                        run.path(), run.path()));
  if (!search && o.node >= 0) throw Failure(kUsage, fmt::format("--node {}: {} has no split tree", o.node, run.path()));
  const ir::Arch arch = parse_arch_or_fail(p, o.arch.empty() ? run.path() : o.arch);  // default: the derived one
  warn_if_mixture_trained(opened);
  SupernetState supernet;
  int node = 0;
  if (search) {
    SplitTree tree = read_tree(run);
    node = sub_supernet_for(p, tree, arch, o.node);
    supernet = search_node(opened, run, tree, node);
  } else {
    supernet = trained_supernet(opened, run);
  }
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

  RunDir out(o.out.empty() ? new_run_path(o.weights, "extract") : o.out, false);
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
  if (o.json)
    std::cout << result.dump(2) << "\n";
  else
    std::cout << fmt::format(
        "extracted {} from {}{}: {} parameters, batch norms calibrated on {} batches of 200 training images, "
        "validation accuracy {:.2f}%; network in {}\n",
        ir::to_text(p, arch), run.path(), search ? fmt::format(" (sub-supernet {})", node) : "", net->parameter_count(),
        batches, valid.accuracy, out.path());
  return kOk;
}

}  // namespace cella::runtime::cli
