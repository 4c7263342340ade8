// The custom modules and the factories of every built-in primitive.
#include "runtime/ops/modules.h"

#include "runtime/ops/elastic.h"

#include <fmt/format.h>

#include "runtime/distributed/distributed.h"
#include "runtime/ops/observe.h"
#include "runtime/ops/registry.h"

namespace cella::runtime {

namespace nn = torch::nn;

namespace {

BatchNorm bn(std::int64_t c, bool affine) {
  return BatchNorm(nn::BatchNorm2dOptions(c).affine(affine).track_running_stats(true));
}

// A convolution module: PointwiseConv where it applies, else nn::Conv2d.
nn::AnyModule conv(std::int64_t in, std::int64_t out, std::int64_t k, std::int64_t stride, std::int64_t pad,
                   std::int64_t dilation = 1, std::int64_t groups = 1, bool bias = false) {
  if (k == 1 && pad == 0 && groups == 1) return nn::AnyModule(PointwiseConv(in, out, stride, bias));
  return nn::AnyModule(nn::Conv2d(
      nn::Conv2dOptions(in, out, k).stride(stride).padding(pad).dilation(dilation).groups(groups).bias(bias)));
}

}  // namespace

void BatchNormImpl::reset() {
  const std::int64_t c = options.num_features();
  weight = register_parameter("weight", options.affine() ? torch::ones({c}) : torch::Tensor(), options.affine());
  bias = register_parameter("bias", options.affine() ? torch::zeros({c}) : torch::Tensor(), options.affine());
  const bool track = options.track_running_stats();
  running_mean = register_buffer("running_mean", track ? torch::zeros({c}) : torch::Tensor());
  running_var = register_buffer("running_var", track ? torch::ones({c}) : torch::Tensor());
  num_batches_tracked =
      register_buffer("num_batches_tracked", track ? torch::tensor(0, torch::kLong) : torch::Tensor());
}

void BatchNormImpl::reset_running_stats() {
  if (!options.track_running_stats()) return;
  torch::NoGradGuard no_grad;
  running_mean.zero_();
  running_var.fill_(1);
  num_batches_tracked.zero_();
}

torch::Tensor BatchNormImpl::forward(const torch::Tensor& x) {
  if (ForwardObserver* o = forward_observer()) o->batch_norm(x);
  // BatchNorm2d's update factor: the momentum, or the cumulative average without one.
  double factor = options.momentum().value_or(0.0);
  const bool track = is_training() && options.track_running_stats();
  if (track) {
    num_batches_tracked += 1;
    if (!options.momentum()) factor = 1.0 / num_batches_tracked.item<double>();
  }
  // Fewer channels than the layer has: an elastic child's (ops/elastic.h), which uses the first
  // ones' parameters and statistics and updates only those (OFA's DynamicBatchNorm2d).
  const std::int64_t c = x.size(1);
  auto first = [&](const torch::Tensor& t) { return t.defined() && t.size(0) > c ? t.narrow(0, 0, c) : t; };
  torch::Tensor w = first(weight), b = first(bias), mean_run = first(running_mean), var_run = first(running_var);
  if (!is_training() || !distributed::sharded())
    return torch::batch_norm(x, w, b, mean_run, var_run, is_training() || !options.track_running_stats(), factor,
                             options.eps(),
                             /*cudnn_enabled=*/true);
  // One sum over every rank's share per channel: Σx, Σx² and the count, in double, where
  // E[x²] − mean² loses nothing a float result keeps (a second pass about the mean would double
  // the collectives, each a wait for the slowest rank). The sum is differentiable, so the backward
  // pass is the whole batch's too.
  const std::vector<std::int64_t> dims{0, 2, 3};
  torch::Tensor xd = x.to(torch::kDouble);
  torch::Tensor local_count = torch::full({1}, static_cast<double>(x.numel() / c), xd.options());
  torch::Tensor sums = distributed::synced_sum(torch::cat({xd.sum(dims), xd.pow(2).sum(dims), local_count}));
  torch::Tensor count = sums.narrow(0, 2 * c, 1);
  torch::Tensor mean_d = sums.narrow(0, 0, c) / count;
  torch::Tensor var_d = sums.narrow(0, c, c) / count - mean_d.pow(2);  // biased, as the forward uses
  torch::Tensor mean = mean_d.to(x.scalar_type()), var = var_d.to(x.scalar_type());
  torch::Tensor centred = x - mean.view({1, c, 1, 1});
  torch::Tensor y = centred * (var + options.eps()).rsqrt().view({1, c, 1, 1});
  if (options.affine()) y = y * w.view({1, c, 1, 1}) + b.view({1, c, 1, 1});
  if (track) {
    torch::NoGradGuard no_grad;
    const double n = count.item<double>();  // the running variance is the unbiased one
    mean_run.mul_(1 - factor).add_(mean.detach(), factor);
    var_run.mul_(1 - factor).add_(var.detach() * (n / std::max(1.0, n - 1)), factor);
  }
  return y;
}

nn::Sequential relu_conv_bn(std::int64_t in, std::int64_t out, std::int64_t k, std::int64_t stride, std::int64_t pad,
                            bool affine) {
  return nn::Sequential(nn::Functional(observed_relu), conv(in, out, k, stride, pad), bn(out, affine));
}

void PointwiseConvImpl::reset() {
  // As nn::Conv2d initialises (the same draws, so the same weights for the same seed).
  weight = register_parameter("weight", torch::empty({out_, in_, 1, 1}));
  torch::nn::init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias_) {
    bias = register_parameter("bias", torch::empty({out_}));
    double bound = 1.0 / std::sqrt(static_cast<double>(in_));
    torch::nn::init::uniform_(bias, -bound, bound);
  }
}

torch::Tensor PointwiseConvImpl::forward(const torch::Tensor& x) {
  static const std::vector<std::int64_t> kernel{1, 1}, no_pad{0, 0};
  const std::vector<std::int64_t> stride{stride_, stride_};
  c10::optional<torch::Tensor> b = bias_ ? c10::optional<torch::Tensor>(bias) : c10::nullopt;
  // oneDNN wins (by up to 15 %) only on small maps with many channels (bench/conv1x1.cpp).
  if (in_ > 16 && x.dim() == 4 && x.size(2) * x.size(3) < 144) return torch::conv2d(x, weight, b, stride);
  return at::thnn_conv2d(x, weight, kernel, b, stride, no_pad);
}

torch::Tensor ZeroImpl::forward(const torch::Tensor& x) {
  if (stride_ == 1) return x.mul(0.);
  using torch::indexing::Slice;
  return x
      .index({Slice(), Slice(), Slice(torch::indexing::None, torch::indexing::None, stride_),
              Slice(torch::indexing::None, torch::indexing::None, stride_)})
      .mul(0.);
}

void FactorizedReduceImpl::reset() {
  conv1_ = register_module("conv_1", PointwiseConv(in_, out_ / 2, 2));
  conv2_ = register_module("conv_2", PointwiseConv(in_, out_ - out_ / 2, 2));
  bn_ = register_module("bn", bn(out_, affine_));
}

void ConvPairImpl::reset() {
  namespace nn = torch::nn;
  row_ = register_module(
      "0", nn::Conv2d(nn::Conv2dOptions(in_, out_, {1, k_}).stride({1, stride_}).padding({0, k_ / 2}).bias(false)));
  column_ = register_module(
      "1", nn::Conv2d(nn::Conv2dOptions(out_, out_, {k_, 1}).stride({stride_, 1}).padding({k_ / 2, 0}).bias(false)));
}

torch::Tensor FactorizedReduceImpl::forward(const torch::Tensor& x) {
  using torch::indexing::Slice;
  torch::Tensor y = observed_relu(x);
  // The second path starts one pixel in; pad odd sizes so both paths agree.
  torch::Tensor shifted = y.index({Slice(), Slice(), Slice(1, torch::indexing::None), Slice(1, torch::indexing::None)});
  if (y.size(2) % 2 == 1) shifted = torch::constant_pad_nd(shifted, {0, 1, 0, 1});
  return bn_(torch::cat({conv1_(y), conv2_(shifted)}, 1));
}

torch::Tensor GlobalAvgPoolImpl::forward(const torch::Tensor& x) {
  if (ForwardObserver* o = forward_observer()) o->pooling(x);
  return x.mean({2, 3});
}

void ResBlockImpl::reset() {
  conv_a_ = register_module("conv_a", relu_conv_bn(in_, out_, 3, stride_, 1, true));
  conv_b_ = register_module("conv_b", relu_conv_bn(out_, out_, 3, 1, 1, true));
  if (stride_ == 2) {
    shortcut_ = register_module(
        "shortcut", nn::Sequential(nn::AvgPool2d(nn::AvgPool2dOptions(2).stride(2)), conv(in_, out_, 1, 1, 0)));
  } else if (in_ != out_) {
    shortcut_ = register_module("shortcut", relu_conv_bn(in_, out_, 1, 1, 0, true));
  }
}

torch::Tensor ResBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = conv_b_->forward(conv_a_->forward(x));
  return (shortcut_ ? shortcut_->forward(x) : x) + y;
}

void MBConvImpl::reset() {
  std::int64_t mid = in_ * e_;
  body_ = nn::Sequential();
  if (e_ != 1) {
    body_->push_back(conv(in_, mid, 1, 1, 0));
    body_->push_back(bn(mid, affine_));
    body_->push_back(nn::Functional(observed_relu6));
  }
  body_->push_back(conv(mid, mid, k_, stride_, k_ / 2, 1, mid));
  body_->push_back(bn(mid, affine_));
  body_->push_back(nn::Functional(observed_relu6));
  register_module("body", body_);
  if (se_) {
    std::int64_t red = std::max<std::int64_t>(8, mid / 4);
    squeeze_ =
        register_module("se", nn::Sequential(GlobalAvgPool(), nn::Linear(mid, red), nn::Functional(observed_relu),
                                             nn::Linear(red, mid), nn::Sigmoid()));
  }
  project_ = register_module("project", PointwiseConv(mid, out_));
  project_bn_ = register_module("project_bn", bn(out_, affine_));
}

torch::Tensor MBConvImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = body_->forward(x);
  if (squeeze_) y = y * squeeze_->forward(y).unsqueeze(-1).unsqueeze(-1);
  y = project_bn_(project_(y));
  return stride_ == 1 && in_ == out_ ? x + y : y;
}

// --- the registry -----------------------------------------------------------------------------

namespace {

using Ctx = BuildContext;

nn::AnyModule any(nn::AnyModule m) { return m; }

void register_builtins(std::map<std::string, Factory>& f) {
  auto i = [](const ir::PrimCall& c, const char* n, std::int64_t d) { return c.int_arg(n, d); };
  f["zero"] = [=](const ir::PrimCall& c, const Ctx&) { return any(nn::AnyModule(Zero(i(c, "stride", 1)))); };
  f["identity"] = [](const ir::PrimCall&, const Ctx&) { return nn::AnyModule(nn::Identity()); };
  f["skip"] = [=](const ir::PrimCall& c, const Ctx& ctx) {
    std::int64_t out = i(c, "out", ctx.in_channels);
    if (i(c, "stride", 1) == 1 && out == ctx.in_channels) return nn::AnyModule(nn::Identity());
    return nn::AnyModule(FactorizedReduce(ctx.in_channels, out, ctx.affine));
  };
  f["relu"] = [](const ir::PrimCall&, const Ctx&) { return nn::AnyModule(nn::Functional(observed_relu)); };
  f["relu6"] = [](const ir::PrimCall&, const Ctx&) { return nn::AnyModule(nn::Functional(observed_relu6)); };
  f["hswish"] = [](const ir::PrimCall&, const Ctx&) { return nn::AnyModule(nn::Functional(observed_hswish)); };
  f["swish"] = [](const ir::PrimCall&, const Ctx&) { return nn::AnyModule(nn::Functional(observed_swish)); };
  f["sigmoid"] = [](const ir::PrimCall&, const Ctx&) { return nn::AnyModule(nn::Sigmoid()); };
  f["bn"] = [](const ir::PrimCall&, const Ctx& ctx) { return nn::AnyModule(bn(ctx.in_channels, ctx.affine)); };
  f["search_bn"] = [](const ir::PrimCall&, const Ctx& ctx) { return nn::AnyModule(bn(ctx.in_channels, false)); };
  f["conv"] = [=](const ir::PrimCall& c, const Ctx& ctx) {
    return conv(ctx.in_channels, i(c, "out", ctx.in_channels), i(c, "k", 1), i(c, "stride", 1), i(c, "pad", 0),
                i(c, "dilation", 1), i(c, "groups", 1), c.bool_arg("bias", false));
  };
  f["conv_1xk_kx1"] = [=](const ir::PrimCall& c, const Ctx& ctx) {
    const std::int64_t k = i(c, "k", 1), s = i(c, "stride", 1), out = i(c, "out", ctx.in_channels);
    return nn::AnyModule(ConvPair(ctx.in_channels, out, k, s));
  };
  f["dwconv"] = [=](const ir::PrimCall& c, const Ctx& ctx) {
    return conv(ctx.in_channels, ctx.in_channels, i(c, "k", 1), i(c, "stride", 1), i(c, "pad", 0), i(c, "dilation", 1),
                ctx.in_channels);
  };
  f["avg_pool"] = [=](const ir::PrimCall& c, const Ctx&) {
    return nn::AnyModule(nn::AvgPool2d(nn::AvgPool2dOptions(i(c, "k", 1))
                                           .stride(i(c, "stride", 1))
                                           .padding(i(c, "pad", 0))
                                           .count_include_pad(c.bool_arg("count_include_pad", false))));
  };
  f["max_pool"] = [=](const ir::PrimCall& c, const Ctx&) {
    return nn::AnyModule(
        nn::MaxPool2d(nn::MaxPool2dOptions(i(c, "k", 1)).stride(i(c, "stride", 1)).padding(i(c, "pad", 0))));
  };
  f["global_avg_pool"] = [](const ir::PrimCall&, const Ctx&) { return nn::AnyModule(GlobalAvgPool()); };
  f["linear"] = [=](const ir::PrimCall& c, const Ctx& ctx) {
    return nn::AnyModule(
        nn::Linear(nn::LinearOptions(ctx.in_channels, i(c, "out", ctx.in_channels)).bias(c.bool_arg("bias", true))));
  };
  f["dropout"] = [](const ir::PrimCall& c, const Ctx&) { return nn::AnyModule(nn::Dropout(c.float_arg("p", 0.0))); };
  f["factorized_reduce"] = [=](const ir::PrimCall& c, const Ctx& ctx) {
    return nn::AnyModule(FactorizedReduce(ctx.in_channels, i(c, "out", ctx.in_channels), ctx.affine));
  };
  f["resblock"] = [=](const ir::PrimCall& c, const Ctx& ctx) {
    return nn::AnyModule(ResBlock(ctx.in_channels, i(c, "out", ctx.in_channels), i(c, "stride", 1)));
  };
  f["mbconv"] = [=](const ir::PrimCall& c, const Ctx& ctx) {
    return nn::AnyModule(MBConv(ctx.in_channels, i(c, "out", ctx.in_channels), i(c, "k", 3), i(c, "e", 1),
                                i(c, "stride", 1), c.bool_arg("se", false), ctx.affine));
  };
  // One sub-shape alone: an elastic block whose lists have one value each.
  f["mbv3"] = [](const ir::PrimCall& c, const Ctx& ctx) {
    return nn::AnyModule(ElasticMBConv(mbv3_options(c, ctx.in_channels, ctx.affine)));
  };
}

}  // namespace

Registry& Registry::instance() {
  static Registry r = [] {
    Registry reg;
    register_builtins(reg.factories_);
    return reg;
  }();
  return r;
}

void Registry::add(const ir::Primitive& signature, Factory factory) {
  if (factories_.count(signature.name) || !ir::add_primitive(signature))
    throw std::invalid_argument(fmt::format("operation '{}' is registered twice", signature.name));
  factories_[signature.name] = std::move(factory);
}

void Registry::add_factory(const std::string& name, Factory factory) {
  if (!ir::find_primitive(name))
    throw std::invalid_argument(
        fmt::format("operation '{}' has a factory but no signature in cella_plugin_signatures", name));
  if (factories_.count(name)) throw std::invalid_argument(fmt::format("operation '{}' is registered twice", name));
  factories_[name] = std::move(factory);
}

const Factory* Registry::find(const std::string& name) const {
  auto it = factories_.find(name);
  return it == factories_.end() ? nullptr : &it->second;
}

std::vector<std::string> Registry::names() const {
  std::vector<std::string> out;
  for (const auto& [n, _] : factories_) out.push_back(n);
  return out;
}

torch::nn::AnyModule build_primitive(const ir::PrimCall& call, const BuildContext& ctx) {
  const Factory* f = Registry::instance().find(call.prim);
  if (!f) throw std::invalid_argument(fmt::format("no module for primitive '{}' (a plugin not loaded?)", call.prim));
  return (*f)(call, ctx);
}

}  // namespace cella::runtime
