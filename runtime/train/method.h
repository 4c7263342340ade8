// Training methods: how a supernet's forward passes mix the candidates while it trains, whether
// it learns architecture weights, how it is judged, and how it gives its final architecture.
// One class per method in runtime/train/methods/, one row per method in methods.def; the
// trainer, the splits and the search ask the method and never compare its name.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "compiler/ir/plan.h"
#include "runtime/plugins/named_registry.h"
#include "runtime/train/trainer.h"

namespace cella::runtime {

/// Which step a mixing is for: the weight step, or the architecture step before it.
enum class Step { Weights, Architecture };

/// What one architecture step works on.
struct ArchitectureBatch {
  torch::Tensor x, y;      ///< a validation batch
  std::uint64_t seed = 0;  ///< of the step's random draws
  double tau = 1;          ///< the epoch's Gumbel-softmax temperature
  /// Terms added to the validation loss (latency, confidence), differentiable in α; an
  /// undefined tensor when there are none.
  std::function<torch::Tensor()> extra;
};

// Every member is pure or inline, so that a plugin's method has this class's vtable and type
// information in its own library: `cella check` loads plugins without the runtime's symbols.
class TrainingMethod {
 public:
  virtual ~TrainingMethod() = default;
  /// The name the plan uses: `sampler NAME` for path sampling, `weights NAME` otherwise.
  virtual std::string_view name() const = 0;
  /// Whether the method learns architecture weights: an Adam on α and a first-order
  /// architecture step on a validation batch before each weight step.
  virtual bool learns_architecture() const = 0;
  /// Whether a forward pass runs one sampled path (a frozen teacher then runs its student's
  /// path) rather than candidates weighted by α.
  virtual bool samples_paths() const = 0;
  /// Whether the supernet's weights learn one path at a time (path sampling, GDAS, ProxylessNAS),
  /// so that one architecture run with them is what was trained; a softmax mixture's weights
  /// (DARTS, SNAS) learned each candidate inside the mixture.
  virtual bool trains_single_paths() const { return samples_paths(); }
  /// The mixing of one training step (`step`: weight or architecture step); every random draw
  /// comes from `seed`; `tau` is the step's Gumbel-softmax temperature.
  virtual Mixing step_mixing(const SupernetState& state, const ir::SupernetPlan& plan, Step step, std::uint64_t seed,
                             double tau) const = 0;
  /// A method whose architecture gradient is not the backward pass of the validation loss
  /// through its mixing (ProxylessNAS's binary gates) takes the whole architecture step here
  /// (α.grad, the Adam step, anything after it) and returns true. The others return false and
  /// the trainer takes DARTS' step (first order, or unrolled where the plan asks).
  virtual bool architecture_step(SupernetState&, const ir::SupernetPlan&, const ArchitectureBatch&) const {
    return false;
  }
  /// Prepares a freshly built supernet (BigNAS's zero-initialised residual batch norms); after
  /// the weights are initialised, before any step or checkpoint is read.
  virtual void initialise(SupernetState&, const ir::SupernetPlan&) const {}
  /// Called before every epoch of training (s.epoch is the epoch about to run), also the first
  /// one a resumed run runs: where a method changes its supernet between phases (progressive
  /// shrinking sorts channels, keeps its teacher), deterministically from the epoch.
  virtual void epoch_begins(SupernetState&, const ir::SupernetPlan&) const {}
  /// A method whose weight step is more than one pass of one mixing (BigNAS's sandwich of
  /// children with in-place distillation) takes the whole step here: its passes, the gradients
  /// and the optimizer step, every random draw from `seed`. It returns the loss and logits the
  /// trainer's meter counts (its first child's); the others return nullopt and the trainer takes
  /// the step of step_mixing's mixing.
  virtual std::optional<std::pair<torch::Tensor, torch::Tensor>> weight_step(SupernetState&, const ir::SupernetPlan&,
                                                                             const torch::Tensor& /*x*/,
                                                                             const torch::Tensor& /*y*/,
                                                                             std::uint64_t /*seed*/) const {
    return std::nullopt;
  }
  /// Whether its training splits each batch over processes (runtime/distributed) as the trainer
  /// does for every step it takes itself; a method that takes its own architecture step must
  /// sum that step's gradients over the ranks itself before it says yes.
  virtual bool trains_data_parallel() const { return true; }
  /// How the method looks at its supernet outside training (the accuracy at each epoch's end,
  /// the base of gradient matching, a frozen teacher): a path drawn from `rng`, or the weights.
  virtual Mixing judging_mixing(const SupernetState& state, const ir::SupernetPlan& plan,
                                std::mt19937_64& rng) const = 0;
  /// What a sub-supernet is selected by: the judging mixing, or for path sampling the best of a
  /// few sampled architectures on the validation data.
  /// `split` says how many architectures and images (select_samples, select_sample_images).
  virtual Mixing selection_mixing(SupernetState& state, const ir::SupernetPlan& plan, const ir::SplitPlan& split,
                                  const DataSplits&, std::uint64_t seed) const {
    std::mt19937_64 rng(seed);
    return judging_mixing(state, plan, rng);
  }
  /// What the selection's accuracy is of, for the log: it differs from the accuracy each epoch's
  /// line shows under path sampling.
  virtual std::string selection_measure(const ir::SplitPlan& split) const { return "validation accuracy"; }
  /// The final architecture of a trained supernet.
  virtual ir::Arch derive(SupernetState& state, const ir::SupernetPlan& plan, const DataSplits& data,
                          std::uint64_t seed, std::int64_t samples, const ProgressFn& progress) const = 0;
};

/// Training methods by name, as the operation registry holds operations. A plugin declares a
/// method in `cella_plugin_signatures` (`{"name": ..., "kind": "method", "samples_paths": false}`,
/// so that `cella check` accepts `weights NAME`) and adds it from `extern "C" void
/// cella_register_methods(cella::runtime::MethodRegistry&)`; examples/custom_op_plugin/ has one.
class MethodRegistry : public NamedRegistry<TrainingMethod> {
 public:
  /// The registry, with every built-in method of methods.def in it.
  static MethodRegistry& instance();
  /// Throws std::invalid_argument if the name is taken, or if it was not declared to the compiler
  /// (ir::training_methods, as a plugin declares it in its signatures) with the same kind.
  void add(std::unique_ptr<TrainingMethod> method);
};

/// The method a plan trains with. Throws std::invalid_argument for a name nothing registered.
const TrainingMethod& method_of(const ir::SupernetPlan& plan);

}  // namespace cella::runtime
