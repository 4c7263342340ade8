// The sandwich rule, in-place distillation, zero-initialised residual batch norms, calibration.
#include "runtime/train/sandwich.h"

#include <torch/torch.h>

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>

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

std::vector<ElasticArch> sandwich_children(const ElasticNetSpec& spec, std::int64_t random_children,
                                           std::mt19937_64& rng) {
  std::vector<ElasticArch> out{ElasticArch::largest(spec), ElasticArch::smallest(spec)};
  for (std::int64_t i = 0; i < random_children; ++i) out.push_back(ElasticArch::uniform(spec, rng));
  return out;
}

SandwichStep sandwich_step(ElasticNetImpl& net, const torch::Tensor& x, const torch::Tensor& y,
                           torch::optim::Optimizer& optimizer, std::mt19937_64& rng, const SandwichOptions& o) {
  SandwichStep step;
  step.children = sandwich_children(net.spec(), o.random_children, rng);
  net.train();
  optimizer.zero_grad();
  torch::Tensor soft;
  const double dropout = net.spec().dropout;
  for (std::size_t i = 0; i < step.children.size(); ++i) {
    // Regularisation on the largest child only: the others are not dropped out.
    net.set_dropout(i == 0 ? o.dropout : 0.0);
    const torch::Tensor logits = net.forward(x, step.children[i]);
    torch::Tensor loss;
    if (i == 0) {
      loss = label_smoothing_loss(logits, y, o.label_smoothing);
      soft = logits.detach();
    } else {
      loss = inplace_distillation_loss(logits, soft);
    }
    loss.backward();
    step.losses.push_back(loss.item<double>());
  }
  net.set_dropout(dropout);
  if (o.clip_value > 0) torch::nn::utils::clip_grad_value_(net.parameters(), o.clip_value);
  optimizer.step();
  return step;
}

std::vector<ShrinkingPhase> progressive_shrinking_phases(const ElasticNetSpec& spec) {
  auto last = [](const std::vector<std::int64_t>& l, std::size_t n) {
    return std::vector<std::int64_t>(l.end() - static_cast<std::ptrdiff_t>(std::min(n, l.size())), l.end());
  };
  auto depths = [&](std::size_t n) {
    std::vector<std::vector<std::int64_t>> out;
    for (const ElasticStageSpec& st : spec.stages) out.push_back(last(st.depths, n));
    return out;
  };
  const std::size_t all = std::numeric_limits<std::size_t>::max();
  return {{"full", last(spec.kernels, 1), last(spec.expands, 1), depths(1), 1, -1},
          {"kernel", spec.kernels, last(spec.expands, 1), depths(1), 1, -1},
          {"depth 1", spec.kernels, last(spec.expands, 1), depths(2), 2, -1},
          {"depth 2", spec.kernels, last(spec.expands, 1), depths(all), 2, -1},
          {"expand 1", spec.kernels, last(spec.expands, 2), depths(all), 4, 0},
          {"expand 2", spec.kernels, spec.expands, depths(all), 4, 1}};
}

ElasticArch shrinking_child(const ElasticNetSpec& spec, const ShrinkingPhase& phase, std::mt19937_64& rng) {
  return ElasticArch::uniform_within(spec, phase.kernels, phase.expands, phase.depths, rng);
}

SandwichStep shrinking_step(ElasticNetImpl& net, ElasticNetImpl* teacher, const ShrinkingPhase& phase,
                            const torch::Tensor& x, const torch::Tensor& y, torch::optim::Optimizer& optimizer,
                            std::mt19937_64& rng, double label_smoothing, double kd_ratio) {
  SandwichStep step;
  // One resolution per step, the first child's, for the teacher and every child (OFA's loader
  // resizes the batch; BigNAS's children each have their own).
  for (std::int64_t j = 0; j < phase.children; ++j) {
    step.children.push_back(shrinking_child(net.spec(), phase, rng));
    step.children.back().resolution = step.children.front().resolution;
  }
  torch::Tensor soft;
  if (teacher && kd_ratio > 0) {
    torch::NoGradGuard no_grad;
    teacher->train();  // OFA's teacher runs in training mode: batch statistics
    ElasticArch full = ElasticArch::largest(teacher->spec());
    full.resolution = step.children.front().resolution;
    soft = teacher->forward(x, full);
  }
  net.train();
  optimizer.zero_grad();
  for (const ElasticArch& child : step.children) {
    const torch::Tensor logits = net.forward(x, child);
    torch::Tensor loss = label_smoothing_loss(logits, y, label_smoothing);
    if (soft.defined()) loss = loss + kd_ratio * inplace_distillation_loss(logits, soft);
    loss.backward();
    step.losses.push_back(loss.item<double>());
  }
  optimizer.step();
  return step;
}

void zero_residual_batch_norms(ElasticNetImpl& net) {
  torch::NoGradGuard no_grad;
  for (auto& m : net.modules(/*include_self=*/false))
    if (auto* b = m->as<ElasticMBConvImpl>(); b && b->residual()) b->project_bn->weight.zero_();
}

void calibrate_batch_norm(ElasticNetImpl& net, const ElasticArch& arch, const torch::Tensor& images,
                          std::int64_t batches, std::int64_t batch) {
  torch::NoGradGuard no_grad;
  std::vector<std::pair<BatchNormImpl*, c10::optional<double>>> norms;
  for (auto& m : net.modules(/*include_self=*/false))
    if (auto* bn = m->as<BatchNormImpl>()) {
      norms.emplace_back(bn, bn->options.momentum());
      bn->reset_running_stats();
      bn->options.momentum(c10::nullopt);  // the cumulative average over the batches
    }
  net.train();
  const std::int64_t n = images.size(0);
  for (std::int64_t b = 0; b < batches; ++b) {
    const std::int64_t start = (b * batch) % std::max<std::int64_t>(1, n);
    net.forward(images.narrow(0, start, std::min(batch, n - start)), arch);
  }
  for (auto& [bn, momentum] : norms) bn->options.momentum(momentum);
  net.eval();
}

}  // namespace cella::runtime
