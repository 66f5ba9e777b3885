// CIFAR-10 and CIFAR-100, binary version (https://www.cs.toronto.edu/~kriz/cifar.html):
// each record is the label byte(s) then 1024 R, 1024 G and 1024 B bytes of a 32x32 image.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <torch/torch.h>

#include "data/data_sources.hpp"

namespace ebm::kernel {

namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kPixels = std::int64_t{3} * 32 * 32;
constexpr std::uintmax_t kMaxRecords = 10'000'000;  // far above any CIFAR-style file

std::vector<std::string> read_names(const std::string& path, std::int64_t classes, const std::string& fallback) {
  std::vector<std::string> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line.find_first_not_of(" \r\t") != std::string::npos)
      out.push_back(line.substr(0, line.find_last_not_of(" \r\t") + 1));
  if (static_cast<std::int64_t>(out.size()) == classes) return out;
  out.clear();
  for (std::int64_t c = 0; c < classes; ++c) out.push_back(fallback + std::to_string(c));
  return out;
}

}  // namespace

std::pair<at::Tensor, at::Tensor> read_cifar_bin(const std::string& path, int label_bytes, int label_index,
                                                 std::int64_t classes) {
  std::error_code ec;
  const std::uintmax_t size = fs::file_size(path, ec);
  if (ec) throw DataError(path + ": cannot read (" + ec.message() + ")");
  const std::uintmax_t record = static_cast<std::uintmax_t>(label_bytes + kPixels);
  if (size == 0 || size % record != 0)
    throw DataError(path + ": " + std::to_string(size) + " bytes is not a whole number of " + std::to_string(record) +
                    "-byte records (truncated, or not the CIFAR binary version)");
  const std::uintmax_t n = size / record;
  if (n > kMaxRecords) throw DataError(path + ": " + std::to_string(n) + " records is beyond any CIFAR file; refusing to load");
  std::vector<unsigned char> bytes(size);
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw DataError(path + ": cannot open");
  const bool ok = std::fread(bytes.data(), 1, size, f) == size;
  std::fclose(f);
  if (!ok) throw DataError(path + ": short read");
  auto x = torch::empty({static_cast<std::int64_t>(n), 3, 32, 32}, torch::kUInt8);
  auto y = torch::empty({static_cast<std::int64_t>(n)}, torch::kInt64);
  auto* px = x.data_ptr<std::uint8_t>();
  auto* py = y.data_ptr<std::int64_t>();
  for (std::uintmax_t i = 0; i < n; ++i) {
    const unsigned char* r = bytes.data() + i * record;
    py[i] = r[label_index];
    if (py[i] >= classes)
      throw DataError(path + ": record " + std::to_string(i) + " has label " + std::to_string(py[i]) + ", expected 0.." +
                      std::to_string(classes - 1));
    std::copy(r + label_bytes, r + record, px + i * kPixels);
  }
  return {x, y};
}

void load_cifar(const Params& data, bool hundred, Dataset& d, Split& train) {
  const std::string dir = data.string("path");
  const char* name = hundred ? "cifar100" : "cifar10";
  if (dir.empty())
    throw DataError(std::string("[data] dataset = \"") + name + "\" needs data.path: the folder of the binary version (" +
                    (hundred ? "train.bin, test.bin" : "data_batch_1.bin ... data_batch_5.bin, test_batch.bin") +
                    ") from https://www.cs.toronto.edu/~kriz/cifar.html");
  const std::int64_t classes = hundred ? 100 : 10;
  const int label_bytes = hundred ? 2 : 1, label_index = hundred ? 1 : 0;  // CIFAR-100: coarse, fine
  std::vector<std::string> train_files;
  if (hundred)
    train_files = {dir + "/train.bin"};
  else
    for (int i = 1; i <= 5; ++i) train_files.push_back(dir + "/data_batch_" + std::to_string(i) + ".bin");
  const std::string test_file = dir + (hundred ? "/test.bin" : "/test_batch.bin");
  std::string missing;
  for (auto& f : train_files)
    if (!fs::exists(f)) missing += " " + f;
  if (!fs::exists(test_file)) missing += " " + test_file;
  if (!missing.empty()) throw DataError(std::string("[data] ") + name + ": missing file(s):" + missing);

  std::vector<at::Tensor> xs, ys;
  for (auto& f : train_files) {
    auto [x, y] = read_cifar_bin(f, label_bytes, label_index, classes);
    xs.push_back(x);
    ys.push_back(y);
  }
  train.x = torch::cat(xs).to(torch::kFloat32).div_(255.0);
  train.y = torch::cat(ys);
  auto [tx, ty] = read_cifar_bin(test_file, label_bytes, label_index, classes);
  d.test.x = tx.to(torch::kFloat32).div_(255.0);
  d.test.y = ty;
  d.info.shape = {3, 32, 32};
  d.info.num_classes = classes;
  d.info.class_names = hundred ? read_names(dir + "/fine_label_names.txt", classes, "class")
                               : read_names(dir + "/batches.meta.txt", classes, "class");
  if (!hundred && d.info.class_names.front() == "class0")
    d.info.class_names = {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
}

}  // namespace ebm::kernel
