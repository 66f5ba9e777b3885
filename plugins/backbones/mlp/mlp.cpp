// backbone "mlp": fully connected layers (linear -> norm -> activation), then the classifier.
#include <torch/torch.h>

#include "ebmlab/ebmlab.hpp"

namespace {

class Mlp : public ebm::Backbone {
 public:
  Mlp(const ebm::Params& p, const ebm::BuildContext& b) : activation_(p.string("activation")) {
    std::int64_t in = 1;
    for (auto d : b.data.shape) in *= d;
    int i = 0;
    for (auto width : p.integers("hidden")) {
      layers_.push_back(register_module("fc" + std::to_string(i), b.norm->wrap(ebm::linear(in, width))));
      norms_.push_back(register_module("norm" + std::to_string(i), b.norm->make(width, ebm::NormInput::flat)));
      in = width;
      ++i;
    }
    head_ = register_module("head", b.norm->wrap(ebm::linear(in, b.data.num_classes)));
  }

  /// x: [B, ...] normalized -> logits [B,K].
  at::Tensor forward(const at::Tensor& x) override { return head_->forward(features(x)); }

  /// The last hidden layer's activations (the flattened input without hidden layers).
  at::Tensor features(const at::Tensor& x) override {
    at::Tensor h = x.flatten(1);
    for (size_t i = 0; i < layers_.size(); ++i) {
      h = norms_[i]->forward(layers_[i]->forward(h));
      h = ebm::activate(h, activation_);
    }
    return h;
  }

 private:
  std::string activation_;
  std::vector<std::shared_ptr<ebm::Layer>> layers_;
  std::vector<std::shared_ptr<ebm::NormLayer>> norms_;
  std::shared_ptr<ebm::Layer> head_;
};

ebm::Schema schema() {
  namespace p = ebm::param;
  return {p::list("hidden", p::integer("width", "layer width").range(1, 65536), "widths of the hidden layers")
              .set_default(ebm::List{ebm::Value(128), ebm::Value(128)})
              .range(0, 16),
          ebm::activation_param()};
}

}  // namespace

EBMLAB_PLUGIN(ebm::entry<Mlp>(ebm::Kind::backbone, "mlp", "1.0", "multilayer perceptron on flattened inputs", schema))
