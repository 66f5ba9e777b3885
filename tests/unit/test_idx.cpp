// The gzip IDX reader: real files load; corrupt, truncated or lying files give a clear
// error naming the file, never a crash or a giant allocation.
#include <zlib.h>

#include <fstream>

#include <doctest/doctest.h>
#include <torch/torch.h>

#include "data/data.hpp"
#include "helpers.hpp"

using namespace ebm;
using namespace ebm::kernel;

namespace {

std::string be32(std::uint32_t v) { return {char(v >> 24), char((v >> 16) & 255), char((v >> 8) & 255), char(v & 255)}; }

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

std::string idx(std::vector<std::uint32_t> dims, std::size_t data_bytes, unsigned char magic2 = 0x08) {
  std::string s = {0, 0, char(magic2), char(dims.size())};
  for (auto d : dims) s += be32(d);
  for (std::size_t i = 0; i < data_bytes; ++i) s += char(i % 251);
  return s;
}

}  // namespace

TEST_CASE("idx: a well-formed file reads back with its shape and bytes") {
  test::TempDir dir;
  write_gz(dir.file("ok.gz"), idx({3, 2, 2}, 12));
  auto t = read_idx_gz(dir.file("ok.gz"));
  CHECK(t.sizes().vec() == std::vector<std::int64_t>{3, 2, 2});
  CHECK(t.flatten()[11].item<int>() == 11);
}

TEST_CASE("idx: corrupt files are named and explained") {
  test::TempDir dir;
  auto p = dir.file("f.gz");
  SUBCASE("bad magic") {
    write_gz(p, idx({4}, 4, 0x09));
    CHECK(test::error_of<DataError>([&] { read_idx_gz(p); }).find(p + ": bad IDX magic") == 0);
  }
  SUBCASE("truncated data") {
    write_gz(p, idx({10, 28, 28}, 100));
    auto msg = test::error_of<DataError>([&] { read_idx_gz(p); });
    CHECK(msg == p + ": IDX header declares 7840 data bytes but the file decompresses to 100 (truncated or corrupt)");
  }
  SUBCASE("header larger than memory is refused before allocating") {
    write_gz(p, idx({60000, 60000, 60000}, 16));
    CHECK(test::error_of<DataError>([&] { read_idx_gz(p); }).find("more than 2 GiB") != std::string::npos);
  }
  SUBCASE("not gzip") {
    { std::ofstream(p) << "IDX but not compressed"; }
    CHECK(test::error_of<DataError>([&] { read_idx_gz(p); }) == p + ": not a gzip file (expected the bytes 1f 8b at the start)");
  }
  SUBCASE("gzip stream cut short") {
    write_gz(p, idx({64, 64}, 4096));
    std::string bytes;
    {
      std::ifstream in(p, std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    { std::ofstream(p, std::ios::binary) << bytes.substr(0, bytes.size() / 2); }
    CHECK(test::error_of<DataError>([&] { read_idx_gz(p); }).find(p + ":") == 0);
  }
  SUBCASE("missing file") {
    CHECK(test::error_of<DataError>([&] { read_idx_gz(p); }).find(p + ": cannot open") == 0);
  }
}

TEST_CASE("idx: the Debian Fashion-MNIST files load with their documented sizes") {
  auto images = read_idx_gz("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz");
  CHECK(images.sizes().vec() == std::vector<std::int64_t>{10000, 28, 28});
  auto labels = read_idx_gz("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz");
  CHECK(labels.size(0) == 10000);
  CHECK(labels.max().item<int>() == 9);
}
