// Runs a variant's stages: optimizer steps, schedules, evaluation, logging.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "components.hpp"
#include "data.hpp"
#include "progress.hpp"

namespace torch::optim { class Optimizer; }

namespace ebm::kernel {

/// Set by the SIGINT/SIGTERM handler; the trainer stops at the next step boundary.
extern std::atomic<int> g_stop_signal;

class StepContextImpl;

class Trainer {
 public:
  Trainer(const VariantConfig& cfg, Components& comps, const Dataset& data, VariantLog* log, Progress* progress);
  ~Trainer();

  /// Runs every stage, evaluates on the validation split at the configured cadence and
  /// on the test split at the end. Returns "completed", "diverged" or "interrupted".
  std::string run();

  /// Prepares stage `index` (optimizer, norm mode) without running it.
  void begin_stage(std::size_t index);
  /// One optimizer step on `batch` with the current stage's losses; returns the loss.
  double step(const Batch& batch);
  /// Metrics on a split ("val" or "test"); also logged when a log is attached.
  std::map<std::string, double> evaluate(const std::string& split);

 private:
  double learning_rate(std::int64_t step_in_stage, std::int64_t stage_steps) const;
  void log_curve(const std::string& name, double value);

  const VariantConfig& cfg_;
  Components& comps_;
  const Dataset& data_;
  VariantLog* log_;
  Progress* progress_;
  std::unique_ptr<StepContextImpl> ctx_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::size_t stage_ = 0;
  std::int64_t stage_steps_ = 0, step_in_stage_ = 0, global_step_ = 0, steps_per_epoch_ = 1;
  std::chrono::steady_clock::time_point start_;
  int loss_curve_ = -1, lr_curve_ = -1;
};

}  // namespace ebm::kernel
