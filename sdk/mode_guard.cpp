#include "ebmlab/mode_guard.hpp"

#include <torch/torch.h>

namespace ebm {

ModeGuard::ModeGuard(torch::nn::Module& root) : root_(root), root_training_(root.is_training()) {
  for (auto& m : root.modules(/*include_self=*/false)) saved_.emplace_back(m, m->is_training());
}

ModeGuard::ModeGuard(torch::nn::Module& root, ModelMode mode) : ModeGuard(root) { root.train(mode == ModelMode::train); }

ModeGuard::~ModeGuard() {
  // Module::train recurses; restoring in pre-order lets each module's own call come last.
  root_.train(root_training_);
  for (auto& [module, training] : saved_) module->train(training);
}

}  // namespace ebm
