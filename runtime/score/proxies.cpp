// The training-free scores (proxies.h). Each builds the architecture as a stand-alone network
// fresh from the seed, so that an architecture's score does not depend on which others are
// scored with it.
#include "runtime/score/proxies.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "compiler/passes/stats.h"
#include "runtime/score/measures.h"

namespace cella::runtime::score {

namespace {

struct Built {
  Network net{nullptr};
  Mixing mix;
};

// The architecture as a stand-alone network, its weights drawn from `seed`, in training mode
// (the reference codes score freshly built, untrained models).
Built build(const std::shared_ptr<const ir::Program>& program, const ir::Arch& arch, std::uint64_t seed) {
  torch::manual_seed(seed);
  Built b{Network(program, Mask::of_arch(*program, arch), /*supernet=*/false), mixing_of(*program, arch)};
  b.net->train();
  return b;
}

const torch::Tensor& images_of(const Input& in, Proxy p) {
  if (!in.images.defined() || in.images.size(0) == 0)
    throw std::invalid_argument(fmt::format("the {} score needs training images (--data)", name_of(p)));
  return in.images;
}

}  // namespace

const std::vector<Proxy>& proxies() {
  static const std::vector<Proxy> all = ir::training_free_metrics();
  return all;
}

std::string_view name_of(Proxy p) { return ir::info(p).name; }

std::vector<Proxy> parse_proxies(const std::vector<std::string>& names) {
  std::vector<Proxy> out;
  auto add = [&](Proxy p) {
    if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  };
  for (const std::string& name : names) {
    if (name == "all") {
      for (Proxy p : proxies()) add(p);
      continue;
    }
    const std::optional<ir::Metric> m = ir::metric_named(name);
    if (!m || !ir::info(*m).training_free) {
      std::vector<std::string> known;
      for (Proxy p : proxies()) known.emplace_back(name_of(p));
      throw std::invalid_argument(fmt::format("no proxy '{}' (known: {}, or all)", name, fmt::join(known, ", ")));
    }
    add(*m);
  }
  return out;
}

double score(Proxy proxy, const std::shared_ptr<const ir::Program>& program, const ir::Arch& arch, const Input& input) {
  switch (proxy) {
    case Proxy::Params:
    case Proxy::Macs: {
      const passes::NetworkStats s = passes::network_stats(*program, &arch, input.size, /*affine=*/true);
      return static_cast<double>(proxy == Proxy::Params ? s.params : s.macs);
    }
    case Proxy::Synflow: {
      Built b = build(program, arch, input.seed);
      return synflow(b.net, b.mix, input.channels, input.size);
    }
    case Proxy::Snip: {
      Built b = build(program, arch, input.seed);
      return snip(b.net, b.mix, images_of(input, proxy), input.labels);
    }
    case Proxy::Grasp: {
      Built b = build(program, arch, input.seed);
      return grasp(b.net, b.mix, images_of(input, proxy), input.labels);
    }
    case Proxy::JacobCov: {
      Built b = build(program, arch, input.seed);
      return jacob_cov(b.net, b.mix, images_of(input, proxy));
    }
    case Proxy::Naswot: {
      // One network, its kernel's log-determinant averaged over the batches.
      Built b = build(program, arch, input.seed);
      const torch::Tensor& all = images_of(input, proxy);
      const std::int64_t batches = std::max<std::int64_t>(1, all.size(0) / input.batch);
      double total = 0;
      for (std::int64_t i = 0; i < batches; ++i)
        total +=
            naswot(b.net, b.mix, all.narrow(0, i * input.batch, std::min(input.batch, all.size(0) - i * input.batch)));
      return total / static_cast<double>(batches);
    }
    case Proxy::Zen: {
      // Zen-NAS's `repeat`: new Gaussian weights and inputs each time, the mean of the scores.
      double total = 0;
      const int repeats = std::max(1, input.batches);
      for (int r = 0; r < repeats; ++r) {
        Built b = build(program, arch, input.seed + static_cast<std::uint64_t>(r));
        gaussian_init(b.net);
        const std::vector<std::int64_t> shape{input.batch, input.channels, input.size, input.size};
        torch::Tensor x = torch::randn(shape);
        torch::Tensor mixed = x + 1e-2 * torch::randn(shape);
        total += zen(b.net, b.mix, x, mixed);
      }
      return total / repeats;
    }
    default: break;
  }
  throw std::invalid_argument(fmt::format("'{}' is not a training-free score", name_of(proxy)));
}

double kendall_tau_b(const std::vector<double>& x, const std::vector<double>& y) {
  auto lowest_nan = [](double v) { return std::isnan(v) ? -INFINITY : v; };
  auto sign = [](double a, double b) { return (a > b) - (a < b); };
  std::int64_t concordant = 0, discordant = 0, tied_x = 0, tied_y = 0;
  for (std::size_t i = 0; i < x.size() && i < y.size(); ++i)
    for (std::size_t j = i + 1; j < x.size() && j < y.size(); ++j) {
      const int dx = sign(lowest_nan(x[i]), lowest_nan(x[j])), dy = sign(lowest_nan(y[i]), lowest_nan(y[j]));
      if (dx == 0 && dy == 0) continue;
      if (dx == 0)
        ++tied_x;
      else if (dy == 0)
        ++tied_y;
      else if (dx == dy)
        ++concordant;
      else
        ++discordant;
    }
  const double denominator = std::sqrt(static_cast<double>(concordant + discordant + tied_x) *
                                       static_cast<double>(concordant + discordant + tied_y));
  return denominator > 0 ? static_cast<double>(concordant - discordant) / denominator : NAN;
}

}  // namespace cella::runtime::score
