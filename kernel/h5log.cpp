#include "h5log.hpp"

#include <hdf5.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "ebmlab/error.hpp"
#include "version.hpp"

namespace ebm::kernel {

namespace {

constexpr hsize_t kChunkRows = 1024;
constexpr std::size_t kStatusLength = 16;
constexpr std::size_t kDetailLength = 1024;

[[noreturn]] void h5_fail(const std::string& file, const std::string& what) {
  throw RunError(file + ": HDF5 error while " + what);
}

hid_t check(hid_t id, const std::string& file, const std::string& what) {
  if (id < 0) h5_fail(file, what);
  return id;
}

hid_t record_type() {
  hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(CurveRecord));
  H5Tinsert(t, "step", HOFFSET(CurveRecord, step), H5T_NATIVE_INT64);
  H5Tinsert(t, "value", HOFFSET(CurveRecord, value), H5T_NATIVE_DOUBLE);
  H5Tinsert(t, "wall", HOFFSET(CurveRecord, wall), H5T_NATIVE_DOUBLE);
  return t;
}

hid_t string_type(std::size_t length) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, std::max<std::size_t>(length, 1));
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

void write_string_dataset(hid_t loc, const std::string& name, const std::string& value, const std::string& file) {
  hid_t type = string_type(value.size());
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  hid_t ds = check(H5Dcreate2(loc, name.c_str(), type, space, lcpl, H5P_DEFAULT, H5P_DEFAULT), file, "creating " + name);
  std::string padded = value.empty() ? std::string(1, '\0') : value;
  H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, padded.data());
  H5Dclose(ds);
  H5Pclose(lcpl);
  H5Sclose(space);
  H5Tclose(type);
}

void write_string_attr(hid_t obj, const std::string& name, const std::string& value) {
  hid_t type = string_type(value.size());
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
  std::string padded = value.empty() ? std::string(1, '\0') : value;
  H5Awrite(a, type, padded.data());
  H5Aclose(a);
  H5Sclose(space);
  H5Tclose(type);
}

void write_int_attr(hid_t obj, const std::string& name, std::int64_t value) {
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name.c_str(), H5T_NATIVE_INT64, space, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, H5T_NATIVE_INT64, &value);
  H5Aclose(a);
  H5Sclose(space);
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

std::string now_iso() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string hostname() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

hid_t open_for_read(const std::string& file) {
  H5E_BEGIN_TRY {
    hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
    if (f < 0) f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f >= 0) return f;
  } H5E_END_TRY;
  throw ConfigError(file + ": cannot open as an HDF5 file");
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

  write_int_attr(file_, "format_version", kFormatVersion);
  write_string_attr(file_, "variant", variant);
  write_string_attr(file_, "created", now_iso());
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
  hsize_t zero[1] = {0}, unlimited[1] = {H5S_UNLIMITED}, chunk[1] = {64};
  hid_t cspace = H5Screate_simple(1, zero, unlimited);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 1, chunk);
  H5Dclose(check(H5Dcreate2(file_, "checkpoints", H5T_NATIVE_INT64, cspace, H5P_DEFAULT, dcpl, H5P_DEFAULT), path, "creating checkpoints"));
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
  H5Dflush(s.dataset);
  s.rows += static_cast<std::int64_t>(s.pending.size());
  s.pending.clear();
}

void VariantLog::flush() {
  if (file_ < 0) return;
  for (auto& s : curves_) write_pending(s);
  for (auto& s : evals_) write_pending(s);
  H5Fflush(file_, H5F_SCOPE_LOCAL);
}

void VariantLog::set_status(const std::string& status, const std::string& detail) {
  auto write_fixed = [this](hid_t ds, const std::string& text, std::size_t length, const char* what) {
    std::string buf(length, '\0');
    text.copy(buf.data(), length - 1);
    hid_t stype = string_type(length);
    check(H5Dwrite(ds, stype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()), path_, what);
    H5Tclose(stype);
    H5Dflush(ds);
  };
  write_fixed(detail_, detail, kDetailLength, "writing status_detail");
  write_fixed(status_, status, kStatusLength, "writing status");
}

void VariantLog::close() {
  if (file_ < 0) return;
  flush();
  for (auto& s : curves_) H5Dclose(s.dataset);
  for (auto& s : evals_) H5Dclose(s.dataset);
  H5Dclose(status_);
  H5Dclose(detail_);
  H5Tclose(record_type_);
  H5Fclose(file_);
  file_ = -1;
}

void write_index(const std::string& path, const IndexInfo& info) {
  namespace fs = std::filesystem;
  fs::create_directories(fs::absolute(path).parent_path());
  std::string tmp = path + ".tmp" + std::to_string(getpid());
  hid_t f = check(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), path, "creating the index file");
  write_int_attr(f, "format_version", kFormatVersion);
  write_string_attr(f, "ebmlab_version", kVersion);
  write_string_attr(f, "created", now_iso());
  write_string_attr(f, "host", hostname());
  write_string_attr(f, "cpu", cpu_model());
  write_int_attr(f, "threads", info.threads);
  write_string_attr(f, "git_commit", kGitCommit);
  write_string_attr(f, "command_line", info.command_line);
  write_string_attr(f, "descriptor_path", info.descriptor_path);
  write_string_dataset(f, "descriptor", info.descriptor_text, path);
  write_string_dataset(f, "resolved", info.resolved_json, path);
  hid_t plugins = H5Gcreate2(f, "plugins", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  for (auto& p : info.plugins) {
    std::string name = fs::path(p.path).filename().string();
    hid_t g = H5Gcreate2(plugins, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    write_string_attr(g, "path", p.path);
    write_string_attr(g, "sha256", p.sha256);
    write_string_attr(g, "fingerprint", p.fingerprint);
    write_string_attr(g, "compiler", p.compiler);
    H5Gclose(g);
  }
  H5Gclose(plugins);
  hid_t variants = H5Gcreate2(f, "variants", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  for (auto& [name, rel] : info.variants)
    check(H5Lcreate_external(rel.c_str(), "/", variants, name.c_str(), H5P_DEFAULT, H5P_DEFAULT), path, "linking variant " + name);
  H5Gclose(variants);
  H5Fclose(f);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) h5_fail(path, "renaming the temporary index file into place");
}

std::vector<CurveRecord> read_series(const std::string& file, const std::string& dataset) {
  hid_t f = open_for_read(file);
  hid_t ds;
  H5E_BEGIN_TRY { ds = H5Dopen2(f, dataset.c_str(), H5P_DEFAULT); } H5E_END_TRY;
  if (ds < 0) {
    H5Fclose(f);
    throw ConfigError(file + ": no dataset '" + dataset + "'");
  }
  hid_t space = H5Dget_space(ds);
  hssize_t n = H5Sget_simple_extent_npoints(space);
  std::vector<CurveRecord> out(static_cast<size_t>(n));
  hid_t type = record_type();
  if (n > 0) H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data());
  H5Tclose(type);
  H5Sclose(space);
  H5Dclose(ds);
  H5Fclose(f);
  return out;
}

namespace {
std::string read_fixed_string(hid_t obj, bool attribute) {
  hid_t type = attribute ? H5Aget_type(obj) : H5Dget_type(obj);
  std::string buf(H5Tget_size(type), '\0');
  hid_t mem = string_type(buf.size());
  if (attribute) H5Aread(obj, mem, buf.data());
  else H5Dread(obj, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data());
  H5Tclose(mem);
  H5Tclose(type);
  return buf.substr(0, buf.find('\0'));
}
}  // namespace

std::string read_string(const std::string& file, const std::string& dataset) {
  hid_t f = open_for_read(file);
  hid_t ds;
  H5E_BEGIN_TRY { ds = H5Dopen2(f, dataset.c_str(), H5P_DEFAULT); } H5E_END_TRY;
  if (ds < 0) {
    H5Fclose(f);
    throw ConfigError(file + ": no dataset '" + dataset + "'");
  }
  std::string s = read_fixed_string(ds, false);
  H5Dclose(ds);
  H5Fclose(f);
  return s;
}

std::string read_string_attr(const std::string& file, const std::string& object, const std::string& attr) {
  hid_t f = open_for_read(file);
  hid_t a;
  H5E_BEGIN_TRY { a = H5Aopen_by_name(f, object.c_str(), attr.c_str(), H5P_DEFAULT, H5P_DEFAULT); } H5E_END_TRY;
  if (a < 0) {
    H5Fclose(f);
    throw ConfigError(file + ": no attribute '" + attr + "' on '" + object + "'");
  }
  std::string s = read_fixed_string(a, true);
  H5Aclose(a);
  H5Fclose(f);
  return s;
}

}  // namespace ebm::kernel
