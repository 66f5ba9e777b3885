// A stage's optimization, apart from the loop: the optimizer, the learning-rate schedule
// and the weight average (EMA).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

#include "config/descriptor.hpp"

namespace torch::nn {
class Module;
}
namespace torch::optim {
class Optimizer;
}

namespace ebm::kernel {

/// SGD (momentum, Nesterov, weight decay) or Adam over `params`, as the stage's table says.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerSpec& o, const std::vector<at::Tensor>& params);

/// The learning rate at step `s` (0-based) of a stage of `total` steps: a linear warm-up
/// over warmup_steps, then constant, a step decay or a cosine to min_lr.
double learning_rate(const OptimizerSpec& o, const ScheduleSpec& schedule, std::int64_t s, std::int64_t total);

/// Parameters, then floating-point buffers (running statistics): what the weight average covers.
std::vector<at::Tensor> averaged_tensors(torch::nn::Module& m);

/// One weight-average step: `average` starts as a copy of the model, then becomes
/// decay * average + (1 - decay) * current. Nothing happens when decay <= 0.
void update_average(std::vector<at::Tensor>& average, torch::nn::Module& m, double decay);
/// The decay of the average's update after `updates` earlier updates in the stage (the trainer
/// passes the steps applied in it: a diverged step ends the stage): `ema`, or
/// with the warm-up min(ema, (1 + n) / (10 + n)) as DAT's AveragedModel
/// (xuwangyin/DAT rebm/training/average_model.py:28-49), so an average started at a stage's
/// first step forgets its starting weights within a few hundred steps.
double average_decay(double ema, bool warmup, std::int64_t updates);

/// Copies `average` into the model's averaged tensors.
void load_average(const std::vector<at::Tensor>& average, torch::nn::Module& m);

}  // namespace ebm::kernel
