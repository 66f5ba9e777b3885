#include "train/optimization.hpp"

#include <algorithm>
#include <cmath>

#include <torch/torch.h>

namespace ebm::kernel {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerSpec& o, const std::vector<at::Tensor>& params) {
  if (o.name == "adam")
    return std::make_unique<torch::optim::Adam>(
        params, torch::optim::AdamOptions(o.lr).betas({o.beta1, o.beta2}).eps(o.eps).weight_decay(o.weight_decay));
  return std::make_unique<torch::optim::SGD>(
      params, torch::optim::SGDOptions(o.lr).momentum(o.momentum).nesterov(o.nesterov).weight_decay(o.weight_decay));
}

double learning_rate(const OptimizerSpec& o, const ScheduleSpec& sch, std::int64_t s, std::int64_t total) {
  const double base = o.lr;
  const std::int64_t warm = sch.warmup_steps;
  if (s < warm) return base * static_cast<double>(s + 1) / static_cast<double>(warm);
  // Whole periods only: the rate drops once every step_every steps.
  // NOLINTNEXTLINE(bugprone-integer-division)
  if (sch.name == "step") return base * std::pow(sch.gamma, static_cast<double>((s - warm) / sch.step_every));
  if (sch.name == "multistep") {  // torch.optim.lr_scheduler.MultiStepLR, in steps
    const auto passed = std::count_if(sch.milestones.begin(), sch.milestones.end(), [s](std::int64_t m) { return s >= m; });
    return base * std::pow(sch.gamma, static_cast<double>(passed));
  }
  if (sch.name == "cosine") {
    double t = static_cast<double>(s - warm) / static_cast<double>(std::max<std::int64_t>(total - warm, 1));
    double lo = sch.min_lr;
    return lo + 0.5 * (base - lo) * (1.0 + std::cos(M_PI * std::min(t, 1.0)));
  }
  return base;
}

std::vector<at::Tensor> averaged_tensors(torch::nn::Module& m) {
  std::vector<at::Tensor> out = m.parameters();
  for (auto& b : m.buffers())
    if (b.is_floating_point()) out.push_back(b);
  return out;
}

void update_average(std::vector<at::Tensor>& average, torch::nn::Module& m, double decay) {
  if (decay <= 0) return;
  torch::NoGradGuard no_grad;
  auto current = averaged_tensors(m);
  if (average.size() != current.size()) {
    average.clear();
    for (auto& t : current) average.push_back(t.detach().clone());
    return;
  }
  for (std::size_t i = 0; i < current.size(); ++i) average[i].mul_(decay).add_(current[i].detach(), 1.0 - decay);
}

double average_decay(double ema, bool warmup, std::int64_t updates) {
  if (!warmup || ema <= 0) return ema;
  const auto n = static_cast<double>(updates);
  return std::min(ema, (1.0 + n) / (10.0 + n));
}

void load_average(const std::vector<at::Tensor>& average, torch::nn::Module& m) {
  torch::NoGradGuard no_grad;
  auto current = averaged_tensors(m);
  for (std::size_t i = 0; i < current.size(); ++i) current[i].copy_(average[i]);
}

}  // namespace ebm::kernel
