// Training and evaluating networks built from the IR: one-shot supernet training (uniform path
// sampling, DARTS first order, GDAS, SNAS), evaluation with inherited weights, derivation of the
// final architecture, and stand-alone training of one architecture.
//
// Every random choice (batch order, sampled paths, Gumbel noise, validation batches) is drawn
// from a generator seeded by (seed, epoch, step), so an epoch replays identically: a run resumed
// from its last checkpoint ends exactly as an uninterrupted one with the same seed and threads.
#pragma once

#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "compiler/ir/arch.h"
#include "compiler/ir/plan.h"
#include "compiler/ir/schedule.h"
#include "runtime/data/dataset.h"
#include "runtime/supernet/network.h"
#include "runtime/train/latency.h"

namespace cella::runtime {

/// What the trainer reports while it runs; the driver renders it.
struct Progress {
  std::string phase;  ///< "supernet", "retrain", "derive", ...
  std::int64_t epoch = 0, epochs = 0, step = 0, steps = 0;
  double loss = 0, accuracy = 0, lr = 0, images_per_second = 0;
  bool epoch_end = false;
  double valid_accuracy = -1;  ///< at epoch ends
  double valid_loss = -1;      ///< at epoch ends
  int node = -1;               ///< the split-tree node training, in a search
  /// At epoch ends of a method with architecture weights: per cell group, per edge, the softmax
  /// over the candidates the mask enables (0 for the others), for the run report's plots.
  std::vector<std::vector<std::vector<double>>> arch_weights{};
  /// At epoch ends of a plan with a latency term: E[LAT] under the architecture weights.
  double expected_latency = -1;
  /// ... and what the table gives for the architecture the weights point at now.
  double arch_latency = -1;
};
using ProgressFn = std::function<void(const Progress&)>;

/// A supernet with everything training needs, and what a checkpoint saves.
struct SupernetState {
  Network net{nullptr};
  std::shared_ptr<torch::optim::SGD> optimizer;
  std::vector<torch::Tensor> alphas;  ///< per cell group [edges, candidates], then per layer group [candidates]
  std::shared_ptr<torch::optim::Adam> arch_optimizer;
  std::int64_t epoch = 0;  ///< epochs completed
  /// The latency term's table (plan.latency), made once per run and kept in checkpoints: a
  /// measured table differs from one measurement to the next, a resumed run must not.
  LatencyTable latency;
  /// Progressive shrinking's teacher: the full network as its first phase left it, frozen; kept
  /// in checkpoints (null for every other method).
  Network teacher{nullptr};
};

/// A copy of `net` that no gradient reaches (a teacher): its weights, buffers and mask.
Network frozen_copy(const Network& net);

/// The shapes of SupernetState::alphas: per cell group [edges, most candidates of an edge], then
/// per layer group [candidates]. Latency tables are laid out the same way.
std::vector<std::vector<std::int64_t>> architecture_weight_shapes(const ir::Program& program);

/// The softmax of one group's α (`rows`: a cell group's mask, or a layer group's as one row)
/// over the candidates the mask enables, 0 elsewhere; differentiable in `alpha`.
torch::Tensor masked_softmax(const torch::Tensor& alpha, const std::vector<std::vector<bool>>& rows);

/// Builds a fresh supernet (mask `mask`) with its optimizers, initialised from `seed`.
SupernetState make_supernet(std::shared_ptr<const ir::Program> program, const Mask& mask, const ir::SupernetPlan& plan,
                            std::uint64_t seed);

/// The learning rate of epoch `epoch` of `epochs` (stand-alone training; a supernet's comes from
/// its ir::Schedule): closed-form cosine, periodic past the end as PyTorch's CosineAnnealingLR.
double learning_rate(const ir::Optimizer& opt, const ir::LrSchedule& sched, std::int64_t epoch, std::int64_t epochs);

/// Clears the optimizers' state (SGD momentum, Adam moments): where a phase starts fresh.
void fresh_optimizer_state(SupernetState& state);

/// A replacement for the cross-entropy of weight steps (distillation): logits, labels, inputs, the
/// batch's indices in the training set, and the mixing the step ran. It is a mean over the rows.
/// In a data-parallel step the logits, labels and inputs are this rank's rows (possibly none) and
/// the indices the whole batch's, so that what is keyed by them is the same on every rank.
using LossFn =
    std::function<torch::Tensor(const torch::Tensor& logits, const torch::Tensor& labels, const torch::Tensor& inputs,
                                const torch::Tensor& indices, const Mixing& mix)>;

/// Trains until `state.epoch == until` (at most the schedule's total); each epoch takes its
/// learning rate, temperature and architecture steps from `schedule`, and clears the optimizers'
/// state where a phase starts fresh. After each epoch calls `on_epoch` (the driver checkpoints
/// there). Weight steps use `loss` if given. Returns the last epoch's valid accuracy.
double train_supernet(SupernetState& state, const ir::SupernetPlan& plan, const ir::Schedule& schedule,
                      const DataSplits& data, std::uint64_t seed, std::int64_t until, const ProgressFn& progress,
                      const std::function<void(const SupernetState&)>& on_epoch, const LossFn& loss = {});

/// The seed of every random draw of step `step` of epoch `epoch` (negative steps and `salt`
/// name draws outside the steps: batch order, evaluation, derivation).
std::uint64_t step_seed(std::uint64_t seed, std::int64_t epoch, std::int64_t step, std::uint64_t salt = 0);

struct Evaluation {
  double accuracy = 0;  ///< percent
  double loss = 0;
};

/// Drops gradients instead of zeroing them: a candidate that was not on this step's path then
/// gets no update at all (no momentum, no weight decay), as with PyTorch's set_to_none, and a
/// resumed process, which starts without gradients, behaves exactly like the uninterrupted one.
void clear_grads(const std::vector<torch::Tensor>& params);

/// Keeps a network's batch-norm running statistics: restores them when it goes out of scope, so
/// forwards in train mode (batch statistics) in between leave no trace.
class KeepBuffers {
 public:
  explicit KeepBuffers(Network net);
  ~KeepBuffers();
  KeepBuffers(const KeepBuffers&) = delete;
  KeepBuffers& operator=(const KeepBuffers&) = delete;

 private:
  Network net_;
  std::vector<torch::Tensor> saved_;
};

/// The key type of a LibTorch optimizer's state(): the parameter's TensorImpl address as a string
/// in LibTorch 1.x, the address itself since 2.2.
using OptimizerStateKey = std::remove_cvref_t<decltype(std::declval<torch::optim::Optimizer&>().state())>::key_type;

/// The key of `param`'s entry in a LibTorch optimizer's state() (the one place that knows it).
OptimizerStateKey optimizer_state_key(const torch::Tensor& param);

/// Re-estimates the batch-norm statistics of `net` run with `mix`: the plain average over the
/// first `batches` batches of `data` (in order, wrapping), as OFA and BigNAS calibrate a
/// subnet's. Leaves `net` in eval mode.
void recalibrate_batch_norm(Network& net, const Mixing& mix, const Dataset& data, std::int64_t batches,
                            std::int64_t batch);

/// Accuracy of `net` run with `mix` on `data` (at most `limit` images, 0: all). Supernets use
/// batch statistics (train-mode BN, with the running statistics restored afterwards), or with
/// `recalibrate_batches` > 0 re-estimate the statistics on that many training batches first.
Evaluation evaluate(Network& net, const Mixing& mix, const Dataset& data, std::int64_t batch, std::int64_t limit = 0,
                    const Dataset* recalibrate_on = nullptr, std::int64_t recalibrate_batches = 0);

/// Accuracy of `net` on all of `data` in eval mode with the batch-norm statistics it holds (after
/// recalibrate_batch_norm, say), which it keeps; `net` stays in eval mode.
Evaluation evaluate_with_running_statistics(Network& net, const Mixing& mix, const Dataset& data, std::int64_t batch);

/// The architecture the architecture weights point at: per edge the strongest enabled candidate
/// of the masked softmax, and on a node that selects k inputs the DARTS rule (the k inputs whose
/// strongest real operation is strongest, ties to the lower source).
ir::Arch strongest_arch(const SupernetState& state);

/// The weights one SGD step ahead of `s`'s, w' = w − η·(μ·m + g + λ·w) with m the momentum
/// buffer (none before the first step) and g = `grads`: what the optimizer's next step would
/// make of them (Nesterov included), without taking it. Per tensor of `params`.
std::vector<torch::Tensor> one_step_ahead(const SupernetState& s, const std::vector<torch::Tensor>& params,
                                          const std::vector<torch::Tensor>& grads, double eta);

/// DARTS' finite-difference estimate of the mixed second derivative (∂²L/∂α∂w)·v of the loss of
/// `mixing()` on (x, y): [∇_α L(w + R·v) − ∇_α L(w − R·v)] / (2R), R = 0.01 / ‖v‖, per α tensor.
/// The two forward passes run in train mode on the real network, so its batch-norm statistics
/// move as in the reference; w is left as it was.
std::vector<torch::Tensor> mixed_hessian_vector_product(SupernetState& s, const std::vector<torch::Tensor>& params,
                                                        const std::vector<torch::Tensor>& v, const torch::Tensor& x,
                                                        const torch::Tensor& y, const std::function<Mixing()>& mixing);

/// DARTS' second-order architecture gradient (cnn/architect.py, `--unrolled`) into α.grad:
/// ∇_α L_va(w', α) − η·(∂²L_tr/∂α∂w)·∇_{w'} L_va(w', α), with w' = one_step_ahead(∇_w L_tr).
/// `extra` (the confidence term) is added to the validation loss. The pass at w' runs on the
/// network with its batch-norm statistics restored afterwards (the reference runs it on a copy).
void unrolled_arch_gradient(SupernetState& s, const std::vector<torch::Tensor>& params, const torch::Tensor& x_train,
                            const torch::Tensor& y_train, const torch::Tensor& x_valid, const torch::Tensor& y_valid,
                            double eta, const std::function<Mixing()>& mixing,
                            const std::function<torch::Tensor()>& extra = {});

/// HEP-NAS's confidence term on the architecture weights (its DARTS code, in the final epochs):
/// for each cell type, the mean over the entries of α of −log of each edge's largest
/// masked-softmax weight; summed over the cell types. Differentiable in α.
torch::Tensor confidence_loss(const SupernetState& state);

/// The final architecture of a trained supernet, by its training method (method.h): argmax of
/// the masked architecture weights per edge (the DARTS top-k rule on nodes that select k
/// inputs), or for path sampling the best of `samples` sampled architectures on the validation
/// data.
ir::Arch derive(SupernetState& state, const ir::SupernetPlan& plan, const DataSplits& data, std::uint64_t seed,
                std::int64_t samples, const ProgressFn& progress);

struct RetrainResult {
  Network net{nullptr};  ///< the trained stand-alone network
  double test_accuracy = 0;
  double train_accuracy = 0;
  std::int64_t params = 0;
};

/// The drop-path probability of cell `cell` (0-based, of `cells` in network order) at training
/// step `step` (0-based, of `steps`) in epoch `epoch` (of `epochs`), for the largest probability
/// `p`: with `Epoch`, DARTS' p·epoch/epochs in every cell; with `StepAndDepth`, NASNet's
/// ScheduledDropPath (nasnet_utils.py `_apply_drop_path`, v3): keep = 1 − (cell+1)/cells·p, then
/// keep ← 1 − min(1, step/steps)·(1 − keep).
double drop_path_probability(ir::DropPathSchedule schedule, double p, std::int64_t cell, std::int64_t cells,
                             std::int64_t epoch, std::int64_t epochs, std::int64_t step, std::int64_t steps);

/// Trains `arch` as a stand-alone network (affine BN) and tests it: from scratch, or from the
/// weights in `init` (a weights file of the same architecture: `cella extract`'s, to fine-tune).
/// With `checkpoint` (a file), the state after every epoch is saved there atomically (weights,
/// optimizer, epoch, accuracies), and a call that finds the file goes on after its epoch. Each
/// epoch draws its data order, augmentation, drop path and dropout from (seed, epoch) alone, so a
/// run continued so ends as the uninterrupted one does. A damaged checkpoint is a CheckpointError.
RetrainResult retrain(std::shared_ptr<const ir::Program> program, const ir::Arch& arch, const ir::RetrainPlan& plan,
                      const DataSplits& data, std::uint64_t seed, const ProgressFn& progress,
                      const std::string& init = "", const std::string& checkpoint = "");

/// A checkpoint that is missing, damaged or made for another network; the message names the file.
struct CheckpointError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Saves and loads a supernet state. Files are written atomically (temporary file, fsync,
/// rename). Loading checks that the checkpoint fits the network; throws CheckpointError with a
/// one-line message otherwise.
void save_state(const SupernetState& state, const std::string& path);
void load_state(SupernetState& state, const std::string& path);
/// The same as bytes in memory (the state of a sub-supernet one rank trained, sent to the others);
/// `what` names the state in a CheckpointError.
std::string state_bytes(const SupernetState& state);
void load_state_bytes(SupernetState& state, const std::string& bytes, const std::string& what);
/// Saves and loads the weights and batch-norm statistics of a network alone (a retrained
/// architecture's `weights.pt`), with the same atomic writes and one-line errors.
void save_weights(const Network& net, const std::string& path);
void load_weights(Network& net, const std::string& path);

}  // namespace cella::runtime
