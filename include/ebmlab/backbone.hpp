// ebmlab SDK: backbones map inputs to logits.
#pragma once

#include <string>

#include <torch/nn/module.h>

#include "ebmlab/component.hpp"
#include "ebmlab/schema.hpp"

namespace ebm {

class EBMLAB_API Backbone : public torch::nn::Module, public Component {
 public:
  ~Backbone() override;
  /// x: [B, ...DataInfo::shape] float32, already normalized per channel by the kernel's
  /// first layer; returns logits [B, K], differentiable in x and in the parameters.
  virtual at::Tensor forward(const at::Tensor& x) = 0;
  /// The penultimate representation [B, D] (what the classifier head reads), for feature
  /// spaces such as FID's. The default throws RunError: override it.
  virtual at::Tensor features(const at::Tensor& x);
};

/// The activations backbones share: "relu", "leaky_relu" (slope 0.2, as JEM), "silu".
EBMLAB_API at::Tensor activate(const at::Tensor& x, const std::string& kind);
/// The matching `activation` parameter.
EBMLAB_API ParamSpec activation_param(const std::string& default_kind = "relu");

}  // namespace ebm
