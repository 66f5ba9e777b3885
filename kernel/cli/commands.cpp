#include "commands.hpp"
#include "options.hpp"

#include <unistd.h>

#include <boost/json.hpp>
#include <boost/program_options.hpp>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <thread>
#include <torch/torch.h>

#include "../components.hpp"
#include "../descriptor.hpp"
#include "../json.hpp"
#include "../registry.hpp"
#include "../trainer.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace ebm::cli {

using namespace ebm::kernel;

namespace {

// Validates every variant; collects all problems before failing.
std::vector<VariantConfig> validate_all(const Descriptor& d, const Registry& registry) {
  std::vector<VariantConfig> out;
  std::string problems;
  const std::vector<Variant> variants = expand(d);
  for (auto& v : variants) {
    try {
      out.push_back(resolve(v, registry));
    } catch (const SchemaError& e) {
      std::string label = variants.size() == 1 ? "" : "variant '" + v.name + "':\n";
      problems += (problems.empty() ? "" : "\n") + label + e.what();
    }
  }
  if (!problems.empty()) throw SchemaError("invalid descriptor\n" + problems);
  return out;
}

std::string output_path(const VariantConfig& cfg) {
  if (cfg.experiment.has("output")) return cfg.experiment.string("output");
  return "runs/" + cfg.experiment.string("name") + ".h5";
}

extern "C" void on_signal(int sig) { g_stop_signal.store(sig); }

}  // namespace

int run_command(const std::vector<std::string>& args, const std::string& command_line) {
  po::options_description opts("ebmlab run FILE [options]\n\nValidates FILE, then trains and evaluates each variant, "
                               "writing the index file (experiment.output, default runs/<name>.h5) and one log per "
                               "variant beside it (runs/<name>/<variant>.h5).\n\noptions");
  opts.add_options()("help,h", "this text")("file", po::value<std::string>(), "experiment descriptor (TOML)")(
      "threads", po::value<int>()->default_value(0), "intra-op threads (0 = all cores)")(
      "overwrite", "replace existing output files")("quiet,q", "no progress output");
  auto vm = parse_options(args, opts, "file");
  if (vm.count("help")) {
    std::cout << opts << "\nexit codes: 0 every variant completed or diverged, 1 a variant failed, 2 bad input, "
                         "3 plugin load failure, 130/143 interrupted\n";
    return 0;
  }
  if (!vm.count("file")) throw ConfigError("missing the descriptor: ebmlab run FILE (see ebmlab run --help)");
  const std::string file = vm["file"].as<std::string>();
  int threads = vm["threads"].as<int>();
  if (threads < 0) throw ConfigError("--threads " + std::to_string(threads) + ": expected 0 (all cores) or a positive count");
  if (threads == 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  Registry registry;
  registry.load_default_path();
  for (auto& w : registry.warnings()) std::cerr << "ebmlab run: warning: " << w << "\n";
  Descriptor d = load_descriptor(file);
  auto configs = validate_all(d, registry);

  const std::string index = output_path(configs.front());
  const fs::path log_dir = fs::path(index).replace_extension("");
  if (!vm.count("overwrite") && (fs::exists(index) || fs::exists(log_dir)))
    throw ConfigError(index + ": output exists; pass --overwrite to replace it (or set experiment.output)");

  torch::set_num_threads(threads);
  // Data are loaded (and checked) before anything is written.
  // Variants with identical [data] tables share one loaded data set.
  std::map<std::string, Dataset> datasets;
  std::vector<const Dataset*> data_of;
  for (auto& cfg : configs) {
    auto key = json::serialize(to_json(Value(cfg.data.values())));
    auto it = datasets.find(key);
    if (it == datasets.end())
      it = datasets.emplace(key, load_dataset(cfg.data, static_cast<std::uint64_t>(cfg.experiment.integer("seed")))).first;
    data_of.push_back(&it->second);
  }

  if (vm.count("overwrite")) {
    fs::remove(index);
    fs::remove_all(log_dir);
  }
  IndexInfo info;
  info.descriptor_text = d.text;
  info.descriptor_path = fs::absolute(file).string();
  info.command_line = command_line;
  info.threads = threads;
  json::object resolved;
  for (auto& cfg : configs) {
    resolved[cfg.name] = to_json(cfg.resolved);
    info.variants[cfg.name] = (log_dir.filename() / (cfg.name + ".h5")).string();
  }
  info.resolved_json = json::serialize(resolved);
  for (auto& lib : registry.libraries()) info.plugins.push_back({lib->path, lib->sha256, lib->fingerprint, lib->compiler});
  write_index(index, info);

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  bool quiet = vm.count("quiet") > 0;
  Progress progress(isatty(STDERR_FILENO) != 0, configs.front().log.real("progress_every"), quiet);
  int exit_code = 0;
  for (std::size_t vi = 0; vi < configs.size(); ++vi) {
    const VariantConfig& cfg = configs[vi];
    const Dataset& data = *data_of[vi];
    torch::manual_seed(static_cast<std::uint64_t>(cfg.experiment.integer("seed")));
    std::string log_path = (log_dir / (cfg.name + ".h5")).string();
    std::unique_ptr<VariantLog> log;
    try {
      Components comps = build_components(cfg, registry, data.info);
      log = std::make_unique<VariantLog>(log_path, cfg.name, json::serialize(to_json(cfg.resolved)), log_layout(comps));
      Trainer trainer(cfg, comps, data, log.get(), &progress);
      trainer.set_checkpoint_dir((log_dir / cfg.name).string());
      std::string status = trainer.run();
      log->set_status(status, trainer.detail());
      log->close();
      if (status == "interrupted") {
        progress.message("ebmlab run: interrupted; " + log_path + " marked interrupted");
        return g_stop_signal.load() == SIGTERM ? 143 : 130;
      }
      progress.message(cfg.name + ": " + status + " -> " + log_path);
    } catch (const std::exception& e) {
      // The index already links this log: leave one that says "failed", never a dangling link.
      try {
        if (!log) log = std::make_unique<VariantLog>(log_path, cfg.name, json::serialize(to_json(cfg.resolved)), VariantLog::Layout{});
        log->set_status("failed", e.what());
        log->close();
      } catch (...) {}
      std::cerr << "ebmlab run: variant '" << cfg.name << "' failed: " << e.what() << "\n";
      exit_code = 1;
    }
  }
  if (!quiet) std::cerr << "ebmlab run: wrote " << index << "\n";
  return exit_code;
}

int validate_command(const std::vector<std::string>& args) {
  po::options_description opts("ebmlab validate FILE [options]\n\nChecks FILE against the kernel's sections and every "
                               "plugin's schema, expanding its variants; writes nothing.\n\noptions");
  opts.add_options()("help,h", "this text")("file", po::value<std::string>(), "experiment descriptor (TOML)")(
      "json", "print the resolved configuration (defaults filled in) as JSON");
  auto vm = parse_options(args, opts, "file");
  if (vm.count("help")) {
    std::cout << opts << "\nexit codes: 0 valid, 2 invalid (every problem is listed with file:line:column), 3 plugin load failure\n";
    return 0;
  }
  if (!vm.count("file")) throw ConfigError("missing the descriptor: ebmlab validate FILE");
  Registry registry;
  registry.load_default_path();
  auto file = vm["file"].as<std::string>();
  auto configs = validate_all(load_descriptor(file), registry);
  if (vm.count("json")) {
    json::object o;
    for (auto& c : configs) o[c.name] = to_json(c.resolved);
    std::cout << pretty(o) << "\n";
  } else {
    std::string names;
    for (auto& c : configs) names += (names.empty() ? "" : ", ") + c.name;
    std::cout << file << ": valid (" << configs.size() << " variant" << (configs.size() == 1 ? "" : "s") << ": " << names << ")\n";
  }
  return 0;
}

int plugins_command(const std::vector<std::string>& args) {
  po::options_description opts("ebmlab plugins [options]\n\nLists the plugins found on the search path, or describes "
                               "one plugin's parameters.\n\noptions");
  opts.add_options()("help,h", "this text")("kind", po::value<std::string>(), "only this kind: backbone, sampler, loss, normalization, metric")(
      "describe", po::value<std::string>(), "print one plugin's parameters")("json", "machine-readable output");
  auto vm = parse_options(args, opts);
  if (vm.count("help")) {
    std::cout << opts;
    return 0;
  }
  Registry registry;
  registry.load_default_path();
  std::vector<Kind> kinds = {Kind::backbone, Kind::normalization, Kind::sampler, Kind::loss, Kind::metric};
  if (vm.count("kind")) {
    auto k = vm["kind"].as<std::string>();
    auto it = std::find_if(kinds.begin(), kinds.end(), [&](Kind x) { return k == kind_name(x); });
    if (it == kinds.end()) throw ConfigError("--kind " + k + ": expected one of backbone, normalization, sampler, loss, metric");
    kinds = {*it};
  }
  json::array out;
  bool found = false;
  for (Kind kind : kinds)
    for (auto* e : registry.entries(kind)) {
      if (vm.count("describe") && vm["describe"].as<std::string>() != e->entry.name) continue;
      found = true;
      json::object o{{"kind", kind_name(kind)}, {"name", e->entry.name}, {"version", e->entry.version},
                     {"summary", e->entry.summary}, {"library", e->library->path}};
      if (vm.count("describe")) {
        json::array params;
        for (auto& s : e->entry.schema()) params.push_back(to_json(s));
        o["parameters"] = params;
      }
      out.push_back(o);
    }
  if (vm.count("describe") && !found)
    throw ConfigError("no plugin named '" + vm["describe"].as<std::string>() + "' (see ebmlab plugins)");
  if (vm.count("json")) {
    std::cout << pretty(out) << "\n";
    return 0;
  }
  for (auto& v : out) {
    auto& o = v.get_object();
    std::printf("%-14s %-12s %-6s %s\n", o["kind"].as_string().c_str(), o["name"].as_string().c_str(),
                o["version"].as_string().c_str(), o["summary"].as_string().c_str());
    if (!o.contains("parameters")) continue;
    std::printf("  library: %s\n  parameters:\n", o["library"].as_string().c_str());
    for (auto& p : o["parameters"].as_array()) {
      auto& po_ = p.as_object();
      std::string def = po_.contains("default") ? " (default " + json::serialize(po_.at("default")) + ")"
                                                : (po_.at("required").as_bool() ? " (required)" : " (optional)");
      std::printf("    %-16s %s%s\n      %s\n", po_.at("name").as_string().c_str(), po_.at("describe").as_string().c_str(),
                  def.c_str(), po_.at("doc").as_string().c_str());
    }
  }
  return 0;
}

}  // namespace ebm::cli
