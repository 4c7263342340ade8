// A host program that embeds cella: it defines a search space in a string, checks it, reports
// the diagnostics of a broken one, trains the supernet on synthetic data with a progress
// callback, and builds the derived architecture as a plain LibTorch module.
#include <cella/cella.h>
#include <torch/torch.h>

#include <iostream>

int main() {
  // A broken space: diagnostics come back as values, nothing is thrown or printed.
  cella::Space broken = cella::Space::from_string("broken.cella", "import std.ops\nopset ops = [none, skip_conect]\n");
  std::cout << "broken space: ok=" << broken.ok() << ", " << broken.diagnostic_list().size() << " diagnostic(s)\n"
            << broken.diagnostics();

  const char* text = R"(
import std.ops
opset ops = [none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3]
cell c { inputs 1; nodes 3; edges all : ops }
network net(C = 8, classes = 10) {
  stem conv(3, out = C) >> bn
  stage c width C
  head bn >> relu >> global_avg_pool >> linear(classes)
}
search s on net {
  data synthetic { subset 1024 }
  supernet { epochs 3; batch 64; sampler uniform }
}
)";
  cella::Space space = cella::Space::from_string("embedded.cella", text);
  if (!space.ok()) {
    std::cerr << space.diagnostics();
    return 1;
  }
  std::cout << "space: " << space.size() << " architectures, " << space.program().cells[0].num_edges()
            << " edges per cell\n";

  torch::set_num_threads(1);
  cella::TrainOptions options;
  options.seed = 1;
  options.on_progress = [](const cella::Progress& p) {
    if (p.epoch_end && p.phase == "supernet")
      std::cout << "epoch " << p.epoch << "/" << p.epochs << ": train accuracy " << p.accuracy << "%\n";
  };
  cella::TrainResult result = cella::train(space, options);
  std::cout << "derived " << space.text(result.arch) << " with " << result.valid_accuracy << "% validation accuracy\n";

  cella::Network net = space.network(result.arch);
  torch::Tensor logits =
      net->forward(torch::randn({4, 3, 16, 16}), cella::runtime::mixing_of(space.program(), result.arch));
  std::cout << "stand-alone network: " << net->parameter_count() << " parameters, output " << logits.sizes() << "\n";
  return 0;
}
