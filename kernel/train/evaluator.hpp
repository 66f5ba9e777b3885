// One evaluation of a variant's metrics on a split: every batch through the model in eval
// mode, each metric updated with its own step context, then its results and tensors,
// recorded in the log when there is one.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "data/data.hpp"
#include "train/components.hpp"

namespace ebm::kernel {

class StepState;
class VariantLog;

/// Where and when an evaluation happens.
struct EvalSetting {
  std::string split;            ///< "val" or "test" (the log's /eval/<split>/ group)
  std::int64_t batch_size = 0;  ///< [data] eval_batch_size
  std::int64_t step = 0, epoch = 0;
  bool ema = false;                             ///< the weight average is loaded (recorded as ema_weights)
  std::chrono::steady_clock::time_point start;  ///< wall times count from here
};

/// What an evaluation gave: "metric/result" -> value, "metric/tensor" -> tensor.
struct EvalResults {
  std::map<std::string, double> values;
  std::map<std::string, at::Tensor> tensors;
};

/// Evaluates every metric of `comps` on `data`. A metric that throws, or returns an
/// undeclared result or a tensor of an undeclared shape, is a RunError naming it.
EvalResults evaluate_metrics(Components& comps, StepState& state, const Split& data, const EvalSetting& when, VariantLog* log);

}  // namespace ebm::kernel
