// The trainer's checkpoints: capture and restore its whole state, and the file cadence.
#include <algorithm>
#include <filesystem>

#include <torch/torch.h>

#include "ebmlab/error.hpp"

#include "train/optimization.hpp"
#include "train/torch_compat.hpp"
#include "train/trainer.hpp"

namespace ebm::kernel {

namespace {

at::Generator cuda_generator(const c10::Device& device) {
  return cuda_default_generator(device.index() < 0 ? c10::DeviceIndex{0} : device.index());
}

}  // namespace

CheckpointData Trainer::snapshot() const {
  CheckpointData d;
  d.variant = cfg_.name;
  d.step = global_step_;
  d.stage = static_cast<std::int64_t>(stage_);
  d.step_in_stage = step_in_stage_;
  for (auto& p : comps_.model->named_parameters()) d.model.emplace_back(p.key(), p.value().detach().clone());
  for (auto& b : comps_.model->named_buffers()) d.model.emplace_back(b.key(), b.value().detach().clone());
  if (optimizer_) {
    d.optimizer_name = cfg_.stages[stage_].optimizer.name;
    auto& state = optimizer_->state();
    auto params = comps_.model->parameters();
    for (std::size_t i = 0; i < params.size(); ++i) {
      auto it = state.find(optimizer_state_key(*optimizer_, params[i]));
      if (it == state.end()) continue;
      const std::string k = std::to_string(i) + "/";
      if (auto* sgd = dynamic_cast<torch::optim::SGDParamState*>(it->second.get())) {
        if (sgd->momentum_buffer().defined()) d.optimizer[k + "momentum_buffer"] = sgd->momentum_buffer().clone();
      } else if (auto* adam = dynamic_cast<torch::optim::AdamParamState*>(it->second.get())) {
        d.optimizer[k + "step"] = torch::tensor(adam->step());
        d.optimizer[k + "exp_avg"] = adam->exp_avg().clone();
        d.optimizer[k + "exp_avg_sq"] = adam->exp_avg_sq().clone();
        if (adam->max_exp_avg_sq().defined()) d.optimizer[k + "max_exp_avg_sq"] = adam->max_exp_avg_sq().clone();
      }
    }
  }
  for (auto& t : ema_) d.ema.push_back(t.clone());
  for (auto& [name, s] : comps_.samplers) d.components[name] = s->state();
  // The trainer's own running state (a name no plugin instance can take: it has a dot).
  d.components["kernel.trainer"] = StateDict{{"best", torch::tensor(best_, torch::kFloat64)},
                                             {"have_best", torch::tensor(have_best_ ? 1 : 0, torch::kInt64)},
                                             {"last_finite_loss", torch::tensor(last_finite_loss_, torch::kFloat64)}};
  for (auto& stage : comps_.stage_losses)
    for (auto& l : stage) d.components[l.name] = l.object->state();
  d.rng["torch"] = at::detail::getDefaultCPUGenerator().get_state();
  // On a GPU the samplers draw from its generator: kept too (restored only on a GPU).
  if (device_.is_cuda()) d.rng["torch_cuda"] = cuda_generator(device_).get_state();
  for (auto& st : streams_) {
    d.rng["stream_" + st.spec.name] = st.gen.get_state();
    d.counters["stream_" + st.spec.name + "_batches"] = st.batches;
  }
  return d;
}

std::vector<at::Tensor> Trainer::checked_ema(const CheckpointData& d, const std::string& source) const {
  std::vector<at::Tensor> out;
  if (d.ema.empty()) return out;
  const auto model = averaged_tensors(*comps_.model);
  if (d.ema.size() != model.size())
    throw DataError(source + ": the weight average (ema/) holds " + std::to_string(d.ema.size()) + " tensors but the model has " +
                    std::to_string(model.size()) + "; is it this descriptor's checkpoint?");
  for (std::size_t i = 0; i < model.size(); ++i) {
    if (d.ema[i].sizes() != model[i].sizes() || !d.ema[i].is_floating_point())
      throw DataError(source + ": ema/" + std::to_string(i) + " is " + std::string(c10::toString(d.ema[i].scalar_type())) + " " +
                      c10::str(d.ema[i].sizes()) + " but the model's tensor " + std::to_string(i) + " is " +
                      c10::toString(model[i].scalar_type()) + " " + c10::str(model[i].sizes()));
    out.push_back(d.ema[i].to(model[i].device(), model[i].scalar_type()).clone());
  }
  return out;
}

void Trainer::load_component_state(Component& c, const std::string& name, const CheckpointData& d, const std::string& source) {
  auto it = d.components.find(name);
  if (it == d.components.end()) return;
  try {
    c.load_state(it->second);
  } catch (const c10::Error& e) {
    throw DataError(source + ": components/" + name + " does not fit component '" + name + "': " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw DataError(source + ": components/" + name + " does not fit component '" + name + "': " + e.what());
  }
}

void Trainer::load_for_evaluation(const CheckpointData& d, const std::string& source,
                                  const std::vector<std::string>& sampler_state) {
  if (d.stage < 0 || d.stage >= static_cast<std::int64_t>(cfg_.stages.size()))
    throw DataError(source + ": checkpoint is at stage " + std::to_string(d.stage) + " but the run has " +
                    std::to_string(cfg_.stages.size()) + " stage(s)");
  stage_ = static_cast<std::size_t>(d.stage);
  load_model_weights(*comps_.model, d, source);
  ema_ = checked_ema(d, source);
  for (auto& name : sampler_state)
    if (auto s = comps_.samplers.find(name); s != comps_.samplers.end()) load_component_state(*s->second, name, d, source);
  steps_per_epoch_ = std::max<std::int64_t>(data_.train.size() / cfg_.data.batch_size, 1);
  step_in_stage_ = d.step_in_stage;
  global_step_ = d.step;
  comps_.model->eval();
}

namespace {

/// One parameter's optimizer state from optimizer/<i>/<key>, checked against the parameter
/// (or undefined when the checkpoint has none).
at::Tensor optimizer_tensor(const CheckpointData& d, std::size_t i, const at::Tensor& param, const std::string& key,
                            const std::string& source) {
  const std::string k = std::to_string(i) + "/";
  auto it = d.optimizer.find(k + key);
  if (it == d.optimizer.end()) return {};
  const at::Tensor& t = it->second;
  if (key == "step") {
    if (t.numel() != 1 || !(t.item<double>() >= 0))
      throw DataError(source + ": optimizer/" + k + "step must be one count >= 0, found " + c10::str(t.sizes()) +
                      (t.numel() == 1 ? " = " + std::to_string(t.item<double>()) : std::string()));
    return t.clone();
  }
  if (t.sizes() != param.sizes() || !t.is_floating_point())
    throw DataError(source + ": optimizer/" + k + key + " is " + c10::toString(t.scalar_type()) + " " + c10::str(t.sizes()) +
                    ", parameter " + std::to_string(i) + " is " + c10::toString(param.scalar_type()) + " " +
                    c10::str(param.sizes()));
  return t.to(param.device(), param.scalar_type()).clone();
}

/// The optimizer's per-parameter state (Adam moments or SGD momentum) from a checkpoint.
void load_optimizer_state(torch::optim::Optimizer& optimizer, const std::vector<at::Tensor>& params, bool adam,
                          const CheckpointData& d, const std::string& source) {
  auto& state = optimizer.state();
  for (std::size_t i = 0; i < params.size(); ++i) {
    auto get = [&](const std::string& key) { return optimizer_tensor(d, i, params[i], key, source); };
    const auto key = optimizer_state_key(optimizer, params[i]);
    if (adam) {
      auto step = get("step");
      if (!step.defined()) continue;
      auto s = std::make_unique<torch::optim::AdamParamState>();
      s->step(step.item<std::int64_t>());
      s->exp_avg(get("exp_avg"));
      s->exp_avg_sq(get("exp_avg_sq"));
      if (auto m = get("max_exp_avg_sq"); m.defined()) s->max_exp_avg_sq(m);
      state[key] = std::move(s);
    } else if (auto buf = get("momentum_buffer"); buf.defined()) {
      auto s = std::make_unique<torch::optim::SGDParamState>();
      s->momentum_buffer(buf);
      state[key] = std::move(s);
    }
  }
}

/// A random generator's state from rng/<key>, when the checkpoint has one.
void load_generator(const CheckpointData& d, const std::string& key, at::Generator& g, const std::string& source) {
  auto it = d.rng.find(key);
  if (it == d.rng.end()) return;
  try {
    g.set_state(it->second);
  } catch (const c10::Error& e) {
    throw DataError(source + ": rng/" + key + " is not a generator state (" + c10::toString(it->second.scalar_type()) + " " +
                    c10::str(it->second.sizes()) + "): " + e.what_without_backtrace());
  }
}

/// One value of components/kernel.trainer/<key>, or undefined when it is absent.
at::Tensor trainer_value(const StateDict& s, const char* key, const std::string& source) {
  auto it = s.find(key);
  if (it == s.end()) return {};
  if (it->second.numel() != 1)
    throw DataError(source + ": components/kernel.trainer/" + key + " must hold one value, found " +
                    c10::str(it->second.sizes()));
  return it->second;
}

}  // namespace

void Trainer::restore(const CheckpointData& d, const std::string& source) {
  if (d.stage < 0 || d.stage >= static_cast<std::int64_t>(cfg_.stages.size()))
    throw DataError(source + ": checkpoint is at stage " + std::to_string(d.stage) + " but the descriptor has " +
                    std::to_string(cfg_.stages.size()) + " stage(s)");
  begin_stage(static_cast<std::size_t>(d.stage));
  if (d.step < 0 || d.step_in_stage < 0 || d.step_in_stage > stage_steps_ || d.step < d.step_in_stage)
    throw DataError(source + ": step counters out of range: step " + std::to_string(d.step) + ", step " +
                    std::to_string(d.step_in_stage) + " of stage " + std::to_string(d.stage) + " (" +
                    std::to_string(stage_steps_) + " steps)");
  for (auto& [key, v] : d.counters)
    if (v < 0) throw DataError(source + ": counters/" + key + " is " + std::to_string(v) + "; expected a count >= 0");
  load_model_weights(*comps_.model, d, source);
  load_optimizer_state(*optimizer_, comps_.model->parameters(), cfg_.stages[stage_].optimizer.name == "adam", d, source);
  ema_ = checked_ema(d, source);
  for (auto& [name, s] : comps_.samplers) load_component_state(*s, name, d, source);
  for (auto& stage : comps_.stage_losses)
    for (auto& l : stage) load_component_state(*l.object, l.name, d, source);
  auto def = at::detail::getDefaultCPUGenerator();
  load_generator(d, "torch", def, source);
  if (device_.is_cuda()) {
    auto gpu = cuda_generator(device_);
    load_generator(d, "torch_cuda", gpu, source);
  }
  for (auto& st : streams_) {
    load_generator(d, "stream_" + st.spec.name, st.gen, source);
    if (auto it = d.counters.find("stream_" + st.spec.name + "_batches"); it != d.counters.end()) st.batches = it->second;
  }
  step_in_stage_ = d.step_in_stage;
  global_step_ = d.step;
  if (auto it = d.components.find("kernel.trainer"); it != d.components.end()) {
    if (auto t = trainer_value(it->second, "best", source); t.defined()) best_ = t.item<double>();
    if (auto t = trainer_value(it->second, "have_best", source); t.defined()) have_best_ = t.item<std::int64_t>() != 0;
    if (auto t = trainer_value(it->second, "last_finite_loss", source); t.defined()) last_finite_loss_ = t.item<double>();
  }
  // Periodic files already on disk take part in the `keep` rotation again.
  periodic_.clear();
  if (!checkpoint_dir_.empty())
    for (auto& [step, path] : periodic_checkpoints(checkpoint_dir_))  // by step ascending
      if (step <= global_step_) periodic_.push_back(path);
  resumed_ = true;
}

void Trainer::save_checkpoint(const std::string& file) {
  if (checkpoint_dir_.empty() || !cfg_.checkpoint.enabled) return;
  namespace fs = std::filesystem;
  const std::string path = (fs::path(checkpoint_dir_) / file).string();
  // Every record up to this step reaches the log before the checkpoint exists, so a resume
  // from it finds them all.
  CheckpointData d = snapshot();
  if (log_) {
    log_->flush();
    // Dataset paths as counter names: '/' would make HDF5 groups, so it is written '|'.
    for (auto& [series, n] : log_->rows()) {
      std::string key = series;
      std::replace(key.begin(), key.end(), '/', '|');
      d.counters["log_rows:" + key] = n;
    }
  }
  const std::string sha = write_checkpoint(path, d);
  if (log_) log_->append_checkpoint(global_step_, (fs::path(checkpoint_dir_).filename() / file).string(), sha);
  if (file == "ckpt-best.h5") return;
  if (std::find(periodic_.begin(), periodic_.end(), path) == periodic_.end()) periodic_.push_back(path);
  while (static_cast<std::int64_t>(periodic_.size()) > cfg_.checkpoint.keep) {
    fs::remove(periodic_.front());
    periodic_.erase(periodic_.begin());
  }
}

void Trainer::after_validation(const std::map<std::string, double>& results) {
  const std::string& key = cfg_.checkpoint.best;
  if (key.empty()) return;
  auto it = results.find(key);
  if (it == results.end()) {
    std::string names;
    for (auto& [k, v] : results) names += (names.empty() ? "" : ", ") + k;
    throw RunError("[checkpoint] best = \"" + key + "\" is not a validation result; available: " + names);
  }
  const bool better = !have_best_ || (cfg_.checkpoint.best_mode == "max" ? it->second > best_ : it->second < best_);
  if (!better) return;
  best_ = it->second;
  have_best_ = true;
  save_checkpoint("ckpt-best.h5");
}

}  // namespace ebm::kernel
