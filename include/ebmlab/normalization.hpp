// ebmlab SDK: normalization schemes. Backbones build every norm layer through the
// scheme they are given, so a norm ablation changes one descriptor line.
#pragma once

#include <cstdint>
#include <memory>

#include <torch/nn/module.h>

#include "ebmlab/component.hpp"

namespace ebm {

/// Base of every norm layer. While frozen it never leaves eval mode (running statistics
/// are used and not updated), whatever train() the trainer calls — DAT's stage 2.
class EBMLAB_API NormLayer : public torch::nn::Module {
 public:
  ~NormLayer() override;
  /// x: [B, C, H, W] (spatial) or [B, C] (flat) -> same shape.
  virtual at::Tensor forward(const at::Tensor& x) = 0;
  void train(bool on = true) override;
  void set_frozen(bool frozen);
  bool frozen() const { return frozen_; }

 private:
  bool frozen_ = false;
};

enum class NormInput { spatial, flat };

class EBMLAB_API Normalization : public Component {
 public:
  ~Normalization() override;
  /// A fresh layer for `channels` features of a conv ([B,C,H,W]) or linear ([B,C]) output.
  virtual std::shared_ptr<NormLayer> make(std::int64_t channels, NormInput input) const = 0;
};

}  // namespace ebm
