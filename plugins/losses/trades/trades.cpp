// loss "trades": TRADES, CE(f(x), y) + beta KL(softmax f(x) || softmax f(x*)), with x* from
// a referenced sampler (pgd with objective = "kl").
#include <torch/torch.h>

#include "ebmlab/ebmlab.hpp"

namespace {

class Trades : public ebm::Loss {
 public:
  Trades(const ebm::Params& p, const ebm::BuildContext&)
      : attack_(p.string("attack")), stream_(p.string("stream")), beta_(p.real("beta")) {}

  std::vector<ebm::OutputSpec> outputs() const override {
    return {{"ce", {}, "clean cross-entropy"},
            {"kl", {}, "KL(p(x) || p(x*)) per sample, batch mean"},
            {"adv_accuracy", {}, "fraction of x* classified correctly"}};
  }

  at::Tensor compute(ebm::StepContext& ctx) override {
    const ebm::Batch& b = ctx.batch(stream_);
    at::Tensor xa = ctx.samples(attack_);
    at::Tensor lc = ctx.logits(b.x), la = ctx.logits(xa);
    at::Tensor ce = torch::nn::functional::cross_entropy(lc, b.y);
    at::Tensor pc = torch::softmax(lc, 1);
    at::Tensor kl = (pc * (torch::log_softmax(lc, 1) - torch::log_softmax(la, 1))).sum(1).mean();
    ctx.log("ce", ce);
    ctx.log("kl", kl);
    ctx.log("adv_accuracy", la.detach().argmax(1).eq(b.y).to(torch::kFloat32).mean());
    return ce + beta_ * kl;
  }

 private:
  std::string attack_, stream_;
  double beta_;
};

ebm::Schema schema() {
  namespace p = ebm::param;
  return {p::reference("attack", "sampler", "the attack (pgd with objective = \"kl\")").require(),
          p::stream("stream", "data stream of the clean batch"),
          p::real("beta", "weight of the KL term (TRADES: 6)").set_default(6.0).at_least(0)};
}

}  // namespace

EBMLAB_PLUGIN(ebm::entry<Trades>(ebm::Kind::loss, "trades", "1.0", "TRADES: clean CE + beta KL to the adversarial prediction",
                                 schema))
