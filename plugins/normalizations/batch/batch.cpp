// normalization "batch": BatchNorm over the batch (and spatial) axes. Frozen by a
// stage's norm_mode = "frozen": running statistics are then used and never updated.
#include <torch/torch.h>

#include "ebmlab/ebmlab.hpp"

namespace {

class BatchNormLayer : public ebm::NormLayer {
 public:
  BatchNormLayer(std::int64_t channels, ebm::NormInput input, double momentum, double eps, bool affine) {
    if (input == ebm::NormInput::spatial)
      bn2d_ = register_module(
          "bn", torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(channels).momentum(momentum).eps(eps).affine(affine)));
    else
      bn1d_ = register_module(
          "bn", torch::nn::BatchNorm1d(torch::nn::BatchNorm1dOptions(channels).momentum(momentum).eps(eps).affine(affine)));
  }
  /// x: [B,C,H,W] or [B,C] -> same shape.
  at::Tensor forward(const at::Tensor& x) override { return bn2d_ ? bn2d_->forward(x) : bn1d_->forward(x); }

 private:
  torch::nn::BatchNorm2d bn2d_{nullptr};
  torch::nn::BatchNorm1d bn1d_{nullptr};
};

class BatchNorm : public ebm::Normalization {
 public:
  BatchNorm(const ebm::Params& p, const ebm::BuildContext&)
      : momentum_(p.real("momentum")), eps_(p.real("eps")), affine_(p.boolean("affine")) {}
  std::shared_ptr<ebm::NormLayer> make(std::int64_t channels, ebm::NormInput input) const override {
    return std::make_shared<BatchNormLayer>(channels, input, momentum_, eps_, affine_);
  }

 private:
  double momentum_, eps_;
  bool affine_;
};

ebm::Schema schema() {
  namespace p = ebm::param;
  return {p::real("momentum", "running-statistics update rate (PyTorch convention)").set_default(0.1).range(0, 1),
          p::real("eps", "added to the variance").set_default(1e-5).range(0, 1),
          p::boolean("affine", "learn a per-channel scale and shift").set_default(true)};
}

}  // namespace

EBMLAB_PLUGIN(ebm::entry<BatchNorm>(ebm::Kind::normalization, "batch", "1.0", "BatchNorm (train statistics, or frozen per stage)",
                                    schema))
