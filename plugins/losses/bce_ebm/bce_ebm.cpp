// loss "bce_ebm": AT-EBM/DAT's energy loss (METHODS.md §3, §4): binary cross-entropy with
// logits on the score s(x) = -E(x) = logsumexp f(x), real data target 1, samples target 0.
// Its gradient is the ML gradient reweighted by 1 - sigma(s) on data and sigma(s) on samples.
// Both references take one BCEWithLogits(mean) over the concatenated real and sample logits
// (xuwangyin/DAT rebm/training/metrics.py:245-248, xuwangyin/AT-EBMs train.py:333-353), so
// `reduction = "mean"` (the default) weighs each side by its share of the images: half of
// each side's mean when the counts are equal. "sum_of_means" (bce_real + bce_sample, twice
// the reference's weight against ce, at_ce and r1) was bce_ebm 1.0's loss.
#include <torch/torch.h>

#include "ebmlab/ebmlab.hpp"

namespace {

namespace F = torch::nn::functional;

class BceEbm : public ebm::Loss {
 public:
  BceEbm(const ebm::Params& p, const ebm::BuildContext&)
      : sampler_(p.string("sampler")),
        real_sampler_(p.has("real_sampler") ? p.string("real_sampler") : ""),
        stream_(p.string("stream")),
        joint_(p.string("score") == "joint_energy"),
        sum_of_means_(p.string("reduction") == "sum_of_means") {}

  std::vector<ebm::OutputSpec> outputs() const override {
    return {{"bce_real", {}, "BCE of the real batch against target 1"},
            {"bce_sample", {}, "BCE of the samples against target 0"},
            {"e_data", {}, "mean E(x) on the real batch", ebm::OutputRole::energy},
            {"e_sample", {}, "mean E(x) on the samples", ebm::OutputRole::energy},
            {"e_data_std", {}, "spread of E(x) on the real batch", ebm::OutputRole::energy},
            {"e_sample_std", {}, "spread of E(x) on the samples", ebm::OutputRole::energy},
            {"p_real", {}, "mean sigma(s) on real data (1 = confidently real)"}};
  }

  at::Tensor compute(ebm::StepContext& ctx) override {
    const ebm::Batch& b = ctx.batch(stream_);
    at::Tensor real = real_sampler_.empty() ? b.x : ctx.samples(real_sampler_);
    at::Tensor fake = ctx.samples(sampler_);
    at::Tensor lr = ctx.logits(real), lf = ctx.logits(fake);
    at::Tensor sr = score(lr, b.y), sf = score(lf, b.y);
    at::Tensor bce_r = F::binary_cross_entropy_with_logits(sr, torch::ones_like(sr));
    at::Tensor bce_f = F::binary_cross_entropy_with_logits(sf, torch::zeros_like(sf));
    at::Tensor er = ebm::energy(lr).detach(), ef = ebm::energy(lf).detach();
    ctx.log("bce_real", bce_r);
    ctx.log("bce_sample", bce_f);
    ctx.log("e_data", er.mean());
    ctx.log("e_sample", ef.mean());
    ctx.log("e_data_std", er.numel() > 1 ? er.std() : torch::zeros({}, er.options()));
    ctx.log("e_sample_std", ef.numel() > 1 ? ef.std() : torch::zeros({}, ef.options()));
    ctx.log("p_real", torch::sigmoid(sr.detach()).mean());
    if (sum_of_means_) return bce_r + bce_f;
    const double nr = static_cast<double>(sr.numel()), nf = static_cast<double>(sf.numel());
    return (nr * bce_r + nf * bce_f) / (nr + nf);
  }

 private:
  at::Tensor score(const at::Tensor& logits, const at::Tensor& y) const {
    if (!joint_) return -ebm::energy(logits);
    if (logits.size(0) != y.size(0))
      throw ebm::RunError("bce_ebm: score = \"joint_energy\" needs as many samples as labels (" + std::to_string(logits.size(0)) +
                          " vs " + std::to_string(y.size(0)) + ")");
    return -ebm::joint_energy(logits, y);
  }
  std::string sampler_, real_sampler_, stream_;
  bool joint_, sum_of_means_;
};

ebm::Schema schema() {
  namespace p = ebm::param;
  return {p::reference("sampler", "sampler", "the sampler giving the contrastive samples (target 0)").require(),
          p::reference("real_sampler", "sampler",
                       "optional: a sampler moving the real batch first (AT-EBM's in-distribution steps: pgd with "
                       "objective = \"energy_up\", init = \"batch\")"),
          p::stream("stream", "data stream of the real batch"),
          p::enumeration("score", {"energy", "joint_energy"}, "the BCE logit: -E(x) = logsumexp f(x) (DAT, AT-EBM) or f(x)[y]")
              .set_default("energy"),
          p::enumeration("reduction", {"mean", "sum_of_means"},
                         "mean: one mean over real and sample images together, as the DAT and AT-EBM code; "
                         "sum_of_means: bce_real + bce_sample (twice that weight; ebmlab <= 0.3.0)")
              .set_default("mean")};
}

}  // namespace

EBMLAB_PLUGIN(ebm::entry<BceEbm>(ebm::Kind::loss, "bce_ebm", "1.1", "BCE energy loss: real = 1, samples = 0 (AT-EBM, DAT)",
                                 schema))
