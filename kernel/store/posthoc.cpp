#include "store/posthoc.hpp"

#include <torch/torch.h>

#include "ebmlab/error.hpp"

#include "store/h5util.hpp"

namespace ebm::kernel {

using namespace h5;

namespace {
Handle open_rdwr(const std::string& log) {
  hid_t f;
  H5E_BEGIN_TRY { f = H5Fopen(log.c_str(), H5F_ACC_RDWR, H5P_DEFAULT); }
  H5E_END_TRY;
  if (f < 0)
    throw RunError(log +
                   ": cannot open for writing. Either `ebmlab run` (or an h5py reader) still has it open, the "
                   "file is read-only, or a crashed writer left it marked open (clear that with `h5clear -s " +
                   log + "`); nothing was added. eval --json prints results without writing");
  return Handle(f);
}

/// The group at `path` below `parent` ("" = `parent` itself), created when absent.
Handle open_or_create_group(hid_t parent, const std::string& path, const std::string& file) {
  if (path.empty()) return Handle(H5Oopen(parent, ".", H5P_DEFAULT));
  if (Handle g = open_group(parent, path); g.ok()) return g;
  return Handle(
      check(H5Gcreate2(parent, path.c_str(), link_create_with_parents(), H5P_DEFAULT, H5P_DEFAULT), file, "creating " + path));
}
}  // namespace

void PosthocWriter::check_writable(const std::string& log) { open_rdwr(log); }

PosthocWriter::PosthocWriter(const std::string& log, const std::string& kind, const std::string& command)
    : file_name_(log), file_(open_rdwr(log)) {
  int n = 0;
  for (;; ++n) {
    std::string path = "/posthoc/" + std::to_string(n);
    htri_t exists;
    H5E_BEGIN_TRY { exists = H5Lexists(file_, "/posthoc", H5P_DEFAULT) > 0 ? H5Lexists(file_, path.c_str(), H5P_DEFAULT) : 0; }
    H5E_END_TRY;
    if (exists <= 0) break;
  }
  group_ = "/posthoc/" + std::to_string(n);
  record_ = Handle(
      check(H5Gcreate2(file_, group_.c_str(), link_create_with_parents(), H5P_DEFAULT, H5P_DEFAULT), log, "creating " + group_));
  write_string_attr(record_, "kind", kind);
  write_string_attr(record_, "created", now_iso());
  write_string_attr(record_, "command", command);
}

PosthocWriter::~PosthocWriter() {
  if (!file_.ok()) return;
  record_.reset();
  H5E_BEGIN_TRY { H5Ldelete(file_, group_.c_str(), H5P_DEFAULT); }
  H5E_END_TRY;
}

void PosthocWriter::attr(const std::string& group, const std::string& name, const std::string& value) {
  write_string_attr(open_or_create_group(record_, group, file_name_), name, value);
}

void PosthocWriter::attr(const std::string& group, const std::string& name, double value) {
  Handle g = open_or_create_group(record_, group, file_name_);
  Handle space(H5Screate(H5S_SCALAR));
  Handle a(check(H5Acreate2(g, name.c_str(), H5T_NATIVE_DOUBLE, space, H5P_DEFAULT, H5P_DEFAULT), file_name_,
                 "writing attribute " + name));
  H5Awrite(a, H5T_NATIVE_DOUBLE, &value);
}

void PosthocWriter::tensor(const std::string& path, const at::Tensor& t) {
  at::Tensor c = t.detach().to(at::kCPU).contiguous();
  hid_t type;
  if (c.scalar_type() == at::kLong)
    type = H5T_NATIVE_INT64;
  else if (c.scalar_type() == at::kDouble)
    type = H5T_NATIVE_DOUBLE;
  else {
    c = c.to(at::kFloat);
    type = H5T_NATIVE_FLOAT;
  }
  std::vector<hsize_t> dims(c.sizes().begin(), c.sizes().end());
  Handle space(dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
  Handle ds(check(H5Dcreate2(record_, path.c_str(), type, space, link_create_with_parents(), H5P_DEFAULT, H5P_DEFAULT),
                  file_name_, "creating " + group_ + "/" + path));
  check(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, c.data_ptr()), file_name_, "writing " + group_ + "/" + path);
}

void PosthocWriter::scalar(const std::string& path, double value) { tensor(path, torch::tensor(value, torch::kFloat64)); }

void PosthocWriter::close() {
  if (!file_.ok()) return;
  record_.reset();
  const herr_t flushed = H5Fflush(file_, H5F_SCOPE_LOCAL);
  if (flushed < 0) {
    file_.reset();
    h5_fail(file_name_, "writing the results of " + group_ + " (disk full?)");
  }
  close_file(file_, file_name_, "writing the results of " + group_ + " (disk full?)");
}

}  // namespace ebm::kernel
