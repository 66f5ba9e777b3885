// backbone "wrn": Wide ResNet WRN-depth-width (Zagoruyko & Komodakis 2016) with
// pre-activation basic blocks, as JEM uses it (WRN-28-10, no normalization, LeakyReLU 0.2).
// depth = 6n + 4: three groups of n blocks with 16w, 32w, 64w channels.
#include <torch/torch.h>

#include "ebmlab/ebmlab.hpp"

namespace {

class Block : public torch::nn::Module {
 public:
  Block(std::int64_t in, std::int64_t out, std::int64_t stride, const ebm::Normalization& norm, const std::string& act,
        double dropout)
      : act_(act), dropout_(dropout) {
    n1_ = register_module("norm1", norm.make(in, ebm::NormInput::spatial));
    c1_ = register_module("conv1", norm.wrap(ebm::conv2d(in, out, 3, stride, 1, false)));
    n2_ = register_module("norm2", norm.make(out, ebm::NormInput::spatial));
    c2_ = register_module("conv2", norm.wrap(ebm::conv2d(out, out, 3, 1, 1, false)));
    if (in != out || stride != 1) shortcut_ = register_module("shortcut", norm.wrap(ebm::conv2d(in, out, 1, stride, 0, false)));
  }
  at::Tensor forward(const at::Tensor& x) {
    at::Tensor o = ebm::activate(n1_->forward(x), act_);
    at::Tensor skip = shortcut_ ? shortcut_->forward(o) : x;
    at::Tensor h = c1_->forward(o);
    h = ebm::activate(n2_->forward(h), act_);
    if (dropout_ > 0) h = torch::dropout(h, dropout_, is_training());
    return c2_->forward(h) + skip;
  }

 private:
  std::string act_;
  double dropout_;
  std::shared_ptr<ebm::NormLayer> n1_, n2_;
  std::shared_ptr<ebm::Layer> c1_, c2_, shortcut_;
};

class Wrn : public ebm::Backbone {
 public:
  Wrn(const ebm::Params& p, const ebm::BuildContext& b) : act_(p.string("activation")) {
    const std::int64_t depth = p.integer("depth"), width = p.integer("width");
    if ((depth - 4) % 6 != 0)
      throw ebm::ConfigError(b.instance + ".depth: WRN depth must be 6n+4 (10, 16, 22, 28, ...), found " + std::to_string(depth));
    if (b.data.shape.size() != 3)
      throw ebm::ConfigError(b.instance + ": wrn needs image data [C,H,W]; the data set has " +
                             std::to_string(b.data.shape.size()) + "-d samples (use the mlp backbone)");
    const std::int64_t n = (depth - 4) / 6;
    const double dropout = p.real("dropout");
    stem_ = register_module("stem", b.norm->wrap(ebm::conv2d(b.data.shape[0], 16, 3, 1, 1, false)));
    std::int64_t in = 16;
    int i = 0;
    for (std::int64_t g = 0; g < 3; ++g) {
      std::int64_t out = (16 << g) * width;
      for (std::int64_t k = 0; k < n; ++k) {
        blocks_.push_back(register_module("block" + std::to_string(i++),
                                          std::make_shared<Block>(in, out, k == 0 && g > 0 ? 2 : 1, *b.norm, act_, dropout)));
        in = out;
      }
    }
    norm_ = register_module("norm", b.norm->make(in, ebm::NormInput::spatial));
    head_ = register_module("head", b.norm->wrap(ebm::linear(in, b.data.num_classes)));
  }

  /// x: [B,C,H,W] normalized -> logits [B,K].
  at::Tensor forward(const at::Tensor& x) override { return head_->forward(features(x)); }

  /// Globally average-pooled final activation [B, 64 * width].
  at::Tensor features(const at::Tensor& x) override {
    at::Tensor h = stem_->forward(x);
    for (auto& blk : blocks_) h = blk->forward(h);
    h = ebm::activate(norm_->forward(h), act_);
    return h.mean({2, 3});
  }

 private:
  std::string act_;
  std::shared_ptr<ebm::Layer> stem_, head_;
  std::vector<std::shared_ptr<Block>> blocks_;
  std::shared_ptr<ebm::NormLayer> norm_;
};

ebm::Schema schema() {
  namespace p = ebm::param;
  return {p::integer("depth", "6n+4 layers (JEM: 28)").set_default(10).range(10, 1000),
          p::integer("width", "width multiplier k (JEM: 10)").set_default(2).range(1, 64),
          p::real("dropout", "dropout between the convolutions of a block").set_default(0.0).range(0, 0.95),
          ebm::activation_param()};
}

}  // namespace

EBMLAB_PLUGIN(ebm::entry<Wrn>(ebm::Kind::backbone, "wrn", "1.0", "Wide ResNet WRN-depth-width (pre-activation)", schema))
