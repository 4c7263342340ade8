// The training-free measures (measures.h), each transcribed from its reference code; the
// comments name where cella's networks make a step differ in form but not in result.
#include "runtime/score/measures.h"

#include <cmath>
#include <limits>

#include "runtime/ops/modules.h"
#include "runtime/ops/observe.h"

namespace cella::runtime::score {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The weights the gradient measures read: those of convolutions and linear layers, which are the
// parameters of two or more dimensions (batch norms' and biases have one).
std::vector<torch::Tensor> layer_weights(const Network& net) {
  std::vector<torch::Tensor> out;
  for (const torch::Tensor& t : net->unique_parameters())
    if (t.defined() && t.dim() >= 2) out.push_back(t);
  return out;
}

// Σ |w · ∂/∂w| over the layer weights, after a backward pass.
double sum_abs_weight_times_grad(const Network& net) {
  double total = 0;
  for (const torch::Tensor& w : layer_weights(net))
    if (w.grad().defined()) total += (w.detach() * w.grad()).abs().sum().item<double>();
  return total;
}

// NASWOT's kernel: for every activation's input, per image the binary code (unit > 0), and
// K += c·cᵀ + (1 - c)·(1 - c)ᵀ, the number of units on which two images agree.
class CodeKernel : public ForwardObserver {
 public:
  explicit CodeKernel(std::int64_t n) : k(torch::zeros({n, n}, torch::kDouble)) {}
  void activation(const torch::Tensor& input) override {
    torch::Tensor c = (input.detach().reshape({input.size(0), -1}) > 0).to(torch::kDouble);
    k += c.matmul(c.t()) + (1 - c).matmul((1 - c).t());
  }
  torch::Tensor k;
};

// What Zen-NAS reads from a pass: the last pooling's input, and each batch norm's unbiased batch
// variance per channel, in the order the pass reaches them.
class ZenWatch : public ForwardObserver {
 public:
  void batch_norm(const torch::Tensor& input) override {
    variances.push_back(input.detach().to(torch::kDouble).var({0, 2, 3}, /*unbiased=*/true));
  }
  void pooling(const torch::Tensor& input) override { pre_pooling = input.detach(); }
  std::vector<torch::Tensor> variances;
  torch::Tensor pre_pooling;
};

// The feature map the head pools (or the output, for a network without pooling), watched.
torch::Tensor pre_pooling(Network& net, const Mixing& mix, const torch::Tensor& x, ZenWatch& watch) {
  ObservingScope scope(watch);
  torch::Tensor out = net->forward(x, mix);
  return watch.pre_pooling.defined() ? watch.pre_pooling : out;
}

}  // namespace

double synflow(Network& net, const Mixing& mix, std::int64_t channels, std::int64_t size) {
  net->to(torch::kDouble);  // first, so that the batch norms' 1 - eps below is a double
  {
    torch::NoGradGuard no_grad;
    for (torch::Tensor& t : net->parameters())
      if (t.defined()) t.abs_();
    for (torch::Tensor& t : net->buffers())
      if (t.defined() && t.is_floating_point()) t.abs_();
    // The reference scores a copy whose batch norms do nothing (bn=False): here each is the
    // identity, evaluated with mean 0, variance 1 - eps, scale 1 and shift 0.
    for (const std::shared_ptr<torch::nn::Module>& m : net->modules(/*include_self=*/false))
      if (auto* bn = m->as<BatchNormImpl>()) {
        if (bn->weight.defined()) bn->weight.fill_(1);
        if (bn->bias.defined()) bn->bias.zero_();
        if (bn->running_mean.defined()) bn->running_mean.zero_();
        if (bn->running_var.defined()) bn->running_var.fill_(1 - bn->options.eps());
      }
  }
  net->eval();
  net->zero_grad();
  net->forward(torch::ones({1, channels, size, size}, torch::kDouble), mix).sum().backward();
  return sum_abs_weight_times_grad(net);
}

double snip(Network& net, const Mixing& mix, const torch::Tensor& images, const torch::Tensor& labels) {
  net->zero_grad();
  torch::nn::functional::cross_entropy(net->forward(images, mix), labels).backward();
  return sum_abs_weight_times_grad(net);
}

double grasp(Network& net, const Mixing& mix, const torch::Tensor& images, const torch::Tensor& labels) {
  std::vector<torch::Tensor> weights = layer_weights(net);
  auto loss = [&] { return torch::nn::functional::cross_entropy(net->forward(images, mix), labels); };
  // g, then the gradient of g·∇L, which is H·g: two passes as the reference makes them.
  std::vector<torch::Tensor> g = torch::autograd::grad({loss()}, weights, {}, false, false, /*allow_unused=*/true);
  std::vector<torch::Tensor> f = torch::autograd::grad({loss()}, weights, {}, true, /*create_graph=*/true, true);
  torch::Tensor z;
  for (std::size_t i = 0; i < weights.size(); ++i)
    if (g[i].defined() && f[i].defined()) {
      torch::Tensor term = (g[i].detach() * f[i]).sum();
      z = z.defined() ? z + term : term;
    }
  if (!z.defined() || !z.requires_grad()) return 0;
  net->zero_grad();
  z.backward();
  double total = 0;
  for (const torch::Tensor& w : weights)
    if (w.grad().defined()) total += (-w.detach() * w.grad()).sum().item<double>();
  return total;
}

double jacob_cov(Network& net, const Mixing& mix, const torch::Tensor& images) {
  torch::Tensor x = images.detach().clone().requires_grad_(true);
  torch::Tensor y = net->forward(x, mix);
  y.backward(torch::ones_like(y));
  if (!x.grad().defined()) return kNaN;  // the output ignores the input
  // numpy.corrcoef of the rows (one per image), then the eigenvalues of that symmetric matrix.
  torch::Tensor j = x.grad().detach().reshape({x.size(0), -1}).to(torch::kDouble);
  torch::Tensor centred = j - j.mean(1, true);
  torch::Tensor cov = centred.matmul(centred.t());
  torch::Tensor d = cov.diagonal().sqrt();
  torch::Tensor corr = (cov / d.unsqueeze(1) / d.unsqueeze(0)).clamp(-1, 1);
  if (!torch::isfinite(corr).all().item<bool>()) return kNaN;  // a constant Jacobian: numpy's NaN
  torch::Tensor v = at::linalg_eigvalsh(corr, "L") + 1e-5;
  return -(v.log() + v.reciprocal()).sum().item<double>();
}

double naswot(Network& net, const Mixing& mix, const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  CodeKernel kernel(images.size(0));
  {
    ObservingScope watch(kernel);
    net->forward(images, mix);
  }
  return std::get<1>(at::linalg_slogdet(kernel.k)).item<double>();
}

double zen(Network& net, const Mixing& mix, const torch::Tensor& x, const torch::Tensor& mixed) {
  torch::NoGradGuard no_grad;
  ZenWatch first, second;
  const torch::Tensor a = pre_pooling(net, mix, x, first);
  const torch::Tensor c = pre_pooling(net, mix, mixed, second);
  const double delta = (a - c).abs().to(torch::kDouble).reshape({a.size(0), -1}).sum(1).mean().item<double>();
  // The reference reads each batch norm's running variance after its two passes in training
  // mode (momentum 0.1, from 1): 0.81 + 0.09·var(x) + 0.1·var(mixed). The paper writes the
  // batch variance; the running one stays finite where a batch norm sees a constant input (behind
  // `none` edges), where the batch variance's logarithm is -inf.
  double log_scales = 0;
  for (std::size_t i = 0; i < first.variances.size() && i < second.variances.size(); ++i)
    log_scales += 0.5 * std::log((0.81 + 0.09 * first.variances[i] + 0.1 * second.variances[i]).mean().item<double>());
  return std::log(delta) + log_scales;
}

void gaussian_init(Network& net) {
  torch::NoGradGuard no_grad;
  for (const auto& item : net->named_parameters()) {
    torch::Tensor t = item.value();
    if (!t.defined()) continue;
    const std::string& name = item.key();
    if (t.dim() >= 2)
      t.normal_(0, 1);
    else if (name.size() >= 6 && name.compare(name.size() - 6, 6, "weight") == 0)
      t.fill_(1);  // a batch norm's scale
    else
      t.zero_();
  }
}

}  // namespace cella::runtime::score
