#include "commands.hpp"
#include "options.hpp"

#include <fnmatch.h>
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

std::vector<VariantConfig> validate_all(const Descriptor& d, const Registry& registry, const std::vector<Override>& overrides) {
  std::vector<VariantConfig> out;
  // The same problems in many variants (a base mistake, a bad override) are listed once.
  std::vector<std::pair<std::string, std::vector<std::string>>> problems;  // text -> variants
  const std::vector<Variant> variants = expand(d, overrides);
  for (auto& v : variants) {
    try {
      out.push_back(resolve(v, registry));
    } catch (const SchemaError& e) {
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

/// `--only a*,b`: the variants whose names match one of the globs.
std::vector<VariantConfig> select_variants(std::vector<VariantConfig> all, const std::string& only) {
  if (only.empty()) return all;
  std::vector<std::string> globs;
  std::size_t start = 0;
  while (start <= only.size()) {
    auto comma = only.find(',', start);
    globs.push_back(only.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  std::vector<VariantConfig> out;
  for (auto& c : all)
    for (auto& g : globs)
      if (fnmatch(g.c_str(), c.name.c_str(), 0) == 0) {
        out.push_back(c);
        break;
      }
  if (out.empty()) {
    std::string names;
    for (auto& c : all) names += (names.empty() ? "" : ", ") + c.name;
    throw ConfigError("--only " + only + ": no variant matches (variants: " + names + ")");
  }
  return out;
}

void check_resumable(const std::string& index, const std::vector<VariantConfig>& configs) {
  if (!fs::exists(index)) return;
  json::object recorded = json::parse(read_string(index, "resolved")).as_object();
  for (auto& c : configs) {
    auto it = recorded.find(c.name);
    if (it == recorded.end()) continue;
    if (json::serialize(it->value()) != json::serialize(to_json(c.resolved)))
      throw ConfigError(index + ": variant '" + c.name + "' was run with a different configuration than the descriptor "
                        "and overrides give now; --resume needs the same ones (or pass --overwrite to start over)");
  }
}

int validate_command(const std::vector<std::string>& args) {
  po::options_description opts("ebmlab validate FILE [key.path=value ...] [options]\n\nChecks FILE against the kernel's "
                               "sections and every plugin's schema, expanding its includes, variants, sweep and the "
                               "overrides given; writes nothing.\n\noptions");
  opts.add_options()("help,h", "this text")("json", "print the resolved configuration (defaults filled in) as JSON")(
      "only", po::value<std::string>(), "only the variants matching these shell globs (comma-separated)");
  po::options_description hidden, all;
  hidden.add_options()("args", po::value<std::vector<std::string>>(), "FILE then key.path=value overrides");
  all.add(opts).add(hidden);
  auto vm = parse_options(args, all, "args", -1);
  if (vm.count("help")) {
    std::cout << opts << "\nexit codes: 0 valid, 2 invalid (every problem is listed with file:line:column), 3 plugin load failure\n";
    return 0;
  }
  auto positional = vm.count("args") ? vm["args"].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (positional.empty()) throw ConfigError("missing the descriptor: ebmlab validate FILE [key.path=value ...]");
  std::vector<Override> overrides;
  for (std::size_t i = 1; i < positional.size(); ++i) overrides.push_back(parse_override(positional[i]));
  Registry registry;
  registry.load_default_path();
  auto file = positional.front();
  auto configs = validate_all(load_descriptor(file), registry, overrides);
  if (vm.count("only")) configs = select_variants(configs, vm["only"].as<std::string>());
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
