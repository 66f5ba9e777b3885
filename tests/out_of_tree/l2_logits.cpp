// The example loss of docs/writing-a-plugin.md: a squared-logit penalty.
#include <torch/torch.h>

#include "ebmlab/ebmlab.hpp"

namespace {

class L2Logits : public ebm::Loss {
 public:
  L2Logits(const ebm::Params& p, const ebm::BuildContext&) : scale_(p.real("scale")) {}
  std::vector<ebm::OutputSpec> outputs() const override {
    return {{"mean_energy", {}, "mean E(x) of the batch", ebm::OutputRole::energy}};
  }
  at::Tensor compute(ebm::StepContext& ctx) override {
    at::Tensor logits = ctx.logits(ctx.batch().x);
    ctx.log("mean_energy", ebm::energy(logits).mean());
    return scale_ * logits.pow(2).mean();
  }

 private:
  double scale_;
};

ebm::Schema schema() { return {ebm::param::real("scale", "weight of the penalty").set_default(1e-3).range(0, 10)}; }

}  // namespace

EBMLAB_PLUGIN(ebm::entry<L2Logits>(ebm::Kind::loss, "l2_logits", "1.0", "squared-logit penalty", schema))
