// RSPS / SPOS path sampling (`sampler uniform`): each step trains one architecture drawn
// uniformly from the (sub-)supernet's region of the space, for the whole network or, with
// `path cell`, one per cell (Few-Shot NAS's NAS-Bench-201 supernet). The final architecture is
// the best of a few sampled ones on the validation data.
#include <fmt/format.h>

#include <set>

#include "runtime/train/methods/sampling.h"

namespace cella::runtime {

namespace {

class PathSampling : public TrainingMethod {
 public:
  std::string_view name() const override { return "uniform"; }
  bool learns_architecture() const override { return false; }
  bool samples_paths() const override { return true; }

  Mixing step_mixing(const SupernetState& s, const ir::SupernetPlan& plan, Step, std::uint64_t seed,
                     double) const override {
    const ir::Program& p = s.net->program();
    const ir::Network& n = *p.network;
    std::mt19937_64 rng(seed);
    Mixing mix = mixing_of(p, ir::sample(p, s.net->mask(), rng));
    if (plan.path == ir::PathMode::Cell) {
      for (std::size_t u = 0; u < n.units.size(); ++u) {
        if (n.units[u].kind != ir::UnitKind::Cell) continue;
        ir::Arch b = ir::sample(p, s.net->mask(), rng);
        mix.per_unit[static_cast<int>(u)] = mixing_of(p, b).cells[n.units[u].group];
      }
    }
    return mix;
  }

  Mixing judging_mixing(const SupernetState& s, const ir::SupernetPlan&, std::mt19937_64& rng) const override {
    return mixing_of(s.net->program(), ir::sample(s.net->program(), s.net->mask(), rng));
  }

  // The best of `select_samples` distinct sampled architectures, each tried on
  // `select_sample_images` validation images.
  Mixing selection_mixing(SupernetState& s, const ir::SupernetPlan&, const ir::SplitPlan& split, const DataSplits& data,
                          std::uint64_t seed) const override {
    return mixing_of(s.net->program(), best_of_samples(s, data, seed, split.select_samples, {}, {},
                                                       split.select_sample_images, /*distinct=*/true));
  }

  std::string selection_measure(const ir::SplitPlan& split) const override {
    return fmt::format("validation accuracy of the best of {} sampled architectures", split.select_samples);
  }

  ir::Arch derive(SupernetState& s, const ir::SupernetPlan&, const DataSplits& data, std::uint64_t seed,
                  std::int64_t samples, const ProgressFn& progress) const override {
    return best_of_samples(s, data, seed, samples, progress);
  }
};

}  // namespace

ir::Arch best_of_samples(SupernetState& s, const DataSplits& data, std::uint64_t seed, std::int64_t samples,
                         const ProgressFn& progress, const std::vector<ir::Arch>& also, std::int64_t images,
                         bool distinct) {
  const ir::Program& p = s.net->program();
  std::mt19937_64 rng(step_seed(seed, -3, 0));
  ir::Arch best;
  double best_acc = -1;
  const auto tried = static_cast<std::int64_t>(also.size());
  samples += tried;
  std::set<std::string> seen;
  for (std::int64_t i = 0; i < samples; ++i) {
    // The given ones first; the draws then are those a call without them makes.
    ir::Arch a = i < tried ? also[static_cast<std::size_t>(i)] : ir::sample(p, s.net->mask(), rng);
    if (distinct) {
      // Redrawn while it repeats one tried before (rsws draws unique architectures); a region
      // smaller than `samples` ends the loop when no new one turns up in a thousand draws.
      int redraws = 0;
      while (!seen.insert(ir::to_text(p, a)).second && redraws++ < 1000) a = ir::sample(p, s.net->mask(), rng);
      if (redraws > 1000) break;
    }
    double acc = evaluate(s.net, mixing_of(p, a), data.valid, 256, images).accuracy;
    if (acc > best_acc) {
      best_acc = acc;
      best = a;
    }
    if (progress)
      progress(Progress{.phase = "derive",
                        .epoch = 1,
                        .epochs = 1,
                        .step = i + 1,
                        .steps = samples,
                        .accuracy = best_acc,
                        .epoch_end = i + 1 == samples,
                        .valid_accuracy = best_acc});
  }
  return best;
}

std::unique_ptr<TrainingMethod> make_path_sampling() { return std::make_unique<PathSampling>(); }

}  // namespace cella::runtime
