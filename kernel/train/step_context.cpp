#include "train/step_context.hpp"

#include <cmath>

#include <torch/torch.h>

#include "ebmlab/mode_guard.hpp"
#include "ebmlab/sampler.hpp"

#include "store/h5log.hpp"
#include "train/model.hpp"
#include "train/services.hpp"

namespace ebm::kernel {

namespace {
/// StepContext::train_set() of an on-demand data set: this many images spread over it.
constexpr std::int64_t kTrainSetCap = 20000;
}  // namespace

std::string shape_str(at::IntArrayRef sizes, bool tail) {
  std::string out;
  for (auto v : sizes) out += (out.empty() && !tail ? "" : ", ") + std::to_string(v);
  return tail ? out : "[" + out + "]";
}

// ---- ComponentContext: the step's state under one component's name ----

const Batch& ComponentContext::batch(const std::string& stream) { return state_.batch(stream); }
const Batch& ComponentContext::train_set() { return state_.train_set(); }
torch::nn::Module& ComponentContext::model() { return *state_.comps_.model; }
at::Tensor ComponentContext::logits(const at::Tensor& x) { return state_.comps_.model->forward(x); }
at::Tensor ComponentContext::samples(const std::string& sampler) { return state_.samples(name_, sampler); }
void ComponentContext::log(const std::string& term, const at::Tensor& value) { state_.log(name_, term, value); }
std::int64_t ComponentContext::step() const { return state_.step_; }
std::int64_t ComponentContext::epoch() const { return state_.epoch_; }
const DataInfo& ComponentContext::data() const { return state_.info_; }
const Batch& ComponentContext::other_dataset(const std::string& name, const std::string& path, std::int64_t n) {
  return state_.services_.other_dataset(name, path, n);
}
Embedding ComponentContext::embed(const std::string& checkpoint, const at::Tensor& x) {
  return state_.services_.embed(checkpoint, x);
}

// ---- StepState ----

StepState::StepState(Components& c, const Dataset& data, VariantLog* log, Clock::time_point start, StreamFn draw,
                     Services& services)
    : comps_(c), info_(data.info), data_(data), log_(log), start_(start), draw_(std::move(draw)), services_(services) {}

void StepState::begin(const Batch& batch, std::int64_t step, std::int64_t epoch, bool evaluating) {
  batch_ = batch;
  step_ = step;
  epoch_ = epoch;
  evaluating_ = evaluating;
  memo_.clear();
  streams_.clear();
  terms_.clear();
  range_checks_.clear();
  logged_.clear();
}

const Batch& StepState::batch(const std::string& stream) {
  if (evaluating_ || stream == "train" || stream == "eval") return batch_;
  auto it = streams_.find(stream);
  if (it == streams_.end()) it = streams_.emplace(stream, draw_(stream)).first;
  return it->second;
}

/// Built on first use: an image folder would otherwise be decoded for nothing.
const Batch& StepState::train_set() {
  if (!train_set_.x.defined()) train_set_ = data_.train.whole(kTrainSetCap);
  return train_set_;
}

std::string StepState::plugin_label(const std::string& kind, const std::string& name) const {
  auto it = comps_.sampler_plugins.find(name);
  return kind + " '" + name + "'" + (it == comps_.sampler_plugins.end() ? "" : " (plugin " + it->second + ")");
}

at::Tensor StepState::samples(const std::string& caller, const std::string& name) {
  if (auto it = memo_.find(name); it != memo_.end()) return it->second;
  auto s = comps_.samplers.find(name);
  if (s == comps_.samplers.end()) throw RunError(caller + ": no sampler named '" + name + "'");
  if (stand_in_) return batch_.x;
  at::Tensor out;
  {
    ModeGuard guard(*comps_.model, s->second->model_mode());
    ComponentContext own(*this, name);
    try {
      out = s->second->sample(own).detach();
    } catch (const std::exception& e) {
      throw RunError(plugin_label("sampler", name) + " failed at step " + std::to_string(step_) + ": " + e.what());
    }
  }
  // The contract: a batch of inputs shaped like the data (any count).
  const auto want = batch_.x.sizes();
  if (!out.defined() || out.dim() != batch_.x.dim() || out.sizes().slice(1) != want.slice(1))
    throw RunError(plugin_label("sampler", name) + " returned a tensor of shape " +
                   (out.defined() ? shape_str(out.sizes()) : std::string("(undefined)")) + " at step " + std::to_string(step_) +
                   "; expected [n" + shape_str(want.slice(1), true) + "] like the data");
  // A declared "in range" is checked with the step's terms (one transfer, in flush()).
  if (s->second->sample_range() != SampleRange::unbounded) range_checks_.push_back({name, out.min(), out.max()});
  memo_.emplace(name, out);
  return out;
}

void StepState::log(const std::string& component, const std::string& term, const at::Tensor& value) {
  if (!value.defined() || value.dim() != 0)
    throw RunError(component + ": logged term '" + term + "' as a tensor of shape " +
                   (value.defined() ? shape_str(value.sizes()) : std::string("(undefined)")) +
                   "; expected a scalar (0-d) tensor, e.g. x.mean()");
  std::string key = component + "/" + term;
  if (log_ && !ids_.count(key)) {
    int id = log_->curve_id(key);
    if (id < 0) throw RunError(component + ": logged undeclared term '" + term + "'; declare it in outputs()");
    ids_.emplace(key, id);
  }
  logged_.emplace_back(std::move(key), value.detach());
}

void StepState::flush() {
  if (logged_.empty() && range_checks_.empty()) return;
  auto logged = std::move(logged_);
  auto ranges = std::move(range_checks_);
  logged_.clear();
  range_checks_.clear();
  // One transfer for all: each term converted to double where it lives, then stacked,
  // followed by the extremes of the samples whose sampler promised the data range.
  // Terms a plugin built on the host join the device's (torch::stack needs one device).
  const c10::Device where = logged.empty() ? ranges.front().min.device() : logged.front().second.device();
  std::vector<at::Tensor> values;
  values.reserve(logged.size() + 2 * ranges.size());
  for (auto& [key, t] : logged) values.push_back(t.to(where, torch::kFloat64));
  for (auto& r : ranges) {
    values.push_back(r.min.to(where, torch::kFloat64));
    values.push_back(r.max.to(where, torch::kFloat64));
  }
  const at::Tensor host = torch::stack(values).to(torch::kCPU);
  const double* v = host.data_ptr<double>();
  check_ranges(ranges, v + logged.size());
  for (std::size_t i = 0; i < logged.size(); ++i) record(logged[i].first, v[i]);
}

void StepState::check_ranges(const std::vector<RangeCheck>& checks, const double* extremes) const {
  const double lo = info_.lo, hi = info_.hi, slack = 1e-6 * (hi - lo);  // rounding of a construction
  for (std::size_t i = 0; i < checks.size(); ++i) {
    const double a = extremes[2 * i], b = extremes[2 * i + 1];
    if (std::isnan(a) || std::isnan(b) || (a >= lo - slack && b <= hi + slack)) continue;  // NaN: the divergence guard's
    const bool clamped = comps_.samplers.at(checks[i].sampler)->sample_range() == SampleRange::clamped;
    throw RunError(plugin_label("sampler", checks[i].sampler) + " declares its samples " + (clamped ? "clamped to" : "in") +
                   " the data range [" + number_text(lo) + ", " + number_text(hi) + "] (sample_range() = " +
                   (clamped ? "clamped" : "in_range") + ") but returned values from " + number_text(a) + " to " + number_text(b) +
                   " at step " + std::to_string(step_) + "; clamp the samples, or declare SampleRange::unbounded");
  }
}

void StepState::record(const std::string& key, double value) {
  terms_[key] = value;
  if (deferred_) {
    pending_.emplace_back(key, value);
    return;
  }
  if (!log_) return;
  double wall = std::chrono::duration<double>(Clock::now() - start_).count();
  log_->append_curve(ids_.at(key), CurveRecord{step_, value, wall});  // log() checked the term and found its id
}

void StepState::commit(const std::vector<double>& values) {
  auto held = std::move(pending_);
  deferred_ = false;
  pending_.clear();
  for (std::size_t i = 0; i < held.size(); ++i) record(held[i].first, values[i]);
}

}  // namespace ebm::kernel
