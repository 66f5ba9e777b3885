// What plugins see as ebm::StepContext. StepState is one step's shared state (batches,
// stream draws, the sample memo, logged terms); ComponentContext is the view handed to
// one component, bound to its name, so every logged term and error names its owner.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ebmlab/context.hpp"

#include "data/data.hpp"
#include "train/components.hpp"

namespace ebm::kernel {

class Services;
class StepState;

/// "[3, 1, 28, 28]"; `tail` gives ", 1, 28, 28" (to follow a leading "n").
std::string shape_str(at::IntArrayRef sizes, bool tail = false);

/// The StepContext of one component (a loss, sampler or metric, or "sample" for the
/// post-hoc commands): forwards to the step's state under its own name.
class ComponentContext final : public StepContext {
 public:
  ComponentContext(StepState& state, std::string name) : state_(state), name_(std::move(name)) {}

  const Batch& batch(const std::string& stream) override;
  const Batch& train_set() override;
  torch::nn::Module& model() override;
  at::Tensor logits(const at::Tensor& x) override;
  at::Tensor samples(const std::string& sampler) override;
  using StepContext::log;
  void log(const std::string& term, const at::Tensor& value) override;
  std::int64_t step() const override;
  std::int64_t epoch() const override;
  const DataInfo& data() const override;
  const Batch& other_dataset(const std::string& name, const std::string& path, std::int64_t n) override;
  Embedding embed(const std::string& checkpoint, const at::Tensor& x) override;

 private:
  StepState& state_;
  std::string name_;
};

class StepState {
 public:
  using StreamFn = std::function<Batch(const std::string&)>;
  using Clock = std::chrono::steady_clock;
  StepState(Components& c, const Dataset& data, VariantLog* log, Clock::time_point start, StreamFn draw, Services& services);

  /// A new step (or evaluation batch: every stream name then gives `batch`).
  void begin(const Batch& batch, std::int64_t step, std::int64_t epoch, bool evaluating = false);
  /// The context to hand component `name`.
  ComponentContext context(const std::string& name) { return ComponentContext(*this, name); }
  /// Records the terms logged since the last flush: fetched from their device in one
  /// transfer, kept in terms(), and appended to the log (held back while deferred).
  void flush();

  /// The values of this step's flushed terms, "component/term" -> value.
  const std::map<std::string, double>& terms() const { return terms_; }
  /// The samples drawn in the current step, by sampler.
  const std::map<std::string, at::Tensor>& memo() const { return memo_; }
  void set_start(Clock::time_point start) { start_ = start; }
  /// Data parallel: terms are held back until they are averaged over the ranks.
  void set_deferred(bool on) {
    deferred_ = on;
    pending_.clear();
  }
  const std::vector<std::pair<std::string, double>>& pending() const { return pending_; }
  /// The metrics' check before training (check_metric_contracts): ctx.samples(name) gives
  /// the batch's own images and runs no sampler, and nothing logged is recorded.
  void set_stand_in(bool on) {
    stand_in_ = on;
    set_deferred(on);
  }
  /// Records the held-back terms with their averaged values (same order as pending()).
  void commit(const std::vector<double>& values);

 private:
  friend class ComponentContext;
  const Batch& batch(const std::string& stream);
  const Batch& train_set();
  at::Tensor samples(const std::string& caller, const std::string& name);
  void log(const std::string& component, const std::string& term, const at::Tensor& value);
  void record(const std::string& key, double value);
  /// A sampler's samples whose extremes are fetched with the terms: its promise of the range.
  struct RangeCheck {
    std::string sampler;
    at::Tensor min, max;
  };
  void check_ranges(const std::vector<RangeCheck>& checks, const double* extremes) const;
  std::string plugin_label(const std::string& kind, const std::string& name) const;

  Components& comps_;
  const DataInfo& info_;
  const Dataset& data_;
  Batch train_set_;
  VariantLog* log_;
  Clock::time_point start_;
  StreamFn draw_;
  Services& services_;
  Batch batch_;
  std::map<std::string, Batch> streams_;
  bool evaluating_ = false;
  std::int64_t step_ = 0, epoch_ = 0;
  std::map<std::string, at::Tensor> memo_;
  std::vector<std::pair<std::string, at::Tensor>> logged_;  ///< since the last flush, on their devices
  std::vector<RangeCheck> range_checks_;                    ///< since the last flush
  std::map<std::string, double> terms_;
  std::map<std::string, int> ids_;
  bool deferred_ = false;
  bool stand_in_ = false;
  std::vector<std::pair<std::string, double>> pending_;
};

}  // namespace ebm::kernel
