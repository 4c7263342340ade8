// The device a run computes on: `--device cpu|cuda|cuda:N`, checked against this build and this
// machine. Networks are built on the CPU as always (the same seed gives the same initial weights
// on every device) and moved to the run's device; data stay on the CPU and each batch moves
// when a network reads it; random draws stay on CPU generators, so sampled paths, Gumbel noise
// and augmentations are the same on every device.
#pragma once

#include <c10/core/Device.h>

#include <stdexcept>
#include <string>
#include <string_view>

namespace cella::runtime {

/// A device the user asked for that this build or machine cannot give; the message is one line.
struct DeviceError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// `cpu`, `cuda` (device 0) or `cuda:N`, checked: throws DeviceError saying why not (a build
/// without LibTorch's CUDA libraries, no driver or GPU, fewer devices than N).
c10::Device parse_device(std::string_view text);

/// Makes `device` the run's device: every Network built from now on moves there after its
/// construction. On CUDA it also makes cuDNN and cuBLAS deterministic and turns TF32 and
/// cuDNN's autotuner off, so that a resumed run ends as an uninterrupted one does.
void use_device(c10::Device device);

/// The run's device (the CPU unless use_device said otherwise).
c10::Device run_device();

/// The LibTorch version this binary runs on ("1.13.0", "2.15.0").
std::string libtorch_version();

/// One line on what this build and machine offer: the LibTorch version, whether its CUDA
/// libraries are linked, and the CUDA devices found.
std::string device_summary();

}  // namespace cella::runtime
