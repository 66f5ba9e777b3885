// ebmlab SDK: losses compute named terms from the step context.
#pragma once

#include "ebmlab/component.hpp"
#include "ebmlab/context.hpp"

namespace ebm {

class EBMLAB_API Loss : public Component {
 public:
  ~Loss() override;
  /// Returns a scalar (0-d) tensor, differentiable in the parameters. The trainer
  /// multiplies it by the descriptor's `weight` and logs it as curves/<name>/loss;
  /// log any further terms through ctx.log (declare them in outputs()).
  virtual at::Tensor compute(StepContext& ctx) = 0;
};

}  // namespace ebm
