// ebmlab SDK: backbones map inputs to logits.
#pragma once

#include <torch/nn/module.h>

#include "ebmlab/component.hpp"

namespace ebm {

class EBMLAB_API Backbone : public torch::nn::Module, public Component {
 public:
  ~Backbone() override;
  /// x: [B, ...DataInfo::shape] float32, already normalized per channel by the kernel's
  /// first layer; returns logits [B, K], differentiable in x and in the parameters.
  virtual at::Tensor forward(const at::Tensor& x) = 0;
};

}  // namespace ebm
