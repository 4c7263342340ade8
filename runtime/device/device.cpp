#include "runtime/device/device.h"

#include <fmt/format.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <ATen/Context.h>
#include <charconv>
#include <cstdlib>

namespace cella::runtime {

namespace {

c10::Device current{c10::kCPU};

// Set by runtime/meson.build on the one file that asks: whether the binary links LibTorch's CUDA
// libraries (without them CUDA is never registered, whatever the machine has).
#ifdef CELLA_CUDA_LINKED
constexpr bool kCudaLinked = true;
#else
constexpr bool kCudaLinked = false;
#endif

}  // namespace

c10::Device parse_device(std::string_view text) {
  if (text == "cpu") return c10::Device(c10::kCPU);
  int index = 0;
  if (text.starts_with("cuda:")) {
    std::string_view n = text.substr(5);
    auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), index);
    if (ec != std::errc() || end != n.data() + n.size() || index < 0)
      throw DeviceError(fmt::format("--device {}: the device number must be a whole number from 0", text));
  } else if (text != "cuda") {
    throw DeviceError(fmt::format("--device {}: a device is cpu, cuda or cuda:N", text));
  }
  if (!kCudaLinked)
    throw DeviceError(fmt::format(
        "--device {}: this cella is built without LibTorch's CUDA libraries (Debian's LibTorch is CPU only); "
        "build against a PyTorch wheel with CUDA (docs/building.md)",
        text));
  const auto count = static_cast<int>(torch::cuda::device_count());
  if (count == 0)
    throw DeviceError(fmt::format("--device {}: no CUDA device found (no GPU, or no NVIDIA driver)", text));
  if (index >= count)
    throw DeviceError(fmt::format("--device {}: this machine has {} CUDA device{} (cuda:0{})", text, count,
                                  count == 1 ? "" : "s", count == 1 ? "" : fmt::format(" to cuda:{}", count - 1)));
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
}

void use_device(c10::Device device) {
  current = device;
  if (!device.is_cuda()) return;
  // cuBLAS is deterministic only with a fixed workspace (CUDA's documented setting); it must be
  // in the environment before the first cuBLAS call.
  setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", /*overwrite=*/0);
  at::globalContext().setDeterministicCuDNN(true);
  at::globalContext().setBenchmarkCuDNN(false);
  at::globalContext().setAllowTF32CuBLAS(false);
  at::globalContext().setAllowTF32CuDNN(false);
}

c10::Device run_device() { return current; }

std::string libtorch_version() { return TORCH_VERSION; }

std::string device_summary() {
  std::string s = "LibTorch " + libtorch_version();
  if (!kCudaLinked) return s + ", CPU only (built without LibTorch's CUDA libraries)";
  const auto count = torch::cuda::device_count();
  return s + fmt::format(", CUDA linked, {} device{}", count, count == 1 ? "" : "s");
}

}  // namespace cella::runtime
