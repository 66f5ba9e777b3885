// backbone "resnet18": ResNet-18 (He et al. 2016) with the CIFAR stem (3x3 conv, stride 1,
// no max-pool): four stages of two basic blocks, base channels `width` (64).
#include <torch/torch.h>

#include "ebmlab/ebmlab.hpp"

namespace {

class Basic : public torch::nn::Module {
 public:
  Basic(std::int64_t in, std::int64_t out, std::int64_t stride, const ebm::Normalization& norm, const std::string& act)
      : act_(act) {
    c1_ = register_module("conv1", norm.wrap(ebm::conv2d(in, out, 3, stride, 1, false)));
    n1_ = register_module("norm1", norm.make(out, ebm::NormInput::spatial));
    c2_ = register_module("conv2", norm.wrap(ebm::conv2d(out, out, 3, 1, 1, false)));
    n2_ = register_module("norm2", norm.make(out, ebm::NormInput::spatial));
    if (in != out || stride != 1) {
      sc_ = register_module("shortcut", norm.wrap(ebm::conv2d(in, out, 1, stride, 0, false)));
      sn_ = register_module("shortcut_norm", norm.make(out, ebm::NormInput::spatial));
    }
  }
  at::Tensor forward(const at::Tensor& x) {
    at::Tensor h = ebm::activate(n1_->forward(c1_->forward(x)), act_);
    h = n2_->forward(c2_->forward(h));
    return ebm::activate(h + (sc_ ? sn_->forward(sc_->forward(x)) : x), act_);
  }

 private:
  std::string act_;
  std::shared_ptr<ebm::Layer> c1_, c2_, sc_;
  std::shared_ptr<ebm::NormLayer> n1_, n2_, sn_;
};

class ResNet18 : public ebm::Backbone {
 public:
  ResNet18(const ebm::Params& p, const ebm::BuildContext& b) : act_(p.string("activation")) {
    if (b.data.shape.size() != 3)
      throw ebm::ConfigError(b.instance + ": resnet18 needs image data [C,H,W]; the data set has " +
                             std::to_string(b.data.shape.size()) + "-d samples (use the mlp backbone)");
    const std::int64_t w = p.integer("width");
    stem_ = register_module("stem", b.norm->wrap(ebm::conv2d(b.data.shape[0], w, 3, 1, 1, false)));
    stem_norm_ = register_module("stem_norm", b.norm->make(w, ebm::NormInput::spatial));
    std::int64_t in = w;
    int i = 0;
    for (std::int64_t s = 0; s < 4; ++s)
      for (std::int64_t k = 0; k < 2; ++k) {
        std::int64_t out = w << s;
        blocks_.push_back(register_module("block" + std::to_string(i++),
                                          std::make_shared<Basic>(in, out, k == 0 && s > 0 ? 2 : 1, *b.norm, act_)));
        in = out;
      }
    head_ = register_module("head", b.norm->wrap(ebm::linear(in, b.data.num_classes)));
  }

  /// x: [B,C,H,W] normalized -> logits [B,K].
  at::Tensor forward(const at::Tensor& x) override { return head_->forward(features(x)); }

  /// Globally average-pooled last block [B, 512].
  at::Tensor features(const at::Tensor& x) override {
    at::Tensor h = ebm::activate(stem_norm_->forward(stem_->forward(x)), act_);
    for (auto& blk : blocks_) h = blk->forward(h);
    return h.mean({2, 3});
  }

 private:
  std::string act_;
  std::shared_ptr<ebm::Layer> stem_, head_;
  std::shared_ptr<ebm::NormLayer> stem_norm_;
  std::vector<std::shared_ptr<Basic>> blocks_;
};

ebm::Schema schema() {
  namespace p = ebm::param;
  return {p::integer("width", "channels of the first stage (64 in ResNet-18)").set_default(64).range(1, 4096),
          ebm::activation_param()};
}

}  // namespace

EBMLAB_PLUGIN(ebm::entry<ResNet18>(ebm::Kind::backbone, "resnet18", "1.0", "ResNet-18 with the CIFAR stem", schema))
