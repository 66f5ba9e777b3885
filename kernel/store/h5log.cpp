// See h5log.hpp. Every HDF5 identifier is an h5::Handle: nothing here closes by hand.
#include "store/h5log.hpp"

#include <unistd.h>

#include <cstring>
#include <filesystem>

#include <hdf5.h>

#include "ebmlab/error.hpp"

#include "store/h5util.hpp"

namespace ebm::kernel {

using namespace h5;

namespace {

constexpr hsize_t kChunkRows = 1024;
constexpr std::size_t kStatusLength = 16;
constexpr std::size_t kDetailLength = 1024;

/// An extendible, chunked dataset [0, ...shape] of `type` at `path` (deflated unless `deflate` is 0).
Handle create_extendible(hid_t file, const std::string& path, hid_t type, const std::vector<hsize_t>& shape, hsize_t chunk_rows,
                         const std::string& fname, int deflate = 4) {
  std::vector<hsize_t> dims{0}, maxdims{H5S_UNLIMITED}, chunk{chunk_rows};
  for (auto d : shape) {
    dims.push_back(d);
    maxdims.push_back(d);
    chunk.push_back(d);
  }
  Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), maxdims.data()));
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
  H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data());
  if (deflate > 0) H5Pset_deflate(dcpl, static_cast<unsigned>(deflate));
  return Handle(check(H5Dcreate2(file, path.c_str(), type, space, link_create_with_parents(), dcpl, H5P_DEFAULT), fname,
                      "creating " + path));
}

Handle create_series(hid_t file, const std::string& path, hid_t type, const std::string& fname) {
  return create_extendible(file, path, type, {}, kChunkRows, fname);
}

Handle create_tensor_series(hid_t file, const VariantLog::TensorSpec& t, const std::string& fname) {
  return create_extendible(file, t.path, H5T_NATIVE_FLOAT, std::vector<hsize_t>(t.shape.begin(), t.shape.end()), 1, fname);
}

/// Appends `count` rows (each of `row_shape`) of `type` from `data` at row `at` of an extendible dataset.
void append_rows(hid_t ds, hid_t type, std::int64_t at, hsize_t count, const std::vector<hsize_t>& row_shape, const void* data,
                 const std::string& file, const std::string& name) {
  std::vector<hsize_t> start(row_shape.size() + 1, 0), cnt{count}, size{static_cast<hsize_t>(at) + count};
  start[0] = static_cast<hsize_t>(at);
  for (auto d : row_shape) {
    cnt.push_back(d);
    size.push_back(d);
  }
  check(H5Dset_extent(ds, size.data()), file, "extending " + name);
  Handle fspace(H5Dget_space(ds));
  H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start.data(), nullptr, cnt.data(), nullptr);
  Handle mspace(H5Screate_simple(static_cast<int>(cnt.size()), cnt.data(), nullptr));
  check(H5Dwrite(ds, type, mspace, fspace, H5P_DEFAULT, data), file, "writing " + name);
  check(H5Dflush(ds), file, "flushing " + name);
}

}  // namespace

VariantLog::VariantLog(const std::string& path, const std::string& variant, const std::string& config_json, const Layout& layout)
    : path_(path) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS));
  H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);  // required for SWMR
  file_ = Handle(check(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl), path, "creating the variant log"));
  record_type_ = curve_record_type();
  checkpoint_type_ = checkpoint_row_type();
  // Should this throw, the members' handles release the file, so the caller can still
  // replace it with a log that says "failed".
  lay_out(variant, config_json, layout);
}

void VariantLog::lay_out(const std::string& variant, const std::string& config_json, const Layout& layout) {
  const std::string& path = path_;
  write_int_attr(file_, "format_version", kFormatVersion);
  write_string_attr(file_, "variant", variant);
  write_string_attr(file_, "created", now_iso());
  // Lets `ebmlab report` tell a live writer from one that died with status "running".
  write_int_attr(file_, "writer_pid", static_cast<std::int64_t>(getpid()));
  write_string_attr(file_, "writer_host", hostname());
  write_string_dataset(file_, "config", config_json, path);

  Handle space(H5Screate(H5S_SCALAR));
  status_ = Handle(check(H5Dcreate2(file_, "status", string_type(kStatusLength), space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                         path, "creating status"));
  // Why a variant ended as it did (divergence step and values, the failing plugin):
  // created now because SWMR writers cannot add objects later.
  detail_ =
      Handle(check(H5Dcreate2(file_, "status_detail", string_type(kDetailLength), space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                   path, "creating status_detail"));

  for (auto& name : layout.curves) {
    curve_index_[name] = static_cast<int>(curves_.size());
    curves_.push_back(Series{name, create_series(file_, "curves/" + name, record_type_, path), 0, {}});
  }
  for (auto& name : layout.evals) {
    eval_index_[name] = static_cast<int>(evals_.size());
    evals_.push_back(Series{name, create_series(file_, "eval/" + name, record_type_, path), 0, {}});
  }
  for (auto& t : layout.tensors) {
    tensor_index_[t.path] = static_cast<int>(tensors_.size());
    tensors_.push_back(
        TensorSeries{t, create_tensor_series(file_, t, path), create_series(file_, t.path + "_step", H5T_NATIVE_INT64, path), 0});
  }
  for (auto& [object, attrs] : layout.attrs) {
    Handle g = open_group(file_, object);
    if (!g.ok())
      g = Handle(check(H5Gcreate2(file_, object.c_str(), link_create_with_parents(), H5P_DEFAULT, H5P_DEFAULT), path,
                       "creating " + object));
    for (auto& [k, v] : attrs) write_string_attr(g, k, v);
  }
  checkpoints_ = create_extendible(file_, "checkpoints", checkpoint_type_, {}, 64, path, /*deflate=*/0);

  set_status("pending");
  check(H5Fstart_swmr_write(file_), path, "starting SWMR write mode");
  set_status("running");
}

VariantLog::~VariantLog() {
  if (!file_.ok()) return;
  try {
    flush();
  } catch (const Error&) {
    abandon();  // unwinding from another error, which is the one to report
  }
}

void VariantLog::abandon() {
  for (auto* series : {&curves_, &evals_})
    for (auto& s : *series) s.dataset.release();
  for (auto& t : tensors_) {
    t.data.release();
    t.steps.release();
  }
  for (auto* h : {&status_, &detail_, &checkpoints_, &record_type_, &checkpoint_type_, &file_}) h->release();
}

int VariantLog::curve_id(const std::string& name) const {
  auto it = curve_index_.find(name);
  return it == curve_index_.end() ? -1 : it->second;
}
int VariantLog::eval_id(const std::string& name) const {
  auto it = eval_index_.find(name);
  return it == eval_index_.end() ? -1 : it->second;
}

void VariantLog::write_pending(Series& s) {
  if (s.pending.empty()) return;
  append_rows(s.dataset, record_type_, s.rows, s.pending.size(), {}, s.pending.data(), path_, s.name);
  s.rows += static_cast<std::int64_t>(s.pending.size());
  s.pending.clear();
}

int VariantLog::tensor_id(const std::string& path) const {
  auto it = tensor_index_.find(path);
  return it == tensor_index_.end() ? -1 : it->second;
}

void VariantLog::append_tensor(int id, std::int64_t step, const float* data, std::size_t count) {
  TensorSeries& t = tensors_[static_cast<size_t>(id)];
  std::size_t expected = 1;
  for (auto d : t.spec.shape) expected *= static_cast<std::size_t>(d);
  if (count != expected)
    throw RunError(path_ + ": tensor record for " + t.spec.path + " has " + std::to_string(count) + " values, declared " +
                   std::to_string(expected));
  const std::vector<hsize_t> shape(t.spec.shape.begin(), t.spec.shape.end());
  append_rows(t.data, H5T_NATIVE_FLOAT, t.rows, 1, shape, data, path_, t.spec.path);
  append_rows(t.steps, H5T_NATIVE_INT64, t.rows, 1, {}, &step, path_, t.spec.path + "_step");
  ++t.rows;
}

void VariantLog::append_checkpoint(std::int64_t step, const std::string& file, const std::string& sha256) {
  CheckpointRow row{step, {0}, {0}};
  file.copy(row.file, sizeof row.file - 1);
  sha256.copy(row.sha256, sizeof row.sha256 - 1);
  append_rows(checkpoints_, checkpoint_type_, checkpoint_rows_, 1, {}, &row, path_, "checkpoints");
  ++checkpoint_rows_;
}

void VariantLog::flush() {
  if (!file_.ok()) return;
  for (auto& s : curves_) write_pending(s);
  for (auto& s : evals_) write_pending(s);
  check(H5Fflush(file_, H5F_SCOPE_LOCAL), path_, "flushing the file");
}

void VariantLog::set_status(const std::string& status, const std::string& detail) {
  auto write_fixed = [this](hid_t ds, const std::string& text, std::size_t length, const char* what) {
    std::string buf(length, '\0');
    text.copy(buf.data(), length - 1);
    check(H5Dwrite(ds, string_type(length), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), path_, what);
    check(H5Dflush(ds), path_, what);
  };
  write_fixed(detail_, detail, kDetailLength, "writing status_detail");
  write_fixed(status_, status, kStatusLength, "writing status");
}

void VariantLog::close() {
  if (!file_.ok()) return;
  try {
    flush();
  } catch (const Error&) {
    abandon();
    throw;
  }
  // The file's objects first: HDF5 keeps a file open while any of them is.
  for (auto* series : {&curves_, &evals_})
    for (auto& s : *series) s.dataset.reset();
  for (auto& t : tensors_) {
    t.data.reset();
    t.steps.reset();
  }
  for (auto* h : {&status_, &detail_, &checkpoints_, &record_type_, &checkpoint_type_}) h->reset();
  file_.reset();
}

namespace {
/// Rows of a 1-d dataset, read whole (nothing when it is absent).
template <class T>
std::vector<T> read_rows(hid_t f, const std::string& name, hid_t type) {
  Handle ds = open_dataset(f, name);
  if (!ds.ok()) return {};
  Handle space(H5Dget_space(ds));
  hsize_t n = 0;
  H5Sget_simple_extent_dims(space, &n, nullptr);
  std::vector<T> out(n);
  if (n > 0) H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data());
  return out;
}
}  // namespace

std::map<std::string, std::int64_t> VariantLog::rows() const {
  std::map<std::string, std::int64_t> out;
  for (auto& s : curves_) out["curves/" + s.name] = s.rows;
  for (auto& s : evals_) out["eval/" + s.name] = s.rows;
  for (auto& t : tensors_) out[t.spec.path] = t.rows;
  return out;
}

double VariantLog::carry_over(const std::string& old_log, std::int64_t upto_step,
                              const std::map<std::string, std::int64_t>& rows) {
  Handle f = open_for_read(old_log);
  double wall = 0.0;
  auto count = [&](const std::string& path) {
    auto it = rows.find(path);
    return it == rows.end() ? std::int64_t{0} : it->second;
  };
  auto keep = [&](Series& s, const std::string& path) {
    auto records = read_rows<CurveRecord>(f, path, record_type_);
    for (std::int64_t i = 0; i < std::min<std::int64_t>(count(path), static_cast<std::int64_t>(records.size())); ++i) {
      s.pending.push_back(records[static_cast<size_t>(i)]);
      wall = std::max(wall, records[static_cast<size_t>(i)].wall);
    }
    write_pending(s);
  };
  for (auto& s : curves_) keep(s, "curves/" + s.name);
  for (auto& s : evals_) keep(s, "eval/" + s.name);
  for (int id = 0; id < static_cast<int>(tensors_.size()); ++id) {
    const TensorSpec spec = tensors_[static_cast<size_t>(id)].spec;
    auto steps = read_rows<std::int64_t>(f, spec.path + "_step", H5T_NATIVE_INT64);
    Handle ds = open_dataset(f, spec.path);
    if (!ds.ok()) continue;
    std::size_t per = 1;
    for (auto d : spec.shape) per *= static_cast<std::size_t>(d);
    Handle fspace(H5Dget_space(ds));
    std::vector<hsize_t> dims(static_cast<size_t>(H5Sget_simple_extent_ndims(fspace)));
    H5Sget_simple_extent_dims(fspace, dims.data(), nullptr);
    std::vector<float> row(per);
    const auto n = static_cast<std::size_t>(count(spec.path));
    for (std::size_t i = 0; i < steps.size() && i < n && !dims.empty() && i < dims[0]; ++i) {
      std::vector<hsize_t> start(dims.size(), 0), one = dims;
      start[0] = i;
      one[0] = 1;
      H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start.data(), nullptr, one.data(), nullptr);
      Handle mspace(H5Screate_simple(static_cast<int>(one.size()), one.data(), nullptr));
      H5Dread(ds, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, row.data());
      append_tensor(id, steps[i], row.data(), row.size());
    }
  }
  for (auto& c : read_checkpoint_rows(f))
    if (c.step <= upto_step) append_checkpoint(c.step, c.file, c.sha256);
  f.reset();
  flush();
  return wall;
}

}  // namespace ebm::kernel
