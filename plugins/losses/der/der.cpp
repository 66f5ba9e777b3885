// loss "der": the Delta Energy Regularizer of seed 003 in "DER (ebmlab form)" (METHODS.md §5):
//   lambda_x mean |E(x) - E(x*)|^p + lambda_xy mean |E(x,y) - E(x*,y)|^p
// with x* the step's adversarial batch (the same one AT-CE sees, through the memo).
#include <torch/torch.h>

#include "ebmlab/ebmlab.hpp"

namespace {

class Der : public ebm::Loss {
 public:
  Der(const ebm::Params& p, const ebm::BuildContext&)
      : attack_(p.string("attack")),
        stream_(p.string("stream")),
        power_(p.integer("p")),
        lx_(p.real("lambda_x")),
        lxy_(p.real("lambda_xy")) {}

  std::vector<ebm::OutputSpec> outputs() const override {
    return {{"delta_e", {}, "mean ΔE(x) = E(x) - E(x*) (signed)"},
            {"delta_e_xy", {}, "mean ΔE(x,y) = E(x,y) - E(x*,y) (signed)"},
            {"e_data", {}, "mean E(x) on the clean batch", ebm::OutputRole::energy},
            {"e_adv", {}, "mean E(x*) on the adversarial batch", ebm::OutputRole::energy}};
  }

  at::Tensor compute(ebm::StepContext& ctx) override {
    const ebm::Batch& b = ctx.batch(stream_);
    at::Tensor xa = ctx.samples(attack_);
    if (xa.size(0) != b.x.size(0))
      throw ebm::RunError("der: sampler '" + attack_ + "' returned " + std::to_string(xa.size(0)) + " examples for a batch of " +
                          std::to_string(b.x.size(0)) + "; give the attack and the loss the same stream");
    at::Tensor lc = ctx.logits(b.x), la = ctx.logits(xa);
    at::Tensor ec = ebm::energy(lc), ea = ebm::energy(la);
    at::Tensor d = ec - ea, dxy = ebm::joint_energy(lc, b.y) - ebm::joint_energy(la, b.y);
    auto penalty = [&](const at::Tensor& v) { return power_ == 1 ? v.abs().mean() : v.pow(2).mean(); };
    ctx.log("delta_e", d.detach().mean());
    ctx.log("delta_e_xy", dxy.detach().mean());
    ctx.log("e_data", ec.detach().mean());
    ctx.log("e_adv", ea.detach().mean());
    return lx_ * penalty(d) + lxy_ * penalty(dxy);
  }

 private:
  std::string attack_, stream_;
  std::int64_t power_;
  double lx_, lxy_;
};

ebm::Schema schema() {
  namespace p = ebm::param;
  return {p::reference("attack", "sampler", "the attack giving x* (share it with at_ce)").require(),
          p::stream("stream", "data stream of the clean batch"),
          p::integer("p", "exponent: 1 (absolute) or 2 (squared)").set_default(2).range(1, 2),
          p::real("lambda_x", "weight of the ΔE(x) term").set_default(1.0).at_least(0),
          p::real("lambda_xy", "weight of the ΔE(x,y) term").set_default(1.0).at_least(0)};
}

}  // namespace

EBMLAB_PLUGIN(ebm::entry<Der>(ebm::Kind::loss, "der", "1.0", "Delta Energy Regularizer, DER (ebmlab form), seed 003", schema))
