// `ebmlab export`: curves and evaluation series of one variant as CSV or JSON, readable
// without ebmlab. See docs/analysis.md.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <boost/json.hpp>
#include <boost/program_options.hpp>

#include "ebmlab/error.hpp"

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "store/run_files.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace ebm::cli {

using namespace ebm::kernel;

namespace {

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
      "ebmlab export RUN.h5 [--variant V] (--curves [NAMES...] | --evals [NAMES...] | both) [options]\n\n"
      "Writes curves (curves/<name>) and evaluation series (eval/<name>) of one variant. A name\n"
      "is a series (train/loss, test/accuracy/accuracy) or a group holding several (train,\n"
      "test/accuracy); --curves or --evals without names exports all of them. Series are\n"
      "labelled by their path in the log (curves/train/loss). Values are written exactly (they\n"
      "read back as the same doubles).\n"
      "  csv:  long format, header series,step,value,wall\n"
      "  json: {\"curves/train/loss\": [[step, value, wall], ...], ...}\n\n"
      "examples:\n"
      "  ebmlab export runs/quickstart.h5 --curves train/loss --format csv --out loss.csv\n"
      "  ebmlab export runs/jem_vs_atebm.h5 --variant dat --curves --evals --format json --out dat.json\n"
      "  ebmlab export runs/jem_vs_atebm.h5 --variant dat --evals val --format csv\n\n"
      "options");
  auto add = opts.add_options();
  add("help,h", "this text");
  add("run", po::value<std::string>(), "index file or variant log");
  add("variant", po::value<std::string>()->default_value(""), "variant (needed when the run has several)");
  add("curves", po::value<std::vector<std::string>>()->multitoken()->zero_tokens(), "curves to export (all when none named)");
  add("evals", po::value<std::vector<std::string>>()->multitoken()->zero_tokens(),
      "evaluation series to export (all when none named)");
  add("format", po::value<std::string>()->default_value("csv"), "csv or json");
  add("out,o", po::value<std::string>(), "output file (default: standard output)");
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
  Handle f = open_for_read(file);
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
  if (format == "csv")
    out << "series,step,value,wall\n";
  else
    out << "{";
  bool first = true;
  for (auto& s : chosen) {
    Handle d = open_dataset(f, s);
    auto rec = read_records(d, file, s);
    if (format == "csv") {
      for (auto& r : rec)
        out << csv_field(s) << "," << r.step << "," << exact(r.value, false) << "," << exact(r.wall, false) << "\n";
      continue;
    }
    out << (first ? "\n" : ",\n") << json::serialize(json::value(s)) << ": [";
    for (size_t i = 0; i < rec.size(); ++i)
      out << (i ? ", " : "") << "[" << rec[i].step << ", " << exact(rec[i].value, true) << ", " << exact(rec[i].wall, true)
          << "]";
    out << "]";
    first = false;
  }
  if (format == "json") out << (first ? "}\n" : "\n}\n");
  out.flush();
  if (!out) throw ConfigError("writing the export failed");
  return 0;
}

}  // namespace ebm::cli
