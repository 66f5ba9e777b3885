#include "cli/commands.hpp"

#include <fnmatch.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <thread>

#include <boost/json.hpp>
#include <boost/program_options.hpp>
#include <torch/torch.h>

#include "cli/options.hpp"
#include "cli/spawn.hpp"
#include "config/descriptor.hpp"
#include "config/json.hpp"
#include "loader/registry.hpp"
#include "loader/torch_runtime.hpp"
#include "train/components.hpp"
#include "train/trainer.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace ebm::cli {

using namespace ebm::kernel;

namespace {

/// `--only a*,b`: the variants whose names match one of the globs.
std::vector<Variant> select_variants(std::vector<Variant> all, const std::string& only) {
  if (only.empty()) return all;
  const std::vector<std::string> globs = split_commas({only});
  std::vector<Variant> out;
  for (auto& v : all)
    for (auto& g : globs)
      if (fnmatch(g.c_str(), v.name.c_str(), 0) == 0) {
        out.push_back(v);
        break;
      }
  if (out.empty()) {
    std::string names;
    for (auto& v : all) names += (names.empty() ? "" : ", ") + v.name;
    throw ConfigError("--only " + only + ": no variant matches (variants: " + names + ")");
  }
  return out;
}

}  // namespace

std::vector<VariantConfig> validate_all(const Descriptor& d, const Registry& registry, const std::vector<Override>& overrides,
                                        const std::string& only, std::size_t* expanded) {
  std::vector<VariantConfig> out;
  // The same problems in many variants (a base mistake, a bad override) are listed once.
  std::vector<std::pair<std::string, std::vector<std::string>>> problems;  // text -> variants
  std::vector<Variant> all = expand(d, overrides);
  if (expanded) *expanded = all.size();
  const std::vector<Variant> variants = select_variants(std::move(all), only);
  for (auto& v : variants) {
    try {
      out.push_back(resolve(v, registry));
      dry_build(out.back(), registry);  // the plugins' own rules, checked by their constructors
    } catch (const ConfigError& e) {
      auto it = std::find_if(problems.begin(), problems.end(), [&](auto& p) { return p.first == e.what(); });
      if (it == problems.end()) it = problems.insert(problems.end(), {e.what(), {}});
      it->second.push_back(v.name);
    }
  }
  if (problems.empty()) return out;
  std::string text = "invalid descriptor";
  for (auto& [what, names] : problems) {
    text += "\n";
    if (variants.size() > 1 && names.size() == variants.size()) {
      text += "every variant (" + std::to_string(names.size()) + "):\n";
    } else if (variants.size() > 1) {
      std::string list;
      for (std::size_t i = 0; i < names.size() && i < 8; ++i) list += (i ? ", '" : "'") + names[i] + "'";
      if (names.size() > 8) list += " and " + std::to_string(names.size() - 8) + " more";
      text += (names.size() == 1 ? "variant " : "variants ") + list + ":\n";
    }
    text += what;
  }
  throw SchemaError(text);
}

int validate_command(const std::vector<std::string>& args) {
  po::options_description opts(
      "ebmlab validate FILE [key.path=value ...] [options]\n\nChecks FILE against the kernel's "
      "sections and every plugin's schema, expanding its includes, variants, sweep and the "
      "overrides given; writes nothing.\n\noptions");
  auto add = opts.add_options();
  add("help,h", "this text");
  add("json", "print the resolved configuration (defaults filled in) as JSON");
  add("only", po::value<std::string>(),
      "check only the variants matching these shell globs (comma-separated); the others are not validated");
  add("allow-plugin-path", kAllowPluginPathHelp);
  po::options_description hidden, all;
  auto add_hidden = hidden.add_options();
  add_hidden("args", po::value<std::vector<std::string>>(), "FILE then key.path=value overrides");
  all.add(opts).add(hidden);
  auto vm = parse_options(args, all, "args", -1);
  if (vm.count("help")) {
    std::cout << opts
              << "\nexit codes: 0 valid, 2 invalid (every problem is listed with file:line:column), 3 plugin load failure\n";
    return 0;
  }
  auto positional = vm.count("args") ? vm["args"].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (positional.empty()) throw ConfigError("missing the descriptor: ebmlab validate FILE [key.path=value ...]");
  std::vector<Override> overrides;
  for (std::size_t i = 1; i < positional.size(); ++i) overrides.push_back(parse_override(positional[i]));
  auto file = positional.front();
  const Descriptor d = load_descriptor(file);
  Registry registry;
  load_plugins(registry, d, vm.count("allow-plugin-path") > 0);
  auto configs = validate_all(d, registry, overrides, vm.count("only") ? vm["only"].as<std::string>() : "");
  if (vm.count("json")) {
    json::object o;
    for (auto& c : configs) o[c.name] = to_json(c.resolved);
    std::cout << pretty(o) << "\n";
  } else {
    std::string names;
    for (auto& c : configs) names += (names.empty() ? "" : ", ") + c.name;
    std::cout << file << ": valid (" << configs.size() << " variant" << (configs.size() == 1 ? "" : "s") << ": " << names
              << ")\n";
  }
  return 0;
}

void load_plugins(Registry& registry, const Descriptor& d, bool allow_descriptor_paths) {
  registry.load_default_path();
  const auto paths = descriptor_plugin_paths(d);
  if (!paths.empty() && !allow_descriptor_paths)
    throw ConfigError(paths.front().loc.str() + ": [plugins] paths asks to load plugin code from " + paths.front().path +
                      "; plugins are code, so a descriptor may name them only with --allow-plugin-path (use it for "
                      "descriptors you trust), or put the folder on EBMLAB_PLUGIN_PATH instead");
  for (const auto& p : paths) {
    std::error_code ec;
    if (!fs::exists(p.path, ec))
      throw ConfigError(p.loc.str() + ": plugins.paths: no such file or folder '" + p.path +
                        "' (relative paths are relative to the descriptor file naming them)");
    registry.load_path(p.path);
  }
}

namespace {

/// `plugins --check-child FILE`, in the spawned child: load the one library, ask every
/// entry for its schema, and compare names with the search path. Exit 0 or 3.
int check_child(const std::string& file) {
  Registry lib;
  lib.load_file(file);
  std::vector<std::string> problems;
  for (Kind kind : {Kind::backbone, Kind::normalization, Kind::sampler, Kind::loss, Kind::metric})
    for (auto* e : lib.entries(kind)) {
      std::string line = std::string(kind_name(kind)) + " " + e->entry.name + " " + (e->entry.version ? e->entry.version : "?");
      try {
        line += ": " + std::to_string(e->entry.schema().size()) + " parameters";
      } catch (const std::exception& ex) {
        problems.push_back(std::string(kind_name(kind)) + " '" + e->entry.name + "': its schema function threw: " + ex.what());
        continue;
      }
      std::cout << "  " << line << "\n";
    }
  for (auto& w : lib.warnings()) std::cout << "  warning: " << w << "\n";
  // Names must be unique across everything loaded together.
  Registry search;
  try {
    search.load_default_path();
    const std::string self = fs::canonical(file).string();
    for (Kind kind : {Kind::backbone, Kind::normalization, Kind::sampler, Kind::loss, Kind::metric})
      for (auto* e : lib.entries(kind))
        if (auto* other = search.find(kind, e->entry.name); other && fs::canonical(other->library->path).string() != self)
          problems.push_back(std::string(kind_name(kind)) + " '" + e->entry.name + "' is also provided by " +
                             other->library->path + ": both on the search path fail to load; rename one");
  } catch (const Error& ex) {
    std::cout << "  note: the search path itself does not load, so names were not compared: " << ex.what() << "\n";
  }
  for (auto& p : problems) std::cerr << file << ": " << p << "\n";
  return problems.empty() ? 0 : 3;
}

/// `plugins --check FILE`: the library is loaded in a spawned child, so a crash or a hang
/// in its initialisers cannot take this process down.
int check_plugin(const std::string& file, int timeout_s) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) throw ConfigError("--check " + file + ": no such file; expected a plugin library (.so)");
  std::cout << file << ":\n" << std::flush;
  const pid_t pid = spawn_self({"plugins", "--check-child", file}, {});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int status = 0;
  while (true) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) throw RunError("--check: lost the checking process: " + std::string(std::strerror(errno)));
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      std::cerr << file << ": not usable: loading it did not finish within " << timeout_s
                << " s (an initialiser that hangs?); the checking process was killed\n";
      return 3;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    std::cerr << file << ": not usable: loading it killed the checking process with signal " << sig << " (" << strsignal(sig)
              << "); this process is unaffected. Do not put it on the plugin path: ebmlab would die "
              << "the same way\n";
    return 3;
  }
  const int code = WEXITSTATUS(status);
  if (code == 0)
    std::cout << file << ": ok\n";
  else
    std::cerr << file << ": not usable (the problems are listed above)\n";
  return code == 0 ? 0 : 3;
}

}  // namespace

int plugins_command(const std::vector<std::string>& args) {
  po::options_description opts(
      "ebmlab plugins [options]\n\nLists the plugins found on the search path, or describes "
      "one plugin's parameters.\n\noptions");
  auto add = opts.add_options();
  add("help,h", "this text");
  add("kind", po::value<std::string>(), "only this kind: backbone, sampler, loss, normalization, metric");
  add("describe", po::value<std::string>(), "print one plugin's parameters");
  add("json", "machine-readable output");
  add("check", po::value<std::string>(),
      "load this one library in a separate process and report what is wrong with it "
      "(exit 0 usable, 3 not)");
  add("timeout", po::value<int>()->default_value(60), "--check: seconds the library may take to load");
  po::options_description hidden, all;
  auto add_hidden = hidden.add_options();
  add_hidden("check-child", po::value<std::string>(), "internal: the process --check spawns");
  all.add(opts).add(hidden);
  auto vm = parse_options(args, all);
  if (vm.count("help")) {
    std::cout << opts << "\nexamples:\n  ebmlab plugins --describe pgd\n  ebmlab plugins --check build/plugins/libebmlab_pgd.so\n"
              << "\nexit codes: 0 ok, 2 bad arguments, 3 a plugin does not load (or --check found it unusable)\n";
    return 0;
  }
  if (vm.count("check-child")) return check_child(vm["check-child"].as<std::string>());
  if (vm.count("check")) {
    if (vm["timeout"].as<int>() < 1) throw ConfigError("--timeout: expected seconds >= 1");
    return check_plugin(vm["check"].as<std::string>(), vm["timeout"].as<int>());
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
      json::object o{{"kind", kind_name(kind)},
                     {"name", e->entry.name},
                     {"version", e->entry.version},
                     {"summary", e->entry.summary},
                     {"library", e->library->path}};
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
  if (!vm.count("describe")) std::printf("# %s\n", torch_runtime().summary().c_str());
  for (auto& v : out) {
    auto& o = v.get_object();
    std::printf("%-14s %-12s %-6s %s\n", o["kind"].as_string().c_str(), o["name"].as_string().c_str(),
                o["version"].as_string().c_str(), o["summary"].as_string().c_str());
    if (!o.contains("parameters")) continue;
    std::printf("  library: %s\n", o["library"].as_string().c_str());
    std::printf(o["parameters"].as_array().empty() ? "  parameters: none\n" : "  parameters:\n");
    for (auto& p : o["parameters"].as_array()) {
      auto& param = p.as_object();
      std::string def = param.contains("default") ? " (default " + json::serialize(param.at("default")) + ")"
                                                  : (param.at("required").as_bool() ? " (required)" : " (optional)");
      std::printf("    %-16s %s%s\n      %s\n", param.at("name").as_string().c_str(), param.at("describe").as_string().c_str(),
                  def.c_str(), param.at("doc").as_string().c_str());
    }
  }
  return 0;
}

}  // namespace ebm::cli
