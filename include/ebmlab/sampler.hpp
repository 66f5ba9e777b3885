// ebmlab SDK: samplers produce attacks, contrastive samples and replay-buffer chains.
#pragma once

#include "ebmlab/component.hpp"
#include "ebmlab/context.hpp"

namespace ebm {

/// What a sampler promises about its samples and the data range DataInfo [lo, hi]
/// (docs/writing-a-sampler.md). The kernel checks the two promises of "in range" on every
/// sample batch and fails the variant naming the sampler when one is broken.
enum class SampleRange {
  clamped,    ///< clamped to [lo, hi] (PGD with clamp, SGLD with clamp): always in range
  in_range,   ///< in [lo, hi] by construction, without a clamp (e.g. mixtures of data)
  unbounded,  ///< may leave [lo, hi] (JEM's reference SGLD does not clamp): not checked
};

class EBMLAB_API Sampler : public Component {
 public:
  ~Sampler() override;
  /// Mode the kernel puts the model in while sample() runs (every submodule restored after).
  virtual ModelMode model_mode() const = 0;
  /// What sample() promises about the data range (declared, never inferred: SDK 5).
  virtual SampleRange sample_range() const = 0;
  /// Returns samples [B, ...shape], detached, in the data range unless sample_range()
  /// says unbounded. Must leave no gradients
  /// on model parameters (the kernel checks and clears them).
  virtual at::Tensor sample(StepContext& ctx) = 0;
};

}  // namespace ebm
