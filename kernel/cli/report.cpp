// `ebmlab report`: a table of variants x final evaluation results, seeds grouped. It only
// reads the HDF5 files described in docs/hdf5-layout.md; see docs/analysis.md.
#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include <boost/json.hpp>
#include <boost/program_options.hpp>

#include "ebmlab/error.hpp"

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "cli/table.hpp"
#include "store/run_files.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace ebm::cli {

using namespace ebm::kernel;

namespace {

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
  std::string detail;  ///< why it ended so (a failure's message), from status_detail
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
  VariantResult r{run.path, run.experiment, variant, "", "", seed_of(run.configs.at(variant)), {}};
  const std::string& file = run.logs.at(variant);
  if (!fs::exists(file)) {
    r.status = "missing";  // the run stopped before this variant started
    return r;
  }
  Handle f;
  try {
    f = open_for_read(file);
    check_format(f, file);
  } catch (const Error& e) {
    // A log its writer could not finish (a full disk): listed, not fatal for the others.
    std::cerr << "ebmlab report: warning: " << e.what() << "\n";
    r.status = "unreadable";
    return r;
  }
  r.status = log_status(f, file);
  if (r.status != "completed") r.detail = log_status_detail(f);
  Handle eval = open_group(f, "eval");
  // A variant that failed while being built has a log that says so and nothing else.
  if (!eval.ok() && r.status != "completed" && r.status != "running") return r;
  if (!eval.ok()) throw ConfigError(file + ": no 'eval' group; is this an ebmlab variant log?");
  Handle s = open_group(eval, split);
  if (!s.ok() && r.status != "completed") return r;
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
  std::string swept = without_seed_label(m[0]->variant);
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

/// Every variant of the files, grouped into rows, and the metric columns found.
struct Report {
  std::vector<std::string> columns;
  std::vector<std::unique_ptr<VariantResult>> results;  ///< owned here; rows point into it
  std::vector<Row> rows;
};

Report gather(const std::vector<std::string>& files, const std::string& split, const std::vector<std::string>& patterns,
              bool group, bool all_terms) {
  Report rep;
  for (auto& file : files) {
    RunFile run = open_run(file);
    std::map<std::string, size_t> row_of;  // configuration without the seed -> row
    for (auto& v : run.variants) {
      rep.results.push_back(std::make_unique<VariantResult>(read_variant(run, v, split, patterns, all_terms, rep.columns)));
      std::string key = group ? without_seed(run.configs.at(v)) : v;
      auto it = row_of.find(key);
      if (it == row_of.end()) {
        row_of[key] = rep.rows.size();
        rep.rows.push_back(Row{"", run.experiment, {rep.results.back().get()}});
      } else {
        rep.rows[it->second].members.push_back(rep.results.back().get());
      }
    }
  }
  for (auto& r : rep.rows) r.label = (files.size() > 1 ? r.experiment + "/" : "") + common_label(r.members);
  return rep;
}

/// --sort KEY [--reverse]; rows without a value go last in either direction.
void sort_rows(Report& rep, const std::string& key, bool reverse) {
  auto& rows = rep.rows;
  const auto& columns = rep.columns;
  if (key != "label" && key != "status" && key != "n" && std::find(columns.begin(), columns.end(), key) == columns.end()) {
    std::string have = "label, status, n";
    for (auto& c : columns) have += ", " + c;
    throw ConfigError("--sort: no column '" + key + "'; choose one of: " + have);
  }
  auto value = [&](const Row& r) { return stats(r, key).mean; };
  std::stable_sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) {
    if (key == "label") return a.label < b.label;
    if (key == "status") return row_status(a) < row_status(b);
    if (key == "n") return a.members.size() < b.members.size();
    double x = value(a), y = value(b);
    if (std::isnan(x) || std::isnan(y)) return !std::isnan(x) && std::isnan(y);
    return x < y;
  });
  if (reverse) {
    auto first_nan = std::stable_partition(rows.begin(), rows.end(), [&](const Row& r) {
      return key == "label" || key == "status" || key == "n" || !std::isnan(value(r));
    });
    std::reverse(rows.begin(), first_nan);
  }
}

/// JSON has no NaN: a missing or non-finite result is null.
json::value finite_or_null(double x) { return std::isfinite(x) ? json::value(x) : json::value(nullptr); }

void print_json(std::ostream& out, const Report& rep) {
  json::array list;
  for (auto& r : rep.rows) {
    json::object o;
    o["label"] = r.label;
    o["experiment"] = r.experiment;
    o["run"] = r.members[0]->run;
    json::array variants, seeds, statuses, details;
    for (auto* v : r.members) {
      variants.push_back(json::value(v->variant));
      seeds.push_back(v->seed);
      statuses.push_back(json::value(v->status));
      details.push_back(json::value(v->detail));
    }
    o["details"] = details;
    o["variants"] = variants;
    o["seeds"] = seeds;
    o["statuses"] = statuses;
    o["status"] = row_status(r);
    o["n"] = r.members.size();
    json::object metrics;
    for (auto& c : rep.columns) {
      Stats s = stats(r, c);
      json::array vals;
      for (double x : s.values) vals.push_back(finite_or_null(x));
      metrics[c] = json::object{{"mean", finite_or_null(s.mean)}, {"std", finite_or_null(s.std)}, {"n", s.n}, {"values", vals}};
    }
    o["metrics"] = metrics;
    list.push_back(o);
  }
  out << json::serialize(list) << "\n";
}

void print_csv(std::ostream& out, const Report& rep) {
  std::string header = "label,status,n";
  for (auto& c : rep.columns) header += "," + csv_field(c + ":mean") + "," + csv_field(c + ":std") + "," + csv_field(c + ":n");
  out << header << "\n";
  for (auto& r : rep.rows) {
    std::string line = csv_field(r.label) + "," + csv_field(row_status(r)) + "," + std::to_string(r.members.size());
    for (auto& c : rep.columns) {
      Stats s = stats(r, c);
      line += "," + (s.n ? exact(s.mean, false) : "") + "," + (s.n > 1 ? exact(s.std, false) : "") + "," + std::to_string(s.n);
    }
    out << line << "\n";
  }
}

void print_text(std::ostream& out, const Report& rep, bool markdown) {
  std::vector<std::vector<std::string>> cells{{"variant", "status", "n"}};
  for (auto& c : rep.columns) cells[0].push_back(c);
  for (auto& r : rep.rows) {
    std::vector<std::string> line{r.label, row_status(r), std::to_string(r.members.size())};
    for (auto& c : rep.columns) {
      Stats s = stats(r, c);
      std::string cell = s.n == 0 ? "-" : short_num(s.mean);
      if (s.n > 1) cell += " ± " + short_num(s.std);
      if (s.n > 0 && static_cast<size_t>(s.n) < r.members.size()) cell += " (n=" + std::to_string(s.n) + ")";
      line.push_back(cell);
    }
    cells.push_back(line);
  }
  print_table(out, cells, markdown);
  // Why variants did not complete, below the table (a failure's message names its cause).
  for (auto& r : rep.rows)
    for (auto* v : r.members)
      if (!v->detail.empty()) out << (markdown ? "\n" : "") << v->variant << ": " << v->status << ": " << v->detail << "\n";
}

}  // namespace

int report_command(const std::vector<std::string>& args) {
  po::options_description opts(
      "ebmlab report RUN.h5 [RUN2.h5 ...] [options]\n\n"
      "One table of variants x final evaluation results: the last record of every\n"
      "eval/<split>/<metric>/<term> series. Variants whose resolved configurations differ only\n"
      "in experiment.seed are one row: mean ± sample standard deviation (n-1) over the seeds and\n"
      "n. The status column shows completed, diverged, failed, interrupted, running, crashed\n"
      "(still marked running but its writer process is gone), missing (the run stopped before\n"
      "the variant started) or unreadable (its log cannot be opened); for a group, the fraction of seeds\n"
      "not completed (e.g. 'diverged 1/3'). Several files combine into one table, rows labelled\n"
      "<experiment>/<variant>. RUN.h5 is an index file (runs/<name>.h5) or one variant log.\n\n"
      "examples:\n"
      "  ebmlab report runs/dat.h5\n"
      "  ebmlab report runs/dat.h5 runs/jem.h5 --metrics 'robust*,accuracy/accuracy' --format markdown\n"
      "  ebmlab report runs/dat.h5 --split val --sort accuracy/accuracy --reverse --format csv > dat.csv\n\n"
      "options");
  auto add = opts.add_options();
  add("help,h", "this text");
  add("runs", po::value<std::vector<std::string>>(), "index files or variant logs");
  add("metrics", po::value<std::vector<std::string>>()->composing(),
      "comma-separated patterns on \"metric/term\": a substring, or a glob when it has * ? [ (repeatable)");
  add("split", po::value<std::string>()->default_value("test"), "test or val");
  add("format", po::value<std::string>()->default_value("text"), "text, markdown, csv or json");
  add("sort", po::value<std::string>(), "order rows by: label, status, n, or a metric column (\"metric/term\")");
  add("reverse", "sort descending");
  add("no-group", "one row per variant, seeds not grouped");
  add("all-terms", "include bookkeeping terms (n, eps, steps, restarts, norm_l2, apgd, n_in)");
  auto vm = parse_options(args, opts, "runs", -1);
  if (vm.count("help")) {
    std::cout << opts
              << "\nexit codes: 0 ok, 2 bad input: a file is missing, not ebmlab's, damaged or of a newer format, "
                 "or an option's value is not one listed above\n";
    return 0;
  }
  if (!vm.count("runs")) throw ConfigError("missing the run: ebmlab report RUN.h5 [RUN2.h5 ...] (see ebmlab report --help)");
  const auto files = vm["runs"].as<std::vector<std::string>>();
  const std::string split = vm["split"].as<std::string>(), format = vm["format"].as<std::string>();
  if (split != "test" && split != "val") throw ConfigError("--split: expected test or val, got '" + split + "'");
  if (format != "text" && format != "markdown" && format != "csv" && format != "json")
    throw ConfigError("--format: expected text, markdown, csv or json, got '" + format + "'");
  const auto patterns =
      split_commas(vm.count("metrics") ? vm["metrics"].as<std::vector<std::string>>() : std::vector<std::string>{});
  const bool group = !vm.count("no-group");

  Report report = gather(files, split, patterns, group, vm.count("all-terms") > 0);
  if (report.columns.empty() && !patterns.empty())
    throw ConfigError("--metrics: no evaluation series on split '" + split + "' matches the given patterns");
  if (vm.count("sort")) sort_rows(report, vm["sort"].as<std::string>(), vm.count("reverse") > 0);
  if (format == "json")
    print_json(std::cout, report);
  else if (format == "csv")
    print_csv(std::cout, report);
  else
    print_text(std::cout, report, format == "markdown");
  return 0;
}

}  // namespace ebm::cli
