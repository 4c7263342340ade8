// Supernet training, evaluation, derivation and stand-alone training.
#include "runtime/train/trainer.h"

#include "runtime/base/durable_file.h"
#include "runtime/device/device.h"
#include "runtime/distributed/distributed.h"
#include "runtime/ops/modules.h"

#include <sstream>

#include "runtime/train/method.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <filesystem>

namespace cella::runtime {

std::uint64_t step_seed(std::uint64_t seed, std::int64_t epoch, std::int64_t step, std::uint64_t salt) {
  std::uint64_t x = seed * 0x9E3779B97F4A7C15ull ^ (static_cast<std::uint64_t>(epoch) << 32) ^
                    static_cast<std::uint64_t>(step) ^ (salt << 56);
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

namespace {

torch::Tensor mask_tensor(const std::vector<std::vector<bool>>& m) {
  std::int64_t rows = static_cast<std::int64_t>(m.size()), cols = 0;
  for (const auto& r : m) cols = std::max<std::int64_t>(cols, static_cast<std::int64_t>(r.size()));
  torch::Tensor t = torch::zeros({rows, cols}, torch::kBool);
  auto a = t.accessor<bool, 2>();
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::size_t j = 0; j < m[i].size(); ++j) a[i][static_cast<std::int64_t>(j)] = m[i][j];
  return t;
}

// θ of cell group `g`: the softmax of its α over the candidates its mask enables (0 elsewhere).
torch::Tensor masked_theta(const SupernetState& s, std::size_t g) {
  return masked_softmax(s.alphas[g], s.net->mask().cells[g]);
}

// Every cell group's θ as numbers.
std::vector<std::vector<std::vector<double>>> architecture_weights(const SupernetState& s) {
  torch::NoGradGuard no_grad;
  std::vector<std::vector<std::vector<double>>> out;
  for (std::size_t g = 0; g < s.net->mask().cells.size(); ++g) {
    torch::Tensor theta = masked_theta(s, g).to(torch::kCPU, torch::kDouble).contiguous();
    auto a = theta.accessor<double, 2>();
    std::vector<std::vector<double>> edges(static_cast<std::size_t>(theta.size(0)));
    for (std::int64_t e = 0; e < theta.size(0); ++e)
      for (std::int64_t k = 0; k < theta.size(1); ++k) edges[static_cast<std::size_t>(e)].push_back(a[e][k]);
    out.push_back(std::move(edges));
  }
  return out;
}

// Gradients of `loss` for `inputs`, zeros where an input took no part.
std::vector<torch::Tensor> gradients(const torch::Tensor& loss, const std::vector<torch::Tensor>& inputs) {
  std::vector<torch::Tensor> g = torch::autograd::grad({loss}, inputs, {}, false, false, /*allow_unused=*/true);
  for (std::size_t i = 0; i < g.size(); ++i)
    if (!g[i].defined()) g[i] = torch::zeros_like(inputs[i]);
  return g;
}

// Sets each tensor of `params` to the matching one of `values`.
void assign(const std::vector<torch::Tensor>& params, const std::vector<torch::Tensor>& values) {
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < params.size(); ++i) const_cast<torch::Tensor&>(params[i]).copy_(values[i]);
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups()) static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
}

// Running loss, accuracy and speed of an epoch, and the Progress records made from them.
struct Meter {
  double loss_sum = 0, correct = 0, seen = 0;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();

  void add(const torch::Tensor& loss, const torch::Tensor& logits, const torch::Tensor& y) {
    double b = static_cast<double>(y.size(0));
    loss_sum += loss.item<double>() * b;
    correct += logits.detach().argmax(1).eq(y).sum().item<double>();
    seen += b;
  }
  // What add() sums, summed over the ranks of a data-parallel step.
  void add_sums(double losses, double corrects, double count) {
    loss_sum += losses;
    correct += corrects;
    seen += count;
  }
  double loss() const { return seen > 0 ? loss_sum / seen : 0; }
  double accuracy() const { return seen > 0 ? 100.0 * correct / seen : 0; }
  Progress at(const char* phase, std::int64_t epoch, std::int64_t epochs, std::int64_t step, std::int64_t steps,
              double lr, bool end, double valid) const {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return Progress{.phase = phase,
                    .epoch = epoch,
                    .epochs = epochs,
                    .step = step,
                    .steps = steps,
                    .loss = loss(),
                    .accuracy = accuracy(),
                    .lr = lr,
                    .images_per_second = secs > 0 ? seen / secs : 0,
                    .epoch_end = end,
                    .valid_accuracy = valid};
  }
};

// Sums the gradients of `params` over the ranks (a data-parallel step), and `extra` with them.
// A gradient that some rank lacks (a parameter outside its share's graph) counts as zeros there;
// one that no rank has stays undefined, as a single process leaves it (clear_grads).
void all_reduce_gradients(const std::vector<torch::Tensor>& params, torch::Tensor& extra) {
  // Which gradients exist, counted over the ranks (one small all-reduce, filled and read on the
  // host: this runs every step).
  std::vector<float> defined(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) defined[i] = params[i].grad().defined() ? 1.0f : 0.0f;
  std::vector<torch::Tensor> counts{torch::tensor(defined)};
  distributed::all_reduce_sum(counts);
  const auto count = counts[0].accessor<float, 1>();
  std::vector<torch::Tensor> grads;
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (count[static_cast<std::int64_t>(i)] == 0) continue;
    torch::Tensor& p = const_cast<torch::Tensor&>(params[i]);
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    grads.push_back(p.grad());
  }
  if (extra.defined()) grads.push_back(extra);
  distributed::all_reduce_sum(grads);
}

// The loss a rank backpropagates in a data-parallel step: its share of the global batch's mean,
// `loss` (the mean over its `rows`) times rows/global, so that the ranks' gradients sum to the
// whole batch's. A rank with no rows still runs the backward pass through `outputs` (batch norm's
// global statistics are collectives every rank takes part in).
torch::Tensor share_of(const torch::Tensor& loss, std::int64_t rows, std::int64_t global,
                       std::initializer_list<torch::Tensor> outputs) {
  if (rows > 0) return loss * (static_cast<double>(rows) / static_cast<double>(global));
  torch::Tensor zero;
  for (const torch::Tensor& o : outputs)
    if (o.defined()) zero = zero.defined() ? zero + 0 * o.sum() : 0 * o.sum();
  return zero;
}

// One weight step: forward under `mix`, cross-entropy, backward, clipping, optimizer step. In a
// data-parallel step `x` and `y` are this rank's rows of a batch of `global` rows; the gradients
// and the meter's sums are added up over the ranks before the step. `indices` are the whole
// batch's (a distillation loss keys its teachers by them).
void weight_step(Network& net, const Mixing& mix, const torch::Tensor& x, const torch::Tensor& y, std::int64_t global,
                 bool data_parallel, const std::vector<torch::Tensor>& params, torch::optim::Optimizer& opt,
                 double clip, Meter& meter, const LossFn& loss_fn = {}, const torch::Tensor& indices = {}) {
  clear_grads(params);
  std::optional<distributed::Sharded> sharded;
  if (data_parallel) sharded.emplace();
  auto [logits, aux] = net->forward_with_auxiliary(x, mix);
  const std::int64_t rows = x.size(0);
  torch::Tensor loss;
  // A rank without rows still runs the loss function: its teachers' forward passes take part in
  // batch norm's collectives. It learns nothing from it.
  if (loss_fn)
    loss = loss_fn(logits, y, x, indices, mix);
  else if (rows > 0)
    loss = torch::cross_entropy_loss(logits, y);
  if (rows == 0)
    loss = torch::Tensor();
  else if (aux.defined())  // DARTS' train.py: loss += auxiliary_weight · CE(auxiliary logits), in training
    loss = loss + net->auxiliary_weight() * torch::cross_entropy_loss(aux, y);
  if (!data_parallel) {
    loss.backward();
    if (clip > 0) torch::nn::utils::clip_grad_norm_(params, clip);
    opt.step();
    meter.add(loss, logits, y);
    return;
  }
  share_of(loss, rows, global, {logits, aux}).backward();
  torch::Tensor sums = torch::tensor({rows > 0 ? loss.item<double>() * static_cast<double>(rows) : 0.0,
                                      logits.detach().argmax(1).eq(y).sum().item<double>(), static_cast<double>(rows)},
                                     torch::TensorOptions().dtype(torch::kFloat).device(logits.device()));
  all_reduce_gradients(params, sums);
  if (clip > 0) torch::nn::utils::clip_grad_norm_(params, clip);
  opt.step();
  sums = sums.to(torch::kCPU, torch::kDouble);
  meter.add_sums(sums[0].item<double>(), sums[1].item<double>(), sums[2].item<double>());
}

}  // namespace

double learning_rate(const ir::Optimizer& opt, const ir::LrSchedule& sched, std::int64_t epoch, std::int64_t epochs) {
  return ir::scheduled_lr(sched, opt.lr, epoch, epochs);
}

void fresh_optimizer_state(SupernetState& s) {
  s.optimizer->state().clear();
  if (s.arch_optimizer) s.arch_optimizer->state().clear();
}

std::vector<std::vector<std::int64_t>> architecture_weight_shapes(const ir::Program& program) {
  const ir::Network& n = *program.network;
  std::vector<std::vector<std::int64_t>> shapes;
  for (const ir::CellGroup& group : n.cell_groups) {
    const ir::Cell& c = program.cells[group.cell];
    std::int64_t k = 0;
    for (int e = 0; e < c.num_edges(); ++e)
      k = std::max<std::int64_t>(k, static_cast<std::int64_t>(c.edge(e).candidates.size()));
    shapes.push_back({c.num_edges(), k});
  }
  for (int u : n.layer_groups) shapes.push_back({static_cast<std::int64_t>(n.units[u].choices.size())});
  return shapes;
}

torch::Tensor masked_softmax(const torch::Tensor& alpha, const std::vector<std::vector<bool>>& rows) {
  return alpha.masked_fill(~mask_tensor(rows).view(alpha.sizes()).to(alpha.device()), -INFINITY).softmax(-1);
}

SupernetState make_supernet(std::shared_ptr<const ir::Program> program, const Mask& mask, const ir::SupernetPlan& plan,
                            std::uint64_t seed) {
  torch::manual_seed(seed);
  SupernetState s;
  s.net = Network(program, mask, /*supernet=*/true);
  torch::Generator gen = at::detail::createCPUGenerator(seed + 1);
  // Drawn on the CPU (the same α on every device), then moved with the network.
  for (const std::vector<std::int64_t>& shape : architecture_weight_shapes(*program))
    s.alphas.push_back((1e-3 * torch::randn(shape, gen)).to(s.net->device()).requires_grad_(true));
  const ir::Optimizer& o = plan.optimizer;
  s.optimizer = std::make_shared<torch::optim::SGD>(
      s.net->unique_parameters(),
      torch::optim::SGDOptions(o.lr).momentum(o.momentum).weight_decay(o.weight_decay).nesterov(o.nesterov));
  method_of(plan).initialise(s, plan);
  if (method_of(plan).learns_architecture())
    s.arch_optimizer = std::make_shared<torch::optim::Adam>(s.alphas, torch::optim::AdamOptions(plan.arch.lr)
                                                                          .betas({plan.arch.beta1, plan.arch.beta2})
                                                                          .weight_decay(plan.arch.weight_decay));
  return s;
}

double train_supernet(SupernetState& s, const ir::SupernetPlan& plan, const ir::Schedule& schedule,
                      const DataSplits& data, std::uint64_t seed, std::int64_t until, const ProgressFn& progress,
                      const std::function<void(const SupernetState&)>& on_epoch, const LossFn& loss_fn) {
  until = std::min(until, schedule.total());
  const std::int64_t n = data.train.size();
  const std::int64_t steps = (n + plan.batch - 1) / plan.batch;
  std::vector<torch::Tensor> params = s.net->unique_parameters();
  const TrainingMethod& method = method_of(plan);
  if (plan.latency.source != ir::LatencySource::None && s.latency.empty())
    s.latency = latency_table(s.net->program(), plan.latency.source, data.train.images.size(-1));
  if (!s.latency.empty() && distributed::active()) {
    // A measured table differs from rank to rank; every rank takes rank 0's.
    for (torch::Tensor& entry : s.latency.entries) distributed::broadcast(entry);
    torch::Tensor fixed = torch::tensor(s.latency.fixed, torch::kDouble);
    distributed::broadcast(fixed);
    s.latency.fixed = fixed.item<double>();
  }
  const double latency_ref = latency_reference(s.latency, s.net->program(), plan.latency);
  // λ·(E[LAT] − ref)/ref, ProxylessNAS's `add#linear`.
  auto latency_term = [&] {
    return plan.latency.weight * (expected_latency(s.latency, s.net->mask(), s.alphas) - latency_ref) / latency_ref;
  };
  double last_valid = -1;
  const c10::Device device = s.net->device();  // batches are drawn on the CPU, then moved
  while (s.epoch < until) {
    const std::int64_t epoch = s.epoch;
    // A phase that starts fresh starts here, also when a resumed run reaches it from a checkpoint
    // saved just before it (clearing twice is clearing once).
    if (schedule.fresh_at(epoch)) fresh_optimizer_state(s);
    method.epoch_begins(s, plan);
    double lr = schedule.lr(epoch);
    set_lr(*s.optimizer, lr);
    double tau = schedule.tau(epoch);
    bool arch_steps = method.learns_architecture() && schedule.arch_steps(epoch);
    torch::Generator gen = at::detail::createCPUGenerator(step_seed(seed, epoch, -1));
    torch::Tensor order = torch::randperm(n, gen, torch::kInt64);
    s.net->train();
    Meter meter;
    for (std::int64_t step = 0; step < steps; ++step) {
      torch::Tensor batch_idx = order.narrow(0, step * plan.batch, std::min(plan.batch, n - step * plan.batch));
      // This rank's rows of the batch (all of it in one process).
      auto [first, last] = distributed::shard(batch_idx.size(0));
      torch::Tensor idx = batch_idx.narrow(0, first, last - first);
      torch::Tensor x = data.train.images.index_select(0, idx).to(device),
                    y = data.train.labels.index_select(0, idx).to(device);
      // ProxylessNAS steps the architecture every few weight steps, none before the first.
      if (arch_steps && (plan.arch.every == 1 || (step > 0 && step % plan.arch.every == 0))) {
        // The architecture step on a random validation batch, before the weight step.
        torch::Generator vgen = at::detail::createCPUGenerator(step_seed(seed, epoch, step, 1));
        torch::Tensor all_vidx =
            torch::randint(data.valid.size(), {std::min(plan.batch, data.valid.size())}, vgen, torch::kInt64);
        auto [vfirst, vlast] = distributed::shard(all_vidx.size(0));
        torch::Tensor vidx = all_vidx.narrow(0, vfirst, vlast - vfirst);
        const double confidence = schedule.arch_confidence(epoch);
        ArchitectureBatch batch{data.valid.images.index_select(0, vidx).to(device),
                                data.valid.labels.index_select(0, vidx).to(device), step_seed(seed, epoch, step, 2),
                                tau, [&] {
                                  torch::Tensor extra;
                                  auto add = [&](const torch::Tensor& t) { extra = extra.defined() ? extra + t : t; };
                                  if (confidence > 0) add(confidence * confidence_loss(s));
                                  if (!s.latency.empty()) add(latency_term());
                                  return extra;
                                }};
        clear_grads(s.alphas);
        if (!method.architecture_step(s, plan, batch)) {
          auto arch_mixing = [&] { return method.step_mixing(s, plan, Step::Architecture, batch.seed, tau); };
          if (plan.arch.unrolled) {
            unrolled_arch_gradient(s, params, x, y, batch.x, batch.y, lr, arch_mixing, batch.extra);
          } else if (!distributed::active()) {
            torch::Tensor vloss = torch::cross_entropy_loss(s.net->forward(batch.x, arch_mixing()), batch.y);
            if (torch::Tensor extra = batch.extra(); extra.defined()) vloss = vloss + extra;
            vloss.backward();
          } else {
            // This rank's share of the validation batch's mean loss, and of the terms in α alone.
            distributed::Sharded sharded;
            torch::Tensor logits = s.net->forward(batch.x, arch_mixing());
            const std::int64_t rows = batch.x.size(0);
            torch::Tensor vloss = share_of(rows > 0 ? torch::cross_entropy_loss(logits, batch.y) : torch::Tensor(),
                                           rows, all_vidx.size(0), {logits});
            if (torch::Tensor extra = batch.extra(); extra.defined())
              vloss = vloss + extra / static_cast<double>(distributed::world());
            vloss.backward();
            torch::Tensor none;
            all_reduce_gradients(s.alphas, none);
          }
          s.arch_optimizer->step();
        }
      }
      if (auto own = method.weight_step(s, plan, x, y, step_seed(seed, epoch, step, 3))) {
        meter.add(own->first, own->second, y);
      } else {
        Mixing mix;
        {
          torch::NoGradGuard no_grad;  // the weight step does not train the architecture weights
          mix = method.step_mixing(s, plan, Step::Weights, step_seed(seed, epoch, step, 3), tau);
        }
        weight_step(s.net, mix, x, y, batch_idx.size(0), distributed::active(), params, *s.optimizer, plan.clip, meter,
                    loss_fn, batch_idx);
      }
      clear_grads(s.alphas);
      if (progress) progress(meter.at("supernet", epoch + 1, schedule.total(), step + 1, steps, lr, false, -1));
    }
    s.epoch = epoch + 1;
    std::mt19937_64 rng(step_seed(seed, epoch, -2));
    Mixing eval_mix = method.judging_mixing(s, plan, rng);
    Evaluation judged = evaluate(s.net, eval_mix, data.valid, 256, 2000);
    last_valid = judged.accuracy;
    if (progress) {
      Progress p = meter.at("supernet", epoch + 1, schedule.total(), steps, steps, lr, true, last_valid);
      p.valid_loss = judged.loss;
      if (method.learns_architecture()) p.arch_weights = architecture_weights(s);
      if (!s.latency.empty()) {
        torch::NoGradGuard no_grad;
        p.expected_latency = expected_latency(s.latency, s.net->mask(), s.alphas).item<double>();
        p.arch_latency = arch_latency(s.latency, s.net->program(), strongest_arch(s));
      }
      progress(p);
    }
    if (on_epoch) on_epoch(s);
  }
  return last_valid;
}

void clear_grads(const std::vector<torch::Tensor>& params) {
  for (const torch::Tensor& p : params)
    if (p.grad().defined()) const_cast<torch::Tensor&>(p).mutable_grad().reset();
}

KeepBuffers::KeepBuffers(Network net) : net_(std::move(net)) {
  for (const torch::Tensor& b : net_->buffers()) saved_.push_back(b.clone());
}

KeepBuffers::~KeepBuffers() {
  torch::NoGradGuard no_grad;
  auto buffers = net_->buffers();
  for (std::size_t i = 0; i < buffers.size(); ++i) buffers[i].copy_(saved_[i]);
}

namespace {
// A template, so that only the branch of the LibTorch being built is compiled.
template <class Key>
Key state_key(const torch::Tensor& param) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream os;  // what LibTorch 1.x's c10::guts::to_string(TensorImpl*) writes
    os << param.unsafeGetTensorImpl();
    return os.str();
  } else {
    return param.unsafeGetTensorImpl();
  }
}
}  // namespace

OptimizerStateKey optimizer_state_key(const torch::Tensor& param) { return state_key<OptimizerStateKey>(param); }

namespace {
// Training mode for the batch norms (batch statistics), without dropout: an evaluation, or a
// calibration, must not draw (it would depend on the generator's state, and a resumed run's differs).
void batch_statistics_mode(Network& net) {
  net->train();
  for (auto& m : net->modules(/*include_self=*/false))
    if (m->as<torch::nn::DropoutImpl>()) m->eval();
}
}  // namespace

void recalibrate_batch_norm(Network& net, const Mixing& mix, const Dataset& data, std::int64_t batches,
                            std::int64_t batch) {
  torch::NoGradGuard no_grad;
  std::vector<std::pair<torch::nn::BatchNorm2dOptions*, c10::optional<double>>> norms;
  // cella's batch norm (ops/modules.h), and LibTorch's where a plugin's operation has one.
  auto restart = [&](auto* bn) {
    if (!bn || !bn->options.track_running_stats()) return;
    bn->reset_running_stats();
    norms.emplace_back(&bn->options, bn->options.momentum());
    bn->options.momentum(c10::nullopt);  // the cumulative average over the batches
  };
  for (auto& m : net->modules()) {
    restart(m->as<BatchNormImpl>());
    restart(m->as<torch::nn::BatchNorm2dImpl>());
  }
  batch_statistics_mode(net);
  for (std::int64_t b = 0; b < batches; ++b) {
    std::int64_t start = (b * batch) % std::max<std::int64_t>(1, data.size());
    std::int64_t len = std::min(batch, data.size() - start);
    net->forward(data.images.narrow(0, start, len), mix);
  }
  for (auto& [options, momentum] : norms) options->momentum(momentum);
  net->eval();
}

namespace {

// Accuracy and loss of `net` as it is (mode, statistics) on the first `n` images of `data`. In a
// data-parallel run each rank computes its rows of every batch (batch statistics over the whole
// batch) and the sums are added up over the ranks.
Evaluation measure(Network& net, const Mixing& mix, const Dataset& data, std::int64_t batch, std::int64_t n) {
  torch::NoGradGuard no_grad;
  distributed::Sharded sharded;
  double correct = 0, loss = 0;
  for (std::int64_t start = 0; start < n; start += batch) {
    const std::int64_t len = std::min(batch, n - start);
    auto [first, last] = distributed::shard(len);
    torch::Tensor x = data.images.narrow(0, start + first, last - first),
                  y = data.labels.narrow(0, start + first, last - first).to(net->device());
    torch::Tensor logits = net->forward(x, mix);
    if (last == first) continue;
    loss += torch::cross_entropy_loss(logits, y).item<double>() * static_cast<double>(last - first);
    correct += logits.argmax(1).eq(y).sum().item<double>();
  }
  if (distributed::active()) {
    std::vector<torch::Tensor> sums{torch::tensor({loss, correct}, torch::kDouble)};
    distributed::all_reduce_sum(sums);
    loss = sums[0][0].item<double>();
    correct = sums[0][1].item<double>();
  }
  return Evaluation{n > 0 ? 100.0 * correct / static_cast<double>(n) : 0, n > 0 ? loss / static_cast<double>(n) : 0};
}

}  // namespace

Evaluation evaluate(Network& net, const Mixing& mix, const Dataset& data, std::int64_t batch, std::int64_t limit,
                    const Dataset* recalibrate_on, std::int64_t recalibrate_batches) {
  std::int64_t n = limit > 0 ? std::min(limit, data.size()) : data.size();
  Evaluation e;
  {
    KeepBuffers keep(net);
    if (recalibrate_on && recalibrate_batches > 0) {
      recalibrate_batch_norm(net, mix, *recalibrate_on, recalibrate_batches, batch);
    } else if (net->is_supernet()) {
      batch_statistics_mode(net);  // batch statistics, as the reference search code evaluates supernets
    } else {
      net->eval();
    }
    e = measure(net, mix, data, batch, n);
  }
  net->train();
  return e;
}

Evaluation evaluate_with_running_statistics(Network& net, const Mixing& mix, const Dataset& data, std::int64_t batch) {
  net->eval();
  return measure(net, mix, data, batch, data.size());
}

std::vector<torch::Tensor> one_step_ahead(const SupernetState& s, const std::vector<torch::Tensor>& params,
                                          const std::vector<torch::Tensor>& grads, double eta) {
  torch::NoGradGuard no_grad;
  const auto& o = static_cast<const torch::optim::SGDOptions&>(s.optimizer->param_groups().front().options());
  auto& state = s.optimizer->state();
  std::vector<torch::Tensor> ahead;
  for (std::size_t i = 0; i < params.size(); ++i) {
    // The rule of torch::optim::SGD::step (dampening 0): d = g + λw; buf = μ·buf + d (d on the
    // first step); the step is buf, or d + μ·buf with Nesterov.
    torch::Tensor d = grads[i] + o.weight_decay() * params[i];
    torch::Tensor step = d;
    if (o.momentum() != 0) {
      auto it = state.find(optimizer_state_key(params[i]));
      torch::Tensor buf = d;
      if (it != state.end()) {
        const auto& st = static_cast<const torch::optim::SGDParamState&>(*it->second);
        if (st.momentum_buffer().defined()) buf = o.momentum() * st.momentum_buffer() + d;
      }
      step = o.nesterov() ? d + o.momentum() * buf : buf;
    }
    ahead.push_back(params[i] - eta * step);
  }
  return ahead;
}

std::vector<torch::Tensor> mixed_hessian_vector_product(SupernetState& s, const std::vector<torch::Tensor>& params,
                                                        const std::vector<torch::Tensor>& v, const torch::Tensor& x,
                                                        const torch::Tensor& y, const std::function<Mixing()>& mixing) {
  std::vector<torch::Tensor> w;
  double squared = 0;
  for (std::size_t i = 0; i < params.size(); ++i) {
    w.push_back(params[i].detach().clone());
    squared += v[i].pow(2).sum().item<double>();
  }
  const double R = 0.01 / std::sqrt(squared);
  auto alpha_grad_at = [&](double r) {
    std::vector<torch::Tensor> moved;
    for (std::size_t i = 0; i < params.size(); ++i) moved.push_back(w[i] + r * v[i]);
    assign(params, moved);
    return gradients(torch::cross_entropy_loss(s.net->forward(x, mixing()), y), s.alphas);
  };
  std::vector<torch::Tensor> plus = alpha_grad_at(R), minus = alpha_grad_at(-R);
  assign(params, w);  // exactly w again (the reference's +R, −2R, +R leaves rounding behind)
  std::vector<torch::Tensor> out;
  for (std::size_t i = 0; i < plus.size(); ++i) out.push_back((plus[i] - minus[i]) / (2 * R));
  return out;
}

void unrolled_arch_gradient(SupernetState& s, const std::vector<torch::Tensor>& params, const torch::Tensor& x_train,
                            const torch::Tensor& y_train, const torch::Tensor& x_valid, const torch::Tensor& y_valid,
                            double eta, const std::function<Mixing()>& mixing,
                            const std::function<torch::Tensor()>& extra) {
  std::vector<torch::Tensor> w;
  for (const torch::Tensor& p : params) w.push_back(p.detach().clone());
  std::vector<torch::Tensor> g =
      gradients(torch::cross_entropy_loss(s.net->forward(x_train, mixing()), y_train), params);
  std::vector<torch::Tensor> d_alpha, v;
  {
    KeepBuffers keep(s.net);  // the reference's unrolled model is a copy: its statistics go with it
    assign(params, one_step_ahead(s, params, g, eta));
    torch::Tensor loss = torch::cross_entropy_loss(s.net->forward(x_valid, mixing()), y_valid);
    if (extra)
      if (torch::Tensor e = extra(); e.defined()) loss = loss + e;
    std::vector<torch::Tensor> inputs = s.alphas;
    inputs.insert(inputs.end(), params.begin(), params.end());
    std::vector<torch::Tensor> all = gradients(loss, inputs);
    d_alpha.assign(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(s.alphas.size()));
    v.assign(all.begin() + static_cast<std::ptrdiff_t>(s.alphas.size()), all.end());
    assign(params, w);
  }
  std::vector<torch::Tensor> implicit = mixed_hessian_vector_product(s, params, v, x_train, y_train, mixing);
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < s.alphas.size(); ++i) s.alphas[i].mutable_grad() = d_alpha[i] - eta * implicit[i];
}

Network frozen_copy(const Network& net) {
  Network copy(std::dynamic_pointer_cast<NetworkImpl>(net->clone()));
  for (torch::Tensor& p : copy->parameters()) p.requires_grad_(false);
  return copy;
}

ir::Arch strongest_arch(const SupernetState& s) {
  const ir::Program& p = s.net->program();
  const Mask& mask = s.net->mask();
  const ir::Network& n = *p.network;
  torch::NoGradGuard no_grad;
  ir::Arch a;
  for (std::size_t g = 0; g < n.cell_groups.size(); ++g) {
    const ir::Cell& c = p.cells[n.cell_groups[g].cell];
    torch::Tensor theta = masked_theta(s, g);
    ir::CellChoice ch;
    ch.edge_op.assign(c.num_edges(), -1);
    ch.node_op.assign(c.num_nodes(), -1);
    auto best_op = [&](int e, bool skip_zero) {
      int best = -1;
      float bw = -1;
      for (std::size_t k = 0; k < c.edge(e).candidates.size(); ++k) {
        if (!mask.cells[g][e][k] || (skip_zero && c.edge(e).candidates[k].is_zero(1))) continue;
        float w = theta[e][static_cast<std::int64_t>(k)].item<float>();
        if (w > bw) {
          bw = w;
          best = static_cast<int>(k);
        }
      }
      return std::make_pair(best, bw);
    };
    for (int v = c.props().inputs; v < c.num_nodes(); ++v) {
      std::vector<int> in = c.in_edges(v);
      int k = c.node(v).select;
      if (k > 0) {
        // DARTS: keep the k incoming edges whose strongest real operation is strongest (ties: lower source).
        std::vector<std::pair<float, int>> strength;
        for (int e : in) strength.push_back({-best_op(e, true).second, e});
        std::stable_sort(strength.begin(), strength.end(), [](auto& x, auto& y) { return x.first < y.first; });
        for (int j = 0; j < k && j < static_cast<int>(strength.size()); ++j)
          ch.edge_op[strength[j].second] = best_op(strength[j].second, true).first;
      } else {
        for (int e : in) ch.edge_op[e] = best_op(e, false).first;
      }
      if (!c.node(v).ops.empty()) ch.node_op[v] = enabled_candidates(mask.nodes[g][v]).front();
      // The compiler keeps combine choices away from methods with architecture weights.
      if (c.node(v).chooses_combine())
        throw std::invalid_argument(
            fmt::format("node {} of cell '{}' chooses how it combines; architecture weights "
                        "do not cover that: train the space with a sampler",
                        v, c.props().name));
    }
    a.cells.push_back(ch);
  }
  for (std::size_t l = 0; l < n.layer_groups.size(); ++l) {
    torch::Tensor alpha = s.alphas[n.cell_groups.size() + l].detach();
    int best = -1;
    float bw = -INFINITY;
    for (int k : enabled_candidates(mask.layers[l]))
      if (alpha[k].item<float>() > bw) {
        bw = alpha[k].item<float>();
        best = k;
      }
    a.layers.push_back(best);
  }
  for (int st : n.depth_groups) a.depths.push_back(static_cast<int>(n.stages[st].depths.size()) - 1);
  for (int st : n.width_groups) a.widths.push_back(static_cast<int>(n.stages[st].widths.size()) - 1);
  return a;
}

torch::Tensor confidence_loss(const SupernetState& s) {
  const ir::Program& p = s.net->program();
  torch::Tensor total = torch::zeros({});
  for (std::size_t g = 0; g < p.network->cell_groups.size(); ++g) {
    // The reference computes kl_div(log(sorted θ), one-hot on the largest, reduction='mean'),
    // which is this, with zeros raised to 1e-4 before the log.
    torch::Tensor largest = std::get<0>(masked_theta(s, g).max(-1)).clamp_min(1e-4);
    total = total - largest.log().sum() / static_cast<double>(s.alphas[g].numel());
  }
  return total;
}

ir::Arch derive(SupernetState& s, const ir::SupernetPlan& plan, const DataSplits& data, std::uint64_t seed,
                std::int64_t samples, const ProgressFn& progress) {
  return method_of(plan).derive(s, plan, data, seed, samples, progress);
}

double drop_path_probability(ir::DropPathSchedule schedule, double p, std::int64_t cell, std::int64_t cells,
                             std::int64_t epoch, std::int64_t epochs, std::int64_t step, std::int64_t steps) {
  if (p <= 0) return 0;
  if (schedule == ir::DropPathSchedule::Epoch) return p * static_cast<double>(epoch) / static_cast<double>(epochs);
  const double by_depth = static_cast<double>(cell + 1) / static_cast<double>(std::max<std::int64_t>(1, cells)) * p;
  const double ratio = std::min(1.0, static_cast<double>(step) / static_cast<double>(std::max<std::int64_t>(1, steps)));
  return ratio * by_depth;
}

namespace {

// A retrain's state after an epoch (retrain's `checkpoint`), saved and read here only.
void save_retrain(const Network& net, torch::optim::Optimizer& opt, std::int64_t epochs, const RetrainResult& r,
                  const std::string& path);
// Reads it into `net` and `opt`; returns the epochs it holds and sets the accuracies in `r`.
std::int64_t load_retrain(Network& net, torch::optim::Optimizer& opt, RetrainResult& r, const std::string& path);

}  // namespace

RetrainResult retrain(std::shared_ptr<const ir::Program> program, const ir::Arch& arch, const ir::RetrainPlan& plan,
                      const DataSplits& data, std::uint64_t seed, const ProgressFn& progress, const std::string& init,
                      const std::string& checkpoint) {
  torch::manual_seed(seed);
  Network net(program, Mask::of_arch(*program, arch), /*supernet=*/false);
  if (!init.empty()) load_weights(net, init);
  Mixing mix = mixing_of(*program, arch);
  Dataset train;
  train.images = torch::cat({data.train.images, data.valid.images});
  train.labels = torch::cat({data.train.labels, data.valid.labels});
  const ir::Optimizer& o = plan.optimizer;
  torch::optim::SGD opt(
      net->unique_parameters(),
      torch::optim::SGDOptions(o.lr).momentum(o.momentum).weight_decay(o.weight_decay).nesterov(o.nesterov));
  std::vector<torch::Tensor> params = net->unique_parameters();
  const std::int64_t n = train.size(), steps = (n + plan.batch - 1) / plan.batch, cells = net->cell_count();
  const Augmentation augmentation{plan.crop_padding, plan.flip, plan.cutout};
  const bool augmenting = plan.crop_padding > 0 || plan.flip || plan.cutout > 0;
  // Black after normalisation, per channel: the least value of each channel in the images.
  const torch::Tensor black = augmenting ? train.images.amin({0, 2, 3}) : torch::Tensor();
  RetrainResult r;
  r.net = net;
  r.params = net->parameter_count();
  std::int64_t first = 0;
  if (!checkpoint.empty() && std::filesystem::exists(checkpoint)) first = load_retrain(net, opt, r, checkpoint);
  for (std::int64_t epoch = first; epoch < plan.epochs; ++epoch) {
    // Dropout and drop path draw from LibTorch's global generator: seeded per epoch, so that an
    // epoch after a resume draws what it would have drawn.
    torch::manual_seed(step_seed(seed, epoch, -7));
    double lr = learning_rate(o, plan.schedule, epoch, plan.epochs);
    set_lr(opt, lr);
    net->train();
    torch::Generator gen = at::detail::createCPUGenerator(step_seed(seed, epoch, -5));
    torch::Tensor order = torch::randperm(n, gen, torch::kInt64);
    Meter meter;
    for (std::int64_t step = 0; step < steps; ++step) {
      if (plan.drop_path > 0) {
        std::vector<double> per_cell;
        for (std::int64_t c = 0; c < cells; ++c)
          per_cell.push_back(drop_path_probability(plan.drop_path_schedule, plan.drop_path, c, cells, epoch,
                                                   plan.epochs, epoch * steps + step, plan.epochs * steps));
        net->set_drop_path(per_cell);
      }
      torch::Tensor idx = order.narrow(0, step * plan.batch, std::min(plan.batch, n - step * plan.batch));
      torch::Tensor x = train.images.index_select(0, idx);
      if (augmenting) {
        at::Generator agen = at::detail::createCPUGenerator(step_seed(seed, epoch, step, 6));
        x = augment(x, augmentation, black, agen);
      }
      // Stand-alone training is not data-parallel: every rank of a data-parallel search that
      // retrains takes the whole batch.
      weight_step(net, mix, x.to(net->device()), train.labels.index_select(0, idx).to(net->device()), x.size(0),
                  /*data_parallel=*/false, params, opt, 5.0, meter);
      if (progress) progress(meter.at("retrain", epoch + 1, plan.epochs, step + 1, steps, lr, false, -1));
    }
    r.train_accuracy = meter.accuracy();
    Evaluation tested = evaluate(net, mix, data.test, 256);
    r.test_accuracy = tested.accuracy;
    if (!checkpoint.empty()) save_retrain(net, opt, epoch + 1, r, checkpoint);
    if (progress) {
      Progress p = meter.at("retrain", epoch + 1, plan.epochs, steps, steps, lr, true, r.test_accuracy);
      p.valid_loss = tested.loss;
      progress(p);
    }
  }
  return r;
}

namespace {

void write_weights(torch::serialize::OutputArchive& archive, const Network& net) {
  for (const auto& p : net->named_parameters()) archive.write("param/" + p.key(), p.value());
  for (const auto& b : net->named_buffers()) archive.write("buffer/" + b.key(), b.value(), /*is_buffer=*/true);
}

// Saves atomically and durably (write_durably). The archive is serialised in memory first:
// LibTorch's file writer, on a full disk, throws from its destructor and aborts the process.
void save_archive(torch::serialize::OutputArchive& archive, const std::string& path) {
  std::ostringstream bytes;
  archive.save_to(bytes);
  try {
    write_durably(path, std::move(bytes).str());
  } catch (const WriteError& e) {  // a full disk, a directory or a file without write permission in the way
    throw std::runtime_error(
        fmt::format("{}: cannot write the checkpoint ({}); the previous one is intact, and "
                    "`--resume` continues from it once the cause is gone",
                    e.file, e.reason));
  }
}

torch::serialize::InputArchive open_archive(const std::string& path) {
  if (!std::filesystem::exists(path)) throw CheckpointError(fmt::format("{}: no such checkpoint", path));
  torch::serialize::InputArchive archive;
  try {
    // Onto the run's device, whichever device saved it: the optimizers' state must sit with
    // the parameters it steps.
    archive.load_from(path, run_device());
  } catch (const c10::Error&) {
    throw CheckpointError(fmt::format("{}: not a cella checkpoint, or damaged", path));
  }
  return archive;
}

void read_tensor(torch::serialize::InputArchive& archive, const std::string& path, const std::string& key,
                 torch::Tensor& t, bool buffer) {
  torch::Tensor v;
  if (!archive.try_read(key, v, buffer))
    throw CheckpointError(fmt::format("{}: checkpoint has no '{}'; it was made for another network", path, key));
  if (!v.sizes().equals(t.sizes()))
    throw CheckpointError(
        fmt::format("{}: '{}' has shape {} in the checkpoint but {} here; it was made for another network", path, key,
                    fmt::join(v.sizes(), "x"), fmt::join(t.sizes(), "x")));
  t.copy_(v);
}

void read_weights(torch::serialize::InputArchive& archive, const std::string& path, Network& net) {
  for (auto& p : net->named_parameters()) read_tensor(archive, path, "param/" + p.key(), p.value(), false);
  for (auto& b : net->named_buffers()) read_tensor(archive, path, "buffer/" + b.key(), b.value(), true);
}

// A state's archive: weights, buffers, architecture weights, epoch, latency table, optimizers.
torch::serialize::OutputArchive state_archive(const SupernetState& s) {
  torch::serialize::OutputArchive archive;
  write_weights(archive, s.net);
  for (std::size_t i = 0; i < s.alphas.size(); ++i) archive.write(fmt::format("alpha/{}", i), s.alphas[i].detach());
  archive.write("epoch", torch::tensor(s.epoch));
  if (s.teacher) {
    torch::serialize::OutputArchive teacher;
    write_weights(teacher, s.teacher);
    archive.write("teacher", teacher);
  }
  if (!s.latency.empty()) {
    archive.write("latency/fixed", torch::tensor(s.latency.fixed, torch::kDouble));
    for (std::size_t i = 0; i < s.latency.entries.size(); ++i)
      archive.write(fmt::format("latency/{}", i), s.latency.entries[i]);
  }
  torch::serialize::OutputArchive opt;
  s.optimizer->save(opt);
  archive.write("optimizer", opt);
  if (s.arch_optimizer) {
    torch::serialize::OutputArchive aopt;
    s.arch_optimizer->save(aopt);
    archive.write("arch_optimizer", aopt);
  }
  return archive;
}

// Reads what state_archive wrote into `s`; `where` names the file in errors.
void read_state(torch::serialize::InputArchive& archive, const std::string& where, SupernetState& s) {
  torch::NoGradGuard no_grad;
  try {
    read_weights(archive, where, s.net);
    for (std::size_t i = 0; i < s.alphas.size(); ++i)
      read_tensor(archive, where, fmt::format("alpha/{}", i), s.alphas[i], false);
    torch::Tensor epoch;
    archive.read("epoch", epoch);
    s.epoch = epoch.item<std::int64_t>();
    if (torch::serialize::InputArchive teacher; archive.try_read("teacher", teacher)) {
      s.teacher = frozen_copy(s.net);
      read_weights(teacher, where + " (teacher)", s.teacher);
    }
    if (torch::Tensor fixed; archive.try_read("latency/fixed", fixed)) {
      s.latency = LatencyTable{.entries = {}, .fixed = fixed.item<double>()};
      for (std::size_t i = 0; i < s.alphas.size(); ++i) {
        torch::Tensor entry;
        archive.read(fmt::format("latency/{}", i), entry);
        s.latency.entries.push_back(entry);
      }
    }
    torch::serialize::InputArchive opt;
    archive.read("optimizer", opt);
    s.optimizer->load(opt);
    if (s.arch_optimizer) {
      torch::serialize::InputArchive aopt;
      archive.read("arch_optimizer", aopt);
      s.arch_optimizer->load(aopt);
    }
  } catch (const c10::Error&) {
    throw CheckpointError(fmt::format("{}: not a cella checkpoint, or damaged", where));
  }
}

}  // namespace

namespace {

void save_retrain(const Network& net, torch::optim::Optimizer& opt, std::int64_t epochs, const RetrainResult& r,
                  const std::string& path) {
  torch::serialize::OutputArchive archive;
  write_weights(archive, net);
  archive.write("epoch", torch::tensor(epochs));
  archive.write("train_acc", torch::tensor(r.train_accuracy, torch::kDouble));
  archive.write("test_acc", torch::tensor(r.test_accuracy, torch::kDouble));
  torch::serialize::OutputArchive state;
  opt.save(state);
  archive.write("optimizer", state);
  save_archive(archive, path);
}

std::int64_t load_retrain(Network& net, torch::optim::Optimizer& opt, RetrainResult& r, const std::string& path) {
  torch::serialize::InputArchive archive = open_archive(path);
  torch::NoGradGuard no_grad;
  try {
    read_weights(archive, path, net);
    torch::Tensor epoch, train_acc, test_acc;
    archive.read("epoch", epoch);
    archive.read("train_acc", train_acc);
    archive.read("test_acc", test_acc);
    r.train_accuracy = train_acc.item<double>();
    r.test_accuracy = test_acc.item<double>();
    torch::serialize::InputArchive state;
    archive.read("optimizer", state);
    opt.load(state);
    return epoch.item<std::int64_t>();
  } catch (const c10::Error&) {
    throw CheckpointError(fmt::format("{}: not a cella retrain checkpoint, or damaged", path));
  }
}

}  // namespace

void save_state(const SupernetState& s, const std::string& path) {
  torch::serialize::OutputArchive archive = state_archive(s);
  save_archive(archive, path);
}

void load_state(SupernetState& s, const std::string& path) {
  torch::serialize::InputArchive archive = open_archive(path);
  read_state(archive, path, s);
}

std::string state_bytes(const SupernetState& s) {
  std::ostringstream out;
  state_archive(s).save_to(out);
  return std::move(out).str();
}

void load_state_bytes(SupernetState& s, const std::string& bytes, const std::string& what) {
  torch::serialize::InputArchive archive;
  try {
    std::istringstream in(bytes);
    archive.load_from(in, run_device());
  } catch (const c10::Error&) {
    throw CheckpointError(fmt::format("{}: not a cella state, or damaged", what));
  }
  read_state(archive, what, s);
}

void save_weights(const Network& net, const std::string& path) {
  torch::serialize::OutputArchive archive;
  write_weights(archive, net);
  save_archive(archive, path);
}

void load_weights(Network& net, const std::string& path) {
  torch::serialize::InputArchive archive = open_archive(path);
  torch::NoGradGuard no_grad;
  try {
    read_weights(archive, path, net);
  } catch (const c10::Error&) {
    throw CheckpointError(fmt::format("{}: not a cella checkpoint, or damaged", path));
  }
}

}  // namespace cella::runtime
