// cella's side of bench/throughput.sh: the NAS-Bench-201 supernet (C=16, N=5) built from
// spaces/nb201.cella, trained on random 1x28x28 batches of 64, one sampled path per step and
// all candidates at once (DARTS-style weights). Prints images per second and peak memory as JSON.
#include <sys/resource.h>
#include <torch/torch.h>

#include <chrono>
#include <iostream>
#include <random>

#include "compiler/driver/compile.h"
#include "runtime/supernet/network.h"
#include "runtime/train/trainer.h"

using namespace cella;

namespace {

double run(std::shared_ptr<const ir::Program> p, bool all, int steps) {
  torch::manual_seed(0);
  runtime::Network net(p, runtime::Mask::full(*p), true);
  auto params = net->unique_parameters();
  torch::optim::SGD opt(params, torch::optim::SGDOptions(0.025).momentum(0.9).weight_decay(3e-4));
  torch::Tensor alpha = 1e-3 * torch::randn({6, 5});
  torch::Tensor x = torch::randn({64, 1, 28, 28}), y = torch::randint(10, {64}, torch::kInt64);
  int count = 0;
  auto step = [&] {
    ++count;
    runtime::Mixing mix;
    runtime::CellMix cm;
    torch::Tensor w = alpha.softmax(-1);
    for (int e = 0; e < 6; ++e) {
      runtime::Mix m;
      if (all) {
        m.ops = {0, 1, 2, 3, 4};
        m.weights = w[e];
      } else {
        m.ops = {(count * 7 + e * 3) % 5};  // the same path sequence as bench/throughput.py
      }
      cm.edges.push_back(m);
    }
    cm.nodes.resize(4);
    mix.cells.push_back(cm);
    for (auto& t : params)
      if (t.grad().defined()) t.mutable_grad().reset();
    torch::Tensor loss = torch::cross_entropy_loss(net->forward(x, mix), y);
    loss.backward();
    torch::nn::utils::clip_grad_norm_(params, 5.0);
    opt.step();
  };
  for (int i = 0; i < 3; ++i) step();
  auto t = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step();
  return 64.0 * steps / std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : 2, steps = argc > 2 ? std::atoi(argv[2]) : 30;
  torch::set_num_threads(threads);
  driver::CompileOptions o;
  o.sema.data = "fashion_mnist";
  auto c = driver::compile_file(std::string(CELLA_SOURCE_DIR) + "/spaces/nb201.cella", o);
  if (!c->ok()) return 1;
  auto p = std::make_shared<const ir::Program>(*c->program);
  double path = run(p, false, steps), all = run(p, true, std::max(5, steps / 3));
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  std::cout << "{\"path\": " << path << ", \"all\": " << all << ", \"peak_rss_mb\": " << u.ru_maxrss / 1024.0 << "}\n";
}
