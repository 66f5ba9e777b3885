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

/// Evaluates every metric of `comps` on `data`. A metric that throws, returns an undeclared
/// result or a tensor of an undeclared shape, or leaves out a declared one, is a RunError
/// naming it.
EvalResults evaluate_metrics(Components& comps, StepState& state, const Split& data, const EvalSetting& when, VariantLog* log);

/// Images of the check before training.
inline constexpr std::int64_t kContractImages = 4;

/// Before training: every metric evaluated once on the first kContractImages rows of `data`
/// (the validation split, or the test split without one), so a broken outputs() contract
/// fails the variant now, not after training. A metric that throws on so few images (FID needs more) is left to its first
/// evaluation. Leaves no trace: no sampler runs (ctx.samples gives the images themselves),
/// nothing is logged, the global generator is put back and the metrics are reset.
void check_metric_contracts(Components& comps, StepState& state, const Split& data, std::int64_t step);

}  // namespace ebm::kernel
