// The elastic MobileNetV3 network: building, a child's forward pass, sorting and extraction.
#include "runtime/supernet/elastic_net.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/nn/functional/upsampling.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace cella::runtime {

namespace {

BatchNorm batch_norm(std::int64_t channels) {
  return BatchNorm(torch::nn::BatchNorm2dOptions(channels).momentum(0.1).eps(1e-5));
}

torch::Tensor conv_weight(std::int64_t out, std::int64_t in, std::int64_t k) {
  torch::Tensor w = torch::empty({out, in, k, k});
  w.normal_(0, std::sqrt(2.0 / static_cast<double>(out * k * k)));  // OFA's he_fout
  return w;
}

template <class T>
T pick(const std::vector<T>& list, std::mt19937_64& rng) {
  return list[std::uniform_int_distribution<std::size_t>(0, list.size() - 1)(rng)];
}

bool has(const std::vector<std::int64_t>& list, std::int64_t v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

void copy_tensor(const torch::Tensor& from, const torch::Tensor& to) {
  torch::NoGradGuard no_grad;
  const_cast<torch::Tensor&>(to).copy_(from);
}

}  // namespace

ElasticNetSpec ElasticNetSpec::ofa_mbv3(std::int64_t classes) {
  ElasticNetSpec s;
  s.classes = classes;
  const auto R = Activation::Relu, H = Activation::Hswish;
  s.stages = {{24, 2, {2, 3, 4}, false, R},
              {40, 2, {2, 3, 4}, true, R},
              {80, 2, {2, 3, 4}, false, H},
              {112, 1, {2, 3, 4}, true, H},
              {160, 2, {2, 3, 4}, true, H}};
  for (std::int64_t r = 128; r <= 224; r += 4) s.resolutions.push_back(r);
  return s;
}

std::int64_t ElasticNetSpec::slot_count() const {
  if (slots > 0) return slots;
  std::int64_t most = 0;
  for (const ElasticStageSpec& st : stages) most = std::max(most, st.depths.back());
  return most;
}

namespace {

// The child at one end of every list: the largest (the lists' last values) or the smallest.
ElasticArch at_end(const ElasticNetSpec& spec, bool largest) {
  auto end = [&](const std::vector<std::int64_t>& list) { return largest ? list.back() : list.front(); };
  ElasticArch a;
  const auto n = static_cast<std::size_t>(spec.slot_count()) * spec.stages.size();
  a.kernels.assign(n, end(spec.kernels));
  a.expands.assign(n, end(spec.expands));
  for (const ElasticStageSpec& st : spec.stages) a.depths.push_back(end(st.depths));
  a.resolution = spec.resolutions.empty() ? 0 : end(spec.resolutions);
  return a;
}

}  // namespace

ElasticArch ElasticArch::largest(const ElasticNetSpec& spec) { return at_end(spec, true); }

ElasticArch ElasticArch::smallest(const ElasticNetSpec& spec) { return at_end(spec, false); }

ElasticArch ElasticArch::uniform(const ElasticNetSpec& spec, std::mt19937_64& rng) {
  std::vector<std::vector<std::int64_t>> depths;
  for (const ElasticStageSpec& st : spec.stages) depths.push_back(st.depths);
  return uniform_within(spec, spec.kernels, spec.expands, depths, rng);
}

ElasticArch ElasticArch::uniform_within(const ElasticNetSpec& spec, const std::vector<std::int64_t>& kernels,
                                        const std::vector<std::int64_t>& expands,
                                        const std::vector<std::vector<std::int64_t>>& depths, std::mt19937_64& rng) {
  ElasticArch a;
  const auto n = static_cast<std::size_t>(spec.slot_count()) * spec.stages.size();
  for (std::size_t i = 0; i < n; ++i) a.kernels.push_back(pick(kernels, rng));
  for (std::size_t i = 0; i < n; ++i) a.expands.push_back(pick(expands, rng));
  for (const auto& d : depths) a.depths.push_back(pick(d, rng));
  a.resolution = spec.resolutions.empty() ? 0 : pick(spec.resolutions, rng);
  return a;
}

std::vector<std::int64_t> ElasticArch::flat() const {
  std::vector<std::int64_t> out = kernels;
  out.insert(out.end(), expands.begin(), expands.end());
  out.insert(out.end(), depths.begin(), depths.end());
  return out;
}

std::string ElasticArch::to_text() const {
  std::vector<std::string> stages;
  const std::size_t slots = depths.empty() ? 0 : kernels.size() / depths.size();
  for (std::size_t s = 0; s < depths.size(); ++s) {
    std::vector<std::string> blocks;
    for (std::size_t b = 0; b < static_cast<std::size_t>(depths[s]); ++b)
      blocks.push_back(fmt::format("k{}e{}", kernels[s * slots + b], expands[s * slots + b]));
    stages.push_back(fmt::format("{}", fmt::join(blocks, ",")));
  }
  return fmt::format("{}@{}", fmt::join(stages, "|"), resolution);
}

ElasticNetImpl::ElasticNetImpl(ElasticNetSpec spec) : spec_(std::move(spec)) {
  if (spec_.stages.empty()) throw std::invalid_argument("an elastic network needs at least one stage");
  reset();
}

void ElasticNetImpl::reset() {
  stem_weight_ = register_parameter("stem_weight", conv_weight(spec_.stem_width, spec_.in_channels, 3));
  stem_bn_ = register_module("stem_bn", batch_norm(spec_.stem_width));
  ElasticMBConvOptions first;
  first.in = spec_.stem_width;
  first.out = spec_.first_width;
  first.kernels = {3};
  first.expands = {1};
  first.expand_layer = false;
  first_ = register_module("first", ElasticMBConv(first));
  blocks_.assign(spec_.stages.size(), {});
  std::int64_t in = spec_.first_width;
  for (std::size_t s = 0; s < spec_.stages.size(); ++s) {
    const ElasticStageSpec& st = spec_.stages[s];
    for (std::int64_t b = 0; b < st.depths.back(); ++b) {
      ElasticMBConvOptions o;
      o.in = b == 0 ? in : st.width;
      o.out = st.width;
      o.stride = b == 0 ? st.stride : 1;
      o.kernels = spec_.kernels;
      o.expands = spec_.expands;
      o.se = st.se;
      o.act = st.act;
      o.transform = spec_.transform;
      blocks_[s].push_back(register_module(fmt::format("stage{}_block{}", s, b), ElasticMBConv(o)));
    }
    in = st.width;
  }
  head_weight_ = register_parameter("head_weight", conv_weight(spec_.head_width, in, 1));
  head_bn_ = register_module("head_bn", batch_norm(spec_.head_width));
  feature_weight_ = register_parameter("feature_weight", conv_weight(spec_.feature_width, spec_.head_width, 1));
  classifier_ = register_module("classifier", torch::nn::Linear(spec_.feature_width, spec_.classes));
  torch::NoGradGuard no_grad;
  classifier_->bias.zero_();
}

ElasticMBConv ElasticNetImpl::block(std::size_t s, std::size_t b) const { return blocks_.at(s).at(b); }

void ElasticNetImpl::check(const ElasticArch& a) const {
  const auto slots = static_cast<std::size_t>(spec_.slot_count());
  const std::size_t n = slots * spec_.stages.size();
  if (a.kernels.size() != n || a.expands.size() != n || a.depths.size() != spec_.stages.size())
    throw std::invalid_argument(
        fmt::format("an architecture of this space has {} kernel sizes, {} expansions and {} depths, not {}, {} and {}",
                    n, n, spec_.stages.size(), a.kernels.size(), a.expands.size(), a.depths.size()));
  for (std::size_t s = 0; s < spec_.stages.size(); ++s) {
    if (!has(spec_.stages[s].depths, a.depths[s]))
      throw std::invalid_argument(fmt::format("stage {} has no depth {} (it has {})", s + 1, a.depths[s],
                                              fmt::join(spec_.stages[s].depths, ", ")));
    for (std::size_t b = 0; b < static_cast<std::size_t>(a.depths[s]); ++b) {
      const ElasticMBConvOptions& o = blocks_[s][b]->options;
      if (!has(o.kernels, a.kernels[s * slots + b]) || !has(o.expands, a.expands[s * slots + b]))
        throw std::invalid_argument(fmt::format("block {} of stage {} has no kernel {} with expansion {}", b + 1, s + 1,
                                                a.kernels[s * slots + b], a.expands[s * slots + b]));
    }
  }
  if (spec_.resolutions.empty() ? a.resolution != 0 : !has(spec_.resolutions, a.resolution))
    throw std::invalid_argument(fmt::format("this space has no resolution {}", a.resolution));
}

torch::Tensor ElasticNetImpl::forward(const torch::Tensor& input, const ElasticArch& a) {
  check(a);
  torch::Tensor x = input;
  if (a.resolution > 0 && (x.size(-1) != a.resolution || x.size(-2) != a.resolution)) {
    // Each child sees the batch at its own resolution (BigNAS, AttentiveNAS: bicubic).
    namespace F = torch::nn::functional;
    x = F::interpolate(x, F::InterpolateFuncOptions()
                              .size(std::vector<std::int64_t>{a.resolution, a.resolution})
                              .mode(torch::kBicubic)
                              .align_corners(false));
  }
  x = torch::hardswish(stem_bn_(torch::conv2d(x, stem_weight_, {}, 2, 1)));
  x = first_->forward(x);
  const auto slots = static_cast<std::size_t>(spec_.slot_count());
  for (std::size_t s = 0; s < blocks_.size(); ++s)
    for (std::size_t b = 0; b < static_cast<std::size_t>(a.depths[s]); ++b)
      x = blocks_[s][b]->forward(x, a.kernels[s * slots + b], a.expands[s * slots + b]);
  x = torch::hardswish(head_bn_(torch::conv2d(x, head_weight_)));
  x = torch::hardswish(torch::conv2d(x.mean({2, 3}, /*keepdim=*/true), feature_weight_)).flatten(1);
  x = torch::dropout(x, spec_.dropout, is_training());
  return classifier_(x);
}

void ElasticNetImpl::sort_channels(int nested) {
  for (auto& stage : blocks_)
    for (ElasticMBConv& b : stage) b->sort_channels(nested);
}

std::shared_ptr<ElasticNetImpl> ElasticNetImpl::extract(const ElasticArch& a) const {
  check(a);
  ElasticNetSpec s = spec_;
  s.slots = spec_.slot_count();
  for (std::size_t i = 0; i < s.stages.size(); ++i) s.stages[i].depths = {a.depths[i]};
  s.resolutions = a.resolution > 0 ? std::vector<std::int64_t>{a.resolution} : std::vector<std::int64_t>{};
  auto net = std::make_shared<ElasticNetImpl>(s);
  net->train(is_training());
  copy_tensor(stem_weight_, net->stem_weight_);
  net->stem_bn_ =
      net->replace_module("stem_bn", BatchNorm(std::dynamic_pointer_cast<BatchNormImpl>(stem_bn_->clone())));
  net->first_ =
      net->replace_module("first", ElasticMBConv(std::dynamic_pointer_cast<ElasticMBConvImpl>(first_->clone())));
  const auto slots = static_cast<std::size_t>(s.slots);
  for (std::size_t i = 0; i < blocks_.size(); ++i)
    for (std::size_t b = 0; b < static_cast<std::size_t>(a.depths[i]); ++b)
      net->blocks_[i][b] = net->replace_module(
          fmt::format("stage{}_block{}", i, b),
          ElasticMBConv(blocks_[i][b]->extract(a.kernels[i * slots + b], a.expands[i * slots + b])));
  copy_tensor(head_weight_, net->head_weight_);
  net->head_bn_ =
      net->replace_module("head_bn", BatchNorm(std::dynamic_pointer_cast<BatchNormImpl>(head_bn_->clone())));
  copy_tensor(feature_weight_, net->feature_weight_);
  copy_tensor(classifier_->weight, net->classifier_->weight);
  copy_tensor(classifier_->bias, net->classifier_->bias);
  return net;
}

}  // namespace cella::runtime
