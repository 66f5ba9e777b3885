// backbone "convnet": a LeNet-style CNN. Blocks of conv3x3 -> norm -> activation ->
// maxpool2, then a hidden linear layer (with norm) and the classifier.
#include <torch/torch.h>

#include "ebmlab/ebmlab.hpp"

namespace {

using ebm::activate;

class ConvNet : public ebm::Backbone {
 public:
  ConvNet(const ebm::Params& p, const ebm::BuildContext& b) : activation_(p.string("activation")) {
    const auto& shape = b.data.shape;
    if (shape.size() != 3)
      throw ebm::ConfigError(b.instance + ": convnet needs image data [C,H,W]; the data set has " + std::to_string(shape.size()) +
                             "-d samples (use the mlp backbone)");
    std::int64_t in = shape[0], h = shape[1], w = shape[2];
    int i = 0;
    for (auto c : p.integers("channels")) {
      convs_.push_back(register_module("conv" + std::to_string(i), b.norm->wrap(ebm::conv2d(in, c, 3, 1, 1))));
      norms_.push_back(register_module("norm" + std::to_string(i), b.norm->make(c, ebm::NormInput::spatial)));
      in = c;
      h /= 2;
      w /= 2;
      ++i;
    }
    if (h < 1 || w < 1)
      throw ebm::ConfigError(b.instance + ".channels: " + std::to_string(i) + " pooling blocks shrink a " +
                             std::to_string(shape[1]) + "x" + std::to_string(shape[2]) + " image below 1x1; use fewer blocks");
    std::int64_t hidden = p.integer("hidden");
    fc_ = register_module("fc", b.norm->wrap(ebm::linear(in * h * w, hidden)));
    fc_norm_ = register_module("fc_norm", b.norm->make(hidden, ebm::NormInput::flat));
    head_ = register_module("head", b.norm->wrap(ebm::linear(hidden, b.data.num_classes)));
    dropout_ = p.real("dropout");
  }

  /// x: [B,C,H,W] normalized -> logits [B,K].
  at::Tensor forward(const at::Tensor& x) override {
    at::Tensor h = features(x);
    if (dropout_ > 0) h = torch::dropout(h, dropout_, is_training());
    return head_->forward(h);
  }

  /// The hidden linear layer's activations [B, hidden].
  at::Tensor features(const at::Tensor& x) override {
    at::Tensor h = x;
    for (size_t i = 0; i < convs_.size(); ++i)
      h = torch::max_pool2d(activate(norms_[i]->forward(convs_[i]->forward(h)), activation_), 2);
    return activate(fc_norm_->forward(fc_->forward(h.flatten(1))), activation_);
  }

 private:
  std::string activation_;
  double dropout_ = 0.0;
  std::vector<std::shared_ptr<ebm::Layer>> convs_;
  std::vector<std::shared_ptr<ebm::NormLayer>> norms_;
  std::shared_ptr<ebm::Layer> fc_, head_;
  std::shared_ptr<ebm::NormLayer> fc_norm_;
};

ebm::Schema schema() {
  namespace p = ebm::param;
  return {p::list("channels", p::integer("channels", "output channels").range(1, 4096), "channels of each conv block")
              .set_default(ebm::List{ebm::Value(32), ebm::Value(64)})
              .range(1, 6),
          p::integer("hidden", "width of the hidden linear layer").set_default(128).range(1, 65536), ebm::activation_param(),
          p::real("dropout", "dropout before the classifier (training only)").set_default(0.0).range(0, 0.95)};
}

}  // namespace

EBMLAB_PLUGIN(ebm::entry<ConvNet>(ebm::Kind::backbone, "convnet", "1.0",
                                  "LeNet-style CNN; norm layers from the normalization plugin", schema))
