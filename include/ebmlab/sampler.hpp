// ebmlab SDK: samplers produce attacks, contrastive samples and replay-buffer chains.
#pragma once

#include "ebmlab/component.hpp"
#include "ebmlab/context.hpp"

namespace ebm {

class EBMLAB_API Sampler : public Component {
 public:
  ~Sampler() override;
  /// Mode the kernel puts the model in while sample() runs (every submodule restored after).
  virtual ModelMode model_mode() const = 0;
  /// Returns samples [B, ...shape] in the data range, detached. Must leave no gradients
  /// on model parameters (the kernel checks and clears them).
  virtual at::Tensor sample(StepContext& ctx) = 0;
};

}  // namespace ebm
