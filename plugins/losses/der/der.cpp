// loss "der": the Delta Energy Regularizer of seed 003 (METHODS.md §5), with
//   ΔE(x) = E(x) - E(x*),  ΔE(x,y) = E(x,y) - E(x*,y),  x* the step's adversarial batch (the
//   same one at_ce sees, through the memo).
// form "paper" (default): per sample max(‖[ΔE(x), ΔE(x,y)]‖₂ - γ, 0), averaged over the
//   batch; with aae_only, only abnormal adversarial examples (the perturbation lowered their
//   cross-entropy) are penalized, as the authors write it for single-step AT. Source: the
//   first author's account of the paper, hussainmujtaba7/hussainmujtaba7.github.io
//   posts/understanding-adversarial-training/index.txt, section "Fixing Overfitting with Delta
//   Energy Regularisation (DER)"; the loss there is L_CE(x*) + β·L_ΔE, β being this loss's
//   stage weight. The batch mean (over all samples, masked ones counting zero) is ebmlab's
//   choice: the text gives the per-sample term only.
// form "ebmlab": the earlier guess lambda_x mean|ΔE(x)|^p + lambda_xy mean|ΔE(x,y)|^p.
// log_only: energies only, the model in eval mode without gradient (BatchNorm untouched).
#include <torch/torch.h>

#include "ebmlab/ebmlab.hpp"

namespace {

class Der : public ebm::Loss {
 public:
  Der(const ebm::Params& p, const ebm::BuildContext& b)
      : attack_(p.string("attack")),
        stream_(p.string("stream")),
        paper_(p.string("form") == "paper"),
        gamma_(p.has("gamma") ? p.real("gamma") : 0.0),
        aae_only_(p.boolean("aae_only")),
        log_only_(p.boolean("log_only")) {
    for (const char* key : {"p", "lambda_x", "lambda_xy"})
      if (paper_ && p.has(key))
        throw ebm::ConfigError(b.instance + ": " + key + " belongs to form = \"ebmlab\"; the paper's form has gamma and " +
                               "aae_only (its weight β is the loss's weight in the stage); remove it or set form = \"ebmlab\"");
    if (!paper_ && (p.has("gamma") || aae_only_))
      throw ebm::ConfigError(b.instance +
                             ": gamma and aae_only belong to form = \"paper\"; remove them or drop form = \"ebmlab\"");
    power_ = p.has("p") ? p.integer("p") : 2;
    lx_ = p.has("lambda_x") ? p.real("lambda_x") : 1.0;
    lxy_ = p.has("lambda_xy") ? p.real("lambda_xy") : 1.0;
  }

  std::vector<ebm::OutputSpec> outputs() const override {
    return {{"delta_e", {}, "mean ΔE(x) = E(x) - E(x*) (signed)"},
            {"delta_e_xy", {}, "mean ΔE(x,y) = E(x,y) - E(x*,y) (signed)"},
            {"delta_norm", {}, "mean ‖[ΔE(x), ΔE(x,y)]‖₂"},
            {"aae_fraction", {}, "fraction of abnormal adversarial examples: CE(x*,y) < CE(x,y)"},
            {"e_data", {}, "mean E(x) on the clean batch", ebm::OutputRole::energy},
            {"e_adv", {}, "mean E(x*) on the adversarial batch", ebm::OutputRole::energy}};
  }

  at::Tensor compute(ebm::StepContext& ctx) override {
    const ebm::Batch& b = ctx.batch(stream_);
    at::Tensor xa = ctx.samples(attack_);
    if (xa.size(0) != b.x.size(0))
      throw ebm::RunError("der: sampler '" + attack_ + "' returned " + std::to_string(xa.size(0)) + " examples for a batch of " +
                          std::to_string(b.x.size(0)) + "; give the attack and the loss the same stream");
    at::Tensor lc, la;
    if (log_only_) {
      torch::NoGradGuard no_grad;
      ebm::ModeGuard eval(ctx.model(), ebm::ModelMode::eval);
      lc = ctx.logits(b.x);
      la = ctx.logits(xa);
    } else {
      lc = ctx.logits(b.x);
      la = ctx.logits(xa);
    }
    at::Tensor ec = ebm::energy(lc), ea = ebm::energy(la);
    at::Tensor jc = ebm::joint_energy(lc, b.y), ja = ebm::joint_energy(la, b.y);
    at::Tensor d = ec - ea, dxy = jc - ja;
    at::Tensor norm = (d.pow(2) + dxy.pow(2)).sqrt();
    // CE(x, y) = E(x, y) - E(x): an abnormal example is one the perturbation made easier.
    at::Tensor aae = ((ja - ea) < (jc - ec)).detach();
    ctx.log("delta_e", d.detach().mean());
    ctx.log("delta_e_xy", dxy.detach().mean());
    ctx.log("delta_norm", norm.detach().mean());
    ctx.log("aae_fraction", aae.to(torch::kFloat32).mean());
    ctx.log("e_data", ec.detach().mean());
    ctx.log("e_adv", ea.detach().mean());
    if (log_only_) return torch::zeros({}, lc.options());
    if (!paper_) {
      auto penalty = [&](const at::Tensor& v) { return power_ == 1 ? v.abs().mean() : v.pow(2).mean(); };
      return lx_ * penalty(d) + lxy_ * penalty(dxy);
    }
    // sqrt has an infinite derivative at 0: the hinge is flat there for gamma >= 0, and an
    // exactly zero gap (x* == x) gets a zero gradient instead of NaN.
    at::Tensor safe = (d.pow(2) + dxy.pow(2)).clamp_min(1e-12).sqrt();
    at::Tensor per_sample = (safe - gamma_).clamp_min(0.0);
    if (aae_only_) per_sample = per_sample * aae.to(per_sample.dtype());
    return per_sample.mean();
  }

 private:
  std::string attack_, stream_;
  bool paper_;
  double gamma_;
  bool aae_only_, log_only_;
  std::int64_t power_ = 2;
  double lx_ = 1.0, lxy_ = 1.0;
};

ebm::Schema schema() {
  namespace p = ebm::param;
  return {p::reference("attack", "sampler", "the attack giving x* (share it with at_ce)").require(),
          p::stream("stream", "data stream of the clean batch"),
          p::enumeration("form", {"paper", "ebmlab"},
                         "paper: mean of max(‖[ΔE(x), ΔE(x,y)]‖₂ - gamma, 0), weighted by the stage's weight (β); "
                         "ebmlab: the earlier lambda_x mean|ΔE(x)|^p + lambda_xy mean|ΔE(x,y)|^p")
              .set_default("paper"),
          p::real("gamma", "form paper: margin γ below which a gap is free (default 0)").at_least(0),
          p::boolean("aae_only",
                     "form paper: penalize only abnormal adversarial examples, whose cross-entropy the perturbation "
                     "lowered (the paper's rule for single-step AT)")
              .set_default(false),
          p::boolean("log_only",
                     "only log the energies, computed in eval mode without gradient (no penalty, BatchNorm untouched): "
                     "for baselines without DER")
              .set_default(false),
          p::integer("p", "form ebmlab: exponent, 1 (absolute) or 2 (squared; default)").range(1, 2),
          p::real("lambda_x", "form ebmlab: weight of the ΔE(x) term (default 1)").at_least(0),
          p::real("lambda_xy", "form ebmlab: weight of the ΔE(x,y) term (default 1)").at_least(0)};
}

}  // namespace

EBMLAB_PLUGIN(ebm::entry<Der>(ebm::Kind::loss, "der", "2.0", "Delta Energy Regularizer, DER (seed 003)", schema))
