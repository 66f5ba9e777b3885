// CIFAR-10/100 readers on small files written in exactly the binary version's format, and
// image folders of real PNG files (decoded on demand); corrupt inputs name the file.
#include <fstream>

#include <doctest/doctest.h>
#include <stb/stb_image_write.h>
#include <torch/torch.h>

#include "config/descriptor.hpp"
#include "config/validate.hpp"
#include "data/data.hpp"
#include "helpers.hpp"

using namespace ebm;
using namespace ebm::kernel;

namespace {

/// A CIFAR record: labels, then R, G, B planes; pixel (c, i) = (seed + 7c + i) mod 256.
std::string record(std::vector<int> labels, int seed) {
  std::string r;
  for (int l : labels) r.push_back(static_cast<char>(l));
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 1024; ++i) r.push_back(static_cast<char>((seed + 7 * c + i) % 256));
  return r;
}

void write_bytes(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

Params data_params(const std::string& toml_body) {
  Diagnostics diag;
  References refs{[](const std::string&, const std::string&) { return true; },
                  [](const std::string&) { return std::vector<std::string>{}; }};
  Value v = parse_toml_text("[data]\n" + toml_body, "d.toml");
  Table t = validate_table(*v.find("data"), data_schema(), "data", diag, refs, {"streams"});
  diag.raise();
  return Params(t, "[data]");
}

/// CIFAR-10 folder: 5 training files of 3 records each, a test file of 2.
void write_cifar10(const test::TempDir& dir) {
  int seed = 0;
  for (int b = 1; b <= 5; ++b) {
    std::string bytes;
    for (int i = 0; i < 3; ++i, ++seed) bytes += record({seed % 10}, seed);
    write_bytes(dir.file("data_batch_" + std::to_string(b) + ".bin"), bytes);
  }
  write_bytes(dir.file("test_batch.bin"), record({9}, 100) + record({3}, 101));
}

}  // namespace

TEST_CASE("cifar10: records decode to [N,3,32,32] in [0,1] with labels, validation from the tail") {
  test::TempDir dir;
  write_cifar10(dir);
  auto d = load_dataset(data_params("dataset = \"cifar10\"\npath = \"" + dir.path.string() + "\"\nvalidation = 2\n"), 0);
  CHECK(d.info.shape == std::vector<std::int64_t>{3, 32, 32});
  CHECK(d.info.num_classes == 10);
  CHECK(d.info.class_names.at(0) == "airplane");
  CHECK(d.train.size() == 13);
  CHECK(d.val.size() == 2);
  CHECK(d.test.size() == 2);
  // Record 4 (second file, second record): label 4, G plane pixel 5 = (4 + 7 + 5) / 255.
  CHECK(d.train.y[4].item<std::int64_t>() == 4);
  CHECK(d.train.x[4][1].view({-1})[5].item<float>() == doctest::Approx(16.0 / 255.0));
  CHECK(d.test.y[1].item<std::int64_t>() == 3);
  CHECK(d.info.mean.size() == 3);
}

TEST_CASE("cifar10: class names come from batches.meta.txt when present") {
  test::TempDir dir;
  write_cifar10(dir);
  std::string names;
  for (int i = 0; i < 10; ++i) names += "n" + std::to_string(i) + "\n";
  write_bytes(dir.file("batches.meta.txt"), names + "\n");
  auto d = load_dataset(data_params("dataset = \"cifar10\"\npath = \"" + dir.path.string() + "\"\nvalidation = 1\n"), 0);
  CHECK(d.info.class_names.at(7) == "n7");
}

TEST_CASE("cifar100: the fine label (second byte) is used") {
  test::TempDir dir;
  write_bytes(dir.file("train.bin"), record({1, 77}, 0) + record({2, 99}, 1) + record({3, 5}, 2));
  write_bytes(dir.file("test.bin"), record({4, 42}, 3));
  auto d = load_dataset(data_params("dataset = \"cifar100\"\npath = \"" + dir.path.string() + "\"\nvalidation = 1\n"), 0);
  CHECK(d.info.num_classes == 100);
  CHECK(d.train.y[0].item<std::int64_t>() == 77);
  CHECK(d.val.y[0].item<std::int64_t>() == 5);
  CHECK(d.test.y[0].item<std::int64_t>() == 42);
}

TEST_CASE("cifar: truncated files, bad labels, missing files and a missing path are clear errors") {
  test::TempDir dir;
  write_cifar10(dir);
  write_bytes(dir.file("data_batch_3.bin"), record({1}, 0) + record({2}, 1).substr(0, 100));
  auto p = data_params("dataset = \"cifar10\"\npath = \"" + dir.path.string() + "\"\nvalidation = 1\n");
  auto msg = test::error_of<DataError>([&] { load_dataset(p, 0); });
  CHECK(msg.find("data_batch_3.bin: 3173 bytes is not a whole number of 3073-byte records") != std::string::npos);
  write_bytes(dir.file("data_batch_3.bin"), record({12}, 0));
  msg = test::error_of<DataError>([&] { load_dataset(p, 0); });
  CHECK(msg.find("data_batch_3.bin: record 0 has label 12, expected 0..9") != std::string::npos);
  std::filesystem::remove(dir.file("test_batch.bin"));
  msg = test::error_of<DataError>([&] { load_dataset(p, 0); });
  CHECK(msg.find("missing file(s):") != std::string::npos);
  CHECK(msg.find("test_batch.bin") != std::string::npos);
  msg = test::error_of<DataError>([&] { load_dataset(data_params("dataset = \"cifar10\"\n"), 0); });
  CHECK(msg.find("needs data.path") != std::string::npos);
}

TEST_CASE("image_folder: PNGs per class folder, resized and cropped, decoded on demand; corrupt files named") {
  test::TempDir dir;
  auto png = [&](const std::string& rel, int w, int h, unsigned char r, unsigned char g) {
    std::filesystem::create_directories(std::filesystem::path(dir.file(rel)).parent_path());
    std::vector<unsigned char> px;
    for (int i = 0; i < w * h; ++i) px.insert(px.end(), {r, g, 0});
    REQUIRE(stbi_write_png(dir.file(rel).c_str(), w, h, 3, px.data(), w * 3) != 0);
  };
  for (int i = 0; i < 4; ++i) {
    png("train/cat/" + std::to_string(i) + ".png", 12, 8, 255, 0);  // red, wider than tall
    png("train/dog/" + std::to_string(i) + ".PNG", 6, 6, 0, 255);   // green
  }
  png("test/cat/t.png", 8, 8, 255, 0);
  png("test/dog/t.png", 8, 8, 0, 255);
  std::ofstream(dir.file("train/dog/notes.txt")) << "not an image";
  auto p = data_params("dataset = \"image_folder\"\npath = \"" + dir.path.string() + "\"\nimage_size = 4\nvalidation = 2\n");
  auto d = load_dataset(p, 0);
  CHECK(d.info.class_names == std::vector<std::string>{"cat", "dog"});
  CHECK(d.info.shape == std::vector<std::int64_t>{3, 4, 4});
  CHECK(d.train.size() == 6);
  CHECK(!d.train.x.defined());  // held as a file list, not as pixels
  Batch b = d.train.rows(0, 6);
  CHECK(b.x.sizes() == at::IntArrayRef({6, 3, 4, 4}));
  for (int i = 0; i < 6; ++i) {
    int cls = static_cast<int>(b.y[i].item<std::int64_t>());
    CHECK(b.x[i][cls].mean().item<double>() == doctest::Approx(1.0));  // red for cat, green for dog
    CHECK(b.x[i][1 - cls].mean().item<double>() == doctest::Approx(0.0));
  }
  auto ty = d.test.rows(0, 2).y;
  CHECK(ty.sum().item<std::int64_t>() == 1);  // one image of each class

  // Resize and center crop: an 8x4 image, left half red, right half green, becomes a
  // 4x4 crop of columns 2..5: two red columns, then two green ones.
  test::TempDir dir2;
  std::vector<unsigned char> px;
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 8; ++x)
      px.insert(px.end(), {static_cast<unsigned char>(x < 4 ? 255 : 0), static_cast<unsigned char>(x < 4 ? 0 : 255), 0});
  for (const char* rel : {"train/a/1.png", "train/a/2.png", "train/b/1.png", "test/a/1.png"}) {
    std::filesystem::create_directories(std::filesystem::path(dir2.file(rel)).parent_path());
    REQUIRE(stbi_write_png(dir2.file(rel).c_str(), 8, 4, 3, px.data(), 8 * 3) != 0);
  }
  // A stream's source must have the training data's sample shape.
  auto mismatch = test::error_of<DataError>([&] {
    Value v = parse_toml_text(
        "[data]\ndataset = \"image_folder\"\npath = \"" + dir2.path.string() +
            "\"\nimage_size = 4\nvalidation = 1\n[data.streams.aux]\nsource = { dataset = \"image_folder\", path = \"" +
            dir2.path.string() + "\", image_size = 4, channels = 1 }\n",
        "s.toml");
    Diagnostics diag;
    References refs{[](const std::string&, const std::string&) { return true; },
                    [](const std::string&) { return std::vector<std::string>{}; }};
    Table t = validate_table(*v.find("data"), data_schema(), "data", diag, refs, {"streams"});
    Table src = validate_table(*v.find("data")->find("streams")->find("aux")->find("source"), data_schema(), "src", diag, refs,
                               {"streams"});
    diag.raise();
    t["streams"] = Value(Table{{"aux", Value(Table{{"source", Value(src)}})}});
    load_dataset(Params(t, "[data]"), 0);
  });
  CHECK(mismatch.find("its samples have shape [1, 4, 4] but the training data's are [3, 4, 4]") != std::string::npos);
  auto half = load_dataset(
      data_params("dataset = \"image_folder\"\npath = \"" + dir2.path.string() + "\"\nimage_size = 4\nvalidation = 1\n"), 0);
  auto img = half.test.rows(0, 1).x[0];
  CHECK(img[0].slice(1, 0, 2).mean().item<double>() == doctest::Approx(1.0));
  CHECK(img[1].slice(1, 2, 4).mean().item<double>() == doctest::Approx(1.0));
  CHECK(img[0].slice(1, 2, 4).mean().item<double>() == doctest::Approx(0.0));

  write_bytes(dir.file("train/dog/broken.png"), "\x89PNG\r\n\x1a\n not really");
  auto msg = test::error_of<DataError>([&] {
    auto all = load_dataset(p, 0);  // broken.png may have landed in either split
    all.train.rows(0, all.train.size());
    all.val.rows(0, all.val.size());
  });
  CHECK(msg.find("broken.png: cannot decode image") != std::string::npos);
  msg = test::error_of<DataError>([&] { load_dataset(data_params("dataset = \"image_folder\"\npath = \"/nonexistent\"\n"), 0); });
  CHECK(msg.find("train/ and test/") != std::string::npos);
}

TEST_CASE("on_device: held splits move once (shared where they already are); on-demand reads hand batches over") {
  Dataset d;
  d.train.x = torch::arange(12, torch::kFloat32).view({6, 2});
  d.train.y = torch::arange(6, torch::kInt64);
  int reads = 0;
  d.test.y = torch::arange(4, torch::kInt64);
  d.test.read = [&reads](const at::Tensor& idx) {
    ++reads;
    CHECK(idx.device().is_cpu());  // files are read with host indices
    return idx.to(torch::kFloat32).view({-1, 1}) * 10;
  };
  const Dataset on = on_device(d, c10::Device(c10::kCPU));
  CHECK(on.train.x.data_ptr() == d.train.x.data_ptr());  // no copy on the device it is on
  const Batch b = on.train.take(torch::tensor({4, 1}, torch::kInt64));
  CHECK(torch::equal(b.x, torch::tensor({{8.0f, 9.0f}, {2.0f, 3.0f}})));
  CHECK(torch::equal(b.y, torch::tensor({4, 1}, torch::kInt64)));
  const Batch t = on.test.take(torch::tensor({3, 0}, torch::kInt64));
  CHECK(reads == 1);
  CHECK(torch::equal(t.x, torch::tensor({{30.0f}, {0.0f}})));
  CHECK(t.x.device() == on.test.y.device());
}
