// `ebmlab sample` and `ebmlab counterfactual`: after-the-fact commands that work on a saved
// model itself. Each adds one /posthoc/<n> record to the variant's log and a PNG beside it
// (docs/evaluation.md).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include <boost/json.hpp>
#include <boost/program_options.hpp>
#include <torch/torch.h>

#include "ebmlab/mode_guard.hpp"
#include "ebmlab/sampling.hpp"

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "cli/session_options.hpp"
#include "config/validate.hpp"
#include "run/eval_services.hpp"
#include "store/png.hpp"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace ebm::cli {

using namespace ebm::kernel;

namespace {

/// Images drawn in one PNG grid (the HDF5 record keeps all of them).
constexpr std::int64_t kMaxGrid = 256;

/// --sampler NAME with --set overrides: a sampler of the run, or a sampler plugin added to
/// the run's samplers under its own name.
TreeEdit sampler_edit(const std::string& name, const std::vector<std::string>& sets) {
  return [name, sets](Table& root, const Registry& registry) {
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
  };
}

/// Where a record's PNG goes: --out, or <run>/<variant>/<stem>-<k>.png for /posthoc/<k>.
std::string png_path(const po::variables_map& vm, const Session& s, const PosthocWriter& w, const std::string& stem) {
  std::string png = vm.count("out") ? vm["out"].as<std::string>()
                                    : (fs::path(s.run.ckpt_dir) / (stem + "-" + w.group().substr(9) + ".png")).string();
  if (!fs::path(png).parent_path().empty()) fs::create_directories(fs::path(png).parent_path());
  return png;
}

/// The model's logits for a batch, in eval mode and without gradients.
at::Tensor eval_logits(Model& model, const at::Tensor& x) {
  torch::NoGradGuard no_grad;
  ModeGuard guard(model, ModelMode::eval);
  return model.forward(x);
}

/// A counterfactual's search: PGD toward the target class within the budget.
struct Budget {
  std::string norm;  ///< l2 | linf
  double eps, alpha;
  std::int64_t steps, frames;
  double lo, hi;  ///< the data range
};

/// The recorded frames of a counterfactual path.
struct CounterfactualPath {
  std::vector<at::Tensor> path, probs;
  std::vector<double> energy, e_target, e_source;
  std::vector<std::int64_t> at_step;
};

/// Moves one image toward class `target` by projected gradient descent on the joint energy
/// E(x, target) = -f(x)[target], recording `frames` frames besides the input (model in eval mode).
CounterfactualPath counterfactual_path(Model& model, const Batch& b, std::int64_t source, std::int64_t target,
                                       const Budget& budget) {
  CounterfactualPath out;
  const at::Tensor tgt = torch::full({1}, target, b.y.options());
  auto record = [&](const at::Tensor& x, std::int64_t step) {
    torch::NoGradGuard no_grad;
    at::Tensor logits = model.forward(x);
    out.path.push_back(x.squeeze(0).clone());
    out.probs.push_back(torch::softmax(logits, 1).squeeze(0));
    out.energy.push_back(ebm::energy(logits).item<double>());
    out.e_target.push_back(-logits[0][target].item<double>());
    out.e_source.push_back(-logits[0][source].item<double>());
    out.at_step.push_back(step);
  };
  at::Tensor x = b.x.clone();
  record(x, 0);
  const std::int64_t every = std::max<std::int64_t>(1, budget.steps / budget.frames);
  const bool l2 = budget.norm == "l2";
  for (std::int64_t t = 1; t <= budget.steps; ++t) {
    at::Tensor xr = x.detach().requires_grad_(true);
    at::Tensor g = sampling::input_grad(ebm::joint_energy(model.forward(xr), tgt).sum(), xr);
    torch::NoGradGuard no_grad;
    at::Tensor delta = l2 ? (x - budget.alpha * sampling::normalize_l2(g)) - b.x : (x - budget.alpha * g.sign()) - b.x;
    delta = l2 ? sampling::project_l2(delta, budget.eps) : delta.clamp(-budget.eps, budget.eps);
    x = (b.x + delta).clamp(budget.lo, budget.hi);
    if (t % every == 0 || t == budget.steps)
      if (out.at_step.back() != t) record(x, t);
  }
  return out;
}

}  // namespace

int sample_command(const std::vector<std::string>& args, const std::string& command_line) {
  po::options_description opts(
      "ebmlab sample RUN.h5 --sampler NAME [options]\n\nDraws samples from a saved model with a sampler of the run "
      "(or any sampler plugin), writes them to the variant's log as /posthoc/<n> and a PNG grid beside it.\n\noptions");
  common_options(opts);
  auto add = opts.add_options();
  add("sampler", po::value<std::string>(), "a sampler of the run's [samplers] or a sampler plugin name");
  add("set", po::value<std::vector<std::string>>()->composing(), "override a sampler parameter: --set steps=200 (repeatable)");
  add("class", po::value<std::int64_t>()->default_value(-1), "condition on this class (seeds and labels); -1: test images' own");
  add("n", po::value<std::int64_t>()->default_value(64), "number of samples");
  add("out", po::value<std::string>(),
      "PNG file (default: <run>/<variant>/sample-<sampler>-<k>.png, k = the /posthoc/<k> record)");
  auto vm = parse_options(args, opts, "run");
  if (vm.count("help")) {
    std::cout << opts
              << "\nexamples:\n  ebmlab sample runs/jem_vs_atebm.h5 --variant dat --sampler gen --class 3 --n 64\n"
                 "  ebmlab sample runs/jem.h5 --sampler sgld --set steps=200 --set buffer_size=0\n"
                 "\nexit codes: 0 ok, 1 sampling failed, 2 bad input, 3 plugin load failure\n";
    return 0;
  }
  if (!vm.count("sampler")) throw ConfigError("missing --sampler NAME (a sampler of the run, see its descriptor, or a plugin)");
  const std::string name = vm["sampler"].as<std::string>();
  const std::int64_t n = vm["n"].as<std::int64_t>(), cls = vm["class"].as<std::int64_t>();
  if (n < 1 || n > 100000) throw ConfigError("--n " + std::to_string(n) + ": expected 1 to 100000");
  std::vector<std::string> sets = vm.count("set") ? vm["set"].as<std::vector<std::string>>() : std::vector<std::string>{};
  auto s = open_session(session_request(vm, "sample"), sampler_edit(name, sets));
  apply_weights(*s);
  if (cls < -1 || cls >= s->data.info.num_classes)
    throw ConfigError("--class " + std::to_string(cls) + ": the data set has classes 0 to " +
                      std::to_string(s->data.info.num_classes - 1));
  Batch seeds = pick_images(s->data, n, cls);
  if (cls >= 0) seeds.y.fill_(cls);
  std::map<std::string, double> terms;  // what the sampler logged (a MALA acceptance rate, ...)
  at::Tensor x = s->trainer->run_sampler(name, seeds, &terms);
  const at::Tensor logits = eval_logits(*s->comps->model, x);
  const at::Tensor energy = ebm::energy(logits), predicted = logits.argmax(1);
  const at::Tensor seed_energy = ebm::energy(eval_logits(*s->comps->model, seeds.x));
  const double agree = predicted.eq(seeds.y).to(torch::kFloat64).mean().item<double>();

  PosthocWriter w(s->run.log, "sample", command_line);
  describe_source(w, *s);
  w.attr("", "sampler", name);
  w.attr("", "class", static_cast<double>(cls));
  w.tensor("samples", x);
  w.tensor("labels", seeds.y);
  w.tensor("energy", energy);
  w.tensor("predicted", predicted);
  for (auto& [key, value] : terms) w.scalar("terms/" + key, value);
  std::string png;
  if (is_image_shape(s->data.info.shape)) {
    png = png_path(vm, *s, w, "sample-" + name);
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

namespace {

po::options_description counterfactual_options() {
  po::options_description opts(
      "ebmlab counterfactual RUN.h5 --input INDEX --target CLASS [options]\n\nMoves test image INDEX toward class "
      "CLASS by projected gradient descent on the joint energy E(x, target) = -f(x)[target] within a budget, records "
      "the path (images, energies, class probabilities) in the variant's log as /posthoc/<n> and writes a PNG strip. "
      "Robust models give counterfactuals that look like the target class.\n\noptions");
  common_options(opts);
  auto add = opts.add_options();
  add("input", po::value<std::int64_t>(), "index of the test image");
  add("target", po::value<std::int64_t>(), "class to move toward");
  add("norm", po::value<std::string>()->default_value("l2"), "l2 or linf");
  add("eps", po::value<double>()->default_value(3.0), "budget: the largest distance from the input");
  add("steps", po::value<std::int64_t>()->default_value(60), "gradient steps");
  add("alpha", po::value<double>()->default_value(0.0), "step size (0: 2.5 * eps / steps)");
  add("frames", po::value<std::int64_t>()->default_value(10), "frames of the recorded path (besides the input)");
  add("out", po::value<std::string>(), "PNG file (default: <run>/<variant>/counterfactual-<input>-to-<target>.png)");
  return opts;
}

}  // namespace

int counterfactual_command(const std::vector<std::string>& args, const std::string& command_line) {
  po::options_description opts = counterfactual_options();
  auto vm = parse_options(args, opts, "run");
  if (vm.count("help")) {
    std::cout << opts
              << "\nexample:\n  ebmlab counterfactual runs/dat.h5 --input 0 --target 7 --eps 4\n"
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
  auto s = open_session(session_request(vm, "counterfactual"));
  apply_weights(*s);
  const std::int64_t index = vm["input"].as<std::int64_t>(), target = vm["target"].as<std::int64_t>();
  const Split& test = s->data.test;
  if (index < 0 || index >= test.size())
    throw ConfigError("--input " + std::to_string(index) + ": the test split has images 0 to " + std::to_string(test.size() - 1));
  if (target < 0 || target >= s->data.info.num_classes)
    throw ConfigError("--target " + std::to_string(target) + ": expected a class 0 to " +
                      std::to_string(s->data.info.num_classes - 1));
  Batch b = test.rows(index, index + 1);
  const std::int64_t source = b.y.item<std::int64_t>();
  auto& model = *s->comps->model;
  ModeGuard guard(model, ModelMode::eval);

  const Budget budget{norm, eps, alpha, steps, frames, s->data.info.lo, s->data.info.hi};
  const CounterfactualPath cf = counterfactual_path(model, b, source, target, budget);
  const auto& [path, probs, energy, e_target, e_source, at_step] = cf;
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
    png = png_path(vm, *s, w, "counterfactual-" + std::to_string(index) + "-to-" + std::to_string(target));
    write_png_grid(png, strip, budget.lo, budget.hi, strip.size(0), 3);
    w.attr("", "png", png);
  }
  w.close();
  std::printf("test image %lld (class %lld) -> class %lld, %s eps %.3g, %lld steps of %.3g\n", static_cast<long long>(index),
              static_cast<long long>(source), static_cast<long long>(target), norm.c_str(), eps, static_cast<long long>(steps),
              alpha);
  std::printf("  %6s %10s %10s %10s %10s\n", "step", "p(source)", "p(target)", "E(x)", "E(x,tgt)");
  for (std::size_t i = 0; i < at_step.size(); ++i) {
    const auto row = static_cast<std::int64_t>(i);
    std::printf("  %6lld %10.4f %10.4f %10.4g %10.4g\n", static_cast<long long>(at_step[i]), p[row][source].item<double>(),
                p[row][target].item<double>(), energy[i], e_target[i]);
  }
  std::printf("added to %s:%s%s\n", s->run.log.c_str(), w.group().c_str(), png.empty() ? "" : ("; picture " + png).c_str());
  return 0;
}

}  // namespace ebm::cli
