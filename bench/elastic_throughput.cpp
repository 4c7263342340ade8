// cella's side of bench/elastic_throughput.sh: BigNAS's sandwich step (runtime/train/sandwich.h:
// the largest child, the smallest and two random ones, in-place distillation, gradient values
// clipped, one SGD step) on the supernet of OFA's space at its two-core profile (W=2, D=3,
// resolutions 20-28), random 1x28x28 batches of 64. Writes the children of every step (their
// flat encodings and resolutions) to CHILDREN_FILE, so that bench/elastic_throughput.py replays
// the same ones, and prints images per second (each image through four children) as JSON.
#include <sys/resource.h>
#include <torch/torch.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "compiler/driver/compile.h"
#include "compiler/ir/arch.h"
#include "runtime/supernet/network.h"
#include "runtime/train/sandwich.h"

using namespace cella;

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: elastic_throughput THREADS STEPS CHILDREN_FILE\n";
    return 2;
  }
  const int threads = std::atoi(argv[1]), steps = std::atoi(argv[2]), warmups = 3;
  torch::set_num_threads(threads);
  driver::CompileOptions o;
  o.sema.data = "fashion_mnist";
  o.sema.overrides = {{"W", "2"}, {"D", "3"}, {"R_min", "20"}, {"R_max", "28"}};
  auto c = driver::compile_file(std::string(CELLA_SOURCE_DIR) + "/spaces/ofa_mbv3.cella", o);
  if (!c->ok()) return 1;
  auto p = std::make_shared<const ir::Program>(*c->program);
  torch::manual_seed(0);
  runtime::Network net(p, runtime::Mask::full(*p), true);
  runtime::zero_residual_batch_norms(net);
  torch::optim::SGD opt(net->parameters(),
                        torch::optim::SGDOptions(0.05).momentum(0.9).weight_decay(3e-5).nesterov(true));
  const torch::Tensor x = torch::randn({64, 1, 28, 28}), y = torch::randint(10, {64}, torch::kInt64);
  std::mt19937_64 rng(1);
  nlohmann::json children = nlohmann::json::array();
  auto step = [&] {
    const runtime::ChildrenStep s = runtime::sandwich_step(net, x, y, opt, rng, {});
    nlohmann::json row = nlohmann::json::array();
    for (const ir::Arch& a : s.children)
      row.push_back({{"flat", ir::elastic_encoding(*p, a)},
                     {"resolution", p->network->resolutions[static_cast<std::size_t>(a.resolution)]}});
    children.push_back(row);
  };
  for (int i = 0; i < warmups; ++i) step();
  const auto t = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  std::ofstream(argv[3]) << nlohmann::json{{"warmups", warmups}, {"steps", children}}.dump() << "\n";
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  std::cout << nlohmann::json{{"img_per_s", 64.0 * steps / seconds}, {"peak_rss_mb", u.ru_maxrss / 1024.0}}.dump()
            << "\n";
}
