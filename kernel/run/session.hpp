// What `ebmlab eval`, `sample` and `counterfactual` share: opening a saved variant with a
// checkpoint loaded into a trainer, and describing it in the /posthoc record. Their common
// options are read into a SessionRequest by cli/session_options.hpp.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "data/data.hpp"
#include "loader/registry.hpp"
#include "run/eval_services.hpp"
#include "run/saved_run.hpp"
#include "store/posthoc.hpp"
#include "train/components.hpp"
#include "train/progress.hpp"
#include "train/trainer.hpp"

namespace ebm::kernel {

/// Which saved variant, checkpoint and weights to open (eval, sample, counterfactual).
struct SessionRequest {
  std::string command;              ///< for messages: "eval", "sample", ...
  std::string run;                  ///< the run's index file
  std::string variant;              ///< "" : the run's only variant
  std::string checkpoint = "last";  ///< last, best, a step number, or a checkpoint file
  std::string weights = "auto";     ///< raw, ema or auto
  int threads = 0;                  ///< intra-op threads (0 = all cores)
  std::int64_t seed = 0;            ///< seed of the random numbers the command draws
  std::string device = "auto";      ///< auto, cpu, cuda or cuda:N (--device; resolve_device())
};

/// A saved variant with a checkpoint loaded into a trainer, ready to evaluate or sample.
struct Session {
  std::unique_ptr<Registry> registry;  // first: outlives the components built from its plugins
  SavedRun run;
  Dataset data;
  std::unique_ptr<Components> comps;
  std::unique_ptr<Progress> progress;
  std::unique_ptr<EvalServices> services;  ///< other data sets and reference networks the metrics load
  std::unique_ptr<Trainer> trainer;
  std::string checkpoint, checkpoint_sha256;
  std::string weights;  ///< raw | ema, as resolved from --weights
  std::int64_t step = 0;
  c10::Device device = c10::Device(c10::kCPU);  ///< where the model and data were put
};

/// Changes a run's resolved configuration before it is validated again (eval's metrics).
using TreeEdit = std::function<void(Table& root, const Registry& registry)>;

/// Opens the variant, applies `edit`, loads the checkpoint and seeds the generator. With
/// `writes`, first checks that the log can take a /posthoc record.
std::unique_ptr<Session> open_session(const SessionRequest& req, const TreeEdit& edit = {}, bool writes = true);

/// The record's source attributes: variant, checkpoint and its sha256, step, weights.
void describe_source(PosthocWriter& w, const Session& s);

/// sample and counterfactual work on the model itself: put the average in when asked.
void apply_weights(Session& s);

/// Test images of one class (or all, cls < 0), repeated when fewer than n exist.
Batch pick_images(const Dataset& data, std::int64_t n, std::int64_t cls);

}  // namespace ebm::kernel
