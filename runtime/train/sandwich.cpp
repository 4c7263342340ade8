// The sandwich rule, in-place distillation, progressive shrinking, zero-initialised residual batch
// norms, on supernets of elastic layers.
#include "runtime/train/sandwich.h"

#include <torch/torch.h>

#include <algorithm>
#include <utility>

#include "runtime/ops/elastic.h"

namespace cella::runtime {

torch::Tensor inplace_distillation_loss(const torch::Tensor& student, const torch::Tensor& teacher) {
  const torch::Tensor target = torch::softmax(teacher.detach(), 1);
  return -(target * torch::log_softmax(student, 1)).sum(1).mean();
}

torch::Tensor label_smoothing_loss(const torch::Tensor& logits, const torch::Tensor& labels, double epsilon) {
  const torch::Tensor logp = torch::log_softmax(logits, 1);
  const torch::Tensor nll = -logp.gather(1, labels.unsqueeze(1)).squeeze(1);
  return ((1 - epsilon) * nll - epsilon * logp.mean(1)).mean();
}

namespace {

// A uniform index among the last `n` of `size` (0: all of them).
std::size_t pick_among_largest(std::size_t size, std::size_t n, std::mt19937_64& rng) {
  const std::size_t from = n == 0 || n >= size ? 0 : size - n;
  return std::uniform_int_distribution<std::size_t>(from, size - 1)(rng);
}

// A uniform one of the last `n` of `on` (0: any).
int pick_among_largest(const std::vector<int>& on, std::size_t n, std::mt19937_64& rng) {
  return on[pick_among_largest(on.size(), n, rng)];
}

// Gradients left undefined rather than zero, as the trainer's own steps leave them: a weight no
// child of the step reaches then gets no update (no weight decay, no momentum step), as
// PyTorch 2's zero_grad(set_to_none=True) has it, and a resumed run, whose weights start without
// gradients, steps exactly as the uninterrupted one.
void clear_gradients(Network& net) {
  for (const torch::Tensor& p : net->parameters())
    if (p.grad().defined()) const_cast<torch::Tensor&>(p).mutable_grad().reset();
}

}  // namespace

ir::Arch draw_child(const ir::Program& program, const ElasticChoices& choices, std::mt19937_64& rng,
                    const ir::Mask* mask) {
  const ir::Network& n = *program.network;
  ir::Arch a;
  for (std::size_t l = 0; l < n.layer_groups.size(); ++l) {
    const ir::Unit& u = n.units[static_cast<std::size_t>(n.layer_groups[l])];
    const std::vector<int> on = ir::enabled_or_all(mask ? &mask->layers : nullptr, l, u.choices.size());
    if (u.elastic.empty()) {
      a.layers.push_back(pick_among_largest(on, 0, rng));
      continue;
    }
    // Candidates are the product of the dimensions, the first varying slowest (ir::Unit): each
    // dimension's value among those some enabled candidate has.
    std::vector<std::size_t> stride(u.elastic.size(), 1);
    for (std::size_t d = u.elastic.size() - 1; d > 0; --d) stride[d - 1] = stride[d] * u.elastic[d].values.size();
    std::size_t index = 0;
    for (std::size_t d = 0; d < u.elastic.size(); ++d) {
      std::vector<bool> has(u.elastic[d].values.size(), false);
      for (int c : on) has[(static_cast<std::size_t>(c) / stride[d]) % has.size()] = true;
      auto it = choices.largest.find(u.elastic[d].param);
      const int value =
          pick_among_largest(ir::enabled_candidates(has), it == choices.largest.end() ? 0 : it->second, rng);
      index += stride[d] * static_cast<std::size_t>(value);
    }
    // A mask that is not a product of per-dimension sets (no split makes one) may leave this
    // combination out: then one of its candidates, uniformly.
    if (std::find(on.begin(), on.end(), static_cast<int>(index)) == on.end())
      index = static_cast<std::size_t>(pick_among_largest(on, 0, rng));
    a.layers.push_back(static_cast<int>(index));
  }
  for (std::size_t d = 0; d < n.depth_groups.size(); ++d)
    a.depths.push_back(
        pick_among_largest(ir::enabled_or_all(mask ? &mask->depths : nullptr, d,
                                              n.stages[static_cast<std::size_t>(n.depth_groups[d])].depths.size()),
                           choices.depths, rng));
  if (n.resolutions.size() > 1) a.resolution = static_cast<int>(pick_among_largest(n.resolutions.size(), 0, rng));
  // After the other draws, so that spaces without width choices draw what they drew before.
  for (std::size_t w = 0; w < n.width_groups.size(); ++w)
    a.widths.push_back(
        pick_among_largest(ir::enabled_or_all(mask ? &mask->widths : nullptr, w,
                                              n.stages[static_cast<std::size_t>(n.width_groups[w])].widths.size()),
                           0, rng));
  return a;
}

std::vector<ir::Arch> sandwich_children(const ir::Program& program, std::int64_t random_children, std::mt19937_64& rng,
                                        const ir::Mask* mask) {
  std::vector<ir::Arch> out{ir::largest_arch(program, mask), ir::smallest_arch(program, mask)};
  for (std::int64_t i = 0; i < random_children; ++i) out.push_back(draw_child(program, {}, rng, mask));
  return out;
}

ChildrenStep sandwich_step(Network& net, const torch::Tensor& x, const torch::Tensor& y,
                           torch::optim::Optimizer& optimizer, std::mt19937_64& rng, const SandwichOptions& o) {
  const ir::Program& p = net->program();
  ChildrenStep step;
  step.children = sandwich_children(p, o.random_children, rng, &net->mask());
  net->train();
  clear_gradients(net);
  torch::Tensor soft;
  std::vector<double> dropout;
  for (std::size_t i = 0; i < step.children.size(); ++i) {
    // Regularisation on the largest child only: the others are not dropped out.
    if (i == 0 && o.drop_connect > 0) set_drop_connect(net, o.drop_connect);
    if (i == 1) {
      dropout = set_dropout(net, 0.0);
      if (o.drop_connect > 0) set_drop_connect(net, 0.0);
    }
    const torch::Tensor logits = net->forward(x, mixing_of(p, step.children[i]));
    torch::Tensor loss;
    if (i == 0) {
      loss = label_smoothing_loss(logits, y, o.label_smoothing);
      soft = logits.detach();
      step.first_loss = loss.detach();
      step.first_logits = soft;
    } else {
      loss = o.inplace_distillation ? inplace_distillation_loss(logits, soft)
                                    : label_smoothing_loss(logits, y, o.label_smoothing);
    }
    loss.backward();
    step.losses.push_back(loss.item<double>());
  }
  if (!dropout.empty()) restore_dropout(net, dropout);
  if (o.clip_value > 0) torch::nn::utils::clip_grad_value_(net->parameters(), o.clip_value);
  optimizer.step();
  return step;
}

const std::vector<ShrinkingPhase>& progressive_shrinking_phases() {
  static const std::map<std::string, std::size_t> one{{"k", 1}, {"e", 1}}, kernels{{"e", 1}}, two_expands{{"e", 2}};
  static const std::vector<ShrinkingPhase> phases{
      {"full", {one, 1}, 1, -1},        {"kernel", {kernels, 1}, 1, -1},      {"depth 1", {kernels, 2}, 2, -1},
      {"depth 2", {kernels, 0}, 2, -1}, {"expand 1", {two_expands, 0}, 4, 0}, {"expand 2", {{}, 0}, 4, 1}};
  return phases;
}

ChildrenStep shrinking_step(Network& net, Network* teacher, const ShrinkingPhase& phase, const torch::Tensor& x,
                            const torch::Tensor& y, torch::optim::Optimizer& optimizer, std::mt19937_64& rng,
                            double label_smoothing, double kd_ratio) {
  const ir::Program& p = net->program();
  ChildrenStep step;
  // One resolution per step, the first child's, for the teacher and every child (OFA's loader
  // resizes the batch; BigNAS's children each have their own).
  for (std::int64_t j = 0; j < phase.children; ++j) {
    step.children.push_back(draw_child(p, phase.choices, rng, &net->mask()));
    step.children.back().resolution = step.children.front().resolution;
  }
  torch::Tensor soft;
  if (teacher && kd_ratio > 0) {
    torch::NoGradGuard no_grad;
    // OFA's teacher runs in training mode (batch statistics) but is built with dropout_rate=0
    // (train_ofa_net.py): its dropout would perturb every soft target. Set here, not when the
    // teacher is taken, so that a teacher read back from a checkpoint has it off too.
    (*teacher)->train();
    set_dropout(*teacher, 0);
    ir::Arch full = ir::largest_arch((*teacher)->program());
    full.resolution = step.children.front().resolution;
    soft = (*teacher)->forward(x, mixing_of((*teacher)->program(), full));
  }
  net->train();
  clear_gradients(net);
  for (const ir::Arch& child : step.children) {
    const torch::Tensor logits = net->forward(x, mixing_of(p, child));
    torch::Tensor loss = label_smoothing_loss(logits, y, label_smoothing);
    if (soft.defined()) loss = loss + kd_ratio * inplace_distillation_loss(logits, soft);
    if (!step.first_loss.defined()) {
      step.first_loss = loss.detach();
      step.first_logits = logits.detach();
    }
    loss.backward();
    step.losses.push_back(loss.item<double>());
  }
  optimizer.step();
  return step;
}

void sort_channels(Network& net, int nested) {
  // A block without an expand layer (expansion 1) has its input's channels in the middle: they
  // cannot be reordered inside it (OFA sorts every block but the first).
  for (auto& m : net->modules(/*include_self=*/false))
    if (auto* b = m->as<ElasticMBConvImpl>(); b && b->options.expand_layer) b->sort_channels(nested);
}

void zero_residual_batch_norms(Network& net) {
  torch::NoGradGuard no_grad;
  for (auto& m : net->modules(/*include_self=*/false))
    if (auto* b = m->as<ElasticMBConvImpl>(); b && b->residual() && b->project_bn->weight.defined())
      b->project_bn->weight.zero_();
}

std::vector<double> set_dropout(Network& net, double p) {
  std::vector<double> saved;
  for (auto& m : net->modules(/*include_self=*/false))
    if (auto* d = m->as<torch::nn::DropoutImpl>()) {
      saved.push_back(d->options.p());
      d->options.p(p);
    }
  return saved;
}

std::vector<double> set_drop_connect(Network& net, double rate) {
  const ir::Network& n = *net->program().network;
  // The blocks by unit: a supernet's elastic layer is the module "layers_N", a plain `mbv3` the
  // first module of a candidate's sequence "layers_N/...".
  std::vector<std::pair<int, ElasticMBConvImpl*>> blocks;
  for (const auto& item : net->named_modules("", /*include_self=*/false)) {
    auto* b = item.value()->as<ElasticMBConvImpl>();
    const std::string& key = item.key();
    if (!b || key.rfind("layers_", 0) != 0) continue;
    blocks.emplace_back(std::stoi(key.substr(7)), b);
  }
  std::stable_sort(blocks.begin(), blocks.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<int> stages;
  for (const auto& [unit, b] : blocks) {
    const int stage = n.units[static_cast<std::size_t>(unit)].stage;
    if (stages.empty() || stages.back() != stage) stages.push_back(stage);
  }
  const int from = stages.size() >= 2 ? stages[stages.size() - 2] : stages.empty() ? 0 : stages.back();
  std::vector<double> rates;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const int stage = n.units[static_cast<std::size_t>(blocks[i].first)].stage;
    const bool last_two = stage >= 0 && stage >= from;
    blocks[i].second->drop_connect =
        last_two ? rate * static_cast<double>(i) / static_cast<double>(blocks.size()) : 0.0;
    rates.push_back(blocks[i].second->drop_connect);
  }
  return rates;
}

void restore_dropout(Network& net, const std::vector<double>& saved) {
  std::size_t i = 0;
  for (auto& m : net->modules(/*include_self=*/false))
    if (auto* d = m->as<torch::nn::DropoutImpl>(); d && i < saved.size()) d->options.p(saved[i++]);
}

}  // namespace cella::runtime
