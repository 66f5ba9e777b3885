// `ebmlab report` (a table of variants x final evaluation results, seeds grouped) and
// `ebmlab export` (curves and evaluation series as CSV or JSON). Both only read the HDF5
// files described in docs/hdf5-layout.md; see docs/analysis.md.
#include <fnmatch.h>
#include <hdf5.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <boost/program_options.hpp>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <functional>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <thread>
#include <chrono>

#include "../h5log.hpp"
#include "../h5util.hpp"
#include "commands.hpp"
#include "options.hpp"
#include "ebmlab/error.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace ebm::cli {

using namespace ebm::kernel;

namespace {

// ---------------------------------------------------------------- HDF5 reading

herr_t collect_error(unsigned, const H5E_error2_t* e, void* out) {
  auto& msgs = *static_cast<std::vector<std::string>*>(out);
  std::string d = e->desc ? e->desc : "";
  if (!d.empty() && std::find(msgs.begin(), msgs.end(), d) == msgs.end()) msgs.push_back(d);
  return 0;
}

/// Closes an HDF5 handle of any kind when it goes out of scope.
struct Handle {
  hid_t id = -1;
  explicit Handle(hid_t i = -1) : id(i) {}
  Handle(Handle&& o) noexcept : id(o.id) { o.id = -1; }
  Handle& operator=(Handle&& o) noexcept {
    std::swap(id, o.id);
    return *this;
  }
  ~Handle() {
    if (id >= 0) H5E_BEGIN_TRY { H5Idec_ref(id); } H5E_END_TRY;
  }
  operator hid_t() const { return id; }
  bool ok() const { return id >= 0; }
};

/// Like h5::open_for_read, but a file HDF5 cannot open is reported with HDF5's own words
/// (a truncated or damaged file says so: "truncated file: eof = ...").
Handle open_file(const std::string& file) {
  if (!fs::exists(file)) throw ConfigError(file + ": no such file");
  std::vector<std::string> msgs;
  hid_t f;
  H5E_BEGIN_TRY {
    f = H5Fopen(file.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
    if (f < 0) f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_error, &msgs);
  } H5E_END_TRY;
  if (f >= 0) return Handle(f);
  std::string why;
  for (auto it = msgs.rbegin(); it != msgs.rend(); ++it) why += (why.empty() ? "" : "; ") + *it;
  throw ConfigError(file + ": cannot open as an HDF5 file (HDF5: " + (why.empty() ? "no detail" : why) + ")");
}

Handle open_dataset(hid_t loc, const std::string& path) {
  hid_t d;
  H5E_BEGIN_TRY { d = H5Dopen2(loc, path.c_str(), H5P_DEFAULT); } H5E_END_TRY;
  return Handle(d);
}

Handle open_group(hid_t loc, const std::string& path) {
  hid_t g;
  H5E_BEGIN_TRY { g = H5Gopen2(loc, path.c_str(), H5P_DEFAULT); } H5E_END_TRY;
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

/// A 1-D compound (step, value, wall) dataset: a curve or evaluation series.
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
  Handle type(H5Tcreate(H5T_COMPOUND, sizeof(CurveRecord)));
  H5Tinsert(type, "step", HOFFSET(CurveRecord, step), H5T_NATIVE_INT64);
  H5Tinsert(type, "value", HOFFSET(CurveRecord, value), H5T_NATIVE_DOUBLE);
  H5Tinsert(type, "wall", HOFFSET(CurveRecord, wall), H5T_NATIVE_DOUBLE);
  if (!out.empty() && H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    throw ConfigError(file + ": cannot read " + path + " (damaged file?)");
  return out;
}

std::string string_dataset(hid_t f, const std::string& path, const std::string& file, const std::string& hint) {
  Handle d = open_dataset(f, path);
  if (!d.ok()) throw ConfigError(file + ": no '" + path + "' dataset; " + hint);
  return h5::read_fixed_string(d, false);
}

bool has_attr(hid_t obj, const char* name) { return H5Aexists(obj, name) > 0; }

/// format_version must exist (ebmlab file) and be one this build reads (2..current).
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

json::value parse_json(const std::string& text, const std::string& file, const std::string& what) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) throw ConfigError(file + ": " + what + " is not valid JSON (" + ec.message() + ")");
  return v;
}

std::string this_host() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

/// The log's status; "crashed" when it still says running but its writer process
/// (root attrs writer_pid, writer_host) is gone from this host.
std::string log_status(hid_t log, const std::string& file) {
  std::string status = string_dataset(log, "status", file, "is this a variant log?");
  if (status != "running" || !has_attr(log, "writer_pid") || !has_attr(log, "writer_host")) return status;
  Handle a(H5Aopen(log, "writer_pid", H5P_DEFAULT));
  std::int64_t pid = 0;
  H5Aread(a, H5T_NATIVE_INT64, &pid);
  Handle h(H5Aopen(log, "writer_host", H5P_DEFAULT));
  if (h5::read_fixed_string(h, true) == this_host() && !fs::exists("/proc/" + std::to_string(pid))) return "crashed";
  return status;
}

// ---------------------------------------------------------------- runs and variants

/// A file given on the command line: an index (several variants) or one variant log.
struct RunFile {
  std::string path, experiment;
  std::vector<std::string> variants;
  std::map<std::string, std::string> logs;       ///< variant -> log file
  std::map<std::string, json::value> configs;    ///< variant -> resolved configuration
};

RunFile open_run(const std::string& file) {
  Handle f = open_file(file);
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

/// Sorted keys, so two configurations compare equal whatever order they were written in.
std::string canonical(const json::value& v) {
  if (v.is_object()) {
    std::map<std::string, const json::value*> sorted;
    for (auto& [k, x] : v.get_object()) sorted[std::string(k)] = &x;
    std::string out = "{";
    for (auto& [k, x] : sorted) out += json::serialize(json::value(k)) + ":" + canonical(*x) + ",";
    return out + "}";
  }
  if (v.is_array()) {
    std::string out = "[";
    for (auto& x : v.get_array()) out += canonical(x) + ",";
    return out + "]";
  }
  return json::serialize(v);
}

json::value seed_of(const json::value& cfg) {
  if (auto* o = cfg.if_object())
    if (auto* e = o->if_contains("experiment"))
      if (auto* eo = e->if_object())
        if (auto* s = eo->if_contains("seed")) return *s;
  return nullptr;
}

std::string without_seed(json::value cfg) {
  if (auto* o = cfg.if_object())
    if (auto* e = o->if_contains("experiment"))
      if (auto* eo = e->if_object()) eo->erase("seed");
  return canonical(cfg);
}

// ---------------------------------------------------------------- report

const std::set<std::string> kBookkeeping = {"n", "eps", "steps", "restarts", "norm_l2", "apgd", "n_in"};

struct VariantResult {
  std::string run, experiment, variant, status;
  json::value seed;
  std::map<std::string, double> finals;  ///< "metric/term" -> last record's value
};

struct Row {
  std::string label, experiment;
  std::vector<const VariantResult*> members;
};

bool matches(const std::string& key, const std::vector<std::string>& patterns) {
  if (patterns.empty()) return true;
  for (auto& p : patterns) {
    bool glob = p.find_first_of("*?[") != std::string::npos;
    if (glob ? fnmatch(p.c_str(), key.c_str(), 0) == 0 : key.find(p) != std::string::npos) return true;
  }
  return false;
}

VariantResult read_variant(const RunFile& run, const std::string& variant, const std::string& split,
                           const std::vector<std::string>& patterns, bool all_terms, std::vector<std::string>& columns) {
  VariantResult r{run.path, run.experiment, variant, "", seed_of(run.configs.at(variant)), {}};
  const std::string& file = run.logs.at(variant);
  if (!fs::exists(file)) {
    r.status = "missing";  // the run stopped before this variant started
    return r;
  }
  Handle f;
  try {
    f = open_file(file);
    check_format(f, file);
  } catch (const Error& e) {
    // A log its writer could not finish (a full disk): listed, not fatal for the others.
    std::cerr << "ebmlab report: warning: " << e.what() << "\n";
    r.status = "unreadable";
    return r;
  }
  r.status = log_status(f, file);
  Handle eval = open_group(f, "eval");
  if (!eval.ok()) throw ConfigError(file + ": no 'eval' group; is this an ebmlab variant log?");
  Handle s = open_group(eval, split);
  if (!s.ok()) {
    std::string have;
    for (auto& m : members(eval)) have += (have.empty() ? "" : ", ") + m;
    throw ConfigError(file + ": no evaluations on split '" + split + "' (the log has: " + (have.empty() ? "none" : have) +
                      "); choose one with --split");
  }
  // Every record series below a metric, at any depth (ood_auroc/<set>/<score>,
  // energy_stats/data/<term>, ...); tensors and their _step rows are skipped.
  std::function<void(hid_t, const std::string&)> walk = [&](hid_t g, const std::string& prefix) {
    for (auto& term : members(g)) {
      const std::string key = prefix + "/" + term;
      if (Handle sub = open_group(g, term); sub.ok()) {
        walk(sub, key);
        continue;
      }
      if (!all_terms && kBookkeeping.count(term)) continue;
      if (!matches(key, patterns)) continue;
      Handle d = open_dataset(g, term);
      if (!d.ok() || !is_record_series(d)) continue;
      auto rec = read_records(d, file, "eval/" + split + "/" + key);
      if (std::find(columns.begin(), columns.end(), key) == columns.end()) columns.push_back(key);
      if (!rec.empty()) r.finals[key] = rec.back().value;
    }
  };
  for (auto& metric : members(s)) {
    Handle g = open_group(s, metric);
    if (!g.ok()) continue;  // eval/<split>/ema_weights is a series, not a metric
    walk(g, metric);
  }
  return r;
}

/// A sweep's name without its `seed=N` part ("dat-seed=1-norm=batch" -> "dat-norm=batch").
std::string without_seed_label(const std::string& name) {
  std::size_t at = name.rfind("seed=", 0) == 0 ? 0 : name.find("-seed=");
  if (at == std::string::npos) return name;
  std::size_t end = name.find('-', at + (at == 0 ? 0 : 1));
  std::string out = name.substr(0, at) + (end == std::string::npos ? "" : name.substr(at == 0 ? end + 1 : end));
  return out.empty() ? name : out;
}

std::string common_label(const std::vector<const VariantResult*>& m) {
  if (m.size() == 1) return m[0]->variant;
  const std::string swept = without_seed_label(m[0]->variant);
  if (swept != m[0]->variant &&
      std::all_of(m.begin(), m.end(), [&](const VariantResult* v) { return without_seed_label(v->variant) == swept; }))
    return swept;
  std::string p = m[0]->variant;
  for (auto* v : m) {
    size_t i = 0;
    while (i < p.size() && i < v->variant.size() && p[i] == v->variant[i]) ++i;
    p.resize(i);
  }
  while (!p.empty() && std::string("_-.:/= ").find(p.back()) != std::string::npos) p.pop_back();
  if (!p.empty()) return p;
  std::string all;
  for (auto* v : m) all += (all.empty() ? "" : "+") + v->variant;
  return all;
}

struct Stats {
  double mean = NAN, std = NAN;
  int n = 0;
  std::vector<double> values;
};

Stats stats(const Row& row, const std::string& key) {
  Stats s;
  for (auto* v : row.members) {
    auto it = v->finals.find(key);
    if (it != v->finals.end()) s.values.push_back(it->second);
  }
  s.n = static_cast<int>(s.values.size());
  if (s.n == 0) return s;
  double sum = 0;
  for (double x : s.values) sum += x;
  s.mean = sum / s.n;
  if (s.n > 1) {
    double ss = 0;
    for (double x : s.values) ss += (x - s.mean) * (x - s.mean);
    s.std = std::sqrt(ss / (s.n - 1));  // sample standard deviation
  }
  return s;
}

/// "completed", or for a group every status that is not completed as a fraction: "diverged 1/3".
std::string row_status(const Row& row) {
  std::map<std::string, int> counts;
  for (auto* v : row.members) ++counts[v->status];
  if (counts.size() == 1 && (row.members.size() == 1 || counts.begin()->first == "completed")) return counts.begin()->first;
  std::string out;
  const std::string n = std::to_string(row.members.size());
  for (auto& [status, c] : counts)
    if (status != "completed") out += (out.empty() ? "" : ", ") + status + " " + std::to_string(c) + "/" + n;
  return out;
}

/// Shortest text that reads back as the same double.
std::string exact(double v, bool for_json) {
  if (std::isnan(v)) return for_json ? "NaN" : "nan";
  if (std::isinf(v)) return for_json ? (v > 0 ? "Infinity" : "-Infinity") : (v > 0 ? "inf" : "-inf");
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

std::string short_num(double v) {
  if (std::isnan(v)) return "nan";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

/// Display width of UTF-8 text ("±" is two bytes, one column).
size_t columns_of(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& cells, bool markdown) {
  std::vector<size_t> width(cells[0].size(), 0);
  for (auto& r : cells)
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], columns_of(r[i]));
  auto line = [&](const std::vector<std::string>& r) {
    std::string s = markdown ? "| " : "";
    for (size_t i = 0; i < r.size(); ++i) {
      std::string c = r[i];
      bool left = i < 2;
      std::string pad(width[i] - columns_of(c), ' ');
      s += left ? c + pad : pad + c;
      if (i + 1 < r.size()) s += markdown ? " | " : "  ";
    }
    if (markdown) s += " |";
    while (!markdown && !s.empty() && s.back() == ' ') s.pop_back();
    out << s << "\n";
  };
  line(cells[0]);
  std::string sep = markdown ? "|" : "";
  for (size_t i = 0; i < width.size(); ++i) {
    if (markdown) sep += (i < 2 ? std::string(width[i] + 2, '-') : std::string(width[i] + 1, '-') + ":") + "|";
    else sep += std::string(width[i], '-') + (i + 1 < width.size() ? "  " : "");
  }
  out << sep << "\n";
  for (size_t r = 1; r < cells.size(); ++r) line(cells[r]);
}

std::vector<std::string> split_list(const std::vector<std::string>& in) {
  std::vector<std::string> out;
  for (auto& s : in) {
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, ','))
      if (!item.empty()) out.push_back(item);
  }
  return out;
}

}  // namespace

int report_command(const std::vector<std::string>& args) {
  po::options_description opts(
      "ebmlab report RUN.h5 [RUN2.h5 ...] [options]\n\n"
      "One table of variants x final evaluation results: the last record of every\n"
      "eval/<split>/<metric>/<term> series. Variants whose resolved configurations differ only\n"
      "in experiment.seed are one row: mean ± sample standard deviation (n-1) over the seeds and\n"
      "n. The status column shows completed, diverged, failed, interrupted, running, or crashed\n"
      "(still marked running but its writer process is gone); for a group, the fraction of seeds\n"
      "not completed (e.g. 'diverged 1/3'). Several files combine into one table, rows labelled\n"
      "<experiment>/<variant>. RUN.h5 is an index file (runs/<name>.h5) or one variant log.\n\n"
      "examples:\n"
      "  ebmlab report runs/dat.h5\n"
      "  ebmlab report runs/dat.h5 runs/jem.h5 --metrics 'robust*,accuracy/accuracy' --format markdown\n"
      "  ebmlab report runs/dat.h5 --split val --sort accuracy/accuracy --reverse --format csv > dat.csv\n\n"
      "options");
  opts.add_options()("help,h", "this text")("runs", po::value<std::vector<std::string>>(), "index files or variant logs")(
      "metrics", po::value<std::vector<std::string>>()->multitoken(),
      "comma-separated patterns on \"metric/term\": a substring, or a glob when it has * ? [")(
      "split", po::value<std::string>()->default_value("test"), "test or val")(
      "format", po::value<std::string>()->default_value("text"), "text, markdown, csv or json")(
      "sort", po::value<std::string>(), "order rows by: label, status, n, or a metric column (\"metric/term\")")(
      "reverse", "sort descending")("no-group", "one row per variant, seeds not grouped")(
      "all-terms", "include bookkeeping terms (n, eps, steps, restarts, norm_l2, apgd, n_in)");
  auto vm = parse_options(args, opts, "runs", -1);
  if (vm.count("help")) {
    std::cout << opts << "\nexit codes: 0 ok, 2 a file is missing, not ebmlab's, damaged or of a newer format\n";
    return 0;
  }
  if (!vm.count("runs")) throw ConfigError("missing the run: ebmlab report RUN.h5 [RUN2.h5 ...] (see ebmlab report --help)");
  const auto files = vm["runs"].as<std::vector<std::string>>();
  const std::string split = vm["split"].as<std::string>(), format = vm["format"].as<std::string>();
  if (split != "test" && split != "val") throw ConfigError("--split: expected test or val, got '" + split + "'");
  if (format != "text" && format != "markdown" && format != "csv" && format != "json")
    throw ConfigError("--format: expected text, markdown, csv or json, got '" + format + "'");
  const auto patterns = split_list(vm.count("metrics") ? vm["metrics"].as<std::vector<std::string>>() : std::vector<std::string>{});
  const bool group = !vm.count("no-group"), prefix = files.size() > 1;

  std::vector<std::string> columns;
  std::vector<std::unique_ptr<VariantResult>> results;
  std::vector<Row> rows;
  for (auto& file : files) {
    RunFile run = open_run(file);
    std::map<std::string, size_t> row_of;  // configuration without the seed -> row
    for (auto& v : run.variants) {
      results.push_back(std::make_unique<VariantResult>(read_variant(run, v, split, patterns, vm.count("all-terms"), columns)));
      std::string key = group ? without_seed(run.configs.at(v)) : v;
      auto it = row_of.find(key);
      if (it == row_of.end()) {
        row_of[key] = rows.size();
        rows.push_back(Row{"", run.experiment, {results.back().get()}});
      } else {
        rows[it->second].members.push_back(results.back().get());
      }
    }
  }
  for (auto& r : rows) r.label = (prefix ? r.experiment + "/" : "") + common_label(r.members);
  if (columns.empty() && !patterns.empty())
    throw ConfigError("--metrics: no evaluation series on split '" + split + "' matches the given patterns");

  if (vm.count("sort")) {
    const std::string key = vm["sort"].as<std::string>();
    if (key != "label" && key != "status" && key != "n" && std::find(columns.begin(), columns.end(), key) == columns.end()) {
      std::string have = "label, status, n";
      for (auto& c : columns) have += ", " + c;
      throw ConfigError("--sort: no column '" + key + "'; choose one of: " + have);
    }
    // Rows without a value go last in either direction.
    auto value = [&](const Row& r) { return stats(r, key).mean; };
    std::stable_sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) {
      if (key == "label") return a.label < b.label;
      if (key == "status") return row_status(a) < row_status(b);
      if (key == "n") return a.members.size() < b.members.size();
      double x = value(a), y = value(b);
      if (std::isnan(x) || std::isnan(y)) return !std::isnan(x) && std::isnan(y);
      return x < y;
    });
    if (vm.count("reverse")) {
      auto first_nan = std::stable_partition(rows.begin(), rows.end(), [&](const Row& r) {
        return key == "label" || key == "status" || key == "n" || !std::isnan(value(r));
      });
      std::reverse(rows.begin(), first_nan);
    }
  }

  std::ostream& out = std::cout;
  if (format == "json") {
    json::array list;
    for (auto& r : rows) {
      json::object o;
      o["label"] = r.label;
      o["experiment"] = r.experiment;
      o["run"] = r.members[0]->run;
      json::array variants, seeds, statuses;
      for (auto* v : r.members) {
        variants.push_back(json::value(v->variant));
        seeds.push_back(v->seed);
        statuses.push_back(json::value(v->status));
      }
      o["variants"] = variants;
      o["seeds"] = seeds;
      o["statuses"] = statuses;
      o["status"] = row_status(r);
      o["n"] = r.members.size();
      json::object metrics;
      for (auto& c : columns) {
        Stats s = stats(r, c);
        json::object m;
        // JSON has no NaN: a missing or non-finite result is null.
        m["mean"] = std::isfinite(s.mean) ? json::value(s.mean) : json::value(nullptr);
        m["std"] = std::isfinite(s.std) ? json::value(s.std) : json::value(nullptr);
        m["n"] = s.n;
        json::array vals;
        for (double x : s.values) vals.push_back(std::isfinite(x) ? json::value(x) : json::value(nullptr));
        m["values"] = vals;
        metrics[c] = m;
      }
      o["metrics"] = metrics;
      list.push_back(o);
    }
    out << json::serialize(list) << "\n";
    return 0;
  }
  if (format == "csv") {
    std::string header = "label,status,n";
    for (auto& c : columns) header += "," + csv_field(c + ":mean") + "," + csv_field(c + ":std") + "," + csv_field(c + ":n");
    out << header << "\n";
    for (auto& r : rows) {
      std::string line = csv_field(r.label) + "," + csv_field(row_status(r)) + "," + std::to_string(r.members.size());
      for (auto& c : columns) {
        Stats s = stats(r, c);
        line += "," + (s.n ? exact(s.mean, false) : "") + "," + (s.n > 1 ? exact(s.std, false) : "") + "," + std::to_string(s.n);
      }
      out << line << "\n";
    }
    return 0;
  }
  std::vector<std::vector<std::string>> cells{{"variant", "status", "n"}};
  for (auto& c : columns) cells[0].push_back(c);
  for (auto& r : rows) {
    std::vector<std::string> line{r.label, row_status(r), std::to_string(r.members.size())};
    for (auto& c : columns) {
      Stats s = stats(r, c);
      std::string cell = s.n == 0 ? "-" : short_num(s.mean);
      if (s.n > 1) cell += " ± " + short_num(s.std);
      if (s.n > 0 && static_cast<size_t>(s.n) < r.members.size()) cell += " (n=" + std::to_string(s.n) + ")";
      line.push_back(cell);
    }
    cells.push_back(line);
  }
  print_table(out, cells, format == "markdown");
  return 0;
}

namespace {

/// Every record series under `prefix` (curves or eval), recursively, as full paths.
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

/// Series named by `names` (a full name or a group prefix under `root`); all when empty.
std::vector<std::string> select_series(const std::vector<std::string>& all, const std::string& root,
                                       const std::vector<std::string>& names, const std::string& file) {
  std::vector<std::string> under;
  for (auto& s : all)
    if (s.rfind(root + "/", 0) == 0) under.push_back(s);
  if (names.empty()) return under;
  std::vector<std::string> out;
  for (auto name : names) {
    if (name.rfind(root + "/", 0) == 0) name = name.substr(root.size() + 1);
    const std::string full = root + "/" + name;
    bool found = false;
    for (auto& s : under)
      if (s == full || s.rfind(full + "/", 0) == 0) {
        if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
        found = true;
      }
    if (!found) {
      std::string have;
      for (auto& s : under) have += "\n  " + s.substr(root.size() + 1);
      throw ConfigError(file + ": no " + (root == "curves" ? "curve" : "evaluation series") + " '" + name +
                        "'; the log has:" + (have.empty() ? " none" : have));
    }
  }
  return out;
}

}  // namespace

int export_command(const std::vector<std::string>& args) {
  po::options_description opts(
      "ebmlab export RUN.h5 [--variant V] [--curves [NAMES...]] [--evals [NAMES...]] [options]\n\n"
      "Writes curves (curves/<name>) and evaluation series (eval/<name>) of one variant. A name\n"
      "is a series (train/loss, test/accuracy/accuracy) or a group holding several (train,\n"
      "test/accuracy); --curves or --evals without names exports all of them. Series are\n"
      "labelled by their path in the log (curves/train/loss). Values are written exactly (they\n"
      "read back as the same doubles).\n"
      "  csv:  long format, header series,step,value,wall\n"
      "  json: {\"curves/train/loss\": [[step, value, wall], ...], ...}\n\n"
      "examples:\n"
      "  ebmlab export runs/toy.h5 --curves train/loss --format csv --out loss.csv\n"
      "  ebmlab export runs/dat.h5 --variant wide --curves --evals --format json --out wide.json\n"
      "  ebmlab export runs/dat.h5 --variant wide --evals val --format csv\n\n"
      "options");
  opts.add_options()("help,h", "this text")("run", po::value<std::string>(), "index file or variant log")(
      "variant", po::value<std::string>()->default_value(""), "variant (needed when the run has several)")(
      "curves", po::value<std::vector<std::string>>()->multitoken()->zero_tokens(), "curves to export (all when none named)")(
      "evals", po::value<std::vector<std::string>>()->multitoken()->zero_tokens(),
      "evaluation series to export (all when none named)")("format", po::value<std::string>()->default_value("csv"),
                                                           "csv or json")(
      "out,o", po::value<std::string>(), "output file (default: standard output)");
  auto vm = parse_options(args, opts, "run");
  if (vm.count("help")) {
    std::cout << opts << "\nexit codes: 0 ok, 2 bad input (unknown series, file missing, not ebmlab's, damaged)\n";
    return 0;
  }
  if (!vm.count("run")) throw ConfigError("missing the run: ebmlab export RUN.h5 --curves ... (see ebmlab export --help)");
  if (!vm.count("curves") && !vm.count("evals")) throw ConfigError("nothing to export: give --curves and/or --evals");
  const std::string format = vm["format"].as<std::string>();
  if (format != "csv" && format != "json") throw ConfigError("--format: expected csv or json, got '" + format + "'");
  RunFile run = open_run(vm["run"].as<std::string>());
  const std::string variant = pick_variant(run, vm["variant"].as<std::string>());
  const std::string& file = run.logs.at(variant);
  if (!fs::exists(file)) throw ConfigError(file + ": no such file (the log of variant '" + variant + "')");
  Handle f = open_file(file);
  check_format(f, file);
  std::vector<std::string> all;
  collect_series(f, "curves", all);
  collect_series(f, "eval", all);
  std::vector<std::string> chosen;
  auto names = [&](const char* opt) { return vm[opt].as<std::vector<std::string>>(); };
  if (vm.count("curves")) chosen = select_series(all, "curves", names("curves"), file);
  if (vm.count("evals"))
    for (auto& s : select_series(all, "eval", names("evals"), file)) chosen.push_back(s);

  std::ofstream fout;
  if (vm.count("out")) {
    fout.open(vm["out"].as<std::string>());
    if (!fout) throw ConfigError("--out " + vm["out"].as<std::string>() + ": cannot write");
  }
  std::ostream& out = vm.count("out") ? static_cast<std::ostream&>(fout) : std::cout;
  if (format == "csv") out << "series,step,value,wall\n";
  else out << "{";
  bool first = true;
  for (auto& s : chosen) {
    Handle d = open_dataset(f, s);
    auto rec = read_records(d, file, s);
    if (format == "csv") {
      for (auto& r : rec) out << csv_field(s) << "," << r.step << "," << exact(r.value, false) << "," << exact(r.wall, false) << "\n";
      continue;
    }
    out << (first ? "\n" : ",\n") << json::serialize(json::value(s)) << ": [";
    for (size_t i = 0; i < rec.size(); ++i)
      out << (i ? ", " : "") << "[" << rec[i].step << ", " << exact(rec[i].value, true) << ", " << exact(rec[i].wall, true) << "]";
    out << "]";
    first = false;
  }
  if (format == "json") out << (first ? "}\n" : "\n}\n");
  out.flush();
  if (!out) throw ConfigError("writing the export failed");
  return 0;
}

namespace {

/// One look at a variant log: its status and the latest record of every series.
struct Snapshot {
  std::string status;
  std::int64_t step = -1;
  std::vector<std::pair<std::string, CurveRecord>> latest;
};

Snapshot look(const std::string& log) {
  Snapshot s;
  if (!fs::exists(log)) {
    s.status = "pending";
    return s;
  }
  // Reopened each time: an SWMR reader sees every record flushed before the open.
  Handle f = open_file(log);
  s.status = log_status(f, log);
  std::vector<std::string> series;
  collect_series(f, "curves", series);
  collect_series(f, "eval", series);
  for (auto& path : series) {
    Handle d = open_dataset(f, path);
    Handle space(H5Dget_space(d));
    const hssize_t n = H5Sget_simple_extent_npoints(space);
    if (n <= 0) continue;
    hsize_t start[1] = {static_cast<hsize_t>(n - 1)}, count[1] = {1};
    H5Sselect_hyperslab(space, H5S_SELECT_SET, start, nullptr, count, nullptr);
    Handle mem(H5Screate_simple(1, count, nullptr));
    Handle type(H5Tcreate(H5T_COMPOUND, sizeof(CurveRecord)));
    H5Tinsert(type, "step", HOFFSET(CurveRecord, step), H5T_NATIVE_INT64);
    H5Tinsert(type, "value", HOFFSET(CurveRecord, value), H5T_NATIVE_DOUBLE);
    H5Tinsert(type, "wall", HOFFSET(CurveRecord, wall), H5T_NATIVE_DOUBLE);
    CurveRecord r{};
    if (H5Dread(d, type, mem, space, H5P_DEFAULT, &r) < 0) continue;
    s.latest.emplace_back(path, r);
    if (path.rfind("curves/", 0) == 0) s.step = std::max(s.step, r.step);
  }
  return s;
}

}  // namespace

int watch_command(const std::vector<std::string>& args) {
  po::options_description opts(
      "ebmlab watch RUN.h5 [options]\n\nFollows a run while it trains: every --interval seconds, each variant's "
      "status, step and the latest value of every curve and evaluation series (read in SWMR mode, so the run is "
      "never disturbed). Ends when no variant is pending or running any more. Works on finished and crashed runs "
      "too.\n\noptions");
  opts.add_options()("help,h", "this text")("run", po::value<std::string>(), "the run's index file (or one variant log)")(
      "variant", po::value<std::string>()->default_value(""), "only this variant")(
      "interval", po::value<double>()->default_value(2.0), "seconds between looks")(
      "once", "look once and exit")("timeout", po::value<double>()->default_value(0),
                                    "give up after this many seconds (0 = never); exit 1");
  auto vm = parse_options(args, opts, "run");
  if (vm.count("help")) {
    std::cout << opts << "\nexample (in a second terminal):\n  ebmlab run experiments/quickstart.toml\n"
                         "  ebmlab watch runs/quickstart.h5\n\nexit codes: 0 the run ended, 1 --timeout reached, "
                         "2 bad input\n";
    return 0;
  }
  if (!vm.count("run")) throw ConfigError("missing the run: ebmlab watch RUN.h5");
  const double interval = vm["interval"].as<double>(), timeout = vm["timeout"].as<double>();
  if (!(interval > 0)) throw ConfigError("--interval must be > 0 seconds");
  const std::string file = vm["run"].as<std::string>();
  // The index is written before the first variant starts; wait for it briefly.
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  RunFile run = open_run(file);
  std::vector<std::string> variants = run.variants;
  if (!vm["variant"].as<std::string>().empty()) variants = {pick_variant(run, vm["variant"].as<std::string>())};
  const bool tty = isatty(STDOUT_FILENO) != 0;
  for (;;) {
    bool active = false;
    std::ostringstream out;
    for (auto& v : variants) {
      Snapshot s = look(run.logs.at(v));
      active = active || s.status == "pending" || s.status == "running";
      out << v << "  " << s.status << "  step " << (s.step < 0 ? std::string("-") : std::to_string(s.step)) << "\n";
      for (auto& [path, r] : s.latest) {
        char line[256];
        std::snprintf(line, sizeof line, "  %-44s %12.6g  (step %lld, %.0f s)\n", path.c_str(), r.value,
                      static_cast<long long>(r.step), r.wall);
        out << line;
      }
    }
    if (tty && !vm.count("once")) std::cout << "\033[H\033[2J";
    std::cout << out.str() << std::flush;
    if (!active || vm.count("once")) return 0;
    if (timeout > 0 && elapsed() > timeout) {
      std::cerr << "ebmlab watch: --timeout " << timeout << " s reached while the run is still going\n";
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(interval));
    std::cout << "\n";
  }
}

}  // namespace ebm::cli
