// `ebmlab watch`: follows a run while it trains, reading its logs in SWMR mode so the
// writer is never disturbed.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <thread>

#include <boost/program_options.hpp>

#include "ebmlab/error.hpp"

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "store/run_files.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace ebm::cli {

using namespace ebm::kernel;

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
  Handle f = open_for_read(log);
  s.status = log_status(f, log);
  std::vector<std::string> series;
  collect_series(f, "curves", series);
  collect_series(f, "eval", series);
  for (auto& path : series) {
    Handle d = open_dataset(f, path);
    CurveRecord r{};
    if (!read_last_record(d, r)) continue;
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
  auto add = opts.add_options();
  add("help,h", "this text");
  add("run", po::value<std::string>(), "the run's index file (or one variant log)");
  add("variant", po::value<std::string>()->default_value(""), "only this variant");
  add("interval", po::value<double>()->default_value(2.0), "seconds between looks");
  add("once", "look once and exit");
  add("timeout", po::value<double>()->default_value(0), "give up after this many seconds (0 = never); exit 1");
  auto vm = parse_options(args, opts, "run");
  if (vm.count("help")) {
    std::cout << opts
              << "\nexample (in a second terminal):\n  ebmlab run experiments/quickstart.toml\n"
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
