// IDX and CIFAR-10 readers, the synthetic set, and splitting.
#include "runtime/data/dataset.h"

#include "compiler/ir/plan.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace cella::runtime {

namespace fs = std::filesystem;

namespace {

std::vector<std::uint8_t> read_gz(const std::string& path) {
  if (!fs::exists(path)) throw DataError(fmt::format("{}: no such file", path));
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw DataError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  std::vector<std::uint8_t> out;
  std::uint8_t buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.insert(out.end(), buf, buf + n);
  int err = 0;
  const char* msg = gzerror(f, &err);
  gzclose(f);
  if (n < 0 || (err != Z_OK && err != Z_STREAM_END))
    throw DataError(fmt::format("{}: corrupt gzip data: {}", path, msg));
  return out;
}

std::uint32_t be32(const std::vector<std::uint8_t>& b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) | (std::uint32_t{b[at + 2]} << 8) | b[at + 3];
}

torch::Tensor idx_images(const std::string& path) {
  auto b = read_gz(path);
  if (b.size() < 16 || be32(b, 0) != 0x803)
    throw DataError(fmt::format("{}: not an IDX image file (bad magic number)", path));
  std::int64_t n = be32(b, 4), h = be32(b, 8), w = be32(b, 12);
  if (h == 0 || w == 0 || h > 4096 || w > 4096 || static_cast<std::int64_t>(b.size()) != 16 + n * h * w)
    throw DataError(
        fmt::format("{}: truncated or malformed: header says {}x{}x{}, file has {} bytes", path, n, h, w, b.size()));
  return torch::from_blob(b.data() + 16, {n, 1, h, w}, torch::kUInt8).to(torch::kFloat32).div_(255.0);
}

torch::Tensor idx_labels(const std::string& path, std::int64_t expected) {
  auto b = read_gz(path);
  if (b.size() < 8 || be32(b, 0) != 0x801)
    throw DataError(fmt::format("{}: not an IDX label file (bad magic number)", path));
  std::int64_t n = be32(b, 4);
  if (static_cast<std::int64_t>(b.size()) != 8 + n || n != expected)
    throw DataError(fmt::format("{}: {} labels for {} images", path, n, expected));
  torch::Tensor t = torch::from_blob(b.data() + 8, {n}, torch::kUInt8).to(torch::kInt64);
  if (t.max().item<std::int64_t>() > 9) throw DataError(fmt::format("{}: a label is above 9", path));
  return t;
}

Dataset load_idx(const std::string& dir, const std::string& prefix, double mean, double std) {
  Dataset d;
  d.images = idx_images(dir + "/" + prefix + "-images-idx3-ubyte.gz").sub_(mean).div_(std);
  d.labels = idx_labels(dir + "/" + prefix + "-labels-idx1-ubyte.gz", d.images.size(0));
  return d;
}

Dataset load_cifar(const std::vector<std::string>& files) {
  std::vector<torch::Tensor> images, labels;
  for (const std::string& path : files) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw DataError(fmt::format("{}: {}", path, fs::exists(path) ? "cannot open" : "no such file"));
    std::vector<std::uint8_t> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    constexpr std::int64_t kRecord = 1 + 3072;
    if (b.empty() || b.size() % kRecord != 0)
      throw DataError(
          fmt::format("{}: {} bytes is not a whole number of CIFAR-10 records (3073 bytes each)", path, b.size()));
    std::int64_t n = static_cast<std::int64_t>(b.size()) / kRecord;
    torch::Tensor raw = torch::from_blob(b.data(), {n, kRecord}, torch::kUInt8).clone();
    torch::Tensor lab = raw.select(1, 0).to(torch::kInt64);
    if (lab.max().item<std::int64_t>() > 9)
      throw DataError(fmt::format("{}: a label is above 9; not a CIFAR-10 file", path));
    labels.push_back(lab);
    images.push_back(raw.narrow(1, 1, 3072).reshape({n, 3, 32, 32}).to(torch::kFloat32).div_(255.0));
  }
  Dataset d;
  d.images = torch::cat(images);
  d.labels = torch::cat(labels);
  torch::Tensor mean = torch::tensor({125.3 / 255, 123.0 / 255, 113.9 / 255}).view({1, 3, 1, 1});
  torch::Tensor std = torch::tensor({63.0 / 255, 62.1 / 255, 66.7 / 255}).view({1, 3, 1, 1});
  d.images.sub_(mean).div_(std);
  return d;
}

}  // namespace

Dataset Dataset::select(const torch::Tensor& index) const {
  Dataset d;
  d.images = images.index_select(0, index);
  d.labels = labels.index_select(0, index);
  d.classes = classes;
  return d;
}

std::string default_data_dir(const std::string& name) {
  const ir::DataSet* set = ir::find_data_set(name);
  return set ? std::string(set->default_dir) : "";
}

namespace {

// Class templates: a smooth pattern (4x4, upsampled) plus a colour offset per class, so that a
// small CNN with global pooling can tell the classes apart.
torch::Tensor templates_of(std::int64_t channels, std::int64_t size, std::int64_t classes, torch::Generator& gen) {
  torch::Tensor coarse = torch::randn({classes, channels, 4, 4}, gen);
  torch::Tensor smooth = torch::upsample_nearest2d(coarse, {size, size});
  return 1.5 * smooth + torch::randn({classes, channels, 1, 1}, gen);
}

Dataset draw(const torch::Tensor& templates, std::int64_t n, torch::Generator& gen) {
  Dataset d;
  d.classes = templates.size(0);
  d.labels = torch::randint(d.classes, {n}, gen, torch::kInt64);
  d.images = templates.index_select(0, d.labels) +
             torch::randn({n, templates.size(1), templates.size(2), templates.size(3)}, gen);
  return d;
}

}  // namespace

Dataset synthetic(std::int64_t n, std::int64_t channels, std::int64_t size, std::int64_t classes, std::uint64_t seed) {
  torch::Generator gen = at::detail::createCPUGenerator(seed);
  torch::Tensor templates = templates_of(channels, size, classes, gen);
  return draw(templates, n, gen);
}

namespace {

// One loader per `format` of datasets.def: the training and the test set, normalised.
std::pair<Dataset, Dataset> load_format(const ir::DataSet& set, const std::string& dir, std::int64_t subset,
                                        std::uint64_t seed) {
  if (set.format == "idx") return {load_idx(dir, "train", set.mean, set.std), load_idx(dir, "t10k", set.mean, set.std)};
  if (set.format == "cifar") {
    if (dir.empty())
      throw DataError(
          fmt::format("{}: no data directory; pass --data-dir DIR with data_batch_1.bin ... test_batch.bin", set.name));
    std::vector<std::string> files;
    for (int i = 1; i <= 5; ++i) files.push_back(fmt::format("{}/data_batch_{}.bin", dir, i));
    return {load_cifar(files), load_cifar({dir + "/test_batch.bin"})};
  }
  if (set.format == "synthetic") {
    // Train and test share the class templates; the images are drawn independently.
    std::int64_t n = subset > 0 ? subset : 2048;
    torch::Generator gen = at::detail::createCPUGenerator(seed);
    torch::Tensor templates = templates_of(set.channels, set.size, set.classes, gen);
    Dataset train = draw(templates, n, gen);
    return {train, draw(templates, std::max<std::int64_t>(256, n / 4), gen)};
  }
  if (set.format == "shape_only")
    throw DataError(
        fmt::format("{}: cella has no loader for it; the entry gives the shape ({}x{}x{}, {} classes) that "
                    "count, show and stats build the network for",
                    set.name, set.channels, set.size, set.size, set.classes));
  throw DataError(fmt::format("{}: no loader for format '{}'", set.name, set.format));
}

}  // namespace

DataSplits load_data(const std::string& name, const std::string& dir_in, std::int64_t subset, double train_portion,
                     std::uint64_t seed) {
  std::string dir = dir_in.empty() ? default_data_dir(name) : dir_in;
  const ir::DataSet* set = ir::find_data_set(name);
  if (!set) throw DataError(fmt::format("unknown data set '{}'", name));
  auto [train, test] = load_format(*set, dir, subset, seed);
  torch::Generator gen = at::detail::createCPUGenerator(seed);
  torch::Tensor order = torch::randperm(train.size(), gen, torch::kInt64);
  if (subset > 0 && subset < train.size()) order = order.narrow(0, 0, subset);
  std::int64_t n_train = std::max<std::int64_t>(1, static_cast<std::int64_t>(order.size(0) * train_portion));
  if (n_train >= order.size(0)) n_train = order.size(0) - 1;
  DataSplits s;
  s.train = train.select(order.narrow(0, 0, n_train));
  s.valid = train.select(order.narrow(0, n_train, order.size(0) - n_train));
  s.test = test;
  return s;
}

}  // namespace cella::runtime

namespace cella::runtime {

torch::Tensor augment(const torch::Tensor& batch, const Augmentation& a, const torch::Tensor& fill,
                      at::Generator& gen) {
  if (a.crop_padding <= 0 && !a.flip && a.cutout <= 0) return batch;
  torch::NoGradGuard no_grad;
  torch::Tensor x = batch.clone();
  const std::int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  if (a.crop_padding > 0) {
    const std::int64_t p = a.crop_padding;
    torch::Tensor padded = fill.to(x.dtype()).view({1, c, 1, 1}).expand({n, c, h + 2 * p, w + 2 * p}).clone();
    padded.narrow(2, p, h).narrow(3, p, w).copy_(x);
    torch::Tensor dy = torch::randint(0, 2 * p + 1, {n}, gen, torch::kLong);
    torch::Tensor dx = torch::randint(0, 2 * p + 1, {n}, gen, torch::kLong);
    auto ay = dy.accessor<std::int64_t, 1>(), ax = dx.accessor<std::int64_t, 1>();
    for (std::int64_t i = 0; i < n; ++i) x[i].copy_(padded[i].narrow(1, ay[i], h).narrow(2, ax[i], w));
  }
  if (a.flip) {
    torch::Tensor coin = torch::rand({n}, gen) < 0.5;
    auto heads = coin.accessor<bool, 1>();
    for (std::int64_t i = 0; i < n; ++i)
      if (heads[i]) x[i].copy_(x[i].flip({2}));
  }
  if (a.cutout > 0) {
    torch::Tensor cy = torch::randint(0, h, {n}, gen, torch::kLong), cx = torch::randint(0, w, {n}, gen, torch::kLong);
    auto ay = cy.accessor<std::int64_t, 1>(), ax = cx.accessor<std::int64_t, 1>();
    const std::int64_t half = a.cutout / 2;
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t y1 = std::clamp<std::int64_t>(ay[i] - half, 0, h),
                         y2 = std::clamp<std::int64_t>(ay[i] + half, 0, h);
      const std::int64_t x1 = std::clamp<std::int64_t>(ax[i] - half, 0, w),
                         x2 = std::clamp<std::int64_t>(ax[i] + half, 0, w);
      if (y2 > y1 && x2 > x1) x[i].narrow(1, y1, y2 - y1).narrow(2, x1, x2 - x1).zero_();
    }
  }
  return x;
}

}  // namespace cella::runtime
