// ebmlab SDK: normalization schemes. Backbones build every norm layer through the
// scheme they are given, and pass every conv/linear layer through its wrap(), so a norm
// ablation (including spectral normalization) changes one descriptor line.
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

/// A conv or linear map whose weight a normalization scheme may reparametrize.
/// forward(x) = apply(x, effective_weight()); a wrapper overrides effective_weight().
class EBMLAB_API Layer : public torch::nn::Module {
 public:
  ~Layer() override;
  at::Tensor forward(const at::Tensor& x) { return apply(x, effective_weight()); }
  /// The map with an explicit weight of weight()'s shape.
  virtual at::Tensor apply(const at::Tensor& x, const at::Tensor& weight) = 0;
  /// The raw trainable weight, [out, in, kh, kw] or [out, in].
  virtual at::Tensor weight() const = 0;
  virtual at::Tensor effective_weight() { return weight(); }
};

/// conv2d / linear layers with PyTorch's default initialization.
EBMLAB_API std::shared_ptr<Layer> conv2d(std::int64_t in, std::int64_t out, std::int64_t kernel, std::int64_t stride = 1,
                                         std::int64_t padding = 0, bool bias = true);
EBMLAB_API std::shared_ptr<Layer> linear(std::int64_t in, std::int64_t out, bool bias = true);

class EBMLAB_API Normalization : public Component {
 public:
  ~Normalization() override;
  /// A fresh layer for `channels` features of a conv ([B,C,H,W]) or linear ([B,C]) output.
  virtual std::shared_ptr<NormLayer> make(std::int64_t channels, NormInput input) const = 0;
  /// May reparametrize a conv/linear layer (spectral normalization); default: unchanged.
  virtual std::shared_ptr<Layer> wrap(std::shared_ptr<Layer> layer) const { return layer; }
};

}  // namespace ebm
