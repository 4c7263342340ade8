// 1x1 convolutions, forward and backward, at the sizes NAS supernets use: LibTorch's
// nn::Conv2d (which runs oneDNN on this build) against cella's PointwiseConv (LibTorch's GEMM
// kernel), alternated in one process. Prints one row per shape with both times and the ratio.
// Usage: conv1x1 [threads] [repeats]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "runtime/ops/modules.h"

namespace {

// Median microseconds of one forward + backward of `m` on `x`.
template <class Module>
double time_us(Module& m, const torch::Tensor& x, int repeats) {
  std::vector<double> t;
  for (int i = 0; i < repeats + 3; ++i) {
    auto start = std::chrono::steady_clock::now();
    m->forward(x).sum().backward();
    if (i >= 3)
      t.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  torch::set_num_threads(argc > 1 ? std::atoi(argv[1]) : 2);
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 30;
  struct Shape {
    int batch, channels, size;
  };
  // NB201 on 28x28 at C=8 and C=16 (the main job and the throughput benchmark), DARTS on 32x32
  // at C=16 (its preprocessing sees 3C = 48 channels), the DARTS smoke network at C=4 on 16x16.
  const Shape shapes[] = {{64, 8, 28},  {64, 16, 14}, {64, 32, 7},  {64, 16, 28}, {64, 32, 14},
                          {64, 64, 7},  {64, 16, 32}, {64, 48, 32}, {64, 32, 16}, {64, 64, 8},
                          {64, 128, 8}, {64, 256, 4}, {32, 4, 16},  {32, 8, 8}};
  std::printf("batch,channels,size,conv2d_us,pointwise_us,ratio\n");
  for (const Shape& s : shapes) {
    torch::nn::Conv2d conv(torch::nn::Conv2dOptions(s.channels, s.channels, 1).bias(false));
    cella::runtime::PointwiseConv pw(s.channels, s.channels);
    torch::Tensor x = torch::randn({s.batch, s.channels, s.size, s.size}).requires_grad_();
    double a = 0, b = 0;
    for (int round = 0; round < 2; ++round) {  // alternate, keep the second round
      a = time_us(conv, x, repeats);
      b = time_us(pw, x, repeats);
    }
    std::printf("%d,%d,%d,%.0f,%.0f,%.2f\n", s.batch, s.channels, s.size, a, b, a / b);
  }
}
