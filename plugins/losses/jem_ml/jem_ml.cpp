// loss "jem_ml": JEM's maximum-likelihood contrastive term (METHODS.md §1)
//   mean E(x_data) - mean E(x_sample)  [+ joint_weight (mean E(x,y) - mean E(x_sample,y))]
//   [+ energy_l2 (mean E(x_data)^2 + mean E(x_sample)^2)]
// Pair it with `ce` in the same stage for JEM's full objective.
#include <torch/torch.h>

#include "ebmlab/ebmlab.hpp"

namespace {

class JemMl : public ebm::Loss {
 public:
  JemMl(const ebm::Params& p, const ebm::BuildContext&)
      : sampler_(p.string("sampler")), stream_(p.string("stream")), joint_(p.real("joint_weight")), l2_(p.real("energy_l2")) {}

  std::vector<ebm::OutputSpec> outputs() const override {
    return {{"ml", {}, "mean E(x_data) - mean E(x_sample)"},
            {"e_data", {}, "mean E(x) on the data batch", ebm::OutputRole::energy},
            {"e_sample", {}, "mean E(x) on the samples", ebm::OutputRole::energy},
            {"e_data_std", {}, "spread of E(x) on the data batch", ebm::OutputRole::energy},
            {"e_sample_std", {}, "spread of E(x) on the samples", ebm::OutputRole::energy}};
  }

  at::Tensor compute(ebm::StepContext& ctx) override {
    const ebm::Batch& b = ctx.batch(stream_);
    at::Tensor xs = ctx.samples(sampler_);
    at::Tensor ld = ctx.logits(b.x), ls = ctx.logits(xs);
    at::Tensor ed = ebm::energy(ld), es = ebm::energy(ls);
    at::Tensor ml = ed.mean() - es.mean();
    at::Tensor loss = ml;
    if (joint_ > 0) {
      if (xs.size(0) != b.y.size(0))
        throw ebm::RunError("jem_ml: joint_weight needs as many samples as labels (" + std::to_string(xs.size(0)) + " vs " +
                            std::to_string(b.y.size(0)) + ")");
      loss = loss + joint_ * (ebm::joint_energy(ld, b.y).mean() - ebm::joint_energy(ls, b.y).mean());
    }
    if (l2_ > 0) loss = loss + l2_ * (ed.pow(2).mean() + es.pow(2).mean());
    ctx.log("ml", ml);
    ctx.log("e_data", ed.mean());
    ctx.log("e_sample", es.mean());
    ctx.log("e_data_std", ed.numel() > 1 ? ed.std() : torch::zeros({}, ed.options()));
    ctx.log("e_sample_std", es.numel() > 1 ? es.std() : torch::zeros({}, es.options()));
    return loss;
  }

 private:
  std::string sampler_, stream_;
  double joint_, l2_;
};

ebm::Schema schema() {
  namespace p = ebm::param;
  return {p::reference("sampler", "sampler", "the sampler giving x_sample (JEM: sgld)").require(),
          p::stream("stream", "data stream of the real batch"),
          p::real("joint_weight", "weight of the extra E(x,y) term, y from the real batch (JEM: 0)").set_default(0.0).at_least(0),
          p::real("energy_l2", "weight of an L2 penalty on both energies (0 = off)").set_default(0.0).at_least(0)};
}

}  // namespace

EBMLAB_PLUGIN(ebm::entry<JemMl>(ebm::Kind::loss, "jem_ml", "1.0", "JEM's maximum-likelihood term E(x_data) - E(x_sample)",
                                schema))
