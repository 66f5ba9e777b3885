// Small helpers over the HDF5 C API shared by the variant logs and checkpoints.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>

namespace ebm::kernel::h5 {

[[noreturn]] void h5_fail(const std::string& file, const std::string& what);  ///< throws RunError
hid_t check(hid_t id, const std::string& file, const std::string& what);     ///< id, or throws when < 0
hid_t string_type(std::size_t length);                                       ///< fixed-length UTF-8
void write_string_attr(hid_t obj, const std::string& name, const std::string& value);
void write_int_attr(hid_t obj, const std::string& name, std::int64_t value);
std::string now_iso();
/// Opens read-only (SWMR read when the file allows it); ConfigError naming the file otherwise.
hid_t open_for_read(const std::string& file);
std::string read_fixed_string(hid_t obj, bool attribute);

}  // namespace ebm::kernel::h5
