// ebmlab SDK: saves the train/eval flag of every submodule and restores it on scope exit.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "ebmlab/component.hpp"

namespace torch::nn {
class Module;
}

namespace ebm {

/// Restores every module's own flag, not just the root's: a frozen BatchNorm inside a
/// training model stays frozen after a sampler ran the model in eval mode.
class EBMLAB_API ModeGuard {
 public:
  explicit ModeGuard(torch::nn::Module& root);
  ModeGuard(torch::nn::Module& root, ModelMode mode);  ///< saves, then sets `mode`
  ~ModeGuard();
  ModeGuard(const ModeGuard&) = delete;
  ModeGuard& operator=(const ModeGuard&) = delete;

 private:
  torch::nn::Module& root_;
  bool root_training_;
  std::vector<std::pair<std::shared_ptr<torch::nn::Module>, bool>> saved_;  ///< pre-order
};

}  // namespace ebm
