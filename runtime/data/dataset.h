// Data sets held in memory as tensors: Fashion-MNIST / MNIST (IDX, gzip), CIFAR-10 (binary
// batches) and a synthetic set for tests. Splits and batch orders are derived from the seed.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace cella::runtime {

/// A missing or malformed data file; the message names the file and what is wrong.
struct DataError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Dataset {
  torch::Tensor images;  ///< float [N, C, H, W], normalised
  torch::Tensor labels;  ///< int64 [N]
  std::int64_t classes = 10;
  std::int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  /// The rows `index` (int64) of this set.
  Dataset select(const torch::Tensor& index) const;
};

struct DataSplits {
  Dataset train;  ///< for the weights
  Dataset valid;  ///< for architecture steps, selection and evaluation during search
  Dataset test;   ///< for final numbers
};

/// Where a data set's files are by default (`/usr/share/datasets/fashion-mnist` for
/// fashion_mnist); "" for sets that need a path.
std::string default_data_dir(const std::string& name);

/// Loads `name` from `dir` (default_data_dir if empty), keeps the first `subset` training images
/// (0: all) after a seeded shuffle, and splits them into train and valid by `train_portion`.
/// The synthetic set is generated from the seed. Throws DataError.
DataSplits load_data(const std::string& name, const std::string& dir, std::int64_t subset, double train_portion,
                     std::uint64_t seed);

/// Training-time augmentation of a batch (runtime/train: `cella retrain`).
struct Augmentation {
  std::int64_t crop_padding = 0;  ///< random crop of the image padded by this much (0: off)
  bool flip = false;              ///< horizontal flip with probability 1/2
  std::int64_t cutout = 0;        ///< Cutout's square side (0: off)
};

/// `batch` [N, C, H, W] (normalised) augmented image by image with draws from `gen`, in this order:
/// a crop at a uniform offset of the image padded on every side with `fill` (per channel: what
/// black is after normalisation), as torchvision's RandomCrop(size, padding); a horizontal flip
/// with probability 1/2; Cutout as DARTS' utils.Cutout: a square of side `cutout` centred on a
/// uniform pixel, clipped at the border, set to 0. The batch itself is left as it was.
torch::Tensor augment(const torch::Tensor& batch, const Augmentation& a, const torch::Tensor& fill, at::Generator& gen);

/// A seeded synthetic classification set of `n` images: each class is a fixed random pattern
/// plus noise, so a network can learn it. For tests and `--smoke` runs.
Dataset synthetic(std::int64_t n, std::int64_t channels, std::int64_t size, std::int64_t classes, std::uint64_t seed);

}  // namespace cella::runtime
