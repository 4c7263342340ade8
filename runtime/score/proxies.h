// Training-free scores of architectures (zero-cost proxies): what a network's size or its
// untrained weights say about how well it will train. The baselines every NAS ranking is compared
// with (Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS", ICLR 2021), and objectives
// for `cella specialize` and columns for `cella eval`. Each proxy follows its paper and reference
// code; docs/runtime.md "Training-free scores" lists them and where cella departs.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/ir/arch.h"
#include "compiler/ir/ir.h"
#include "compiler/ir/metrics.h"

namespace cella::runtime::score {

/// A training-free score is one of the metrics (compiler/ir/metrics.h) whose `training_free` is
/// set: its name, direction and whether it reads images live there, with the others that
/// `cella specialize` optimises.
using Proxy = ir::Metric;

/// Every proxy, in the order `cella score` prints them (ir::training_free_metrics).
const std::vector<Proxy>& proxies();
std::string_view name_of(Proxy p);
/// The proxies of these names, each once ("all": every one); std::invalid_argument naming an
/// unknown one and the known ones. The command line splits `--proxy a,b` (CLI11's delimiter).
std::vector<Proxy> parse_proxies(const std::vector<std::string>& names);

/// What scoring reads besides the architecture.
struct Input {
  std::int64_t channels = 0, size = 0;  ///< the data set's images (the network resizes them itself)
  /// Training images and labels, `batch` × `batches` of them, for the proxies that need data;
  /// undefined when none was loaded.
  torch::Tensor images, labels;
  std::int64_t batch = 64;  ///< images per batch (zero-cost-nas's 64)
  /// Batches: snip, grasp and jacob_cov see all of them as one batch (zero-cost-nas's
  /// `num_batches`); NASWOT's score is the mean over batches; Zen-NAS repeats with new weights and
  /// inputs as often and takes the mean (its `repeat`).
  int batches = 1;
  std::uint64_t seed = 0;  ///< weights (and Zen-NAS's inputs) drawn from it, the same for every architecture
};

/// The proxy's score of `arch` (higher predicts better; NaN where it is undefined, as
/// jacob_cov's for a network whose output ignores its input). Params and MACs are counted from
/// the IR as `cella stats` counts them; the others build the architecture as a stand-alone
/// network, fresh from `input.seed`. std::invalid_argument when a data proxy has no images or
/// `proxy` is not training-free.
double score(Proxy proxy, const std::shared_ptr<const ir::Program>& program, const ir::Arch& arch, const Input& input);

/// Kendall's tau-b of two series (ties in either handled as scipy.stats.kendalltau does; NaN
/// counts as the lowest value): how well a score ranks as accuracies do. NaN for fewer than two
/// items or a series without two different values.
double kendall_tau_b(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace cella::runtime::score
