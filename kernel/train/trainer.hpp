// Runs a variant's stages: optimizer steps, schedules, evaluation, logging.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>

#include "data/data.hpp"
#include "store/checkpoint.hpp"
#include "train/components.hpp"
#include "train/progress.hpp"

namespace torch::optim {
class Optimizer;
}

namespace ebm::kernel {

/// Set by the SIGINT/SIGTERM handler; the trainer stops at the next step boundary.
extern std::atomic<int> g_stop_signal;

/// glibc serves blocks above its mmap threshold with fresh mappings, so every activation
/// tensor of a few MB page-faults (measured: a conv forward+backward 6x slower). The
/// threshold adapts only after some large free; fix it high once at start-up.
void configure_allocator();

class StepState;
class Services;
class Collective;

/// Everything a trainer is set up with besides the variant itself; the trainer is complete
/// once constructed from it (no setters, no order to remember).
struct TrainerSetup {
  TrainerSetup() = default;
  TrainerSetup(VariantLog* log_to, Progress* progress_to) : log(log_to), progress(progress_to) {}

  VariantLog* log = nullptr;     ///< curves, evaluations and checkpoints are recorded here (none: not recorded)
  Progress* progress = nullptr;  ///< progress lines (none: silent)
  std::string checkpoint_dir;    ///< checkpoint files and sample grids go here ("": none; [checkpoint] decides when)
  Services* services = nullptr;  ///< other data sets and reference networks (none: asking for them is a RunError)
  /// Data parallel: this trainer is one rank. It takes its share of each global batch,
  /// averages gradients and logged terms over the ranks in one all-reduce per step, draws
  /// from its own random streams (rank 0 keeps the single-process ones), and only rank 0
  /// evaluates; rank 0's weights (restored ones included) are broadcast to all.
  Collective* collective = nullptr;
  const CheckpointData* resume = nullptr;  ///< resuming: the state to continue from (restore())
  std::string resume_source;               ///< the checkpoint file `resume` was read from (for messages)
  double wall_offset = 0.0;                ///< resuming: wall times continue from the last one the log kept
  /// Where the model, the data set and every batch live (resolve_device() chose it). The
  /// trainer moves the model and its copy of the data set there once, at construction.
  c10::Device device = c10::Device(c10::kCPU);
};

class Trainer {
 public:
  Trainer(const VariantConfig& cfg, Components& comps, const Dataset& data, const TrainerSetup& setup = {});
  ~Trainer();

  /// Runs every stage, evaluates on the validation split at the configured cadence and
  /// on the test split at the end. Returns "completed", "diverged" or "interrupted".
  std::string run();

  /// Prepares stage `index` (optimizer, norm mode) without running it.
  void begin_stage(std::size_t index);
  /// One optimizer step on `batch` with the current stage's losses; returns the loss.
  double step(const Batch& batch);
  /// Metrics on a split ("val" or "test"); also logged when a log is attached. Uses the
  /// weight average when the current stage says eval_weights = "ema".
  /// `weights`: "raw", "ema", or "" for the current stage's eval_weights.
  std::map<std::string, double> evaluate(const std::string& split, const std::string& weights = "");
  /// Runs a declared sampler once on `batch` (every stream gives the batch), as at evaluation;
  /// `terms`, when given, receives what the sampler logged ("<sampler>/<term>" -> value).
  at::Tensor run_sampler(const std::string& sampler, const Batch& batch, std::map<std::string, double>* terms = nullptr);
  /// The tensors ("metric/name") of the last evaluate(), and whether it used the average.
  const std::map<std::string, at::Tensor>& last_tensors() const { return last_tensors_; }
  bool last_used_ema() const { return last_used_ema_; }
  /// Why the variant diverged ("" unless run() returned "diverged").
  const std::string& detail() const { return detail_; }
  /// The next batch of a declared stream (own order, augmentation, noise).
  Batch draw(const std::string& stream);
  /// Copies the weight average into the model (no-op without one); returns false without.
  bool load_ema_into_model();

  /// Everything needed to continue: weights, optimizer state (by parameter order), the
  /// weight average, every sampler's and loss's state, generator states, counters.
  CheckpointData snapshot() const;
  /// Puts the trainer back in the state `snapshot()` captured (same descriptor).
  void restore(const CheckpointData& d, const std::string& source);
  /// For evaluating a saved model: the checkpoint's weights, weight average, stage and
  /// step only (no stage init file, optimizer or generator state); the samplers named in
  /// `sampler_state` get their saved state (e.g. a replay buffer). Model in eval mode.
  void load_for_evaluation(const CheckpointData& d, const std::string& source, const std::vector<std::string>& sampler_state);
  /// A checkpoint's weight average, checked against the model tensor for tensor (count,
  /// shapes, floating point) and converted to its dtypes; DataError naming `source`.
  std::vector<at::Tensor> checked_ema(const CheckpointData& d, const std::string& source) const;
  /// Hands a component its saved state; anything it throws becomes a DataError naming `source`.
  void load_component_state(Component& c, const std::string& name, const CheckpointData& d, const std::string& source);

 private:
  struct Stream {
    StreamSpec spec;
    std::int64_t index = 0;    ///< position in the descriptor's streams
    std::int64_t batches = 0;  ///< batches drawn so far (checkpointed)
    std::int64_t perm_epoch = -1;
    at::Tensor perm;    ///< the order of epoch perm_epoch
    at::Generator gen;  ///< augmentation and noise (checkpointed)
  };
  /// The order of epoch `epoch` of stream `stream`: a function of the seed only, so a
  /// restored run draws exactly the batches the original would have.
  at::Tensor epoch_order(std::int64_t stream, std::int64_t epoch) const;
  Batch prepare(Stream& s, Batch b);
  std::string divergence(double loss) const;
  void save_checkpoint(const std::string& file);
  void after_validation(const std::map<std::string, double>& results);
  std::map<std::string, double> evaluate_now(const std::string& split, bool ema);
  void keep_samples();
  void log_curve(const std::string& name, double value);
  /// Construction, after restoring: joins the group of ranks (TrainerSetup::collective).
  void join(Collective* c);
  /// Averages the gradients and the step's logged terms over the ranks (one all-reduce).
  void reduce_step(at::Tensor& total);
  bool stop_requested() const;
  /// The rows of a batch this rank trains on.
  at::Tensor shard(const at::Tensor& idx) const;

  const VariantConfig& cfg_;
  Components& comps_;
  const c10::Device device_;
  const Dataset data_;  ///< the data set on the trainer's device (tensors shared when it is already there)
  VariantLog* log_;
  Progress* progress_;
  std::unique_ptr<Services> no_services_;  ///< stands in when the setup gives none
  std::unique_ptr<StepState> ctx_;         ///< the step context plugins see, one view per component
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::size_t stage_ = 0;
  std::int64_t stage_steps_ = 0, step_in_stage_ = 0, global_step_ = 0, steps_per_epoch_ = 1;
  std::chrono::steady_clock::time_point start_;
  int loss_curve_ = -1, lr_curve_ = -1;
  std::vector<Stream> streams_;
  std::vector<at::Tensor> ema_;  ///< parameters then floating-point buffers
  std::string detail_;
  std::string checkpoint_dir_;
  std::vector<std::string> periodic_;  ///< periodic checkpoint files written, oldest first
  double best_ = 0.0;
  bool have_best_ = false;
  std::map<std::string, double> last_finite_;
  double last_finite_loss_ = 0.0;
  std::map<std::string, at::Tensor> last_tensors_;
  bool last_used_ema_ = false;
  Collective* coll_ = nullptr;
  bool stop_agreed_ = false;  ///< data parallel: some rank was asked to stop
  bool resumed_ = false;      ///< restore() ran: run() continues from the restored step
};

}  // namespace ebm::kernel
