// After-the-fact commands on a saved run: `ebmlab eval`, `ebmlab sample` and
// `ebmlab counterfactual`. Each reopens a variant from its index file, loads a checkpoint
// and adds one /posthoc/<n> record to the variant's log (docs/evaluation.md).
#include <boost/json.hpp>
#include <boost/program_options.hpp>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>
#include <torch/torch.h>

#include "../checkpoint.hpp"
#include "../components.hpp"
#include "../descriptor.hpp"
#include "../eval_services.hpp"
#include "../json.hpp"
#include "../png.hpp"
#include "../posthoc.hpp"
#include "../registry.hpp"
#include "../saved_run.hpp"
#include "../trainer.hpp"
#include "commands.hpp"
#include "options.hpp"
#include "ebmlab/mode_guard.hpp"
#include "ebmlab/sampling.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace ebm::cli {

using namespace ebm::kernel;

namespace {

/// A saved variant with a checkpoint loaded into a trainer, ready to evaluate or sample.
struct Session {
  std::unique_ptr<Registry> registry;  // first: outlives the components built from its plugins
  SavedRun run;
  Dataset data;
  std::unique_ptr<Components> comps;
  std::unique_ptr<Progress> progress;
  std::unique_ptr<Trainer> trainer;
  std::string checkpoint, checkpoint_sha256;
  std::string weights;  ///< raw | ema, as resolved from --weights
  std::int64_t step = 0;
};

using TreeEdit = std::function<void(Table& root, const Registry& registry)>;

void common_options(po::options_description& opts) {
  opts.add_options()("help,h", "this text")("run", po::value<std::string>(), "the run's index file (runs/<name>.h5)")(
      "variant", po::value<std::string>()->default_value(""), "variant to use (needed when the run has several)")(
      "checkpoint", po::value<std::string>()->default_value("last"),
      "last (highest step), best (ckpt-best.h5), a step number, or a checkpoint file")(
      "weights", po::value<std::string>()->default_value("auto"),
      "raw, ema, or auto (what the checkpoint's stage evaluates with: eval_weights)")(
      "threads", po::value<int>()->default_value(0), "intra-op threads (0 = all cores)")(
      "seed", po::value<std::int64_t>()->default_value(0), "seed of the random numbers the command draws");
}

/// Samplers whose plugin and parameters are what the run trained with: their saved state
/// (replay buffers, curricula) still applies.
std::vector<std::string> unchanged_samplers(const VariantConfig& before, const VariantConfig& after) {
  std::map<std::string, std::string> old;
  for (auto& s : before.samplers) old[s.name] = s.plugin + json::serialize(to_json(Value(s.params.values())));
  std::vector<std::string> out;
  for (auto& s : after.samplers)
    if (old.count(s.name) && old[s.name] == s.plugin + json::serialize(to_json(Value(s.params.values())))) out.push_back(s.name);
  return out;
}

std::unique_ptr<Session> open_session(const po::variables_map& vm, const std::string& command, const TreeEdit& edit = {},
                                      bool writes = true) {
  if (!vm.count("run")) throw ConfigError("missing the run: ebmlab " + command + " RUN.h5 (see ebmlab " + command + " --help)");
  const std::string weights = vm["weights"].as<std::string>();
  if (weights != "auto" && weights != "raw" && weights != "ema") throw ConfigError("--weights " + weights + ": expected raw, ema or auto");
  int threads = vm["threads"].as<int>();
  if (threads < 0) throw ConfigError("--threads " + std::to_string(threads) + ": expected 0 (all cores) or a positive count");
  torch::set_num_threads(threads == 0 ? static_cast<int>(std::max(1u, std::thread::hardware_concurrency())) : threads);
  torch::manual_seed(static_cast<std::uint64_t>(vm["seed"].as<std::int64_t>()));

  auto s = std::make_unique<Session>();
  s->registry = std::make_unique<Registry>();
  s->registry->load_default_path();
  s->run = open_saved_run(vm["run"].as<std::string>(), vm["variant"].as<std::string>(), *s->registry);
  // Before any work: a log that cannot take the results fails now, not after the evaluation.
  if (writes) PosthocWriter::check_writable(s->run.log);
  const VariantConfig trained = s->run.cfg;
  if (edit) {
    Value tree = s->run.cfg.resolved;
    edit(tree.as_table(), *s->registry);
    s->run.cfg = resolve(Variant{s->run.variant, tree}, *s->registry);
  }
  s->checkpoint = find_checkpoint(s->run, vm["checkpoint"].as<std::string>());
  verify_checkpoint(s->run, s->checkpoint);
  CheckpointData cd = read_checkpoint(s->checkpoint);
  s->checkpoint_sha256 = sha256_file(s->checkpoint);
  s->step = cd.step;
  s->data = load_run_data(s->run);
  s->comps = std::make_unique<Components>(build_components(s->run.cfg, *s->registry, s->data.info));
  s->progress = std::make_unique<Progress>(false, 1e9, true);
  s->trainer = std::make_unique<Trainer>(s->run.cfg, *s->comps, s->data, nullptr, s->progress.get());
  s->trainer->load_for_evaluation(cd, s->checkpoint, unchanged_samplers(trained, s->run.cfg));
  // Seeded after loading, so --seed (not the checkpoint's generator) decides what is drawn.
  torch::manual_seed(static_cast<std::uint64_t>(vm["seed"].as<std::int64_t>()));
  const std::string stage_weights = s->run.cfg.stages[static_cast<std::size_t>(cd.stage)].eval_weights;
  s->weights = weights == "auto" ? (stage_weights == "ema" && !cd.ema.empty() ? "ema" : "raw") : weights;
  if (s->weights == "ema" && cd.ema.empty())
    throw ConfigError("--weights ema: " + s->checkpoint + " holds no weight average (set ema in the stage to keep one)");
  return s;
}

void describe_source(PosthocWriter& w, const Session& s) {
  w.attr("", "variant", s.run.variant);
  w.attr("", "checkpoint", s.checkpoint);
  w.attr("", "checkpoint_sha256", s.checkpoint_sha256);
  w.attr("", "checkpoint_step", static_cast<double>(s.step));
  w.attr("", "weights", s.weights);
}

/// sample and counterfactual work on the model itself: put the average in when asked.
void apply_weights(Session& s) {
  if (s.weights == "ema") s.trainer->load_ema_into_model();
}

/// `key=value` with the value read as TOML (numbers, booleans, arrays), else as a string.
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

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

std::vector<std::string> split_names(const std::vector<std::string>& raw) {
  std::vector<std::string> out;
  for (auto& r : raw) {
    std::size_t start = 0;
    while (start <= r.size()) {
      auto comma = r.find(',', start);
      std::string name = r.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!name.empty()) out.push_back(name);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return out;
}

/// Images drawn in one PNG grid (the HDF5 record keeps all of them).
constexpr std::int64_t kMaxGrid = 256;

/// Test images of one class (or all), repeated when fewer than n exist.
Batch pick_images(const Dataset& data, std::int64_t n, std::int64_t cls) {
  const Split& split = data.test.size() > 0 ? data.test : data.val;
  at::Tensor idx = cls >= 0 ? split.y.eq(cls).nonzero().view(-1) : torch::arange(split.size());
  if (idx.numel() == 0) throw ConfigError("--class " + std::to_string(cls) + ": no test image has this class");
  idx = idx.repeat({(n + idx.numel() - 1) / idx.numel()}).slice(0, 0, n);
  return split.take(idx);
}

}  // namespace

int eval_command(const std::vector<std::string>& args, const std::string& command_line) {
  po::options_description opts(
      "ebmlab eval RUN.h5 [options]\n\nEvaluates a saved model: loads a checkpoint of a variant, runs metrics on a split "
      "and adds the results to the variant's log as /posthoc/<n> (or prints them with --json).\n\noptions");
  common_options(opts);
  opts.add_options()("metrics", po::value<std::vector<std::string>>()->composing(),
                     "metrics to run: instance names of the descriptor's [[metric]] entries or metric plugin names "
                     "(default parameters); comma- or space-separated (default: the descriptor's metrics)")(
      "metrics-file", po::value<std::string>(),
      "a TOML file with [[metric]] tables replacing the descriptor's metrics, and optionally [samplers.NAME] tables "
      "they draw from (added to the run's samplers)")(
      "split", po::value<std::string>()->default_value("test"), "test or val")(
      "json", "print the results as JSON instead of adding them to the log");
  auto vm = parse_options(args, opts, "run");
  if (vm.count("help")) {
    std::cout << opts << "\nexamples:\n  ebmlab eval runs/quickstart.h5\n  ebmlab eval runs/dat.h5 --metrics accuracy,ece,robust_accuracy\n"
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
  if (vm.count("metrics-file")) {
    const std::string file = vm["metrics-file"].as<std::string>();
    Descriptor extra = load_descriptor(file);
    const Value* list = extra.root.find("metric");
    if (!list || list->type() != Value::Type::list)
      throw ConfigError(file + ": expected [[metric]] tables (a `metric` array), found none");
    const Value* samplers = extra.root.find("samplers");
    for (auto& [key, v] : extra.root.as_table())
      if (key != "metric" && key != "samplers")
        throw ConfigError(v.loc().str() + ": unexpected [" + key + "] in a metrics file; it may hold [[metric]] tables and "
                          "[samplers.NAME] tables (samplers the metrics draw from, added to the run's)");
    edit = [list = *list, samplers = samplers ? *samplers : Value()](Table& root, const Registry&) {
      root["metric"] = list;
      // A sampler of the file replaces the run's sampler of the same name whole.
      if (!samplers.is_null()) {
        if (root["samplers"].type() != Value::Type::table) root["samplers"] = Value(Table{});
        for (auto& [name, table] : samplers.as_table()) root["samplers"].as_table()[name] = table;
      }
    };
  } else if (vm.count("metrics")) {
    auto names = split_names(vm["metrics"].as<std::vector<std::string>>());
    edit = [names](Table& root, const Registry& registry) {
      List have = root.count("metric") ? root["metric"].as_list() : List{};
      List chosen;
      std::vector<std::string> available;
      for (auto& m : have) {
        const Value* n = m.find("name");
        available.push_back(n ? n->as_string() : m.find("plugin")->as_string());
      }
      for (auto& want : names) {
        auto it = std::find(available.begin(), available.end(), want);
        if (it != available.end()) chosen.push_back(have[static_cast<std::size_t>(it - available.begin())]);
        else if (registry.find(Kind::metric, want)) chosen.push_back(Value(Table{{"plugin", Value(want)}}));
        else
          throw ConfigError("--metrics " + want + ": neither a metric of this run (" + join(available) +
                            ") nor a metric plugin (" + join(registry.names(Kind::metric)) + ")");
      }
      root["metric"] = Value(chosen);
    };
  }
  auto s = open_session(vm, "eval", edit, !vm.count("json"));
  if (s->comps->metrics.empty()) throw ConfigError("no metrics to run: the run declares none; pass --metrics or --metrics-file");
  if ((split == "test" ? s->data.test : s->data.val).size() == 0)
    throw ConfigError("--split " + split + ": the run's " + split + " split has no images");
  auto results = s->trainer->evaluate(split, s->weights);
  const std::string used = s->trainer->last_used_ema() ? "ema" : "raw";

  json::object metrics;
  for (auto& [key, value] : results) {
    auto slash = key.find('/');
    std::string metric = key.substr(0, slash), term = key.substr(slash + 1);
    if (!metrics.contains(metric)) metrics[metric] = json::object();
    metrics[metric].as_object()[term] = std::isfinite(value) ? json::value(value) : json::value(nullptr);
  }
  json::object refs;
  for (auto& [path, sha] : s->trainer->services().loaded()) refs[path] = sha;
  if (vm.count("json")) {
    json::object out{{"run", s->run.index}, {"variant", s->run.variant}, {"checkpoint", s->checkpoint},
                      {"checkpoint_step", s->step}, {"split", split}, {"weights", used}, {"metrics", metrics},
                      {"references", refs}};
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

int sample_command(const std::vector<std::string>& args, const std::string& command_line) {
  po::options_description opts(
      "ebmlab sample RUN.h5 --sampler NAME [options]\n\nDraws samples from a saved model with a sampler of the run "
      "(or any sampler plugin), writes them to the variant's log as /posthoc/<n> and a PNG grid beside it.\n\noptions");
  common_options(opts);
  opts.add_options()("sampler", po::value<std::string>(), "a sampler of the run's [samplers] or a sampler plugin name")(
      "set", po::value<std::vector<std::string>>()->composing(), "override a sampler parameter: --set steps=200 (repeatable)")(
      "class", po::value<std::int64_t>()->default_value(-1), "condition on this class (seeds and labels); -1: test images' own")(
      "n", po::value<std::int64_t>()->default_value(64), "number of samples")(
      "out", po::value<std::string>(), "PNG file (default: <run>/<variant>/sample-<sampler>-<k>.png, k = the /posthoc/<k> record)");
  auto vm = parse_options(args, opts, "run");
  if (vm.count("help")) {
    std::cout << opts << "\nexamples:\n  ebmlab sample runs/jem_vs_atebm.h5 --variant dat --sampler gen --class 3 --n 64\n"
                         "  ebmlab sample runs/jem.h5 --sampler sgld --set steps=200 --set buffer_size=0\n"
                         "\nexit codes: 0 ok, 1 sampling failed, 2 bad input, 3 plugin load failure\n";
    return 0;
  }
  if (!vm.count("sampler")) throw ConfigError("missing --sampler NAME (a sampler of the run, see its descriptor, or a plugin)");
  const std::string name = vm["sampler"].as<std::string>();
  const std::int64_t n = vm["n"].as<std::int64_t>(), cls = vm["class"].as<std::int64_t>();
  if (n < 1 || n > 100000) throw ConfigError("--n " + std::to_string(n) + ": expected 1 to 100000");
  std::vector<std::string> sets = vm.count("set") ? vm["set"].as<std::vector<std::string>>() : std::vector<std::string>{};
  auto s = open_session(vm, "sample", [&](Table& root, const Registry& registry) {
    Table& samplers = root["samplers"].type() == Value::Type::table ? root["samplers"].as_table()
                                                                     : (root["samplers"] = Value(Table{})).as_table();
    if (!samplers.count(name)) {
      if (!registry.find(Kind::sampler, name)) {
        std::vector<std::string> have;
        for (auto& [k, v] : samplers) have.push_back(k);
        throw ConfigError("--sampler " + name + ": neither a sampler of this run (" + join(have) + ") nor a sampler plugin (" +
                          join(registry.names(Kind::sampler)) + ")");
      }
      samplers[name] = Value(Table{{"plugin", Value(name)}});
    }
    for (auto& setting : sets) {
      auto [key, value] = parse_setting(setting, "--set");
      samplers[name].as_table()[key] = value;
    }
  });
  apply_weights(*s);
  if (cls < -1 || cls >= s->data.info.num_classes)
    throw ConfigError("--class " + std::to_string(cls) + ": the data set has classes 0 to " + std::to_string(s->data.info.num_classes - 1));
  Batch seeds = pick_images(s->data, n, cls);
  if (cls >= 0) seeds.y.fill_(cls);
  at::Tensor x = s->trainer->run_sampler(name, seeds);
  at::Tensor logits;
  {
    torch::NoGradGuard no_grad;
    ModeGuard guard(*s->comps->model, ModelMode::eval);
    logits = s->comps->model->forward(x);
  }
  at::Tensor energy = ebm::energy(logits), predicted = logits.argmax(1), seed_energy;
  {
    torch::NoGradGuard no_grad;
    ModeGuard guard(*s->comps->model, ModelMode::eval);
    seed_energy = ebm::energy(s->comps->model->forward(seeds.x));
  }
  const double agree = predicted.eq(seeds.y).to(torch::kFloat64).mean().item<double>();

  PosthocWriter w(s->run.log, "sample", command_line);
  describe_source(w, *s);
  w.attr("", "sampler", name);
  w.attr("", "class", static_cast<double>(cls));
  w.tensor("samples", x);
  w.tensor("labels", seeds.y);
  w.tensor("energy", energy);
  w.tensor("predicted", predicted);
  std::string png;
  if (is_image_shape(s->data.info.shape)) {
    png = vm.count("out") ? vm["out"].as<std::string>()
                          : (fs::path(s->run.ckpt_dir) / ("sample-" + name + "-" + w.group().substr(9) + ".png")).string();
    if (!fs::path(png).parent_path().empty()) fs::create_directories(fs::path(png).parent_path());
    write_png_grid(png, x.slice(0, 0, std::min<std::int64_t>(n, kMaxGrid)), s->data.info.lo, s->data.info.hi, 8);
    w.attr("", "png", png);
  }
  w.close();
  std::printf("%lld samples from %s (%s, step %lld): mean E(x) %.4g (seeds %.4g), classified as their label %.1f%%\n",
              static_cast<long long>(n), name.c_str(), fs::path(s->checkpoint).filename().c_str(),
              static_cast<long long>(s->step), energy.mean().item<double>(), seed_energy.mean().item<double>(), 100 * agree);
  std::printf("added to %s:%s%s\n", s->run.log.c_str(), w.group().c_str(), png.empty() ? "" : ("; picture " + png).c_str());
  return 0;
}

int counterfactual_command(const std::vector<std::string>& args, const std::string& command_line) {
  po::options_description opts(
      "ebmlab counterfactual RUN.h5 --input INDEX --target CLASS [options]\n\nMoves test image INDEX toward class "
      "CLASS by projected gradient descent on the joint energy E(x, target) = -f(x)[target] within a budget, records "
      "the path (images, energies, class probabilities) in the variant's log as /posthoc/<n> and writes a PNG strip. "
      "Robust models give counterfactuals that look like the target class.\n\noptions");
  common_options(opts);
  opts.add_options()("input", po::value<std::int64_t>(), "index of the test image")(
      "target", po::value<std::int64_t>(), "class to move toward")(
      "norm", po::value<std::string>()->default_value("l2"), "l2 or linf")(
      "eps", po::value<double>()->default_value(3.0), "budget: the largest distance from the input")(
      "steps", po::value<std::int64_t>()->default_value(60), "gradient steps")(
      "alpha", po::value<double>()->default_value(0.0), "step size (0: 2.5 * eps / steps)")(
      "frames", po::value<std::int64_t>()->default_value(10), "frames of the recorded path (besides the input)")(
      "out", po::value<std::string>(), "PNG file (default: <run>/<variant>/counterfactual-<input>-to-<target>.png)");
  auto vm = parse_options(args, opts, "run");
  if (vm.count("help")) {
    std::cout << opts << "\nexample:\n  ebmlab counterfactual runs/dat.h5 --input 0 --target 7 --eps 4\n"
                         "\nexit codes: 0 ok, 1 failed, 2 bad input, 3 plugin load failure\n";
    return 0;
  }
  if (!vm.count("input") || !vm.count("target")) throw ConfigError("missing --input INDEX and/or --target CLASS");
  const std::string norm = vm["norm"].as<std::string>();
  if (norm != "l2" && norm != "linf") throw ConfigError("--norm " + norm + ": expected l2 or linf");
  const double eps = vm["eps"].as<double>();
  const std::int64_t steps = vm["steps"].as<std::int64_t>(), frames = vm["frames"].as<std::int64_t>();
  if (eps <= 0) throw ConfigError("--eps must be > 0");
  if (steps < 1 || steps > 100000) throw ConfigError("--steps " + std::to_string(steps) + ": expected 1 to 100000");
  if (frames < 1 || frames > steps) throw ConfigError("--frames " + std::to_string(frames) + ": expected 1 to --steps");
  const double alpha = vm["alpha"].as<double>() > 0 ? vm["alpha"].as<double>() : 2.5 * eps / static_cast<double>(steps);
  auto s = open_session(vm, "counterfactual");
  apply_weights(*s);
  const std::int64_t index = vm["input"].as<std::int64_t>(), target = vm["target"].as<std::int64_t>();
  const Split& test = s->data.test;
  if (index < 0 || index >= test.size())
    throw ConfigError("--input " + std::to_string(index) + ": the test split has images 0 to " + std::to_string(test.size() - 1));
  if (target < 0 || target >= s->data.info.num_classes)
    throw ConfigError("--target " + std::to_string(target) + ": expected a class 0 to " + std::to_string(s->data.info.num_classes - 1));
  Batch b = test.rows(index, index + 1);
  const std::int64_t source = b.y.item<std::int64_t>();
  auto& model = *s->comps->model;
  ModeGuard guard(model, ModelMode::eval);
  const double lo = s->data.info.lo, hi = s->data.info.hi;
  const at::Tensor tgt = torch::full({1}, target, torch::kInt64);

  std::vector<at::Tensor> path, probs;
  std::vector<double> energy, e_target, e_source;
  std::vector<std::int64_t> at_step;
  auto record = [&](const at::Tensor& x, std::int64_t step) {
    torch::NoGradGuard no_grad;
    at::Tensor logits = model.forward(x);
    path.push_back(x.squeeze(0).clone());
    probs.push_back(torch::softmax(logits, 1).squeeze(0));
    energy.push_back(ebm::energy(logits).item<double>());
    e_target.push_back(-logits[0][target].item<double>());
    e_source.push_back(-logits[0][source].item<double>());
    at_step.push_back(step);
  };
  at::Tensor x = b.x.clone();
  record(x, 0);
  const std::int64_t every = std::max<std::int64_t>(1, steps / frames);
  for (std::int64_t t = 1; t <= steps; ++t) {
    at::Tensor xr = x.detach().requires_grad_(true);
    at::Tensor g = sampling::input_grad(ebm::joint_energy(model.forward(xr), tgt).sum(), xr);
    torch::NoGradGuard no_grad;
    at::Tensor delta = norm == "l2" ? (x - alpha * sampling::normalize_l2(g)) - b.x : (x - alpha * g.sign()) - b.x;
    delta = norm == "l2" ? sampling::project_l2(delta, eps) : delta.clamp(-eps, eps);
    x = (b.x + delta).clamp(lo, hi);
    if (t % every == 0 || t == steps)
      if (at_step.back() != t) record(x, t);
  }
  at::Tensor strip = torch::stack(path), p = torch::stack(probs);

  PosthocWriter w(s->run.log, "counterfactual", command_line);
  describe_source(w, *s);
  w.attr("", "input", static_cast<double>(index));
  w.attr("", "source_class", static_cast<double>(source));
  w.attr("", "target_class", static_cast<double>(target));
  w.attr("", "norm", norm);
  w.attr("", "eps", eps);
  w.attr("", "alpha", alpha);
  w.attr("", "steps", static_cast<double>(steps));
  w.tensor("path", strip);
  w.tensor("step", torch::tensor(at_step, torch::kInt64));
  w.tensor("energy", torch::tensor(energy, torch::kFloat64));
  w.tensor("joint_energy_target", torch::tensor(e_target, torch::kFloat64));
  w.tensor("joint_energy_source", torch::tensor(e_source, torch::kFloat64));
  w.tensor("probabilities", p);
  std::string png;
  if (is_image_shape(s->data.info.shape)) {
    png = vm.count("out") ? vm["out"].as<std::string>()
                          : (fs::path(s->run.ckpt_dir) / ("counterfactual-" + std::to_string(index) + "-to-" +
                                                          std::to_string(target) + "-" + w.group().substr(9) + ".png")).string();
    if (!fs::path(png).parent_path().empty()) fs::create_directories(fs::path(png).parent_path());
    write_png_grid(png, strip, lo, hi, strip.size(0), 3);
    w.attr("", "png", png);
  }
  w.close();
  std::printf("test image %lld (class %lld) -> class %lld, %s eps %.3g, %lld steps of %.3g\n", static_cast<long long>(index),
              static_cast<long long>(source), static_cast<long long>(target), norm.c_str(), eps,
              static_cast<long long>(steps), alpha);
  std::printf("  %6s %10s %10s %10s %10s\n", "step", "p(source)", "p(target)", "E(x)", "E(x,tgt)");
  for (std::size_t i = 0; i < at_step.size(); ++i)
    std::printf("  %6lld %10.4f %10.4f %10.4g %10.4g\n", static_cast<long long>(at_step[i]), p[i][source].item<double>(),
                p[i][target].item<double>(), energy[i], e_target[i]);
  std::printf("added to %s:%s%s\n", s->run.log.c_str(), w.group().c_str(), png.empty() ? "" : ("; picture " + png).c_str());
  return 0;
}

}  // namespace ebm::cli
