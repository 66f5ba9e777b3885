#include "store/h5log.hpp"

#include <hdf5.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "ebmlab/error.hpp"
#include "store/h5util.hpp"
#include "loader/version.hpp"

namespace ebm::kernel {

using namespace h5;

namespace {

constexpr hsize_t kChunkRows = 1024;
constexpr std::size_t kStatusLength = 16;
constexpr std::size_t kDetailLength = 1024;

hid_t record_type() {
  hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(CurveRecord));
  H5Tinsert(t, "step", HOFFSET(CurveRecord, step), H5T_NATIVE_INT64);
  H5Tinsert(t, "value", HOFFSET(CurveRecord, value), H5T_NATIVE_DOUBLE);
  H5Tinsert(t, "wall", HOFFSET(CurveRecord, wall), H5T_NATIVE_DOUBLE);
  return t;
}

struct CheckpointRow {
  std::int64_t step;
  char file[64];
  char sha256[65];
};

hid_t checkpoint_type() {
  hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(CheckpointRow));
  H5Tinsert(t, "step", HOFFSET(CheckpointRow, step), H5T_NATIVE_INT64);
  hid_t f = string_type(sizeof(CheckpointRow::file)), h = string_type(sizeof(CheckpointRow::sha256));
  H5Tinsert(t, "file", HOFFSET(CheckpointRow, file), f);
  H5Tinsert(t, "sha256", HOFFSET(CheckpointRow, sha256), h);
  H5Tclose(f);
  H5Tclose(h);
  return t;
}

hid_t create_series(hid_t file, const std::string& path, hid_t type, const std::string& fname) {
  hsize_t dims[1] = {0}, maxdims[1] = {H5S_UNLIMITED}, chunk[1] = {kChunkRows};
  hid_t space = H5Screate_simple(1, dims, maxdims);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 1, chunk);
  H5Pset_deflate(dcpl, 4);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  hid_t ds = check(H5Dcreate2(file, path.c_str(), type, space, lcpl, dcpl, H5P_DEFAULT), fname, "creating " + path);
  H5Pclose(lcpl);
  H5Pclose(dcpl);
  H5Sclose(space);
  return ds;
}

hid_t create_tensor_series(hid_t file, const VariantLog::TensorSpec& t, const std::string& fname) {
  std::vector<hsize_t> dims{0}, maxdims{H5S_UNLIMITED}, chunk{1};
  for (auto d : t.shape) {
    dims.push_back(static_cast<hsize_t>(d));
    maxdims.push_back(static_cast<hsize_t>(d));
    chunk.push_back(static_cast<hsize_t>(d));
  }
  hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), maxdims.data());
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data());
  H5Pset_deflate(dcpl, 4);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  hid_t ds = check(H5Dcreate2(file, t.path.c_str(), H5T_NATIVE_FLOAT, space, lcpl, dcpl, H5P_DEFAULT), fname,
                   "creating " + t.path);
  H5Pclose(lcpl);
  H5Pclose(dcpl);
  H5Sclose(space);
  return ds;
}

}  // namespace

VariantLog::VariantLog(const std::string& path, const std::string& variant, const std::string& config_json,
                       const Layout& layout)
    : path_(path) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);  // required for SWMR
  file_ = check(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl), path, "creating the variant log");
  H5Pclose(fapl);
  record_type_ = record_type();
  try {
    lay_out(variant, config_json, layout);
  } catch (...) {
    // Release the file, so the caller can still replace it with a log that says "failed".
    H5E_BEGIN_TRY { close(); } H5E_END_TRY;
    throw;
  }
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

  hid_t stype = string_type(kStatusLength);
  hid_t space = H5Screate(H5S_SCALAR);
  status_ = check(H5Dcreate2(file_, "status", stype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), path, "creating status");
  H5Tclose(stype);
  // Why a variant ended as it did (divergence step and values, the failing plugin):
  // created now because SWMR writers cannot add objects later.
  stype = string_type(kDetailLength);
  detail_ = check(H5Dcreate2(file_, "status_detail", stype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), path,
                  "creating status_detail");
  H5Sclose(space);
  H5Tclose(stype);

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
    tensors_.push_back(TensorSeries{t, create_tensor_series(file_, t, path),
                                    create_series(file_, t.path + "_step", H5T_NATIVE_INT64, path), 0});
  }
  for (auto& [object, attrs] : layout.attrs) {
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t g;
    H5E_BEGIN_TRY { g = H5Gopen2(file_, object.c_str(), H5P_DEFAULT); } H5E_END_TRY;
    if (g < 0) g = check(H5Gcreate2(file_, object.c_str(), lcpl, H5P_DEFAULT, H5P_DEFAULT), path, "creating " + object);
    for (auto& [k, v] : attrs) write_string_attr(g, k, v);
    H5Gclose(g);
    H5Pclose(lcpl);
  }
  hsize_t zero[1] = {0}, unlimited[1] = {H5S_UNLIMITED}, chunk[1] = {64};
  hid_t cspace = H5Screate_simple(1, zero, unlimited);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 1, chunk);
  hid_t ctype = checkpoint_type();
  checkpoints_ = check(H5Dcreate2(file_, "checkpoints", ctype, cspace, H5P_DEFAULT, dcpl, H5P_DEFAULT), path, "creating checkpoints");
  H5Tclose(ctype);
  H5Pclose(dcpl);
  H5Sclose(cspace);

  set_status("pending");
  check(H5Fstart_swmr_write(file_), path, "starting SWMR write mode");
  set_status("running");
}

VariantLog::~VariantLog() {
  try { close(); } catch (...) {}
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
  hsize_t start[1] = {static_cast<hsize_t>(s.rows)}, count[1] = {s.pending.size()};
  hsize_t size[1] = {start[0] + count[0]};
  check(H5Dset_extent(s.dataset, size), path_, "extending " + s.name);
  hid_t fspace = H5Dget_space(s.dataset);
  H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, nullptr, count, nullptr);
  hid_t mspace = H5Screate_simple(1, count, nullptr);
  check(H5Dwrite(s.dataset, record_type_, mspace, fspace, H5P_DEFAULT, s.pending.data()), path_, "writing " + s.name);
  H5Sclose(mspace);
  H5Sclose(fspace);
  check(H5Dflush(s.dataset), path_, "flushing " + s.name);
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
  const std::size_t rank = t.spec.shape.size() + 1;
  std::vector<hsize_t> start(rank, 0), cnt{1}, size{static_cast<hsize_t>(t.rows + 1)};
  start[0] = static_cast<hsize_t>(t.rows);
  for (auto d : t.spec.shape) {
    cnt.push_back(static_cast<hsize_t>(d));
    size.push_back(static_cast<hsize_t>(d));
  }
  check(H5Dset_extent(t.data, size.data()), path_, "extending " + t.spec.path);
  hid_t fspace = H5Dget_space(t.data);
  H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start.data(), nullptr, cnt.data(), nullptr);
  hid_t mspace = H5Screate_simple(static_cast<int>(rank), cnt.data(), nullptr);
  check(H5Dwrite(t.data, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, data), path_, "writing " + t.spec.path);
  H5Sclose(mspace);
  H5Sclose(fspace);
  hsize_t s1[1] = {static_cast<hsize_t>(t.rows)}, c1[1] = {1}, z1[1] = {static_cast<hsize_t>(t.rows + 1)};
  check(H5Dset_extent(t.steps, z1), path_, "extending " + t.spec.path + "_step");
  fspace = H5Dget_space(t.steps);
  H5Sselect_hyperslab(fspace, H5S_SELECT_SET, s1, nullptr, c1, nullptr);
  mspace = H5Screate_simple(1, c1, nullptr);
  check(H5Dwrite(t.steps, H5T_NATIVE_INT64, mspace, fspace, H5P_DEFAULT, &step), path_, "writing " + t.spec.path + "_step");
  H5Sclose(mspace);
  H5Sclose(fspace);
  check(H5Dflush(t.data), path_, "flushing " + t.spec.path);
  check(H5Dflush(t.steps), path_, "flushing " + t.spec.path + "_step");
  ++t.rows;
}

void VariantLog::append_checkpoint(std::int64_t step, const std::string& file, const std::string& sha256) {
  CheckpointRow row{step, {0}, {0}};
  file.copy(row.file, sizeof row.file - 1);
  sha256.copy(row.sha256, sizeof row.sha256 - 1);
  hsize_t start[1] = {static_cast<hsize_t>(checkpoint_rows_)}, count[1] = {1}, size[1] = {start[0] + 1};
  check(H5Dset_extent(checkpoints_, size), path_, "extending checkpoints");
  hid_t fspace = H5Dget_space(checkpoints_);
  H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, nullptr, count, nullptr);
  hid_t mspace = H5Screate_simple(1, count, nullptr);
  hid_t type = checkpoint_type();
  check(H5Dwrite(checkpoints_, type, mspace, fspace, H5P_DEFAULT, &row), path_, "writing checkpoints");
  H5Tclose(type);
  H5Sclose(mspace);
  H5Sclose(fspace);
  check(H5Dflush(checkpoints_), path_, "flushing checkpoints");
  ++checkpoint_rows_;
}

void VariantLog::flush() {
  if (file_ < 0) return;
  for (auto& s : curves_) write_pending(s);
  for (auto& s : evals_) write_pending(s);
  check(H5Fflush(file_, H5F_SCOPE_LOCAL), path_, "flushing the file");
}

void VariantLog::set_status(const std::string& status, const std::string& detail) {
  auto write_fixed = [this](hid_t ds, const std::string& text, std::size_t length, const char* what) {
    std::string buf(length, '\0');
    text.copy(buf.data(), length - 1);
    hid_t stype = string_type(length);
    check(H5Dwrite(ds, stype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), path_, what);
    H5Tclose(stype);
    check(H5Dflush(ds), path_, what);
  };
  write_fixed(detail_, detail, kDetailLength, "writing status_detail");
  write_fixed(status_, status, kStatusLength, "writing status");
}

void VariantLog::close() {
  if (file_ < 0) return;
  flush();
  for (auto& s : curves_) H5Dclose(s.dataset);
  for (auto& s : evals_) H5Dclose(s.dataset);
  for (auto& t : tensors_) {
    H5Dclose(t.data);
    H5Dclose(t.steps);
  }
  H5Dclose(status_);
  H5Dclose(detail_);
  H5Dclose(checkpoints_);
  H5Tclose(record_type_);
  H5Fclose(file_);
  file_ = -1;
}

namespace {
/// Rows of a 1-d dataset, read whole (nothing when it is absent).
template <class T>
std::vector<T> read_rows(hid_t f, const std::string& name, hid_t type) {
  hid_t ds;
  H5E_BEGIN_TRY { ds = H5Dopen2(f, name.c_str(), H5P_DEFAULT); } H5E_END_TRY;
  if (ds < 0) return {};
  hid_t space = H5Dget_space(ds);
  hsize_t n = 0;
  H5Sget_simple_extent_dims(space, &n, nullptr);
  std::vector<T> out(n);
  if (n > 0) H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data());
  H5Sclose(space);
  H5Dclose(ds);
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

double VariantLog::carry_over(const std::string& old_log, std::int64_t upto_step, const std::map<std::string, std::int64_t>& rows) {
  hid_t f = open_for_read(old_log);
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
    hid_t ds;
    H5E_BEGIN_TRY { ds = H5Dopen2(f, spec.path.c_str(), H5P_DEFAULT); } H5E_END_TRY;
    if (ds < 0) continue;
    std::size_t per = 1;
    for (auto d : spec.shape) per *= static_cast<std::size_t>(d);
    hid_t fspace = H5Dget_space(ds);
    std::vector<hsize_t> dims(static_cast<size_t>(H5Sget_simple_extent_ndims(fspace)));
    H5Sget_simple_extent_dims(fspace, dims.data(), nullptr);
    std::vector<float> row(per);
    const auto n = static_cast<std::size_t>(count(spec.path));
    for (std::size_t i = 0; i < steps.size() && i < n && !dims.empty() && i < dims[0]; ++i) {
      std::vector<hsize_t> start(dims.size(), 0), count = dims;
      start[0] = i;
      count[0] = 1;
      H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
      hid_t mspace = H5Screate_simple(static_cast<int>(count.size()), count.data(), nullptr);
      H5Dread(ds, H5T_NATIVE_FLOAT, mspace, fspace, H5P_DEFAULT, row.data());
      H5Sclose(mspace);
      append_tensor(id, steps[i], row.data(), row.size());
    }
    H5Sclose(fspace);
    H5Dclose(ds);
  }
  hid_t ctype = checkpoint_type();
  for (auto& c : read_rows<CheckpointRow>(f, "checkpoints", ctype))
    if (c.step <= upto_step) append_checkpoint(c.step, std::string(c.file, strnlen(c.file, sizeof c.file)),
                                               std::string(c.sha256, strnlen(c.sha256, sizeof c.sha256)));
  H5Tclose(ctype);
  H5Fclose(f);
  flush();
  return wall;
}

}  // namespace ebm::kernel
