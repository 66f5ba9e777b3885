#include "store/checkpoint.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>

#include <torch/torch.h>

#include "loader/sha256.hpp"
#include "loader/version.hpp"
#include "store/h5util.hpp"

namespace ebm::kernel {

using namespace h5;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kMaxElements = std::int64_t(1) << 31;  // per tensor; far above any model here
constexpr int kMaxRank = 8;

hid_t h5_type(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat:
      return H5T_NATIVE_FLOAT;
    case at::kDouble:
      return H5T_NATIVE_DOUBLE;
    case at::kLong:
      return H5T_NATIVE_INT64;
    case at::kInt:
      return H5T_NATIVE_INT32;
    case at::kByte:
    case at::kBool:
      return H5T_NATIVE_UINT8;
    default:
      throw RunError(std::string("checkpoint: cannot store a tensor of type ") + c10::toString(t.scalar_type()));
  }
}

void write_tensor(hid_t file, const std::string& name, const at::Tensor& tensor, const std::string& path) {
  at::Tensor t = tensor.detach().cpu().contiguous();
  if (t.scalar_type() == at::kBool) t = t.to(at::kByte);
  std::vector<hsize_t> dims(t.sizes().begin(), t.sizes().end());
  Handle space(dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
  Handle ds(check(H5Dcreate2(file, name.c_str(), h5_type(t), space, link_create_with_parents(), H5P_DEFAULT, H5P_DEFAULT), path,
                  "creating " + name));
  write_string_attr(ds, "torch_dtype", c10::toString(tensor.scalar_type()));
  if (t.numel() && H5Dwrite(ds, h5_type(t), H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr()) < 0) h5_fail(path, "writing " + name);
}

at::Tensor read_tensor(hid_t file, const std::string& name, const std::string& path) {
  Handle ds = open_dataset(file, name);
  if (!ds.ok()) throw DataError(path + ": no dataset '" + name + "'");
  Handle type(H5Dget_type(ds)), space(H5Dget_space(ds));
  int rank = H5Sget_simple_extent_ndims(space);
  auto fail = [&](const std::string& what) { throw DataError(path + ": dataset '" + name + "' " + what); };
  if (rank < 0 || rank > kMaxRank) fail("has rank " + std::to_string(rank) + ", expected at most " + std::to_string(kMaxRank));
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  std::vector<std::int64_t> shape;
  std::int64_t count = 1;
  for (auto d : dims) {
    if (d > static_cast<hsize_t>(kMaxElements) || (count *= static_cast<std::int64_t>(d)) > kMaxElements)
      fail("claims more than 2^31 elements; the file is corrupt");
    shape.push_back(static_cast<std::int64_t>(d));
  }
  at::ScalarType st = at::kFloat;
  const H5T_class_t cls = H5Tget_class(type);
  const std::size_t size = H5Tget_size(type);
  if (cls == H5T_FLOAT && size == 4)
    st = at::kFloat;
  else if (cls == H5T_FLOAT && size == 8)
    st = at::kDouble;
  else if (cls == H5T_INTEGER && size == 8)
    st = at::kLong;
  else if (cls == H5T_INTEGER && size == 4)
    st = at::kInt;
  else if (cls == H5T_INTEGER && size == 1)
    st = at::kByte;
  else
    fail("has an unsupported element type (class " + std::to_string(cls) + ", " + std::to_string(size) + " bytes)");
  at::Tensor t = torch::empty(shape, torch::TensorOptions().dtype(st));
  hid_t mem = st == at::kFloat    ? H5T_NATIVE_FLOAT
              : st == at::kDouble ? H5T_NATIVE_DOUBLE
              : st == at::kLong   ? H5T_NATIVE_INT64
              : st == at::kInt    ? H5T_NATIVE_INT32
                                  : H5T_NATIVE_UINT8;
  if (count > 0 && H5Dread(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr()) < 0) fail("could not be read");
  std::string declared;
  hid_t a;
  H5E_BEGIN_TRY { a = H5Aopen(ds, "torch_dtype", H5P_DEFAULT); }
  H5E_END_TRY;
  if (Handle attr(a); attr.ok()) declared = read_fixed_string(attr, true);
  return declared == "Bool" ? t.to(at::kBool) : t;
}

/// Names of the datasets directly under `group` (empty when the group is absent).
std::vector<std::string> members(hid_t file, const std::string& group) {
  Handle g = open_group(file, group);
  return g.ok() ? h5::members(g) : std::vector<std::string>{};
}

std::int64_t read_int_attr(hid_t file, const char* name, const std::string& path) {
  std::int64_t v = 0;
  hid_t a;
  H5E_BEGIN_TRY { a = H5Aopen(file, name, H5P_DEFAULT); }
  H5E_END_TRY;
  Handle attr(a);
  if (!attr.ok()) throw DataError(path + ": not an ebmlab checkpoint (no attribute '" + name + "')");
  H5Aread(attr, H5T_NATIVE_INT64, &v);
  return v;
}

/// Removes a temporary file unless it was committed (renamed into place).
class TempFile {
 public:
  explicit TempFile(std::string path) : path_(std::move(path)) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    std::error_code ec;
    if (!committed_) fs::remove(path_, ec);
  }
  const std::string& path() const { return path_; }
  void commit() { committed_ = true; }

 private:
  std::string path_;
  bool committed_ = false;
};

void fsync_path(const std::string& p, const std::string& what) {
  int fd = ::open(p.c_str(), O_RDONLY);
  if (fd < 0 || ::fsync(fd) != 0) {
    if (fd >= 0) ::close(fd);
    throw RunError(p + ": fsync failed while " + what);
  }
  ::close(fd);
}

}  // namespace

std::string write_checkpoint(const std::string& path, const CheckpointData& d) {
  fs::create_directories(fs::absolute(path).parent_path());
  TempFile tmp(path + ".tmp-" + std::to_string(::getpid()));  // declared first: removed after the file closes
  Handle f(check(H5Fcreate(tmp.path().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), tmp.path(), "creating the checkpoint"));
  write_int_attr(f, "format_version", kCheckpointFormatVersion);
  write_string_attr(f, "kind", "ebmlab checkpoint");
  write_string_attr(f, "variant", d.variant);
  write_string_attr(f, "ebmlab_version", kVersion);
  write_string_attr(f, "created", now_iso());
  write_string_attr(f, "optimizer", d.optimizer_name);
  write_int_attr(f, "step", d.step);
  write_int_attr(f, "stage", d.stage);
  write_int_attr(f, "step_in_stage", d.step_in_stage);
  {
    // Track creation order so readers (h5py, tools/convert_state_dict.py) see the
    // tensors in the model's own order, not alphabetically.
    Handle gcpl(H5Pcreate(H5P_GROUP_CREATE));
    H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    Handle g(check(H5Gcreate2(f, "model", H5P_DEFAULT, gcpl, H5P_DEFAULT), tmp.path(), "creating /model"));
  }
  for (auto& [name, t] : d.model) write_tensor(f, "model/" + name, t, tmp.path());
  for (auto& [key, t] : d.optimizer) write_tensor(f, "optimizer/" + key, t, tmp.path());
  for (std::size_t i = 0; i < d.ema.size(); ++i) write_tensor(f, "ema/" + std::to_string(i), d.ema[i], tmp.path());
  for (auto& [comp, state] : d.components)
    for (auto& [key, t] : state) write_tensor(f, "components/" + comp + "/" + key, t, tmp.path());
  for (auto& [key, t] : d.rng) write_tensor(f, "rng/" + key, t, tmp.path());
  for (auto& [key, v] : d.counters) write_tensor(f, "counters/" + key, torch::tensor(v), tmp.path());
  close_file(f, tmp.path(), "closing the checkpoint (disk full?)");
  fsync_path(tmp.path(), "writing the checkpoint");
  std::error_code ec;
  fs::rename(tmp.path(), path, ec);
  if (ec) throw RunError(path + ": cannot move the checkpoint into place (" + ec.message() + ")");
  tmp.commit();
  fsync_path(fs::absolute(path).parent_path().string(), "recording the checkpoint's name");
  return sha256_file(path);
}

CheckpointData read_checkpoint(const std::string& path) {
  if (!fs::exists(path)) throw DataError(path + ": no such checkpoint file");
  hid_t id;
  H5E_BEGIN_TRY { id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT); }
  H5E_END_TRY;
  Handle f(id);
  if (!f.ok()) throw DataError(path + ": not an HDF5 file (HDF5 could not open it)");
  CheckpointData d;
  const std::int64_t version = read_int_attr(f, "format_version", path);
  if (version > kCheckpointFormatVersion)
    throw DataError(path + ": checkpoint format_version " + std::to_string(version) + " is newer than this ebmlab reads (" +
                    std::to_string(kCheckpointFormatVersion) + "); upgrade ebmlab");
  d.step = read_int_attr(f, "step", path);
  d.stage = read_int_attr(f, "stage", path);
  d.step_in_stage = read_int_attr(f, "step_in_stage", path);
  for (auto [attr, out] : {std::pair{"variant", &d.variant}, std::pair{"optimizer", &d.optimizer_name}}) {
    hid_t a;
    H5E_BEGIN_TRY { a = H5Aopen(f, attr, H5P_DEFAULT); }
    H5E_END_TRY;
    if (Handle h(a); h.ok()) *out = read_fixed_string(h, true);
  }
  for (auto& name : members(f, "model")) d.model.emplace_back(name, read_tensor(f, "model/" + name, path));
  for (auto& idx : members(f, "optimizer"))
    for (auto& key : members(f, "optimizer/" + idx))
      d.optimizer[idx + "/" + key] = read_tensor(f, "optimizer/" + idx + "/" + key, path);
  auto ema = members(f, "ema");
  d.ema.resize(ema.size());
  for (auto& i : ema) {
    std::size_t k = std::stoul(i);
    if (k >= d.ema.size()) throw DataError(path + ": ema/" + i + " is out of sequence");
    d.ema[k] = read_tensor(f, "ema/" + i, path);
  }
  for (auto& comp : members(f, "components"))
    for (auto& key : members(f, "components/" + comp))
      d.components[comp][key] = read_tensor(f, "components/" + comp + "/" + key, path);
  for (auto& key : members(f, "rng")) d.rng[key] = read_tensor(f, "rng/" + key, path);
  for (auto& key : members(f, "counters")) {
    at::Tensor t = read_tensor(f, "counters/" + key, path);
    if (t.numel() != 1) throw DataError(path + ": counters/" + key + " must be a single integer");
    d.counters[key] = t.to(at::kLong).item<std::int64_t>();
  }
  return d;
}

std::vector<std::pair<std::int64_t, std::string>> periodic_checkpoints(const std::string& dir) {
  std::vector<std::pair<std::int64_t, std::string>> found;
  if (!fs::is_directory(dir)) return found;
  for (auto& e : fs::directory_iterator(dir)) {
    const std::string f = e.path().filename().string();
    if (f.rfind("ckpt-", 0) != 0 || e.path().extension() != ".h5") continue;
    const std::string digits = f.substr(5, f.size() - 5 - 3);  // between "ckpt-" and ".h5"
    std::int64_t step = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), step);
    if (ec == std::errc() && end == digits.data() + digits.size() && !digits.empty()) found.emplace_back(step, e.path().string());
  }
  std::sort(found.begin(), found.end());
  return found;
}

void load_model_weights(torch::nn::Module& model, const CheckpointData& d, const std::string& path) {
  std::map<std::string, const at::Tensor*> saved;
  for (auto& [name, t] : d.model) saved[name] = &t;
  std::string problems;
  std::vector<std::pair<at::Tensor, const at::Tensor*>> copies;
  auto want = [&](const std::string& name, const at::Tensor& target) {
    auto it = saved.find(name);
    if (it == saved.end())
      problems += "\n  missing " + name;
    else if (it->second->sizes() != target.sizes())
      problems += "\n  " + name + ": shape " + c10::str(it->second->sizes()) + ", the model expects " + c10::str(target.sizes());
    else
      copies.emplace_back(target, it->second);
  };
  for (auto& p : model.named_parameters()) want(p.key(), p.value());
  for (auto& b : model.named_buffers()) want(b.key(), b.value());
  if (!problems.empty())
    throw DataError(path + ": the checkpoint does not fit this model (same backbone, norm and data shape needed):" + problems);
  torch::NoGradGuard no_grad;
  for (auto& [target, src] : copies) target.copy_(*src);
}

}  // namespace ebm::kernel
