// See session.hpp.
#include "run/session.hpp"

#include <filesystem>
#include <map>
#include <thread>

#include <boost/json.hpp>
#include <torch/torch.h>

#include "ebmlab/error.hpp"

#include "config/descriptor.hpp"
#include "config/json.hpp"
#include "loader/sha256.hpp"
#include "loader/torch_runtime.hpp"
#include "store/checkpoint.hpp"

namespace json = boost::json;

namespace ebm::kernel {

namespace {

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

}  // namespace

std::unique_ptr<Session> open_session(const SessionRequest& req, const TreeEdit& edit, bool writes) {
  const std::string& command = req.command;
  if (req.run.empty()) throw ConfigError("missing the run: ebmlab " + command + " RUN.h5 (see ebmlab " + command + " --help)");
  const std::string& weights = req.weights;
  if (weights != "auto" && weights != "raw" && weights != "ema")
    throw ConfigError("--weights " + weights + ": expected raw, ema or auto");
  const int threads = req.threads;
  if (threads < 0) throw ConfigError("--threads " + std::to_string(threads) + ": expected 0 (all cores) or a positive count");
  torch::set_num_threads(threads == 0 ? static_cast<int>(std::max(1u, std::thread::hardware_concurrency())) : threads);
  torch::manual_seed(static_cast<std::uint64_t>(req.seed));
  if (!is_device_text(req.device))
    throw ConfigError("--device " + req.device + ": expected auto, cpu, cuda or cuda:N (N a GPU index)");
  const c10::Device device = resolve_device(req.device, "--device");

  auto s = std::make_unique<Session>();
  s->device = device;
  s->registry = std::make_unique<Registry>();
  s->registry->load_default_path();
  s->run = open_saved_run(req.run, req.variant, *s->registry);
  use_deterministic(s->run.cfg.experiment.deterministic);
  // Before any work: a log that cannot take the results fails now, not after the evaluation.
  if (writes) PosthocWriter::check_writable(s->run.log);
  const VariantConfig trained = s->run.cfg;
  if (edit) {
    Value tree = s->run.cfg.resolved;
    edit(tree.as_table(), *s->registry);
    s->run.cfg = resolve(Variant{s->run.variant, tree}, *s->registry);
  }
  s->checkpoint = find_checkpoint(s->run, req.checkpoint);
  verify_checkpoint(s->run, s->checkpoint);
  CheckpointData cd = read_checkpoint(s->checkpoint);
  s->checkpoint_sha256 = sha256_file(s->checkpoint);
  s->step = cd.step;
  s->data = on_device(load_run_data(s->run), device);
  s->comps = std::make_unique<Components>(build_components(s->run.cfg, *s->registry, s->data.info));
  s->progress = std::make_unique<Progress>(false, 1e9, true);
  s->services = std::make_unique<EvalServices>(s->data.info, *s->registry, device);
  TrainerSetup setup(nullptr, s->progress.get());
  setup.device = device;
  setup.services = s->services.get();
  s->trainer = std::make_unique<Trainer>(s->run.cfg, *s->comps, s->data, setup);
  s->trainer->load_for_evaluation(cd, s->checkpoint, unchanged_samplers(trained, s->run.cfg));
  // Seeded after loading, so --seed (not the checkpoint's generator) decides what is drawn.
  torch::manual_seed(static_cast<std::uint64_t>(req.seed));
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
  w.attr("", "device", describe_device(s.device));
  w.attr("", "precision", s.run.cfg.experiment.precision);
}

void apply_weights(Session& s) {
  if (s.weights == "ema") s.trainer->load_ema_into_model();
}

Batch pick_images(const Dataset& data, std::int64_t n, std::int64_t cls) {
  const Split& split = data.test.size() > 0 ? data.test : data.val;
  at::Tensor idx = cls >= 0 ? split.y.eq(cls).nonzero().view(-1) : torch::arange(split.size());
  if (idx.numel() == 0) throw ConfigError("--class " + std::to_string(cls) + ": no test image has this class");
  idx = idx.repeat({(n + idx.numel() - 1) / idx.numel()}).slice(0, 0, n);
  return split.take(idx);
}

}  // namespace ebm::kernel
