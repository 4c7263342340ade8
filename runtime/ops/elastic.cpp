// Elastic layers: slicing, OFA's kernel transformation, channel sorting, extraction.
#include "runtime/ops/elastic.h"

#include "runtime/ops/observe.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace cella::runtime {

namespace {

// OFA initialises convolutions (SE's included) by he_fout: normal with std sqrt(2 / (k·k·out)).
void he_fout(torch::Tensor& w) {
  torch::NoGradGuard no_grad;
  const double fan_out = static_cast<double>(w.numel() / w.size(1));
  w.normal_(0, std::sqrt(2.0 / fan_out));
}

BatchNorm batch_norm(std::int64_t channels, bool affine) {
  return BatchNorm(torch::nn::BatchNorm2dOptions(channels).momentum(0.1).eps(1e-5).affine(affine));
}

torch::Tensor activate(const torch::Tensor& x, Activation act) {
  switch (act) {
    case Activation::Hswish: return observed_hswish(x);
    case Activation::Swish: return observed_swish(x);
    case Activation::Relu: break;
  }
  return observed_relu(x);
}

// Hard sigmoid with a backward pass that is itself differentiable: LibTorch 1.13 has no derivative
// of hardsigmoid_backward, and GraSP (runtime/score) differentiates twice. Forward and first
// derivative are LibTorch's to the bit: grad · [-3 < x < 3] · 1/6.
struct HardSigmoid : torch::autograd::Function<HardSigmoid> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x) {
    ctx->save_for_backward({x});
    return torch::hardsigmoid(x);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    const torch::Tensor x = ctx->get_saved_variables()[0];
    return {grad[0] * ((x > -3) & (x < 3)).to(grad[0].scalar_type()) * (1.0 / 6)};
  }
};

// The index of `value` in `list`, or an error naming what the block offers.
std::size_t position(const std::vector<std::int64_t>& list, std::int64_t value, const char* what) {
  auto it = std::find(list.begin(), list.end(), value);
  if (it == list.end())
    throw std::invalid_argument(
        fmt::format("an elastic block has no {} {} (it has {})", what, value, fmt::join(list, ", ")));
  return static_cast<std::size_t>(it - list.begin());
}

// Copies the first `channels` channels of batch norm `from` into `to` (a layer of that width).
void copy_first(const BatchNormImpl& from, BatchNormImpl& to, std::int64_t channels) {
  torch::NoGradGuard no_grad;
  to.weight.copy_(from.weight.narrow(0, 0, channels));
  to.bias.copy_(from.bias.narrow(0, 0, channels));
  to.running_mean.copy_(from.running_mean.narrow(0, 0, channels));
  to.running_var.copy_(from.running_var.narrow(0, 0, channels));
  to.num_batches_tracked.copy_(from.num_batches_tracked);
}

// Permutes the channels of batch norm `bn` by `order` (OFA's adjust_bn_according_to_idx).
void permute(BatchNormImpl& bn, const torch::Tensor& order) {
  torch::NoGradGuard no_grad;
  for (torch::Tensor* t : {&bn.weight, &bn.bias, &bn.running_mean, &bn.running_var})
    t->copy_(t->index_select(0, order));
}

}  // namespace

torch::Tensor centre_crop(const torch::Tensor& weight, std::int64_t k) {
  const std::int64_t full = weight.size(-1), start = full / 2 - k / 2;
  return weight.narrow(-2, start, k).narrow(-1, start, k);
}

ElasticMBConvImpl::ElasticMBConvImpl(ElasticMBConvOptions o) : options(std::move(o)) {
  if (options.kernels.empty() || options.expands.empty())
    throw std::invalid_argument("an elastic block needs at least one kernel size and one expansion");
  reset();
}

ElasticMBConvOptions mbv3_options(const ir::PrimCall& call, std::int64_t in, bool affine,
                                  const std::vector<ir::ElasticDim>& elastic) {
  ElasticMBConvOptions o;
  o.in = in;
  o.out = call.int_arg("out", in);
  o.stride = call.int_arg("stride", 1);
  o.kernels = {call.int_arg("k", 3)};
  o.expands = {call.int_arg("e", 1)};
  for (const ir::ElasticDim& d : elastic) (d.param == "k" ? o.kernels : o.expands) = d.values;
  o.expand_layer = o.expands.back() != 1;
  o.se = call.bool_arg("se", false);
  o.act = call.bool_arg("hswish", false)  ? Activation::Hswish
          : call.bool_arg("swish", false) ? Activation::Swish
                                          : Activation::Relu;
  o.transform = call.bool_arg("transform", true) ? KernelTransform::Ofa : KernelTransform::Crop;
  o.affine = affine;
  return o;
}

std::int64_t ElasticMBConvImpl::mid(std::int64_t e, std::int64_t in) const {
  if (in <= 0) in = options.in;
  return options.expand_layer ? ir::mbv3_mid(in, e) : in;
}

std::int64_t ElasticMBConvImpl::se_mid(std::int64_t channels) const { return ir::mbv3_se_mid(channels); }

void ElasticMBConvImpl::reset() {
  const std::int64_t big = mid(options.expands.back()), k = options.kernels.back();
  if (options.expand_layer) {
    expand_weight = register_parameter("expand_weight", torch::empty({big, options.in, 1, 1}));
    he_fout(expand_weight);
    expand_bn = register_module("expand_bn", batch_norm(big, options.affine));
  }
  depthwise_weight = register_parameter("depthwise_weight", torch::empty({big, 1, k, k}));
  he_fout(depthwise_weight);
  transforms.clear();
  if (options.transform == KernelTransform::Ofa)
    for (std::size_t i = options.kernels.size() - 1; i > 0; --i) {
      const std::int64_t to = options.kernels[i - 1];
      transforms.push_back(
          register_parameter(fmt::format("kernel_{}to{}", options.kernels[i], to), torch::eye(to * to)));
    }
  depthwise_bn = register_module("depthwise_bn", batch_norm(big, options.affine));
  if (options.se) {
    const std::int64_t s = se_mid(big);
    se_reduce_weight = register_parameter("se_reduce_weight", torch::empty({s, big}));
    se_reduce_bias = register_parameter("se_reduce_bias", torch::zeros({s}));
    se_expand_weight = register_parameter("se_expand_weight", torch::empty({big, s}));
    se_expand_bias = register_parameter("se_expand_bias", torch::zeros({big}));
    he_fout(se_reduce_weight);
    he_fout(se_expand_weight);
  }
  project_weight = register_parameter("project_weight", torch::empty({options.out, big, 1, 1}));
  he_fout(project_weight);
  project_bn = register_module("project_bn", batch_norm(options.out, options.affine));
}

torch::Tensor& ElasticMBConvImpl::transform_matrix(std::int64_t from) {
  const std::size_t i = position(options.kernels, from, "kernel size");
  if (options.transform != KernelTransform::Ofa || i == 0)
    throw std::invalid_argument(fmt::format("no kernel transformation from {}", from));
  return transforms[options.kernels.size() - 1 - i];
}

// OFA's get_active_filter: from the largest kernel down the list, each step the centre of the
// current filter times the step's matrix transposed (F.linear(x, M) is x·Mᵀ), so a 3×3 filter
// of a {3, 5, 7} layer is T(5→3)(crop3(T(7→5)(crop5(W)))), not a crop of the raw 7×7.
torch::Tensor ElasticMBConvImpl::active_filter(std::int64_t channels, std::int64_t k) const {
  const std::size_t target = position(options.kernels, k, "kernel size");
  torch::Tensor f = depthwise_weight.narrow(0, 0, channels);
  if (options.transform == KernelTransform::Crop) return centre_crop(f, k);
  for (std::size_t i = options.kernels.size() - 1; i > target; --i) {
    const std::int64_t to = options.kernels[i - 1];
    const torch::Tensor& m = transforms[options.kernels.size() - 1 - i];
    f = torch::linear(centre_crop(f, to).reshape({channels, to * to}), m).reshape({channels, 1, to, to});
  }
  return f;
}

torch::Tensor ElasticMBConvImpl::child(const torch::Tensor& x, std::int64_t k, std::int64_t e, std::int64_t out) {
  position(options.expands, e, "expansion");
  const std::int64_t in = x.size(1);
  if (in > options.in || out > options.out)
    throw std::invalid_argument(
        fmt::format("an elastic block of {} -> {} channels cannot run {} -> {}", options.in, options.out, in, out));
  if (out <= 0) out = options.out;
  const std::int64_t c = mid(e, in);
  torch::Tensor y = x;
  if (expand_weight.defined())
    y = activate(expand_bn(torch::conv2d(x, expand_weight.narrow(0, 0, c).narrow(1, 0, in))), options.act);
  y = torch::conv2d(y, active_filter(c, k), {}, options.stride, k / 2, 1, c);
  y = activate(depthwise_bn(y), options.act);
  if (options.se) {
    const std::int64_t s = se_mid(c);
    torch::Tensor g = y.mean({2, 3});
    g = observed_relu(
        torch::linear(g, se_reduce_weight.narrow(0, 0, s).narrow(1, 0, c), se_reduce_bias.narrow(0, 0, s)));
    g = HardSigmoid::apply(
        torch::linear(g, se_expand_weight.narrow(0, 0, c).narrow(1, 0, s), se_expand_bias.narrow(0, 0, c)));
    y = y * g.unsqueeze(-1).unsqueeze(-1);
  }
  y = project_bn(torch::conv2d(y, project_weight.narrow(0, 0, out).narrow(1, 0, c)));
  if (!residual()) return y;
  if (drop_connect > 0 && is_training()) {
    // AttentiveNAS's drop_connect: a Bernoulli draw per image from the CPU's generator (as
    // dropout's, which the sandwich seeds per step), moved to the device.
    const double keep = 1 - drop_connect;
    const torch::Tensor mask =
        torch::empty({y.size(0), 1, 1, 1}, y.options().device(c10::kCPU)).bernoulli_(keep).to(y.device());
    y = y / keep * mask;
  }
  return x + y;
}

torch::Tensor ElasticMBConvImpl::forward(const torch::Tensor& x) {
  return child(x, options.kernels.back(), options.expands.back());
}

void ElasticMBConvImpl::sort_channels(int nested) {
  torch::NoGradGuard no_grad;
  torch::Tensor importance = project_weight.abs().sum({0, 2, 3});
  if (nested > 0) {
    // Each segment between two nested widths is pushed behind the one before it, so that the
    // sort moves channels only within segments: a narrower child trained in an earlier phase
    // keeps its channels.
    std::vector<std::int64_t> widths;
    for (auto it = options.expands.rbegin(); it != options.expands.rend(); ++it) widths.push_back(mid(*it));
    std::int64_t right = importance.size(0);
    double base = -static_cast<double>(widths.size()) * 1e5;
    for (int i = 0; i <= nested && i < static_cast<int>(widths.size()); ++i) {
      const std::int64_t left = widths[static_cast<std::size_t>(i)];
      importance.narrow(0, left, right - left).add_(base);
      base += 1e5;
      right = left;
    }
  }
  const torch::Tensor order = std::get<1>(importance.sort(0, /*descending=*/true));
  project_weight.copy_(project_weight.index_select(1, order));
  permute(*depthwise_bn, order);
  depthwise_weight.copy_(depthwise_weight.index_select(0, order));
  if (options.se) {
    se_expand_weight.copy_(se_expand_weight.index_select(0, order));
    se_expand_bias.copy_(se_expand_bias.index_select(0, order));
    se_reduce_weight.copy_(se_reduce_weight.index_select(1, order));
    const torch::Tensor hidden = std::get<1>(se_expand_weight.abs().sum(0).sort(0, /*descending=*/true));
    se_expand_weight.copy_(se_expand_weight.index_select(1, hidden));
    se_reduce_weight.copy_(se_reduce_weight.index_select(0, hidden));
    se_reduce_bias.copy_(se_reduce_bias.index_select(0, hidden));
  }
  if (expand_weight.defined()) {
    permute(*expand_bn, order);
    expand_weight.copy_(expand_weight.index_select(0, order));
  }
}

std::shared_ptr<ElasticMBConvImpl> ElasticMBConvImpl::extract(std::int64_t k, std::int64_t e, std::int64_t in,
                                                              std::int64_t out) const {
  position(options.expands, e, "expansion");
  ElasticMBConvOptions o = options;
  o.kernels = {k};
  o.expands = {e};
  if (in > 0) o.in = in;
  if (out > 0) o.out = out;
  auto block = std::make_shared<ElasticMBConvImpl>(o);
  block->train(is_training());
  const std::int64_t c = mid(e, o.in);
  torch::NoGradGuard no_grad;
  if (expand_weight.defined()) {
    block->expand_weight.copy_(expand_weight.narrow(0, 0, c).narrow(1, 0, o.in));
    copy_first(*expand_bn, *block->expand_bn, c);
  }
  block->depthwise_weight.copy_(active_filter(c, k));
  copy_first(*depthwise_bn, *block->depthwise_bn, c);
  if (options.se) {
    const std::int64_t s = se_mid(c);
    block->se_reduce_weight.copy_(se_reduce_weight.narrow(0, 0, s).narrow(1, 0, c));
    block->se_reduce_bias.copy_(se_reduce_bias.narrow(0, 0, s));
    block->se_expand_weight.copy_(se_expand_weight.narrow(0, 0, c).narrow(1, 0, s));
    block->se_expand_bias.copy_(se_expand_bias.narrow(0, 0, c));
  }
  block->project_weight.copy_(project_weight.narrow(0, 0, o.out).narrow(1, 0, c));
  copy_first(*project_bn, *block->project_bn, o.out);
  return block;
}

torch::Tensor run_narrowed(torch::nn::Sequential& seq, const ir::Op& op, torch::Tensor x, std::int64_t largest,
                           std::int64_t width) {
  if (seq->size() != op.seq.size())
    throw std::logic_error(fmt::format("'{}' has {} modules for {} primitives", op.name, seq->size(), op.seq.size()));
  std::size_t i = 0;
  for (auto it = seq->begin(); it != seq->end(); ++it, ++i) {
    const ir::PrimCall& call = op.seq[i];
    // The output channels this call makes here: `width` where its `out` is the layer's width.
    auto out_of = [&](std::int64_t built) {
      return width > 0 && call.arg("out") && call.int_arg("out", 0) == largest ? width : built;
    };
    const std::int64_t in = x.size(1);
    const std::shared_ptr<torch::nn::Module> m = it->ptr();
    if (auto* conv = m->as<torch::nn::Conv2dImpl>()) {
      const std::int64_t groups = conv->options.groups(), stride = call.int_arg("stride", 1);
      const std::int64_t pad = call.int_arg("pad", 0), dilation = call.int_arg("dilation", 1);
      if (groups == 1) {
        const std::int64_t out = out_of(conv->options.out_channels());
        const torch::Tensor bias = conv->bias.defined() ? conv->bias.narrow(0, 0, out) : torch::Tensor();
        x = torch::conv2d(x, conv->weight.narrow(0, 0, out).narrow(1, 0, in), bias, stride, pad, dilation);
      } else {  // depthwise (sema allows no other grouping here): one filter per input channel
        const torch::Tensor bias = conv->bias.defined() ? conv->bias.narrow(0, 0, in) : torch::Tensor();
        x = torch::conv2d(x, conv->weight.narrow(0, 0, in), bias, stride, pad, dilation, in);
      }
    } else if (auto* pw = m->as<PointwiseConvImpl>()) {
      const std::int64_t out = out_of(pw->out_);
      const torch::Tensor bias = pw->bias.defined() ? pw->bias.narrow(0, 0, out) : torch::Tensor();
      x = torch::conv2d(x, pw->weight.narrow(0, 0, out).narrow(1, 0, in), bias, pw->stride_);
    } else if (auto* linear = m->as<torch::nn::LinearImpl>()) {
      const std::int64_t out = out_of(linear->options.out_features());
      const torch::Tensor bias = linear->bias.defined() ? linear->bias.narrow(0, 0, out) : torch::Tensor();
      x = torch::linear(x, linear->weight.narrow(0, 0, out).narrow(1, 0, in), bias);
    } else if (auto* block = m->as<ElasticMBConvImpl>()) {
      x = block->child(x, call.int_arg("k", 3), call.int_arg("e", 1), out_of(0));
    } else {
      x = it->forward(x);  // batch norm slices itself; activations, pooling and dropout need nothing
    }
  }
  return x;
}

}  // namespace cella::runtime
