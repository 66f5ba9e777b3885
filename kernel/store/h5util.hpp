// Small helpers over the HDF5 C API shared by the variant logs and checkpoints.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <hdf5.h>

#include "store/h5handle.hpp"
#include "store/records.hpp"

namespace ebm::kernel::h5 {

/// Throws RunError naming the file, what was being done, and the innermost cause on
/// HDF5's error stack (the operating system's message, e.g. 'No space left on device').
[[noreturn]] void h5_fail(const std::string& file, const std::string& what);
/// Turns off HDF5's own printing of error stacks: ebmlab reports failures itself.
void quiet_errors();
/// Whether an HDF5 call failed in this process (h5_fail ran). HDF5 1.10 can then crash
/// in its own exit handler closing the file that failed to close, so main() ends such a
/// process with _exit() after flushing its output.
bool failed();
hid_t check(hid_t id, const std::string& file, const std::string& what);  ///< id, or throws when < 0
Handle string_type(std::size_t length);                                   ///< fixed-length UTF-8
/// Link-creation properties that create missing intermediate groups.
Handle link_create_with_parents();
/// A row of a variant log's "checkpoints" dataset as stored: NUL-padded fixed-length strings.
struct CheckpointRow {
  std::int64_t step;
  char file[64];
  char sha256[65];
};
/// The compound types of a CurveRecord (step, value, wall) and of a checkpoint row
/// (step, file, sha256) as the variant logs store them.
Handle curve_record_type();
Handle checkpoint_row_type();
void write_string_attr(hid_t obj, const std::string& name, const std::string& value);
void write_int_attr(hid_t obj, const std::string& name, std::int64_t value);
std::string now_iso();
/// This machine's host name (provenance; crash detection compares it).
std::string hostname();
/// A scalar fixed-length string dataset `name` under `loc` (intermediate groups created).
void write_string_dataset(hid_t loc, const std::string& name, const std::string& value, const std::string& file);
/// Opens read-only (SWMR read when the writer allows it). ConfigError naming the file when it
/// is missing or HDF5 cannot open it, in HDF5's own words ("truncated file: eof = ...").
Handle open_for_read(const std::string& file);
/// An empty Handle when there is no such object (no error printed).
Handle open_dataset(hid_t loc, const std::string& path);
Handle open_group(hid_t loc, const std::string& path);
/// The link names in a group, sorted by name.
std::vector<std::string> members(hid_t group);
/// Closes a file and reports a failed close (a full disk shows up here) with h5_fail.
void close_file(Handle& file, const std::string& name, const std::string& what);
/// The rows of a variant log's "checkpoints" dataset (none when it is absent).
std::vector<CheckpointRecord> read_checkpoint_rows(hid_t file);
std::string read_fixed_string(hid_t obj, bool attribute);

}  // namespace ebm::kernel::h5
