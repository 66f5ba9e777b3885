// loss "ce": cross-entropy on the step's training batch, CE(x,y) = E(x,y) - E(x).
#include <torch/torch.h>

#include "ebmlab/ebmlab.hpp"

namespace {

class CrossEntropy : public ebm::Loss {
 public:
  CrossEntropy(const ebm::Params& p, const ebm::BuildContext&)
      : smoothing_(p.real("label_smoothing")), stream_(p.string("stream")) {}

  std::vector<ebm::OutputSpec> outputs() const override {
    return {{"batch_accuracy", {}, "fraction of the training batch classified correctly"}};
  }

  at::Tensor compute(ebm::StepContext& ctx) override {
    const ebm::Batch& b = ctx.batch(stream_);
    at::Tensor logits = ctx.logits(b.x);
    auto loss = torch::nn::functional::cross_entropy(
        logits, b.y, torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(smoothing_));
    ctx.log("batch_accuracy", logits.detach().argmax(1).eq(b.y).to(torch::kFloat32).mean());
    return loss;
  }

 private:
  double smoothing_;
  std::string stream_;
};

ebm::Schema schema() {
  namespace p = ebm::param;
  return {p::real("label_smoothing", "label smoothing").set_default(0.0).range(0, 1),
          p::stream("stream", "data stream the batch comes from")};
}

}  // namespace

EBMLAB_PLUGIN(ebm::entry<CrossEntropy>(ebm::Kind::loss, "ce", "1.0", "cross-entropy on the training batch", schema))
