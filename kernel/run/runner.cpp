// See runner.hpp.
#include "run/runner.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>

#include <boost/json.hpp>
#include <torch/torch.h>

#include "config/json.hpp"
#include "loader/registry.hpp"
#include "loader/runtime_libraries.hpp"
#include "loader/torch_runtime.hpp"
#include "run/eval_services.hpp"
#include "store/checkpoint.hpp"
#include "store/h5log.hpp"
#include "store/run_files.hpp"
#include "store/run_index.hpp"
#include "train/components.hpp"
#include "train/distributed.hpp"
#include "train/progress.hpp"
#include "train/trainer.hpp"

namespace fs = std::filesystem;
namespace json = boost::json;

namespace ebm::kernel {

namespace {

/// The latest periodic checkpoint of a variant that reads back whole (none: step -1).
std::pair<std::int64_t, std::string> latest_checkpoint(const fs::path& dir) {
  auto found = periodic_checkpoints(dir.string());
  std::reverse(found.begin(), found.end());  // newest first
  for (auto& [step, path] : found) {
    try {
      read_checkpoint(path);
      return {step, path};
    } catch (const Error& e) {
      // One write per message: --jobs workers share the terminal.
      std::cerr << ("ebmlab run: warning: skipping unreadable checkpoint " + path + ": " + e.what() + "\n");
    }
  }
  return {-1, ""};
}

/// One writer per variant: an exclusive lock on the variant's checkpoint folder (so no
/// extra file is left behind), held while this object lives.
class VariantLock {
 public:
  explicit VariantLock(const std::string& dir) {
    fs::create_directories(dir);
    fd_ = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    held_ = fd_ >= 0 && flock(fd_, LOCK_EX | LOCK_NB) == 0;
  }
  ~VariantLock() {
    if (fd_ >= 0) close(fd_);
  }
  VariantLock(const VariantLock&) = delete;
  VariantLock& operator=(const VariantLock&) = delete;
  bool held() const { return held_; }

 private:
  int fd_ = -1;
  bool held_ = false;
};

}  // namespace

std::string output_path(const VariantConfig& cfg) {
  if (!cfg.experiment.output.empty()) return cfg.experiment.output;
  return "runs/" + cfg.experiment.name + ".h5";
}

std::vector<Plan> plan_variants(const std::vector<VariantConfig>& configs, const fs::path& log_dir, bool resume) {
  std::vector<Plan> plans;
  for (auto& cfg : configs) {
    Plan p;
    p.cfg = &cfg;
    p.log_path = (log_dir / (cfg.name + ".h5")).string();
    p.ckpt_dir = (log_dir / cfg.name).string();
    if (resume) {
      const std::string status = read_status(fs::exists(p.log_path + ".resume-old") ? p.log_path + ".resume-old" : p.log_path);
      if (status == "completed" || status == "diverged") {
        p.skip = true;
      } else {
        auto [step, path] = latest_checkpoint(p.ckpt_dir);
        p.from_step = step;
        p.checkpoint = path;
      }
    }
    plans.push_back(p);
  }
  return plans;
}

namespace {

/// Erases `key` from `o` when it holds `absent`, the value that means what a configuration
/// recorded before the key existed did.
void drop_if(json::object& o, const char* key, const json::value& absent) {
  if (auto* v = o.if_contains(key); v && *v == absent) o.erase(key);
}

/// A resolved configuration without [experiment] device: a run may resume on another device
/// (checkpoints are device-neutral). Keys added after a run was recorded compare equal to
/// their absence at the value that keeps the old behaviour: deterministic = false,
/// precision = "fp32", a stage's schedule.milestones = [], robust_accuracy's per_image =
/// false; any other value is compared.
std::string comparable(json::value v) {
  auto* o = v.if_object();
  if (!o) return json::serialize(v);
  if (auto* e = o->if_contains("experiment"); e && e->is_object()) {
    auto& experiment = e->as_object();
    experiment.erase("device");
    drop_if(experiment, "deterministic", false);
    drop_if(experiment, "precision", "fp32");
  }
  if (auto* stages = o->if_contains("stage"); stages && stages->is_array())
    for (auto& st : stages->as_array())
      if (auto* sch = st.is_object() ? st.as_object().if_contains("schedule") : nullptr; sch && sch->is_object())
        drop_if(sch->as_object(), "milestones", json::array());
  if (auto* metrics = o->if_contains("metric"); metrics && metrics->is_array())
    for (auto& m : metrics->as_array())
      if (m.is_object()) drop_if(m.as_object(), "per_image", false);
  return json::serialize(v);
}

}  // namespace

void check_devices(const std::vector<VariantConfig>& configs, bool from_option) {
  for (auto& c : configs) resolve_device(c.experiment.device, from_option ? "--device" : "[experiment] device");
}

void check_resumable(const std::string& index, const std::vector<VariantConfig>& configs) {
  if (!fs::exists(index)) return;
  json::object recorded = json::parse(read_string(index, "resolved")).as_object();
  for (auto& c : configs) {
    auto it = recorded.find(c.name);
    if (it == recorded.end()) continue;
    if (comparable(it->value()) != comparable(to_json(c.resolved)))
      throw ConfigError(index + ": variant '" + c.name +
                        "' was run with a different configuration than the descriptor "
                        "and overrides give now; --resume needs the same ones (or pass --overwrite to start over)");
  }
}

void write_run_index(const std::string& index, const fs::path& log_dir, const RunRecord& rec,
                     const std::vector<VariantConfig>& configs, const Registry& registry, bool resume) {
  IndexInfo info;
  info.descriptor_text = rec.descriptor.text;
  info.descriptor_path = rec.descriptor_path;
  info.includes = rec.descriptor.includes;
  // Ranks started by --nproc record the command that launched them.
  const char* launched = std::getenv("EBMLAB_LAUNCH_COMMAND");
  info.command_line = launched && *launched ? launched : rec.command_line;
  info.threads = rec.threads;
  info.world_size = rec.world_size;
  info.overrides = rec.overrides;
  info.numeric_libraries_json = numeric_libraries_json();
  json::object resolved;
  if (resume && fs::exists(index)) {
    // The index keeps every variant the run has had, and each command that ran it.
    resolved = json::parse(read_string(index, "resolved")).as_object();
    info.command_line = read_string_attr(index, "/", "command_line") + "\n" + rec.command_line;
    for (auto& [name, v] : resolved)
      info.variants[std::string(name)] = (log_dir.filename() / (std::string(name) + ".h5")).string();
  }
  for (auto& cfg : configs) {
    resolved[cfg.name] = to_json(cfg.resolved);
    info.variants[cfg.name] = (log_dir.filename() / (cfg.name + ".h5")).string();
  }
  info.resolved_json = json::serialize(resolved);
  for (auto& lib : registry.libraries()) info.plugins.push_back({lib->path, lib->sha256, lib->fingerprint, lib->compiler});
  write_index(index, info);
}

std::vector<const Dataset*> load_plan_data(const std::vector<Plan>& plans, std::map<std::string, Dataset>& loaded) {
  std::vector<const Dataset*> data_of;
  for (auto& p : plans) {
    if (p.skip) {
      data_of.push_back(nullptr);
      continue;
    }
    // toy2d draws its points from the seed, so the seed is part of the key.
    auto key = json::serialize(to_json(Value(p.cfg->data.params.values()))) + "#" + std::to_string(p.cfg->experiment.seed);
    auto it = loaded.find(key);
    if (it == loaded.end())
      it = loaded.emplace(key, load_dataset(p.cfg->data.params, static_cast<std::uint64_t>(p.cfg->experiment.seed))).first;
    data_of.push_back(&it->second);
  }
  return data_of;
}

namespace {

/// The variant's log, laid out afresh; resuming, the records of the earlier log up to the
/// checkpoint are carried over and `wall` set to the last wall time kept.
std::unique_ptr<VariantLog> open_variant_log(const Plan& plan, const VariantLog::Layout& layout, const std::string& old_log,
                                             double& wall) {
  const VariantConfig& cfg = *plan.cfg;
  // The earlier log is moved aside first, so a crash while resuming can resume again.
  if (plan.from_step >= 0 && !fs::exists(old_log) && fs::exists(plan.log_path)) fs::rename(plan.log_path, old_log);
  auto log = std::make_unique<VariantLog>(plan.log_path, cfg.name, json::serialize(to_json(cfg.resolved)), layout);
  if (plan.from_step >= 0 && fs::exists(old_log)) {
    std::map<std::string, std::int64_t> rows;
    for (auto& [k, v] : read_checkpoint(plan.checkpoint).counters)
      if (k.rfind("log_rows:", 0) == 0) {
        std::string series = k.substr(9);
        std::replace(series.begin(), series.end(), '|', '/');
        rows[series] = v;
      }
    wall = log->carry_over(old_log, plan.from_step, rows);
  }
  return log;
}

}  // namespace

/// Trains one variant in this process; returns 0 (completed/diverged), 1 (failed), 130/143.
int run_variant(const Plan& plan, const Dataset& data, const Registry& registry, Progress& progress, Collective* coll) {
  const VariantConfig& cfg = *plan.cfg;
  const bool writer = !coll || coll->rank() == 0;
  torch::manual_seed(static_cast<std::uint64_t>(cfg.experiment.seed));
  std::unique_ptr<VariantLog> log;
  const std::string old_log = plan.log_path + ".resume-old";
  // One writer per variant: a second process (a stray worker, a second --resume) is refused.
  std::optional<VariantLock> lock;
  if (writer) {
    lock.emplace(plan.ckpt_dir);
    if (!lock->held()) {
      std::cerr << ("ebmlab run: variant '" + cfg.name + "' failed: " + plan.log_path +
                    " is being written by another ebmlab process; wait for it or stop it, then --resume\n");
      return 1;
    }
  }
  try {
    // Checked before anything was written (check_devices); resolved again here for workers.
    const c10::Device device = resolve_device(cfg.experiment.device, "[experiment] device");
    use_deterministic(cfg.experiment.deterministic);
    Components comps = build_components(cfg, registry, data.info);
    VariantLog::Layout layout = log_layout(comps);
    layout.attrs["/"]["device"] = describe_device(device);
    layout.attrs["/"]["precision"] = cfg.experiment.precision;
    double wall = 0.0;
    if (writer) log = open_variant_log(plan, layout, old_log, wall);
    EvalServices services(data.info, registry, device);
    TrainerSetup setup(log.get(), &progress);
    setup.device = device;
    if (writer) setup.checkpoint_dir = plan.ckpt_dir;
    setup.services = &services;
    setup.collective = coll;
    CheckpointData resume;
    if (plan.from_step >= 0) {
      resume = read_checkpoint(plan.checkpoint);
      setup.resume = &resume;
      setup.resume_source = plan.checkpoint;
      setup.wall_offset = wall;
    }
    Trainer trainer(cfg, comps, data, setup);
    if (plan.from_step >= 0)
      progress.message(cfg.name + ": resuming from step " + std::to_string(plan.from_step) + " (" + plan.checkpoint + ")");
    if (writer && fs::exists(old_log)) fs::remove(old_log);
    std::string status = trainer.run();
    if (log) {
      log->set_status(status, trainer.detail());
      log->close();
    }
    if (status == "interrupted") {
      if (writer) progress.message("ebmlab run: interrupted; " + plan.log_path + " marked interrupted (continue with --resume)");
      return g_stop_signal.load() == SIGTERM ? 143 : 130;
    }
    if (writer) progress.message(cfg.name + ": " + status + " -> " + plan.log_path);
    return 0;
  } catch (const std::exception& e) {
    if (writer && !fs::exists(old_log)) {
      // The index already links this log: leave one that says "failed", never a dangling link.
      try {
        if (!log)
          log =
              std::make_unique<VariantLog>(plan.log_path, cfg.name, json::serialize(to_json(cfg.resolved)), VariantLog::Layout{});
        log->set_status("failed", e.what());
        log->close();
      } catch (const std::exception& again) {
        // Reported after the first error, which stays the one the exit status is about.
        std::cerr << ("ebmlab run: could not mark " + plan.log_path + " failed: " + again.what() + "\n");
      }
    }
    // One write per message: --jobs workers share stderr, and pieces written separately interleave.
    std::cerr << ("ebmlab run: variant '" + cfg.name + "' failed: " + e.what() + "\n");
    return 1;
  }
}

}  // namespace ebm::kernel
