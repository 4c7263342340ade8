// Latency tables: one module of the lowered network at a time, as the runtime builds it.
#include "runtime/train/latency.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "compiler/lower/lower.h"
#include "runtime/train/trainer.h"

namespace cella::runtime {

namespace {

// The sorted wall times in milliseconds of `repeats` calls, after `warmups` untimed ones.
std::vector<double> timings_ms(const std::function<void()>& forward, int warmups, int repeats) {
  for (int i = 0; i < warmups; ++i) forward();
  std::vector<double> ms;
  for (int i = 0; i < repeats; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    forward();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms;
}

// LibTorch's intra-op threads set for one timing and restored after: a command trains with its
// own count and times with another.
class ThreadsForTiming {
 public:
  explicit ThreadsForTiming(int threads) : saved_(torch::get_num_threads()) {
    if (threads > 0 && threads != saved_) torch::set_num_threads(threads);
  }
  ~ThreadsForTiming() {
    if (torch::get_num_threads() != saved_) torch::set_num_threads(saved_);
  }
  ThreadsForTiming(const ThreadsForTiming&) = delete;
  ThreadsForTiming& operator=(const ThreadsForTiming&) = delete;

 private:
  int saved_;
};

}  // namespace

bool TimingConditions::busy() const { return load > static_cast<double>(std::max(0, cores - threads)) + 1.0; }

std::string TimingConditions::warning() const {
  if (!busy()) return "";
  return fmt::format(
      "the machine was busy while latency was timed (load average {:.1f} on {} cores, timing on {} thread{}): the "
      "figures are inflated and vary with the load; time on an idle machine",
      load, cores, threads, threads == 1 ? "" : "s");
}

TimingConditions timing_conditions(int threads) {
  TimingConditions c;
  c.threads = threads > 0 ? threads : torch::get_num_threads();
  c.cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  double load[1] = {-1};
  c.load = getloadavg(load, 1) == 1 ? load[0] : -1;
  return c;
}

int latency_threads(int requested) { return requested > 0 ? requested : 1; }

double median_ms(const std::function<void()>& forward, int warmups, int repeats) {
  return timings_ms(forward, warmups, repeats)[static_cast<std::size_t>(repeats) / 2];
}

LatencyStats measure_latency(const std::shared_ptr<const ir::Program>& program, const ir::Arch& arch, std::int64_t size,
                             std::int64_t batch, int warmups, int repeats, int threads) {
  const TimingConditions conditions = timing_conditions(threads);
  ThreadsForTiming scope(conditions.threads);
  torch::manual_seed(0);
  Network net(program, Mask::of_arch(*program, arch), false);
  net->eval();
  const Mixing mix = mixing_of(*program, arch);
  torch::Tensor x = torch::randn({batch, program->network->input.channels, size, size});
  torch::NoGradGuard no_grad;
  std::vector<double> ms = timings_ms([&] { net->forward(x, mix); }, warmups, repeats);
  const std::size_t n = ms.size();
  return {ms[n / 2], ms[n / 4], ms[(3 * n) / 4], batch, warmups, repeats, conditions};
}

namespace {

// Median milliseconds of one forward pass of `module` on one image, in eval mode.
double measure_ms(const lower::Module& module, int repeats) {
  torch::NoGradGuard no_grad;
  torch::nn::Sequential m = build_module(module);
  m->eval();
  const std::int64_t side = std::max<std::int64_t>(module.in_size, 1);
  torch::Tensor x = torch::randn({1, module.in_channels, side, side});
  return median_ms([&] { m->forward(x); }, 3, repeats);
}

}  // namespace

LatencyTable latency_table(const ir::Program& p, ir::LatencySource source, std::int64_t size, int repeats) {
  LatencyTable t;
  if (source == ir::LatencySource::None) return t;
  ThreadsForTiming one_thread(latency_threads(0));
  const ir::Network& n = *p.network;
  for (const std::vector<std::int64_t>& shape : architecture_weight_shapes(p))
    t.entries.push_back(torch::zeros(shape, torch::kDouble));
  lower::Network net = lower::lower(p, ir::Mask::full(p), /*supernet=*/true, size);
  for (const lower::Module* m : net.modules()) {
    const lower::Module& module = *m;
    const double v = source == ir::LatencySource::Macs ? static_cast<double>(lower::cost(module).macs) / 1e6
                                                       : measure_ms(module, repeats);
    switch (module.role) {
      case lower::Role::EdgeCandidate: {
        auto a = t.entries[static_cast<std::size_t>(module.group)].accessor<double, 2>();
        a[module.slot][module.candidate] += v;
        break;
      }
      case lower::Role::LayerCandidate: {
        auto a = t.entries[n.cell_groups.size() + static_cast<std::size_t>(module.group)].accessor<double, 1>();
        a[module.candidate] += v;
        break;
      }
      case lower::Role::NodeOp:
      case lower::Role::Combine: {
        // Without architecture weights: one of the node's choices, each as likely.
        const ir::NodeProps& node =
            p.cells[n.cell_groups[static_cast<std::size_t>(module.group)].cell].node(module.slot);
        const std::size_t choices = module.role == lower::Role::NodeOp ? node.ops.size() : node.combines.size();
        t.fixed += v / static_cast<double>(choices);
        break;
      }
      default: t.fixed += v;
    }
  }
  for (torch::Tensor& e : t.entries) e = e.to(torch::kFloat);
  return t;
}

torch::Tensor expected_latency(const LatencyTable& t, const Mask& mask, const std::vector<torch::Tensor>& alphas) {
  // On the architecture weights' device; the table stays on the CPU (it is measured there).
  torch::Tensor total = torch::tensor(t.fixed, torch::kFloat).to(alphas.front().device());
  const std::size_t cells = mask.cells.size();
  for (std::size_t i = 0; i < t.entries.size(); ++i) {
    const auto rows = i < cells ? mask.cells[i] : std::vector<std::vector<bool>>{mask.layers[i - cells]};
    total = total + (masked_softmax(alphas[i], rows) * t.entries[i].to(alphas[i].device())).sum();
  }
  return total;
}

double arch_latency(const LatencyTable& t, const ir::Program& p, const ir::Arch& a) {
  double total = t.fixed;
  const std::size_t cells = a.cells.size();
  for (std::size_t g = 0; g < cells; ++g)
    for (std::size_t e = 0; e < a.cells[g].edge_op.size(); ++e)
      if (a.cells[g].edge_op[e] >= 0)
        total += t.entries[g][static_cast<std::int64_t>(e)][a.cells[g].edge_op[e]].item<double>();
  for (std::size_t l = 0; l < a.layers.size(); ++l)
    if (ir::unit_runs(p, p.network->layer_groups[l], a)) total += t.entries[cells + l][a.layers[l]].item<double>();
  return total;
}

double latency_reference(const LatencyTable& t, const ir::Program& p, const ir::LatencyPlan& plan) {
  return plan.ref > 0 ? plan.ref : t.empty() ? 1.0 : uniform_expected_latency(t, p);
}

double uniform_expected_latency(const LatencyTable& t, const ir::Program& p) {
  std::vector<torch::Tensor> zeros;
  for (const torch::Tensor& e : t.entries) zeros.push_back(torch::zeros_like(e));
  return expected_latency(t, ir::Mask::full(p), zeros).item<double>();
}

}  // namespace cella::runtime
