// image_folder: path/train/<class>/*.png|jpg|jpeg and path/test/<class>/..., one sub-folder
// per class (class names are the sorted folder names of train/). Images are decoded with
// stb_image when a batch asks for them, resized so the shorter side is image_size
// (stb_image_resize), and center-cropped to image_size x image_size.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>

#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>
#include <torch/torch.h>

#include "data/data_sources.hpp"
#include "data/seeds.hpp"

namespace ebm::kernel {

namespace fs = std::filesystem;

namespace {

struct Listing {
  std::vector<std::string> files;
  std::vector<std::int64_t> labels;
};

bool is_image(const fs::path& p) {
  auto ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

Listing scan(const fs::path& root, const std::vector<std::string>& classes) {
  Listing out;
  for (std::size_t c = 0; c < classes.size(); ++c) {
    fs::path dir = root / classes[c];
    if (!fs::is_directory(dir)) continue;  // a class may be absent from the test split
    std::vector<std::string> files;
    for (auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file() && is_image(e.path())) files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    for (auto& f : files) {
      out.files.push_back(f);
      out.labels.push_back(static_cast<std::int64_t>(c));
    }
  }
  return out;
}

/// One image -> float [channels, size, size] in [0,1].
at::Tensor decode(const std::string& file, std::int64_t size, int channels) {
  int w = 0, h = 0, found = 0;
  std::unique_ptr<unsigned char, void (*)(void*)> px(stbi_load(file.c_str(), &w, &h, &found, channels), stbi_image_free);
  if (!px)
    throw DataError(file + ": cannot decode image (" + std::string(stbi_failure_reason()) + "); remove or replace the file");
  const double scale = static_cast<double>(size) / std::min(w, h);
  const int nw = std::max<int>(static_cast<int>(size), static_cast<int>(std::lround(w * scale)));  // w * scale > 0
  const int nh = std::max<int>(static_cast<int>(size), static_cast<int>(std::lround(h * scale)));
  std::vector<unsigned char> resized(static_cast<std::size_t>(nw) * nh * channels);
  if (nw == w && nh == h)
    std::copy(px.get(), px.get() + resized.size(), resized.begin());  // already the right size
  else if (!stbir_resize_uint8(px.get(), w, h, 0, resized.data(), nw, nh, 0, channels))
    throw DataError(file + ": resizing " + std::to_string(w) + "x" + std::to_string(h) + " failed");
  auto img = torch::from_blob(resized.data(), {nh, nw, channels}, torch::kUInt8);
  const std::int64_t top = (nh - size) / 2, left = (nw - size) / 2;
  return img.slice(0, top, top + size).slice(1, left, left + size).permute({2, 0, 1}).to(torch::kFloat32).div(255.0);
}

Split on_demand(Listing list, std::int64_t size, int channels, bool shuffle) {
  if (shuffle) {  // a fixed order, so the validation tail mixes classes and never depends on the seed
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seeds::kImageFolderOrder);
    auto perm = torch::randperm(static_cast<std::int64_t>(list.files.size()), gen, torch::kInt64);
    Listing mixed;
    for (std::int64_t i = 0; i < perm.size(0); ++i) {
      auto j = static_cast<std::size_t>(perm[i].item<std::int64_t>());
      mixed.files.push_back(list.files[j]);
      mixed.labels.push_back(list.labels[j]);
    }
    list = std::move(mixed);
  }
  Split s;
  s.y = torch::tensor(list.labels, torch::kInt64);
  auto files = std::make_shared<const std::vector<std::string>>(std::move(list.files));
  s.read = [files, size, channels](const at::Tensor& idx) {
    auto ix = idx.contiguous();
    std::vector<at::Tensor> out;
    out.reserve(static_cast<std::size_t>(ix.numel()));
    for (std::int64_t i = 0; i < ix.numel(); ++i)
      out.push_back(decode((*files)[static_cast<std::size_t>(ix.data_ptr<std::int64_t>()[i])], size, channels));
    return torch::stack(out);
  };
  return s;
}

}  // namespace

void load_image_folder(const Params& data, Dataset& d, Split& train) {
  const fs::path root = data.string("path");
  if (data.string("path").empty() || !fs::is_directory(root / "train") || !fs::is_directory(root / "test"))
    throw DataError(
        "[data] dataset = \"image_folder\" needs data.path = a folder with train/ and test/ sub-folders, "
        "each holding one folder of PNG/JPEG files per class (path given: '" +
        root.string() + "')");
  std::vector<std::string> classes;
  for (auto& e : fs::directory_iterator(root / "train"))
    if (e.is_directory()) classes.push_back(e.path().filename().string());
  std::sort(classes.begin(), classes.end());
  if (classes.size() < 2)
    throw DataError((root / "train").string() + ": found " + std::to_string(classes.size()) +
                    " class folder(s); expected one folder per class, at least two");
  const std::int64_t size = data.integer("image_size");
  const int channels = static_cast<int>(data.integer("channels"));
  if (channels == 2) throw DataError("[data] channels = 2: expected 1 (grayscale) or 3 (RGB)");
  Listing tr = scan(root / "train", classes), te = scan(root / "test", classes);
  if (tr.files.empty() || te.files.empty())
    throw DataError(root.string() + ": no .png/.jpg/.jpeg files under " + (tr.files.empty() ? "train/" : "test/") + "<class>/");
  train = on_demand(std::move(tr), size, channels, /*shuffle=*/true);
  d.test = on_demand(std::move(te), size, channels, /*shuffle=*/true);  // test_subset then spans every class
  d.info.shape = {channels, size, size};
  d.info.num_classes = static_cast<std::int64_t>(classes.size());
  d.info.class_names = classes;
}

}  // namespace ebm::kernel
