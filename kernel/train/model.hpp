// The kernel's model: per-channel normalization as the first layer, then the backbone.
#pragma once

#include <memory>

#include <torch/nn/module.h>

#include "ebmlab/backbone.hpp"
#include "ebmlab/context.hpp"

namespace ebm::kernel {

class Model : public torch::nn::Module {
 public:
  /// `label` names the backbone in errors, e.g. "backbone (plugin wrn)".
  Model(std::shared_ptr<Backbone> backbone, const DataInfo& info, std::string label = "backbone");
  /// x: [B, ...shape] in the data range -> logits [B, K]; any other shape is a RunError
  /// naming the backbone.
  at::Tensor forward(const at::Tensor& x);
  /// The backbone's penultimate representation of x (data range) -> [B, D].
  at::Tensor features(const at::Tensor& x);
  /// "bf16": forward() runs the backbone under autocast to bfloat16 and returns float32
  /// logits; "fp32" (the default): no autocast. features() stays fp32.
  void set_precision(const std::string& precision) { bf16_ = precision == "bf16"; }
  /// Puts every NormLayer in frozen (eval statistics) or trainable mode.
  void set_norm_frozen(bool frozen);
  Backbone& backbone() { return *backbone_; }

 private:
  std::shared_ptr<Backbone> backbone_;
  at::Tensor mean_, inv_std_;
  std::int64_t classes_ = 0;
  bool bf16_ = false;
  std::string label_;
};

}  // namespace ebm::kernel
