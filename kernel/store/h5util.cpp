// Small helpers over the HDF5 C API shared by the variant logs and checkpoints.
#include "store/h5util.hpp"

#include <atomic>
#include <ctime>

#include "ebmlab/error.hpp"

namespace ebm::kernel::h5 {

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

hid_t string_type(std::size_t length) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, std::max<std::size_t>(length, 1));
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
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

std::string now_iso() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

hid_t open_for_read(const std::string& file) {
  H5E_BEGIN_TRY {
    hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
    if (f < 0) f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f >= 0) return f;
  } H5E_END_TRY;
  throw ConfigError(file + ": cannot open as an HDF5 file");
}

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

Handle::~Handle() {
  if (id >= 0) H5E_BEGIN_TRY { H5Idec_ref(id); } H5E_END_TRY;
}

std::string hostname() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
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

}  // namespace ebm::kernel::h5
