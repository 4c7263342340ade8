// `cella eval`: architectures with inherited weights (a train run's supernet, the sub-supernet of a
// search that holds each one) or a retrained network on the test images.
#include "runtime/driver/common.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "runtime/train/method.h"

namespace cella::runtime::cli {

namespace fs = std::filesystem;

// The architectures of `--arch` and `--archs FILE`, or the run's own.
std::vector<std::string> arch_texts(const Options& o) {
  std::vector<std::string> out = arch_arguments(o);
  // Without either, the run's own architecture (its arch.txt): the one a retrain or extract run
  // holds, or the one a train or search run derived.
  if (out.empty()) out.push_back(o.weights);
  return out;
}

// Evaluates architectures with inherited weights: a training run's supernet, or for a search
// run the sub-supernet of the split tree that holds each architecture (the deepest one).
// `cella eval FILE --weights RUN` uses the run's own copy of the space (space.cella), which its
// weights were made for; a FILE that has changed since is worth a word.
void warn_if_file_differs(const Options& o, const RunDir& run) {
  if (o.file.empty() || !fs::exists(o.file) || !run.exists("space.cella")) return;
  if (source_text(o.file) != run.read("space.cella"))
    std::cerr << fmt::format("cella: warning: {} differs from the space the run was made with; {} is used\n", o.file,
                             run.file("space.cella"));
}

int sub_supernet_for(const ir::Program& p, const SplitTree& tree, const ir::Arch& arch, int requested) {
  if (requested < 0) return owning_node(p, tree, arch);
  if (requested >= static_cast<int>(tree.nodes.size()))
    throw Failure(kUsage, fmt::format("--node {}: the split tree has nodes 0 to {}", requested, tree.nodes.size() - 1));
  if (!node_holds(p, tree, requested, arch))
    throw Failure(
        kUsage, fmt::format("--node {}: sub-supernet {} does not hold {}", requested, requested, ir::to_text(p, arch)));
  return requested;
}

// Single paths of a supernet trained as a softmax-weighted mixture (DARTS, SNAS) were never
// trained alone: every candidate learned inside the mixture, and the weights of one path do not
// compute what that path would compute trained by itself. On a run of the main job, 60
// architectures evaluated so came out anti-correlated with their stand-alone accuracies. Said
// once per command, on stderr, so that the numbers are not taken for a ranking.
void warn_if_mixture_trained(const Opened& opened) { warn_if_mixture_trained(opened.plan.supernet); }

void warn_if_mixture_trained(const ir::SupernetPlan& plan) {
  if (method_of(plan).trains_single_paths()) return;
  std::cerr << fmt::format(
      "cella: warning: this supernet was trained with architecture weights ({}): each candidate learned inside a "
      "weighted mixture, so the accuracies of single architectures with these weights do not rank them. To rank "
      "architectures with inherited weights, train by path sampling (`--set supernet.sampler=uniform`); to compare "
      "a few, retrain them (`cella retrain`)\n",
      plan.method);
}

// Evaluates a `cella retrain` run's network, or a `cella extract` run's: its one architecture,
// with its own weights, on the test images (retraining used the training and validation images).
int eval_retrained(const Options& o, const Opened& opened, const RunDir& run, const std::vector<std::string>& texts) {
  const ir::Program& p = *opened.r.program;
  const std::string& kind = opened.r.config.command;  // retrain or extract
  ir::Arch trained = parse_arch_or_fail(p, opened.r.config.arch);
  Network net(opened.r.program, Mask::of_arch(p, trained), /*supernet=*/false);
  try {
    load_weights(net, run.file("weights.pt"));
  } catch (const CheckpointError& e) {
    throw Failure(kInvalid, fmt::format("{}; `cella {}` writes it again", e.what(), kind));
  }
  json rows = json::array();
  for (const std::string& text : texts) {
    ir::Arch arch = parse_arch_or_fail(p, text);
    if (!(arch == trained))
      throw Failure(kUsage, fmt::format("{} {} {}; it holds no other architecture", run.path(),
                                        kind == "extract" ? "extracted" : "retrained", ir::to_text(p, trained)));
    Evaluation v = evaluate(net, mixing_of(p, arch), opened.data.test, 256);
    json row = {{"arch", ir::to_text(p, arch)}, {"test_acc", v.accuracy}, {"test_loss", v.loss}};
    if (o.json)
      rows.push_back(row);
    else
      std::cout << fmt::format("{}\n  test accuracy of the {} network: {:.2f}% (loss {:.4f})\n",
                               row["arch"].get<std::string>(),
                               opened.r.config.command == "extract" ? "extracted" : "retrained", v.accuracy, v.loss);
  }
  if (o.json) std::cout << (rows.size() == 1 && o.arch_file.empty() ? rows[0] : rows).dump(2) << "\n";
  return kOk;
}

// Evaluates architectures with inherited weights: a training run's supernet, or for a search
// run the sub-supernet of the split tree that holds each architecture (the deepest one).
int cmd_eval(Options& o) {
  RunDir run(o.weights, true);
  expect_kind(run, {"train", "search", "retrain", "extract"}, "`cella eval --weights`");
  std::vector<std::string> texts = arch_texts(o);
  Opened opened = open_run(run, o);
  warn_if_file_differs(o, run);
  const Rebuilt& r = opened.r;
  const DataSplits& data = opened.data;
  const std::string command = r.config.command;
  if (command == "retrain" || command == "extract") {
    if (o.node >= 0)
      throw Failure(kUsage, fmt::format("--node {}: {} is one network, not a search", o.node, o.weights));
    return eval_retrained(o, opened, run, texts);
  }
  const std::optional<SplitTree> tree = tree_of(run, command, o.node);
  warn_if_mixture_trained(opened);
  std::map<int, SupernetState> supernets;
  json rows = json::array();
  // Training-free scores beside the inherited accuracies (--proxy), and how each ranks as they do.
  std::vector<score::Proxy> proxies;
  try {
    proxies = score::parse_proxies(o.proxies);
  } catch (const std::invalid_argument& e) {
    throw Failure(kUsage, fmt::format("--proxy: {}", e.what()));
  }
  const score::Input score_in =
      proxies.empty() ? score::Input{} : score_input(*r.program, o, proxies, o.score.batch, o.score.batches);
  std::vector<double> accuracies;
  std::vector<std::vector<double>> scores(proxies.size());
  for (const std::string& text : texts) {
    ir::Arch arch = parse_arch_or_fail(*r.program, text);
    const int node = node_for(*r.program, tree, arch, o.node);
    if (!supernets.contains(node)) supernets[node] = weights_of(opened, run, tree, node);
    Evaluation v = evaluate(supernets[node].net, mixing_of(*r.program, arch), data.valid, 256, 0,
                            o.recalibrate > 0 ? &data.train : nullptr, o.recalibrate);
    json row = {{"arch", ir::to_text(*r.program, arch)}, {"valid_acc", v.accuracy}, {"valid_loss", v.loss}};
    if (tree) row["node"] = node;
    accuracies.push_back(v.accuracy);
    std::vector<std::string> shown;
    for (std::size_t k = 0; k < proxies.size(); ++k) {
      const double value = score::score(proxies[k], r.program, arch, score_in);
      scores[k].push_back(value);
      row[std::string(score::name_of(proxies[k]))] = std::isfinite(value) ? json(value) : json(nullptr);
      shown.push_back(fmt::format("{} {:.6g}", score::name_of(proxies[k]), value));
    }
    if (o.json) {
      rows.push_back(row);
    } else {
      std::cout << fmt::format("{}\n  validation accuracy with inherited weights: {:.2f}% (loss {:.4f}){}\n{}",
                               row["arch"].get<std::string>(), v.accuracy, v.loss,
                               tree ? fmt::format(", sub-supernet {}", node) : "",
                               shown.empty() ? "" : fmt::format("  training-free: {}\n", fmt::join(shown, ", ")));
    }
  }
  json agreement = json::object();
  for (std::size_t k = 0; k < proxies.size() && accuracies.size() >= 3; ++k) {
    const double tau = score::kendall_tau_b(scores[k], accuracies);
    agreement[std::string(score::name_of(proxies[k]))] = std::isfinite(tau) ? json(tau) : json(nullptr);
  }
  if (o.json) {
    json out = rows.size() == 1 && o.arch_file.empty() ? rows[0] : rows;
    // With scores: the rows and each score's Kendall tau-b with the inherited accuracies.
    if (!agreement.empty()) out = {{"rows", rows}, {"kendall_tau_b_with_inherited_accuracy", agreement}};
    std::cout << out.dump(2) << "\n";
  } else if (!agreement.empty()) {
    std::cout << fmt::format("Kendall tau-b with the inherited accuracies over {} architectures:", accuracies.size());
    for (const auto& [name, tau] : agreement.items())
      std::cout << fmt::format(" {} {}", name, tau.is_null() ? "nan" : fmt::format("{:.3f}", tau.get<double>()));
    std::cout << "\n";
  }
  return kOk;
}

}  // namespace cella::runtime::cli
