#include "data/data.hpp"

#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include <torch/torch.h>

#include "data/data_sources.hpp"
#include "data/seeds.hpp"

namespace ebm::kernel {

namespace {

constexpr std::uint64_t kMaxIdxBytes = 1ull << 31;  // 2 GiB: far above any IDX data set

std::uint32_t big_endian(const unsigned char* b) {
  return (std::uint32_t(b[0]) << 24) | (std::uint32_t(b[1]) << 16) | (std::uint32_t(b[2]) << 8) | b[3];
}

// The gzip trailer's ISIZE: the decompressed length modulo 2^32.
std::uint32_t gzip_isize(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f)
    throw DataError(path + ": cannot open (is the data set installed? tools/install-deps.sh installs dataset-fashion-mnist)");
  unsigned char head[2] = {0, 0}, tail[4] = {0, 0, 0, 0};
  bool ok = std::fread(head, 1, 2, f) == 2 && std::fseek(f, -4, SEEK_END) == 0 && std::fread(tail, 1, 4, f) == 4;
  std::fclose(f);
  if (!ok || head[0] != 0x1f || head[1] != 0x8b)
    throw DataError(path + ": not a gzip file (expected the bytes 1f 8b at the start)");
  return std::uint32_t(tail[0]) | (std::uint32_t(tail[1]) << 8) | (std::uint32_t(tail[2]) << 16) | (std::uint32_t(tail[3]) << 24);
}

struct GzFile {
  gzFile f;
  explicit GzFile(const std::string& path) : f(gzopen(path.c_str(), "rb")) {}
  ~GzFile() {
    if (f) gzclose(f);
  }
};

}  // namespace

at::Tensor read_idx_gz(const std::string& path) {
  std::uint32_t isize = gzip_isize(path);
  GzFile gz(path);
  if (!gz.f) throw DataError(path + ": cannot open for decompression");
  unsigned char magic[4];
  if (gzread(gz.f, magic, 4) != 4) throw DataError(path + ": truncated: no IDX header");
  if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08)
    throw DataError(path + ": bad IDX magic: expected 00 00 08 <dims> (unsigned bytes), found " + std::to_string(magic[0]) + " " +
                    std::to_string(magic[1]) + " " + std::to_string(magic[2]));
  int ndims = magic[3];
  if (ndims < 1 || ndims > 4)
    throw DataError(path + ": IDX header declares " + std::to_string(ndims) + " dimensions, expected 1 to 4");
  std::vector<std::int64_t> dims(ndims);
  std::uint64_t count = 1;
  for (int i = 0; i < ndims; ++i) {
    unsigned char b[4];
    if (gzread(gz.f, b, 4) != 4) throw DataError(path + ": truncated IDX header");
    dims[i] = big_endian(b);
    // Each size on its own too: a zero elsewhere would hide an absurd one from the product.
    if (dims[i] == 0)
      throw DataError(path + ": IDX header declares a dimension of size 0 (dimension " + std::to_string(i) +
                      "); the file is empty or corrupt");
    if (static_cast<std::uint64_t>(dims[i]) > kMaxIdxBytes)
      throw DataError(path + ": IDX header declares a dimension of " + std::to_string(dims[i]) + "; the file is corrupt");
    count *= static_cast<std::uint64_t>(dims[i]);
    if (count > kMaxIdxBytes) throw DataError(path + ": IDX header declares more than 2 GiB of data; the file is corrupt");
  }
  std::uint64_t header = 4 + 4 * static_cast<std::uint64_t>(ndims);
  if (((header + count) & 0xffffffffull) != isize)
    throw DataError(path + ": IDX header declares " + std::to_string(count) + " data bytes but the file decompresses to " +
                    std::to_string(static_cast<std::uint64_t>(isize) - header) + " (truncated or corrupt)");
  auto out = torch::empty(dims, torch::kUInt8);
  auto* dst = out.data_ptr<std::uint8_t>();
  std::uint64_t done = 0;
  while (done < count) {
    unsigned chunk = static_cast<unsigned>(std::min<std::uint64_t>(count - done, 1u << 24));
    int got = gzread(gz.f, dst + done, chunk);
    if (got <= 0)
      throw DataError(path + ": truncated: expected " + std::to_string(count) + " data bytes, got " + std::to_string(done));
    done += static_cast<std::uint64_t>(got);
  }
  unsigned char extra;
  if (gzread(gz.f, &extra, 1) != 0) throw DataError(path + ": trailing bytes after the declared IDX data");
  return out;
}

namespace {

std::pair<at::Tensor, at::Tensor> read_split(const std::string& dir, const std::string& prefix, std::int64_t classes) {
  auto images_path = dir + "/" + prefix + "-images-idx3-ubyte.gz";
  auto labels_path = dir + "/" + prefix + "-labels-idx1-ubyte.gz";
  auto images = read_idx_gz(images_path);
  auto labels = read_idx_gz(labels_path);
  if (images.dim() != 3)
    throw DataError(images_path + ": expected 3 dimensions [N, H, W], found " + std::to_string(images.dim()));
  if (labels.dim() != 1) throw DataError(labels_path + ": expected 1 dimension [N], found " + std::to_string(labels.dim()));
  if (images.size(0) != labels.size(0))
    throw DataError(images_path + " has " + std::to_string(images.size(0)) + " images but " + labels_path + " has " +
                    std::to_string(labels.size(0)) + " labels");
  if (labels.numel() && labels.max().item<int>() >= classes)
    throw DataError(labels_path + ": label " + std::to_string(labels.max().item<int>()) + " out of range [0, " +
                    std::to_string(classes) + ")");
  auto x = images.unsqueeze(1).to(torch::kFloat32).div_(255.0);
  return {x, labels.to(torch::kInt64)};
}

// Toy 2-D data mapped into [0,1]^2 (coordinates in [-3, 3] scaled by 1/6 and shifted).
std::pair<at::Tensor, at::Tensor> make_toy(const std::string& kind, std::int64_t n, double noise, torch::Generator& gen) {
  auto opts = torch::TensorOptions().dtype(torch::kFloat32);
  at::Tensor pts, labels;
  if (kind == "moons") {
    labels = torch::randint(0, 2, {n}, gen, torch::kInt64);
    auto t = torch::rand({n}, gen, c10::nullopt, opts) * M_PI;
    auto upper = labels.eq(0);
    auto x = torch::where(upper, torch::cos(t), 1 - torch::cos(t));
    auto y = torch::where(upper, torch::sin(t), 0.5 - torch::sin(t));
    pts = torch::stack({x - 0.5, y - 0.25}, 1) * 1.5;
  } else if (kind == "rings") {
    labels = torch::randint(0, 2, {n}, gen, torch::kInt64);
    auto t = torch::rand({n}, gen, c10::nullopt, opts) * (2 * M_PI);
    auto r = labels.to(torch::kFloat32) * 1.2 + 0.8;
    pts = torch::stack({r * torch::cos(t), r * torch::sin(t)}, 1);
  } else {  // gaussians8
    labels = torch::randint(0, 8, {n}, gen, torch::kInt64);
    auto angle = labels.to(torch::kFloat32) * (2 * M_PI / 8);
    pts = torch::stack({torch::cos(angle), torch::sin(angle)}, 1) * 2.0;
  }
  pts = pts + torch::randn({n, 2}, gen, c10::nullopt, opts) * noise;
  return {((pts + 3.0) / 6.0).clamp(0.0, 1.0), labels};
}

}  // namespace

Batch Split::take(const at::Tensor& idx) const {
  // Rows are picked where the split lives; an on-demand split reads its files from host indices.
  const at::Tensor here = idx.to(y.device());
  return Batch{x.defined() ? x.index_select(0, here) : read(idx.to(at::kCPU)).to(y.device()), y.index_select(0, here)};
}

Dataset on_device(const Dataset& d, const c10::Device& device) {
  auto move = [&](Split s) {
    if (s.x.defined()) s.x = s.x.to(device);
    if (s.y.defined()) s.y = s.y.to(device);
    return s;
  };
  Dataset out = d;
  out.train = move(d.train);
  out.val = move(d.val);
  out.test = move(d.test);
  for (auto& [name, split] : out.sources) split = move(split);
  return out;
}

Batch Split::rows(std::int64_t begin, std::int64_t end) const {
  end = std::min(end, size());
  if (x.defined()) return Batch{x.slice(0, begin, end), y.slice(0, begin, end)};
  return take(torch::arange(begin, end, torch::kInt64));
}

Split Split::slice(std::int64_t begin, std::int64_t end) const {
  Split s;
  s.y = y.slice(0, begin, end);
  if (x.defined()) {
    s.x = x.slice(0, begin, end);
  } else {
    auto inner = read;
    s.read = [inner, begin](const at::Tensor& idx) { return inner(idx + begin); };
  }
  return s;
}

Batch Split::whole(std::int64_t cap) const {
  if (x.defined() || cap <= 0 || size() <= cap) return rows(0, size());
  return take(torch::linspace(0, static_cast<double>(size() - 1), cap, torch::kFloat64).to(torch::kInt64));
}

DataInfo describe_dataset(const Params& data) {
  DataInfo info;
  info.name = data.string("dataset");
  if (info.name == "fashion_mnist") {
    info.shape = {1, 28, 28};
    info.num_classes = 10;
  } else if (info.name == "cifar10" || info.name == "cifar100") {
    info.shape = {3, 32, 32};
    info.num_classes = info.name == "cifar10" ? 10 : 100;
  } else if (info.name == "image_folder") {
    const std::int64_t size = data.integer("image_size");
    info.shape = {data.integer("channels"), size, size};
    std::error_code ec;
    for (auto& e : std::filesystem::directory_iterator(std::filesystem::path(data.string("path")) / "train", ec))
      if (e.is_directory()) ++info.num_classes;
    if (info.num_classes < 2) info.num_classes = 2;
  } else {
    info.shape = {2};
    info.num_classes = data.string("toy") == "gaussians8" ? 8 : 2;
  }
  for (std::int64_t c = 0; c < info.num_classes; ++c) info.class_names.push_back("class" + std::to_string(c));
  const std::size_t channels = info.shape.size() == 3 ? static_cast<std::size_t>(info.shape[0]) : info.shape.size();
  info.mean.assign(channels, 0.5);
  info.std.assign(channels, 0.25);
  return info;
}

Dataset load_dataset(const Params& data, std::uint64_t seed) {
  Dataset d;
  const auto& name = data.string("dataset");
  d.info.name = name;
  Split train;
  if (name == "fashion_mnist") {
    std::string dir = data.string("path").empty() ? "/usr/share/datasets/fashion-mnist" : data.string("path");
    std::tie(train.x, train.y) = read_split(dir, "train", 10);
    std::tie(d.test.x, d.test.y) = read_split(dir, "t10k", 10);
    d.info.shape = {1, train.x.size(2), train.x.size(3)};
    d.info.num_classes = 10;
    d.info.class_names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                          "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  } else if (name == "cifar10" || name == "cifar100") {
    load_cifar(data, name == "cifar100", d, train);
  } else if (name == "image_folder") {
    load_image_folder(data, d, train);
  } else {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seeds::toy_data(seed));
    std::int64_t n = data.integer("toy_samples");
    double noise = data.real("toy_noise");
    const auto& kind = data.string("toy");
    std::tie(train.x, train.y) = make_toy(kind, n, noise, gen);
    std::tie(d.test.x, d.test.y) = make_toy(kind, std::max<std::int64_t>(n / 4, 1), noise, gen);
    d.info.shape = {2};
    d.info.num_classes = kind == "gaussians8" ? 8 : 2;
    for (std::int64_t c = 0; c < d.info.num_classes; ++c) d.info.class_names.push_back("class" + std::to_string(c));
  }
  // The held-out validation split is the tail of the training files (the IDX and CIFAR
  // training files are already shuffled), so it never depends on the seed.
  std::int64_t n = train.size();
  std::int64_t val = data.integer("validation");
  if (val < 0) val = name == "fashion_mnist" || name == "cifar10" || name == "cifar100" ? 5000 : n / 10;
  if (val >= n)
    throw DataError("[data] validation = " + std::to_string(val) + " leaves no training data: the training set has " +
                    std::to_string(n) + " samples; lower 'data.validation'");
  d.val = train.slice(n - val, n);
  std::int64_t keep = n - val;
  if (auto subset = data.integer("subset"); subset > 0) keep = std::min(keep, subset);
  d.train = train.slice(0, keep);
  if (d.train.x.defined()) {
    d.train.x = d.train.x.contiguous();
    d.train.y = d.train.y.contiguous();
  }
  if (auto ts = data.integer("test_subset"); ts > 0 && ts < d.test.size()) d.test = d.test.slice(0, ts);
  d.info.lo = 0.0;
  d.info.hi = 1.0;
  // Per-channel statistics of the training split (on-demand sets: of 2000 images spread
  // over it); the model's first layer uses them.
  at::Tensor tx = d.train.whole(2000).x;
  auto per_channel = d.info.shape.size() == 3 ? tx.transpose(0, 1).reshape({d.info.shape[0], -1}) : tx.transpose(0, 1);
  auto mean = per_channel.mean(1), sd = per_channel.std(1).clamp_min(1e-6);
  const Params streams = data.has("streams") ? data.table("streams") : Params();  // kept alive for the loop
  for (auto& [name, stream] : streams.values()) {
    const Value* src = stream.find("source");
    if (!src || src->type() != Value::Type::table || src->as_table().empty()) continue;  // the training split
    Dataset aux = load_dataset(Params(src->as_table(), "[data.streams." + name + ".source]"), seed);
    if (aux.info.shape != d.info.shape) {
      auto str = [](const std::vector<std::int64_t>& v) {
        std::string o = "[";
        for (std::size_t i = 0; i < v.size(); ++i) o += (i ? ", " : "") + std::to_string(v[i]);
        return o + "]";
      };
      throw DataError("[data.streams." + name + ".source]: its samples have shape " + str(aux.info.shape) +
                      " but the training data's are " + str(d.info.shape) +
                      " (image_folder: set channels and image_size to match)");
    }
    d.sources[name] = aux.train;
  }
  const bool symmetric = data.string("input_norm") == "symmetric";
  for (std::int64_t c = 0; c < mean.size(0); ++c) {
    d.info.mean.push_back(symmetric ? 0.5 : mean[c].item<double>());
    d.info.std.push_back(symmetric ? 0.5 : sd[c].item<double>());
  }
  return d;
}

}  // namespace ebm::kernel
