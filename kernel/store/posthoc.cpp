#include "store/posthoc.hpp"

#include <torch/torch.h>

#include "ebmlab/error.hpp"
#include "store/h5util.hpp"

namespace ebm::kernel {

using namespace h5;

namespace {
hid_t open_rdwr(const std::string& log) {
  hid_t f;
  H5E_BEGIN_TRY { f = H5Fopen(log.c_str(), H5F_ACC_RDWR, H5P_DEFAULT); } H5E_END_TRY;
  if (f < 0)
    throw RunError(log + ": cannot open for writing. Either `ebmlab run` (or an h5py reader) still has it open, the "
                   "file is read-only, or a crashed writer left it marked open (clear that with `h5clear -s " + log +
                   "`); nothing was added. eval --json prints results without writing");
  return f;
}
}  // namespace

void PosthocWriter::check_writable(const std::string& log) { H5Fclose(open_rdwr(log)); }

PosthocWriter::PosthocWriter(const std::string& log, const std::string& kind, const std::string& command)
    : file_name_(log) {
  hid_t f = open_rdwr(log);
  file_ = f;
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  int n = 0;
  for (;; ++n) {
    std::string path = "/posthoc/" + std::to_string(n);
    htri_t exists;
    H5E_BEGIN_TRY { exists = H5Lexists(f, "/posthoc", H5P_DEFAULT) > 0 ? H5Lexists(f, path.c_str(), H5P_DEFAULT) : 0; } H5E_END_TRY;
    if (exists <= 0) break;
  }
  group_ = "/posthoc/" + std::to_string(n);
  record_ = check(H5Gcreate2(f, group_.c_str(), lcpl, H5P_DEFAULT, H5P_DEFAULT), log, "creating " + group_);
  H5Pclose(lcpl);
  write_string_attr(record_, "kind", kind);
  write_string_attr(record_, "created", now_iso());
  write_string_attr(record_, "command", command);
}

PosthocWriter::~PosthocWriter() {
  if (file_ < 0) return;
  H5Gclose(record_);
  H5Ldelete(file_, group_.c_str(), H5P_DEFAULT);
  H5Fclose(file_);
}

namespace {
hid_t open_or_create_group(hid_t parent, const std::string& path, const std::string& file) {
  if (path.empty()) return H5Oopen(parent, ".", H5P_DEFAULT);
  hid_t g;
  H5E_BEGIN_TRY { g = H5Gopen2(parent, path.c_str(), H5P_DEFAULT); } H5E_END_TRY;
  if (g >= 0) return g;
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  g = check(H5Gcreate2(parent, path.c_str(), lcpl, H5P_DEFAULT, H5P_DEFAULT), file, "creating " + path);
  H5Pclose(lcpl);
  return g;
}
}  // namespace

void PosthocWriter::attr(const std::string& group, const std::string& name, const std::string& value) {
  hid_t g = open_or_create_group(record_, group, file_name_);
  write_string_attr(g, name, value);
  H5Oclose(g);
}

void PosthocWriter::attr(const std::string& group, const std::string& name, double value) {
  hid_t g = open_or_create_group(record_, group, file_name_);
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t a = check(H5Acreate2(g, name.c_str(), H5T_NATIVE_DOUBLE, space, H5P_DEFAULT, H5P_DEFAULT), file_name_,
                  "writing attribute " + name);
  H5Awrite(a, H5T_NATIVE_DOUBLE, &value);
  H5Aclose(a);
  H5Sclose(space);
  H5Oclose(g);
}

void PosthocWriter::tensor(const std::string& path, const at::Tensor& t) {
  at::Tensor c = t.detach().contiguous();
  hid_t type;
  if (c.scalar_type() == at::kLong) type = H5T_NATIVE_INT64;
  else if (c.scalar_type() == at::kDouble) type = H5T_NATIVE_DOUBLE;
  else {
    c = c.to(at::kFloat);
    type = H5T_NATIVE_FLOAT;
  }
  std::vector<hsize_t> dims(c.sizes().begin(), c.sizes().end());
  hid_t space = dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  hid_t ds = check(H5Dcreate2(record_, path.c_str(), type, space, lcpl, H5P_DEFAULT, H5P_DEFAULT), file_name_,
                   "creating " + group_ + "/" + path);
  check(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, c.data_ptr()), file_name_, "writing " + group_ + "/" + path);
  H5Dclose(ds);
  H5Pclose(lcpl);
  H5Sclose(space);
}

void PosthocWriter::scalar(const std::string& path, double value) { tensor(path, torch::tensor(value, torch::kFloat64)); }

void PosthocWriter::close() {
  if (file_ < 0) return;
  H5Gclose(record_);
  herr_t flushed = H5Fflush(file_, H5F_SCOPE_LOCAL);
  herr_t closed = H5Fclose(file_);
  file_ = -1;
  if (flushed < 0 || closed < 0) h5_fail(file_name_, "writing the results of " + group_ + " (disk full?)");
}

}  // namespace ebm::kernel
