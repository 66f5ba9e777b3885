// See session_options.hpp.
#include "cli/session_options.hpp"

#include "ebmlab/error.hpp"

#include "config/descriptor.hpp"

namespace po = boost::program_options;

namespace ebm::cli {

using kernel::parse_toml_text;

void common_options(po::options_description& opts) {
  auto add = opts.add_options();
  add("help,h", "this text");
  add("run", po::value<std::string>(), "the run's index file (runs/<name>.h5)");
  add("variant", po::value<std::string>()->default_value(""), "variant to use (needed when the run has several)");
  add("checkpoint", po::value<std::string>()->default_value("last"),
      "last (highest step), best (ckpt-best.h5), a step number, or a checkpoint file");
  add("weights", po::value<std::string>()->default_value("auto"),
      "raw, ema, or auto (what the checkpoint's stage evaluates with: eval_weights)");
  add("threads", po::value<int>()->default_value(0), "intra-op threads (0 = all cores)");
  add("seed", po::value<std::int64_t>()->default_value(0), "seed of the random numbers the command draws");
  add("device", po::value<std::string>()->default_value("auto"),
      "auto (a GPU when this LibTorch has CUDA and one is visible), cpu, cuda or cuda:N; a checkpoint written on one "
      "device loads on any");
}

kernel::SessionRequest session_request(const po::variables_map& vm, const std::string& command) {
  kernel::SessionRequest r;
  r.command = command;
  if (vm.count("run")) r.run = vm["run"].as<std::string>();
  r.variant = vm["variant"].as<std::string>();
  r.checkpoint = vm["checkpoint"].as<std::string>();
  r.weights = vm["weights"].as<std::string>();
  r.threads = vm["threads"].as<int>();
  r.seed = vm["seed"].as<std::int64_t>();
  r.device = vm["device"].as<std::string>();
  return r;
}

std::pair<std::string, Value> parse_setting(const std::string& setting, const std::string& option) {
  auto eq = setting.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError(option + " " + setting + ": expected key=value, e.g. " + option + " steps=100");
  std::string key = setting.substr(0, eq), text = setting.substr(eq + 1);
  SourceLoc loc{option + " " + setting, 0, 0};
  try {
    Value root = parse_toml_text("v = " + text + "\n", option + " " + setting);
    Value v = *root.find("v");
    v.set_loc(loc);
    return {key, v};
  } catch (const ConfigError&) {
    return {key, Value(text, loc)};
  }
}

}  // namespace ebm::cli
