// `ebmlab eval`: runs metrics on a saved model and adds the results to the variant's log as
// one /posthoc/<n> record, or prints them (docs/evaluation.md).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include <boost/json.hpp>
#include <boost/program_options.hpp>
#include <torch/torch.h>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "cli/session_options.hpp"
#include "config/descriptor.hpp"
#include "config/json.hpp"
#include "config/validate.hpp"
#include "run/eval_services.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace ebm::cli {

using namespace ebm::kernel;

namespace {

/// --metrics-file FILE: its [[metric]] tables replace the run's; its [samplers.NAME] tables
/// are added to the run's (replacing one of the same name whole).
TreeEdit metrics_file_edit(const std::string& file) {
  Descriptor extra = load_descriptor(file);
  const Value* list = extra.root.find("metric");
  if (!list || list->type() != Value::Type::list)
    throw ConfigError(file + ": expected [[metric]] tables (a `metric` array), found none");
  const Value* samplers = extra.root.find("samplers");
  for (auto& [key, v] : extra.root.as_table())
    if (key != "metric" && key != "samplers")
      throw ConfigError(v.loc().str() + ": unexpected [" + key +
                        "] in a metrics file; it may hold [[metric]] tables and "
                        "[samplers.NAME] tables (samplers the metrics draw from, added to the run's)");
  return [list = *list, samplers = samplers ? *samplers : Value()](Table& root, const Registry&) {
    root["metric"] = list;
    if (!samplers.is_null()) {
      if (root["samplers"].type() != Value::Type::table) root["samplers"] = Value(Table{});
      for (auto& [name, table] : samplers.as_table()) root["samplers"].as_table()[name] = table;
    }
  };
}

/// --metrics a,b: instance names of the run's [[metric]] entries, or plugin names with
/// their default parameters.
TreeEdit metrics_list_edit(const std::vector<std::string>& names) {
  return [names](Table& root, const Registry& registry) {
    List have = root.count("metric") ? root["metric"].as_list() : List{};
    List chosen;
    std::vector<std::string> available;
    for (auto& m : have) {
      const Value* n = m.find("name");
      available.push_back(n ? n->as_string() : m.find("plugin")->as_string());
    }
    for (auto& want : names) {
      auto it = std::find(available.begin(), available.end(), want);
      if (it != available.end())
        chosen.push_back(have[static_cast<std::size_t>(it - available.begin())]);
      else if (registry.find(Kind::metric, want))
        chosen.push_back(Value(Table{{"plugin", Value(want)}}));
      else
        throw ConfigError("--metrics " + want + ": neither a metric of this run (" + join(available) + ") nor a metric plugin (" +
                          join(registry.names(Kind::metric)) + ")");
    }
    root["metric"] = Value(chosen);
  };
}

/// metric/term -> value, as {metric: {term: value}} (non-finite values as null).
json::object metrics_json(const std::map<std::string, double>& results) {
  json::object metrics;
  for (auto& [key, value] : results) {
    auto slash = key.find('/');
    std::string metric = key.substr(0, slash), term = key.substr(slash + 1);
    if (!metrics.contains(metric)) metrics[metric] = json::object();
    metrics[metric].as_object()[term] = std::isfinite(value) ? json::value(value) : json::value(nullptr);
  }
  return metrics;
}

}  // namespace

int eval_command(const std::vector<std::string>& args, const std::string& command_line) {
  po::options_description opts(
      "ebmlab eval RUN.h5 [options]\n\nEvaluates a saved model: loads a checkpoint of a variant, runs metrics on a split "
      "and adds the results to the variant's log as /posthoc/<n> (or prints them with --json).\n\noptions");
  common_options(opts);
  auto add = opts.add_options();
  add("metrics", po::value<std::vector<std::string>>()->composing(),
      "metrics to run: instance names of the descriptor's [[metric]] entries or metric plugin names "
      "(default parameters); comma-separated or repeated (default: the descriptor's metrics)");
  add("metrics-file", po::value<std::string>(),
      "a TOML file with [[metric]] tables replacing the descriptor's metrics, and optionally [samplers.NAME] tables "
      "they draw from (added to the run's samplers)");
  add("split", po::value<std::string>()->default_value("test"), "test or val");
  add("json", "print the results as JSON instead of adding them to the log");
  auto vm = parse_options(args, opts, "run");
  if (vm.count("help")) {
    std::cout
        << opts
        << "\nexamples:\n  ebmlab eval runs/quickstart.h5\n  ebmlab eval runs/dat.h5 --metrics accuracy,ece,robust_accuracy\n"
           "  ebmlab eval runs/feature_net.h5 --checkpoint best --split val\n"
           "  ebmlab eval runs/quickstart.h5 --metrics-file experiments/eval/five_axes.toml --json\n"
           "\nexit codes: 0 ok, 1 evaluation failed, 2 bad input, 3 plugin load failure\n";
    return 0;
  }
  const std::string split = vm["split"].as<std::string>();
  if (split != "test" && split != "val") throw ConfigError("--split " + split + ": expected test or val");
  if (vm.count("metrics") && vm.count("metrics-file"))
    throw ConfigError("--metrics and --metrics-file exclude each other: list every metric in the file");

  TreeEdit edit;
  if (vm.count("metrics-file"))
    edit = metrics_file_edit(vm["metrics-file"].as<std::string>());
  else if (vm.count("metrics"))
    edit = metrics_list_edit(split_commas(vm["metrics"].as<std::vector<std::string>>()));
  auto s = open_session(session_request(vm, "eval"), edit, !vm.count("json"));
  if (s->comps->metrics.empty()) throw ConfigError("no metrics to run: the run declares none; pass --metrics or --metrics-file");
  if ((split == "test" ? s->data.test : s->data.val).size() == 0)
    throw ConfigError("--split " + split + ": the run's " + split + " split has no images");
  auto results = s->trainer->evaluate(split, s->weights);
  const std::string used = s->trainer->last_used_ema() ? "ema" : "raw";

  const json::object metrics = metrics_json(results);
  json::object refs;
  for (auto& [path, sha] : s->services->loaded()) refs[path] = sha;
  if (vm.count("json")) {
    json::object out{
        {"run", s->run.index}, {"variant", s->run.variant}, {"checkpoint", s->checkpoint}, {"checkpoint_step", s->step},
        {"split", split},      {"weights", used},           {"metrics", metrics},          {"references", refs}};
    std::cout << pretty(out) << "\n";
    return 0;
  }
  PosthocWriter w(s->run.log, "eval", command_line);
  describe_source(w, *s);
  w.attr("", "split", split);
  w.attr("", "references", json::serialize(refs));
  for (auto& m : s->comps->metrics) {
    w.attr(m.name, "plugin", m.plugin);
    w.attr(m.name, "params", m.params_json);
  }
  for (auto& [key, value] : results) w.scalar(key, value);
  for (auto& [key, t] : s->trainer->last_tensors()) w.tensor(key, t);
  w.close();
  std::printf("%s (variant %s, %s, step %lld, %s weights, %s split)\n", s->run.index.c_str(), s->run.variant.c_str(),
              fs::path(s->checkpoint).filename().c_str(), static_cast<long long>(s->step), used.c_str(), split.c_str());
  for (auto& [key, value] : results) std::printf("  %-40s %.6g\n", key.c_str(), value);
  std::printf("added to %s:%s\n", s->run.log.c_str(), w.group().c_str());
  return 0;
}

}  // namespace ebm::cli
