// See run_files.hpp.
#include "store/run_files.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>

#include <boost/json.hpp>

#include "ebmlab/error.hpp"

#include "store/h5util.hpp"

namespace fs = std::filesystem;
namespace json = boost::json;

namespace ebm::kernel {

namespace {

std::string string_dataset(hid_t f, const std::string& path, const std::string& file, const std::string& hint) {
  Handle d = open_dataset(f, path);
  if (!d.ok()) throw ConfigError(file + ": no '" + path + "' dataset; " + hint);
  return h5::read_fixed_string(d, false);
}

}  // namespace

bool is_record_series(hid_t ds) {
  Handle type(H5Dget_type(ds)), space(H5Dget_space(ds));
  if (H5Tget_class(type) != H5T_COMPOUND || H5Sget_simple_extent_ndims(space) != 1) return false;
  for (const char* field : {"step", "value", "wall"})
    if (H5Tget_member_index(type, field) < 0) return false;
  return true;
}

std::vector<CurveRecord> read_records(hid_t ds, const std::string& file, const std::string& path) {
  Handle space(H5Dget_space(ds));
  hssize_t n = H5Sget_simple_extent_npoints(space);
  std::vector<CurveRecord> out(static_cast<size_t>(std::max<hssize_t>(n, 0)));
  Handle type = h5::curve_record_type();
  if (!out.empty() && H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    throw ConfigError(file + ": cannot read " + path + " (damaged file?)");
  return out;
}

std::vector<CurveRecord> read_series(const std::string& file, const std::string& dataset) {
  Handle f = open_for_read(file);
  Handle ds = open_dataset(f, dataset);
  if (!ds.ok()) throw ConfigError(file + ": no dataset '" + dataset + "'");
  return read_records(ds, file, dataset);
}

std::string read_string(const std::string& file, const std::string& dataset) {
  Handle f = open_for_read(file);
  Handle ds = open_dataset(f, dataset);
  if (!ds.ok()) throw ConfigError(file + ": no dataset '" + dataset + "'");
  return h5::read_fixed_string(ds, false);
}

std::string read_string_attr(const std::string& file, const std::string& object, const std::string& attr) {
  Handle f = open_for_read(file);
  hid_t a;
  H5E_BEGIN_TRY { a = H5Aopen_by_name(f, object.c_str(), attr.c_str(), H5P_DEFAULT, H5P_DEFAULT); }
  H5E_END_TRY;
  Handle attribute(a);
  if (!attribute.ok()) throw ConfigError(file + ": no attribute '" + attr + "' on '" + object + "'");
  return h5::read_fixed_string(attribute, true);
}

std::string read_status(const std::string& file) {
  if (!fs::exists(file)) return "";
  try {
    std::string s = read_string(file, "status");
    return s.substr(0, s.find('\0'));
  } catch (const Error&) {
    return "";
  }
}

bool has_attr(hid_t obj, const char* name) { return H5Aexists(obj, name) > 0; }

json::value parse_json(const std::string& text, const std::string& file, const std::string& what) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) throw ConfigError(file + ": " + what + " is not valid JSON (" + ec.message() + ")");
  return v;
}

std::string log_status(hid_t log, const std::string& file) {
  std::string status = string_dataset(log, "status", file, "is this a variant log?");
  if (status != "running" || !has_attr(log, "writer_pid") || !has_attr(log, "writer_host")) return status;
  Handle a(H5Aopen(log, "writer_pid", H5P_DEFAULT));
  std::int64_t pid = 0;
  H5Aread(a, H5T_NATIVE_INT64, &pid);
  Handle h(H5Aopen(log, "writer_host", H5P_DEFAULT));
  if (h5::read_fixed_string(h, true) == h5::hostname() && !fs::exists("/proc/" + std::to_string(pid))) return "crashed";
  return status;
}

std::string log_status_detail(hid_t log) {
  Handle d = open_dataset(log, "status_detail");
  return d.ok() ? h5::read_fixed_string(d, false) : "";
}

RunFile open_run(const std::string& file) {
  Handle f = open_for_read(file);
  check_format(f, file);
  RunFile run;
  run.path = file;
  run.experiment = fs::path(file).stem().string();
  Handle resolved = open_dataset(f, "resolved");
  if (resolved.ok()) {
    json::value all = parse_json(h5::read_fixed_string(resolved, false), file, "the 'resolved' dataset");
    if (!all.is_object()) throw ConfigError(file + ": 'resolved' is not a table of variants");
    const fs::path dir = fs::path(file).replace_extension("");
    for (auto& [k, v] : all.get_object()) {
      std::string name(k);
      run.variants.push_back(name);
      run.logs[name] = (dir / (name + ".h5")).string();
      run.configs[name] = v;
    }
    if (run.variants.empty()) throw ConfigError(file + ": the index lists no variants");
    return run;
  }
  // A variant log given directly: runs/<exp>/<variant>.h5.
  Handle cfg = open_dataset(f, "config");
  if (!cfg.ok() || !has_attr(f, "variant"))
    throw ConfigError(file + ": neither a run index (no 'resolved' dataset) nor a variant log (no 'config' dataset)");
  Handle a(H5Aopen(f, "variant", H5P_DEFAULT));
  std::string name = h5::read_fixed_string(a, true);
  run.experiment = fs::absolute(file).parent_path().filename().string();
  run.variants.push_back(name);
  run.logs[name] = file;
  run.configs[name] = parse_json(h5::read_fixed_string(cfg, false), file, "the 'config' dataset");
  return run;
}

std::string pick_variant(const RunFile& run, const std::string& wanted) {
  std::string names;
  for (auto& v : run.variants) names += (names.empty() ? "" : ", ") + v;
  if (wanted.empty()) {
    if (run.variants.size() == 1) return run.variants[0];
    throw ConfigError(run.path + ": the run has " + std::to_string(run.variants.size()) + " variants (" + names +
                      "); choose one with --variant");
  }
  if (!run.logs.count(wanted)) throw ConfigError(run.path + ": no variant '" + wanted + "'; the run has: " + names);
  return wanted;
}

bool read_last_record(hid_t ds, CurveRecord& out) {
  Handle space(H5Dget_space(ds));
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  if (n <= 0) return false;
  hsize_t start[1] = {static_cast<hsize_t>(n - 1)}, count[1] = {1};
  H5Sselect_hyperslab(space, H5S_SELECT_SET, start, nullptr, count, nullptr);
  Handle mem(H5Screate_simple(1, count, nullptr));
  Handle type = h5::curve_record_type();
  return H5Dread(ds, type, mem, space, H5P_DEFAULT, &out) >= 0;
}

void collect_series(hid_t f, const std::string& path, std::vector<std::string>& out) {
  Handle g = open_group(f, path);
  if (!g.ok()) return;
  for (auto& m : members(g)) {
    const std::string child = path + "/" + m;
    Handle d = open_dataset(f, child);
    if (d.ok()) {
      if (is_record_series(d)) out.push_back(child);
    } else {
      collect_series(f, child, out);
    }
  }
}

void check_format(hid_t f, const std::string& file) {
  if (!has_attr(f, "format_version"))
    throw ConfigError(file + ": not an ebmlab file (valid HDF5, but no format_version attribute)");
  Handle a(H5Aopen(f, "format_version", H5P_DEFAULT));
  std::int64_t v = 0;
  H5Aread(a, H5T_NATIVE_INT64, &v);
  if (v > kFormatVersion)
    throw ConfigError(file + ": format_version " + std::to_string(v) + " is newer than this ebmlab reads (2 to " +
                      std::to_string(kFormatVersion) + "); use a newer ebmlab");
  if (v < 2)
    throw ConfigError(file + ": format_version " + std::to_string(v) + " is too old for this ebmlab (reads 2 to " +
                      std::to_string(kFormatVersion) + ")");
}

std::string exact(double v, bool for_json) {
  if (std::isnan(v)) return for_json ? "NaN" : "nan";
  if (std::isinf(v)) return for_json ? (v > 0 ? "Infinity" : "-Infinity") : (v > 0 ? "inf" : "-inf");
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace ebm::kernel
