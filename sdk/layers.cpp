// Reparametrizable conv/linear layers of the SDK (normalization.hpp).
#include <torch/torch.h>

#include "ebmlab/normalization.hpp"

namespace ebm {

Layer::~Layer() = default;

namespace {

class Conv2dLayer : public Layer {
 public:
  Conv2dLayer(std::int64_t in, std::int64_t out, std::int64_t k, std::int64_t stride, std::int64_t pad, bool bias)
      : stride_(stride), pad_(pad) {
    conv_ =
        register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, k).stride(stride).padding(pad).bias(bias)));
  }
  at::Tensor apply(const at::Tensor& x, const at::Tensor& w) override {
    return torch::conv2d(x, w, conv_->bias, {stride_, stride_}, {pad_, pad_});
  }
  at::Tensor weight() const override { return conv_->weight; }

 private:
  std::int64_t stride_, pad_;
  torch::nn::Conv2d conv_{nullptr};
};

class LinearLayer : public Layer {
 public:
  LinearLayer(std::int64_t in, std::int64_t out, bool bias) {
    fc_ = register_module("fc", torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias)));
  }
  at::Tensor apply(const at::Tensor& x, const at::Tensor& w) override { return torch::linear(x, w, fc_->bias); }
  at::Tensor weight() const override { return fc_->weight; }

 private:
  torch::nn::Linear fc_{nullptr};
};

}  // namespace

std::shared_ptr<Layer> conv2d(std::int64_t in, std::int64_t out, std::int64_t kernel, std::int64_t stride, std::int64_t padding,
                              bool bias) {
  return std::make_shared<Conv2dLayer>(in, out, kernel, stride, padding, bias);
}

std::shared_ptr<Layer> linear(std::int64_t in, std::int64_t out, bool bias) {
  return std::make_shared<LinearLayer>(in, out, bias);
}

}  // namespace ebm

#include "ebmlab/backbone.hpp"

namespace ebm {

at::Tensor activate(const at::Tensor& x, const std::string& kind) {
  if (kind == "leaky_relu") return torch::leaky_relu(x, 0.2);
  if (kind == "silu") return torch::silu(x);
  return torch::relu(x);
}

ParamSpec activation_param(const std::string& default_kind) {
  return param::enumeration("activation", {"relu", "leaky_relu", "silu"}, "activation (leaky_relu uses slope 0.2, as JEM)")
      .set_default(default_kind);
}

}  // namespace ebm
