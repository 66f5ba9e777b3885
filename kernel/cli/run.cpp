// `ebmlab run`: expand, validate, then train every variant — in this process, in worker
// processes (--jobs), or data parallel over c10d Gloo (--nproc, or RANK/WORLD_SIZE set).
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <thread>

#include <boost/json.hpp>
#include <boost/program_options.hpp>
#include <torch/torch.h>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "cli/spawn.hpp"
#include "config/json.hpp"
#include "loader/registry.hpp"
#include "run/runner.hpp"
#include "store/checkpoint.hpp"
#include "store/run_files.hpp"
#include "train/components.hpp"
#include "train/distributed.hpp"
#include "train/trainer.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace ebm::cli {

using namespace ebm::kernel;

namespace {

extern "C" void on_signal(int sig) { g_stop_signal.store(sig); }

/// --jobs: each variant that runs gets a worker process (`base` + --worker NAME), at most
/// `jobs` at once. Returns the run's exit code; never returns with a worker still running.
int run_in_workers(const std::vector<Plan>& plans, const std::vector<std::string>& base, int jobs, const fs::path& log_dir,
                   Progress& progress) {
  int exit_code = 0;
  std::map<pid_t, std::string> running;
  std::size_t next = 0;
  bool forwarded = false;
  while (next < plans.size() || !running.empty()) {
    while (running.size() < static_cast<std::size_t>(jobs) && next < plans.size() && !g_stop_signal.load()) {
      const Plan& p = plans[next++];
      if (p.skip) continue;
      auto a = base;
      a.push_back("--worker");
      a.push_back(p.cfg->name);
      try {
        running[spawn_self(a, {})] = p.cfg->name;
        progress.message(p.cfg->name + ": started");
      } catch (const std::exception& e) {
        // Never return with workers still running: record it and keep waiting for them.
        std::cerr << ("ebmlab run: variant '" + p.cfg->name + "' failed: " + e.what() + "\n");
        exit_code = 1;
      }
    }
    if (running.empty()) break;
    std::vector<pid_t> pids;
    pids.reserve(running.size());
    for (auto& [pid, name] : running) pids.push_back(pid);
    auto [pid, status] = wait_child(pids, forwarded);
    if (pid < 0) break;
    auto it = running.find(pid);
    if (it == running.end()) continue;
    const int c = exit_code_of(status);
    const std::string log_path = (log_dir / (it->second + ".h5")).string();
    if (c == 0) {
      progress.message(it->second + ": " + read_status(log_path) + " -> " + log_path);
    } else if (c == 130 || c == 143) {
      if (exit_code == 0 || exit_code == 1) exit_code = c;
    } else {
      // One write: the workers share stderr.
      std::cerr << ("ebmlab run: variant '" + it->second + "' failed (worker exit " + std::to_string(c) +
                    (WIFSIGNALED(status) ? ", killed by signal " + std::to_string(WTERMSIG(status)) : std::string()) + "); see " +
                    log_path + "\n");
      if (exit_code == 0) exit_code = 1;
    }
    running.erase(it);
  }
  if (g_stop_signal.load() && exit_code == 0) exit_code = g_stop_signal.load() == SIGTERM ? 143 : 130;
  return exit_code;
}

/// ebmlab run's options, as read and checked from the command line.
struct RunOptions {
  std::string file;
  std::vector<Override> overrides;
  int threads = 0, jobs = 1, nproc = 1, dist_timeout = 300;
  std::string worker;  ///< the one variant a --jobs worker runs ("" when not a worker)
  std::string only;
  bool resume = false, overwrite = false, allow_plugin_path = false, quiet = false, dry_run = false;
  bool device_option = false;  ///< --device given: it became the override experiment.device=...
};

RunOptions read_run_options(const po::variables_map& vm) {
  RunOptions o;
  std::vector<std::string> positional = vm.count("args") ? vm["args"].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (positional.empty()) throw ConfigError("missing the descriptor: ebmlab run FILE (see ebmlab run --help)");
  o.file = positional.front();
  for (std::size_t i = 1; i < positional.size(); ++i) o.overrides.push_back(parse_override(positional[i]));
  // --device is the override experiment.device=..., so it is validated, recorded with the
  // overrides and handed to --jobs workers like any other.
  if (vm.count("device")) {
    o.overrides.push_back(parse_override("experiment.device=" + vm["device"].as<std::string>()));
    o.device_option = true;
  }
  o.threads = vm["threads"].as<int>();
  o.jobs = vm["jobs"].as<int>();
  o.nproc = vm["nproc"].as<int>();
  o.dist_timeout = vm["dist-timeout"].as<int>();
  if (o.threads < 0) throw ConfigError("--threads " + std::to_string(o.threads) + ": expected 0 (all cores) or a positive count");
  if (o.jobs < 1) throw ConfigError("--jobs " + std::to_string(o.jobs) + ": expected a positive count");
  if (o.nproc < 1) throw ConfigError("--nproc " + std::to_string(o.nproc) + ": expected a positive count");
  if (o.dist_timeout < 1) throw ConfigError("--dist-timeout " + std::to_string(o.dist_timeout) + ": expected seconds >= 1");
  if (o.jobs > 1 && o.nproc > 1)
    throw ConfigError("--jobs and --nproc cannot be combined: choose variants in parallel or data parallel");
  o.resume = vm.count("resume") > 0;
  o.overwrite = vm.count("overwrite") > 0;
  if (o.resume && o.overwrite) throw ConfigError("--resume and --overwrite exclude each other");
  if (o.threads == 0) o.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (vm.count("worker")) o.worker = vm["worker"].as<std::string>();
  if (vm.count("only")) o.only = vm["only"].as<std::string>();
  o.quiet = vm.count("quiet") > 0;
  o.dry_run = vm.count("dry-run") > 0;
  o.allow_plugin_path = vm.count("allow-plugin-path") > 0;
  return o;
}

/// --nproc N: the arguments each rank re-reads the descriptor with (this process only launches).
std::vector<std::string> rank_arguments(const std::vector<std::string>& args, const RunOptions& o) {
  std::vector<std::string> rank_args{"run"};
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--nproc" || args[i] == "--threads") {
      ++i;
      continue;
    }
    if (args[i].rfind("--nproc=", 0) == 0 || args[i].rfind("--threads=", 0) == 0) continue;
    rank_args.push_back(args[i]);
  }
  rank_args.push_back("--threads");
  rank_args.push_back(std::to_string(std::max(1, o.threads / o.nproc)));
  return rank_args;
}

/// --jobs N: the arguments of a worker process, before its --worker NAME.
std::vector<std::string> worker_arguments(const RunOptions& o) {
  std::vector<std::string> base{"run", o.file};
  for (auto& x : o.overrides) base.push_back(x.text);
  base.push_back("--threads");
  base.push_back(std::to_string(std::max(1, o.threads / o.jobs)));
  base.push_back("--quiet");
  if (o.resume) base.push_back("--resume");
  if (o.allow_plugin_path) base.push_back("--allow-plugin-path");
  return base;
}

/// This process as one rank of a data-parallel group (RANK/WORLD_SIZE set), or none.
std::unique_ptr<Collective> join_group(const DistributedEnv& denv, int dist_timeout, const std::vector<VariantConfig>& configs) {
  if (!denv.present || denv.world <= 1) return nullptr;
  auto coll = join_gloo(denv, std::chrono::seconds(dist_timeout), std::chrono::seconds(std::max(dist_timeout, 3600)));
  for (auto& c : configs)
    if (c.data.batch_size % coll->world() != 0)
      throw ConfigError("variant '" + c.name + "': [data] batch_size = " + std::to_string(c.data.batch_size) +
                        " cannot be split over " + std::to_string(coll->world()) + " ranks; use a multiple of the world size");
  return coll;
}

/// Every planned variant in this process, one after the other. Returns the run's exit code.
int run_in_process(std::vector<Plan>& plans, const std::vector<const Dataset*>& data_of, const Registry& registry,
                   Progress& progress, Collective* coll) {
  int exit_code = 0;
  for (std::size_t i = 0; i < plans.size(); ++i) {
    if (plans[i].skip) continue;
    const int c = run_variant(plans[i], *data_of[i], registry, progress, coll);
    if (c == 130 || c == 143) return c;
    if (c != 0) {
      exit_code = 1;
      // A data-parallel group cannot go on once one rank is out of step.
      if (coll) return exit_code;
    }
  }
  return exit_code;
}

constexpr const char* kRunExamples =
    "\nexamples:\n"
    "  ebmlab run experiments/quickstart.toml\n"
    "  ebmlab run experiments/ablation_norm.toml --dry-run\n"
    "  ebmlab run experiments/ablation_norm.toml --jobs 2          # then, after a kill: --resume\n"
    "  ebmlab run experiments/jem_vs_atebm.toml --only 'dat*' stage.0.steps=10\n"
    "  ebmlab run experiments/quickstart.toml --nproc 2            # data parallel, 2 processes\n"
    "  RANK=0 WORLD_SIZE=2 MASTER_ADDR=host MASTER_PORT=29500 ebmlab run x.toml   # one rank of many\n"
    "\nexit codes: 0 every variant completed or diverged, 1 a variant failed, 2 bad input, "
    "3 plugin load failure, 130/143 interrupted\n";

po::options_description run_options() {
  po::options_description opts(
      "ebmlab run FILE [key.path=value ...] [options]\n\n"
      "Validates FILE, expands its variants and sweep, then trains and evaluates each variant, writing the index "
      "file (experiment.output, default runs/<name>.h5) and one log per variant beside it (runs/<name>/<variant>.h5).\n"
      "key.path=value overrides a descriptor value in every variant (stage.0.epochs=1, model.norm.plugin=group, "
      "data.subset=512); paths under variants. or sweep. change the expansion itself.\n\noptions");
  auto add = opts.add_options();
  add("help,h", "this text");
  add("threads", po::value<int>()->default_value(0), "intra-op threads in all (0 = all cores); divided among --jobs or --nproc");
  add("device", po::value<std::string>(),
      "auto, cpu, cuda or cuda:N: overrides [experiment] device in every variant (the same as experiment.device=...)");
  add("dry-run", "validate and list the expanded variants; write nothing");
  add("only", po::value<std::string>(), "run only the variants matching these shell globs (comma-separated)");
  add("jobs", po::value<int>()->default_value(1), "variants in parallel, each in its own worker process");
  add("resume",
      "continue an interrupted run: skip completed and diverged variants, continue the others from their last checkpoint");
  add("overwrite", "replace existing output files");
  add("allow-plugin-path", kAllowPluginPathHelp);
  add("nproc", po::value<int>()->default_value(1), "data parallel: train each variant with N local processes (c10d Gloo)");
  add("dist-timeout", po::value<int>()->default_value(300), "data parallel: seconds to wait for every rank at the rendezvous");
  add("quiet,q", "no progress output");
  return opts;
}

}  // namespace

int run_command(const std::vector<std::string>& args, const std::string& command_line) {
  po::options_description opts = run_options();
  po::options_description hidden, everything;
  auto add_hidden = hidden.add_options();
  add_hidden("worker", po::value<std::string>(), "run this one variant as a --jobs worker");
  add_hidden("args", po::value<std::vector<std::string>>(), "FILE then overrides");
  everything.add(opts).add(hidden);
  auto vm = parse_options(args, everything, "args", -1);
  if (vm.count("help")) {
    std::cout << opts << kRunExamples;
    return 0;
  }
  const RunOptions o = read_run_options(vm);
  const bool worker = !o.worker.empty();
  const DistributedEnv denv = distributed_env();
  if (denv.present && o.nproc > 1)
    throw ConfigError("--nproc: RANK and WORLD_SIZE are already set (this is one rank of a group)");

  Descriptor d = load_descriptor(o.file);
  Registry registry;
  load_plugins(registry, d, o.allow_plugin_path);
  if (!worker && (!denv.present || denv.rank == 0))
    for (auto& w : registry.warnings()) std::cerr << "ebmlab run: warning: " << w << "\n";
  std::size_t expanded = 0;
  auto configs = validate_all(d, registry, o.overrides, worker ? o.worker : o.only, &expanded);
  if (worker && (configs.size() != 1 || configs.front().name != o.worker))
    throw ConfigError("--worker " + o.worker + ": no such variant");

  if (o.dry_run) {
    for (auto& c : configs) std::cout << c.name << "\n";
    std::cerr << configs.size() << " variant" << (configs.size() == 1 ? "" : "s") << " (of " << expanded
              << "); nothing was run\n";
    return 0;
  }
  check_devices(configs, o.device_option);
  if (o.nproc > 1) return launch_ranks(rank_arguments(args, o), o.nproc, o.dist_timeout, command_line);

  std::unique_ptr<Collective> coll = join_group(denv, o.dist_timeout, configs);
  const bool writer = !coll || coll->rank() == 0;
  const std::string index = output_path(configs.front());
  const fs::path log_dir = fs::path(index).replace_extension("");
  const bool exists = fs::exists(index) || fs::exists(log_dir);
  if (!worker && writer && !o.resume && !o.overwrite && exists)
    throw ConfigError(index +
                      ": output exists; pass --resume to continue it, --overwrite to replace it, or set experiment.output");

  std::vector<Plan> plans = plan_variants(configs, log_dir, o.resume);
  if (o.resume && !worker && writer) check_resumable(index, configs);

  torch::set_num_threads(o.jobs > 1 ? std::max(1, o.threads / o.jobs) : o.threads);
  // Data are loaded (and checked) before anything is written; workers load their own.
  // Variants with identical [data] tables share one loaded data set.
  std::map<std::string, Dataset> datasets;
  std::vector<const Dataset*> data_of;
  if (o.jobs == 1) data_of = load_plan_data(plans, datasets);

  if (!worker && writer) {
    if (o.overwrite) {
      fs::remove(index);
      fs::remove_all(log_dir);
    }
    RunRecord rec{d, fs::absolute(o.file).string(), command_line, o.threads, coll ? coll->world() : 1, {}};
    for (auto& x : o.overrides) rec.overrides.push_back(x.text);
    write_run_index(index, log_dir, rec, configs, registry, o.resume);
  }
  if (coll) coll->barrier();  // every rank has decided what to resume before rank 0 writes

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  Progress progress(isatty(STDERR_FILENO) != 0 && writer, configs.front().log.progress_every, o.quiet || !writer);
  for (auto& p : plans)
    if (p.skip && writer && !worker) progress.message(p.cfg->name + ": already " + read_status(p.log_path) + "; skipped");

  const int exit_code = o.jobs > 1 ? run_in_workers(plans, worker_arguments(o), o.jobs, log_dir, progress)
                                   : run_in_process(plans, data_of, registry, progress, coll.get());
  if (o.jobs == 1 && (exit_code == 130 || exit_code == 143)) return exit_code;  // interrupted here: no "wrote" line
  if (!o.quiet && !worker && writer) std::cerr << "ebmlab run: wrote " << index << "\n";
  return exit_code;
}

}  // namespace ebm::cli
