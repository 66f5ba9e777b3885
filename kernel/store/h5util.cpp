// Small helpers over the HDF5 C API shared by the variant logs and checkpoints.
#include "store/h5util.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <type_traits>

#include "ebmlab/error.hpp"

namespace ebm::kernel::h5 {

static_assert(std::is_same_v<hid_t, Id>, "h5handle.hpp's Id must be HDF5's hid_t");

namespace {
// The innermost entry of HDF5's error stack: the operating system's reason when there is
// one ("... errno = 28, error message = 'No space left on device' ...").
herr_t innermost(unsigned n, const H5E_error2_t* e, void* out) {
  auto* msg = static_cast<std::string*>(out);
  if (n == 0 && e->desc) *msg = e->desc;
  return 0;
}
}  // namespace

std::atomic<bool> g_failed{false};

[[noreturn]] void h5_fail(const std::string& file, const std::string& what) {
  g_failed.store(true);
  std::string cause;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost, &cause);
  // "file write failed: time = ..., filename = ..., errno = 27, error message = 'File too large', ..."
  if (auto at = cause.find("error message = '"); at != std::string::npos) {
    auto end = cause.find('\'', at + 17);
    cause = cause.substr(at + 17, end == std::string::npos ? std::string::npos : end - at - 17);
  }
  throw RunError(file + ": HDF5 error while " + what + (cause.empty() ? "" : ": " + cause) +
                 (cause.find("space") != std::string::npos || cause.find("too large") != std::string::npos
                      ? " (free disk space, or raise `ulimit -f`, then continue with --resume)"
                      : ""));
}

void quiet_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

bool failed() { return g_failed.load(); }

hid_t check(hid_t id, const std::string& file, const std::string& what) {
  if (id < 0) h5_fail(file, what);
  return id;
}

Handle string_type(std::size_t length) {
  Handle t(H5Tcopy(H5T_C_S1));
  H5Tset_size(t, std::max<std::size_t>(length, 1));
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

Handle link_create_with_parents() {
  Handle lcpl(H5Pcreate(H5P_LINK_CREATE));
  H5Pset_create_intermediate_group(lcpl, 1);
  return lcpl;
}

Handle curve_record_type() {
  Handle t(H5Tcreate(H5T_COMPOUND, sizeof(CurveRecord)));
  H5Tinsert(t, "step", HOFFSET(CurveRecord, step), H5T_NATIVE_INT64);
  H5Tinsert(t, "value", HOFFSET(CurveRecord, value), H5T_NATIVE_DOUBLE);
  H5Tinsert(t, "wall", HOFFSET(CurveRecord, wall), H5T_NATIVE_DOUBLE);
  return t;
}

Handle checkpoint_row_type() {
  Handle t(H5Tcreate(H5T_COMPOUND, sizeof(CheckpointRow)));
  H5Tinsert(t, "step", HOFFSET(CheckpointRow, step), H5T_NATIVE_INT64);
  H5Tinsert(t, "file", HOFFSET(CheckpointRow, file), string_type(sizeof(CheckpointRow::file)));
  H5Tinsert(t, "sha256", HOFFSET(CheckpointRow, sha256), string_type(sizeof(CheckpointRow::sha256)));
  return t;
}

std::vector<CheckpointRecord> read_checkpoint_rows(hid_t file) {
  Handle ds = open_dataset(file, "checkpoints");
  if (!ds.ok()) return {};
  Handle space(H5Dget_space(ds));
  std::vector<CheckpointRow> rows(static_cast<std::size_t>(std::max<hssize_t>(H5Sget_simple_extent_npoints(space), 0)));
  if (!rows.empty() && H5Dread(ds, checkpoint_row_type(), H5S_ALL, H5S_ALL, H5P_DEFAULT, rows.data()) < 0) return {};
  std::vector<CheckpointRecord> out;
  out.reserve(rows.size());
  for (auto& r : rows)
    out.push_back(
        {r.step, std::string(r.file, strnlen(r.file, sizeof r.file)), std::string(r.sha256, strnlen(r.sha256, sizeof r.sha256))});
  return out;
}

void write_string_attr(hid_t obj, const std::string& name, const std::string& value) {
  Handle type = string_type(value.size());
  Handle space(H5Screate(H5S_SCALAR));
  Handle a(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT));
  std::string padded = value.empty() ? std::string(1, '\0') : value;
  H5Awrite(a, type, padded.data());
}

void write_int_attr(hid_t obj, const std::string& name, std::int64_t value) {
  Handle space(H5Screate(H5S_SCALAR));
  Handle a(H5Acreate2(obj, name.c_str(), H5T_NATIVE_INT64, space, H5P_DEFAULT, H5P_DEFAULT));
  H5Awrite(a, H5T_NATIVE_INT64, &value);
}

std::string now_iso() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

namespace {
herr_t collect_error(unsigned, const H5E_error2_t* e, void* out) {
  auto& msgs = *static_cast<std::vector<std::string>*>(out);
  std::string d = e->desc ? e->desc : "";
  if (!d.empty() && std::find(msgs.begin(), msgs.end(), d) == msgs.end()) msgs.push_back(d);
  return 0;
}
}  // namespace

Handle open_for_read(const std::string& file) {
  if (!std::filesystem::exists(file)) throw ConfigError(file + ": no such file");
  std::vector<std::string> msgs;
  hid_t f;
  H5E_BEGIN_TRY {
    f = H5Fopen(file.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
    if (f < 0) f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_error, &msgs);
  }
  H5E_END_TRY;
  if (f >= 0) return Handle(f);
  std::string why;
  for (auto it = msgs.rbegin(); it != msgs.rend(); ++it) why += (why.empty() ? "" : "; ") + *it;
  throw ConfigError(file + ": cannot open as an HDF5 file (HDF5: " + (why.empty() ? "no detail" : why) + ")");
}

Handle open_dataset(hid_t loc, const std::string& path) {
  hid_t d;
  H5E_BEGIN_TRY { d = H5Dopen2(loc, path.c_str(), H5P_DEFAULT); }
  H5E_END_TRY;
  return Handle(d);
}

Handle open_group(hid_t loc, const std::string& path) {
  hid_t g;
  H5E_BEGIN_TRY { g = H5Gopen2(loc, path.c_str(), H5P_DEFAULT); }
  H5E_END_TRY;
  return Handle(g);
}

std::vector<std::string> members(hid_t group) {
  std::vector<std::string> out;
  H5G_info_t info;
  if (H5Gget_info(group, &info) < 0) return out;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t n = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (n < 0) continue;
    std::string name(static_cast<size_t>(n) + 1, '\0');
    H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT);
    name.resize(static_cast<size_t>(n));
    out.push_back(name);
  }
  return out;
}

void close_file(Handle& file, const std::string& name, const std::string& what) {
  if (file.ok() && H5Fclose(file.release()) < 0) h5_fail(name, what);
}

std::string read_fixed_string(hid_t obj, bool attribute) {
  Handle type(attribute ? H5Aget_type(obj) : H5Dget_type(obj));
  std::string buf(H5Tget_size(type), '\0');
  Handle mem = string_type(buf.size());
  if (attribute)
    H5Aread(obj, mem, buf.data());
  else
    H5Dread(obj, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data());
  return buf.substr(0, buf.find('\0'));
}

void Handle::reset() {
  if (id_ >= 0) H5E_BEGIN_TRY {
      H5Idec_ref(std::exchange(id_, -1));
    }
  H5E_END_TRY;
}

std::string hostname() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

void write_string_dataset(hid_t loc, const std::string& name, const std::string& value, const std::string& file) {
  Handle type = string_type(value.size());
  Handle space(H5Screate(H5S_SCALAR));
  Handle ds(check(H5Dcreate2(loc, name.c_str(), type, space, link_create_with_parents(), H5P_DEFAULT, H5P_DEFAULT), file,
                  "creating " + name));
  std::string padded = value.empty() ? std::string(1, '\0') : value;
  H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, padded.data());
}

}  // namespace ebm::kernel::h5
