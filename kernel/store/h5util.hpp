// Small helpers over the HDF5 C API shared by the variant logs and checkpoints.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>

namespace ebm::kernel::h5 {

/// Closes an HDF5 handle of any kind when it goes out of scope.
struct Handle {
  hid_t id = -1;
  explicit Handle(hid_t i = -1) : id(i) {}
  Handle(Handle&& o) noexcept : id(o.id) { o.id = -1; }
  Handle& operator=(Handle&& o) noexcept {
    std::swap(id, o.id);
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle();
  operator hid_t() const { return id; }
  bool ok() const { return id >= 0; }
};

/// Throws RunError naming the file, what was being done, and the innermost cause on
/// HDF5's error stack (the operating system's message, e.g. 'No space left on device').
[[noreturn]] void h5_fail(const std::string& file, const std::string& what);
/// Turns off HDF5's own printing of error stacks: ebmlab reports failures itself.
void quiet_errors();
/// Whether an HDF5 call failed in this process (h5_fail ran). HDF5 1.10 can then crash
/// in its own exit handler closing the file that failed to close, so main() ends such a
/// process with _exit() after flushing its output.
bool failed();
hid_t check(hid_t id, const std::string& file, const std::string& what);     ///< id, or throws when < 0
hid_t string_type(std::size_t length);                                       ///< fixed-length UTF-8
void write_string_attr(hid_t obj, const std::string& name, const std::string& value);
void write_int_attr(hid_t obj, const std::string& name, std::int64_t value);
std::string now_iso();
/// This machine's host name (provenance; crash detection compares it).
std::string hostname();
/// A scalar fixed-length string dataset `name` under `loc` (intermediate groups created).
void write_string_dataset(hid_t loc, const std::string& name, const std::string& value, const std::string& file);
/// Opens read-only (SWMR read when the file allows it); ConfigError naming the file otherwise.
hid_t open_for_read(const std::string& file);
std::string read_fixed_string(hid_t obj, bool attribute);

}  // namespace ebm::kernel::h5
