// loss "at_ce": cross-entropy on adversarial examples from a referenced attack sampler
// (Madry-style adversarial training; DAT's L_AT-CE). The examples come from the step's
// memo, so a DER loss in the same stage sees the same x*.
#include <torch/torch.h>

#include "ebmlab/ebmlab.hpp"

namespace {

class AtCe : public ebm::Loss {
 public:
  AtCe(const ebm::Params& p, const ebm::BuildContext&) : attack_(p.string("attack")), stream_(p.string("stream")) {}

  std::vector<ebm::OutputSpec> outputs() const override {
    return {{"adv_accuracy", {}, "fraction of the adversarial batch still classified correctly"},
            {"e_adv", {}, "mean E(x*) on the adversarial batch", ebm::OutputRole::energy}};
  }

  at::Tensor compute(ebm::StepContext& ctx) override {
    const ebm::Batch& b = ctx.batch(stream_);
    at::Tensor xa = ctx.samples(attack_);
    if (xa.size(0) != b.y.size(0))
      throw ebm::RunError("at_ce: sampler '" + attack_ + "' returned " + std::to_string(xa.size(0)) + " examples for " +
                          std::to_string(b.y.size(0)) + " labels of stream '" + stream_ +
                          "'; give the attack and the loss the same stream");
    at::Tensor logits = ctx.logits(xa);
    ctx.log("adv_accuracy", logits.detach().argmax(1).eq(b.y).to(torch::kFloat32).mean());
    ctx.log("e_adv", ebm::energy(logits.detach()).mean());
    return torch::nn::functional::cross_entropy(logits, b.y);
  }

 private:
  std::string attack_, stream_;
};

ebm::Schema schema() {
  namespace p = ebm::param;
  return {p::reference("attack", "sampler", "the attack (a pgd sampler with objective = \"ce\")").require(),
          p::stream("stream", "data stream of the labels (the attack's stream)")};
}

}  // namespace

EBMLAB_PLUGIN(ebm::entry<AtCe>(ebm::Kind::loss, "at_ce", "1.0", "cross-entropy on adversarial examples (adversarial training)",
                               schema))
