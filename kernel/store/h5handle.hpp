// The one owner of HDF5 identifiers: every file, group, dataset, attribute, dataspace,
// datatype and property list the kernel opens is held by a Handle and closed by it.
// No <hdf5.h> here, so headers of classes that hold handles keep HDF5 out of their users.
#pragma once

#include <cstdint>
#include <utility>

namespace ebm::kernel::h5 {

/// HDF5's hid_t (int64_t since HDF5 1.10; h5util.cpp checks that they agree).
using Id = std::int64_t;

/// Closes an HDF5 identifier of any kind when it goes out of scope (errors while closing
/// are silent: use close_file() where a failed close must be reported).
class Handle {
 public:
  Handle() = default;
  explicit Handle(Id id) : id_(id) {}
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, -1)) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, -1);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }

  operator Id() const { return id_; }  // NOLINT(google-explicit-constructor): passed to the C API as is
  bool ok() const { return id_ >= 0; }
  /// Closes now (a no-op when empty).
  void reset();
  /// Gives up ownership: the caller closes the identifier.
  Id release() { return std::exchange(id_, -1); }

 private:
  Id id_ = -1;
};

}  // namespace ebm::kernel::h5
