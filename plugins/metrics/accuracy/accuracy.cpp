// metric "accuracy": clean top-1 accuracy (and error count) over an evaluation split.
#include <torch/torch.h>

#include "ebmlab/ebmlab.hpp"

namespace {

class Accuracy : public ebm::Metric {
 public:
  Accuracy(const ebm::Params&, const ebm::BuildContext&) {}

  std::vector<ebm::OutputSpec> outputs() const override {
    return {{"accuracy", {}, "fraction of images classified correctly"}, {"n", {}, "number of images evaluated"}};
  }
  void reset() override { correct_ = total_ = 0; }
  void update(const ebm::EvalBatch& b, ebm::StepContext&) override {
    correct_ += b.logits.argmax(1).eq(b.y).sum().item<std::int64_t>();
    total_ += b.y.size(0);
  }
  std::map<std::string, double> result() const override {
    return {{"accuracy", total_ ? static_cast<double>(correct_) / static_cast<double>(total_) : 0.0},
            {"n", static_cast<double>(total_)}};
  }

 private:
  std::int64_t correct_ = 0, total_ = 0;
};

ebm::Schema schema() { return {}; }

}  // namespace

EBMLAB_PLUGIN(ebm::entry<Accuracy>(ebm::Kind::metric, "accuracy", "1.0", "clean top-1 accuracy", schema))
