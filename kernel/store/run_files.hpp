// Reading ebmlab's HDF5 files back: for the read-only commands (report, export, watch) the
// run index or a single variant log, each variant's status and its record series; for the
// runner and the tests, single datasets and attributes by path. Only what
// docs/hdf5-layout.md describes is read; a file that is not one of ours is a ConfigError.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <boost/json/value.hpp>
#include <hdf5.h>

#include "store/h5log.hpp"
#include "store/h5util.hpp"

namespace ebm::kernel {

using h5::Handle;
using h5::members;
using h5::open_dataset;
using h5::open_for_read;
using h5::open_group;

/// Readers, for tests and later commands. Throw ConfigError naming the file on problems.
std::vector<CurveRecord> read_series(const std::string& file, const std::string& dataset);
std::string read_string(const std::string& file, const std::string& dataset);
std::string read_string_attr(const std::string& file, const std::string& object, const std::string& attr);
/// A variant log's status ("" when the file is missing or unreadable).
std::string read_status(const std::string& file);

/// A 1-D compound (step, value, wall) dataset: a curve or evaluation series.
bool is_record_series(hid_t ds);
std::vector<CurveRecord> read_records(hid_t ds, const std::string& file, const std::string& path);
/// The newest record of a series; false when it has none (or cannot be read).
bool read_last_record(hid_t ds, CurveRecord& out);
/// Every record series under `path` (e.g. "curves" or "eval"), recursively, as full paths.
void collect_series(hid_t f, const std::string& path, std::vector<std::string>& out);

bool has_attr(hid_t obj, const char* name);
boost::json::value parse_json(const std::string& text, const std::string& file, const std::string& what);

/// The log's status; "crashed" when it still says running but its writer process
/// (root attrs writer_pid, writer_host) is gone from this host.
std::string log_status(hid_t log, const std::string& file);
/// Why a variant ended as it did (status_detail: a failure's message), "" when there is none.
std::string log_status_detail(hid_t log);

/// A file given on the command line: an index (several variants) or one variant log.
struct RunFile {
  std::string path, experiment;
  std::vector<std::string> variants;
  std::map<std::string, std::string> logs;            ///< variant -> log file
  std::map<std::string, boost::json::value> configs;  ///< variant -> resolved configuration
};

/// Opens an index or a variant log, checking it is an ebmlab file of a format this build reads.
RunFile open_run(const std::string& file);
/// format_version must exist (an ebmlab file) and be one this build reads (2..current).
void check_format(hid_t f, const std::string& file);

/// `wanted`, checked against the run's variants; the only variant when `wanted` is empty.
std::string pick_variant(const RunFile& run, const std::string& wanted);

// ---------------------------------------------------------------- text output

/// Shortest text that reads back as the same double (JSON spells NaN and Infinity).
std::string exact(double v, bool for_json);
/// A CSV field, quoted when it holds a comma, quote or newline.
std::string csv_field(const std::string& s);

}  // namespace ebm::kernel
