// metric "energy_stats": the energy landscape of the classifier-as-EBM at the data, at a
// sampler's samples, and how far an L-inf/L2 PGD attack on the cross-entropy moves the
// energies (seed 003's delta energies, METHODS.md §5, with x_adv - x as the sign).
#include <cmath>

#include <torch/torch.h>

#include "ebmlab/ebmlab.hpp"

namespace {

namespace F = torch::nn::functional;
namespace sp = ebm::sampling;

/// Mean and variance merged batch by batch (Chan, Golub & LeVeque 1979), in double.
struct Running {
  double n = 0, mean = 0, m2 = 0;
  void add(const at::Tensor& v) {
    at::Tensor d = v.detach().to(torch::kCPU, torch::kFloat64).flatten();
    const double nb = static_cast<double>(d.numel());
    if (nb == 0) return;
    const double mb = d.mean().item<double>();
    const double m2b = (d - mb).pow(2).sum().item<double>();
    const double delta = mb - mean, total = n + nb;
    mean += delta * nb / total;
    m2 += m2b + delta * delta * n * nb / total;
    n = total;
  }
  /// Sample standard deviation (n - 1 in the denominator); 0 below two values.
  double std() const { return n > 1 ? std::sqrt(m2 / (n - 1)) : 0.0; }
};

class EnergyStats : public ebm::Metric {
 public:
  EnergyStats(const ebm::Params& p, const ebm::BuildContext& b)
      : sampler_(p.has("sampler") ? p.string("sampler") : ""),
        eps_(p.real("adv_eps")),
        norm_(p.string("adv_norm")),
        steps_(p.integer("adv_steps")),
        alpha_(p.real("adv_alpha") > 0
                   ? p.real("adv_alpha")
                   : 2.5 * p.real("adv_eps") / static_cast<double>(std::max<std::int64_t>(1, p.integer("adv_steps")))),
        max_images_(p.integer("max_images")),
        lo_(b.data.lo),
        hi_(b.data.hi) {}

  std::vector<ebm::OutputSpec> outputs() const override {
    std::vector<ebm::OutputSpec> o = {{"data/energy_mean", {}, "mean of E(x) = -logsumexp f(x) on the split"},
                                      {"data/energy_std", {}, "sample std of E(x) on the split"},
                                      {"data/joint_energy_mean", {}, "mean of E(x,y) = -f(x)[y] on the split"},
                                      {"data/joint_energy_std", {}, "sample std of E(x,y) on the split"},
                                      {"n", {}, "images evaluated"}};
    if (!sampler_.empty()) {
      o.push_back({"samples/energy_mean", {}, "mean of E(x) at the sampler's samples (one call per batch)"});
      o.push_back({"samples/energy_std", {}, "sample std of E(x) at the sampler's samples"});
    }
    if (eps_ > 0) {
      o.push_back({"adv/delta_energy_mean", {}, "mean of E(x_adv) - E(x) under the PGD-CE attack"});
      o.push_back({"adv/delta_energy_std", {}, "sample std of E(x_adv) - E(x)"});
      o.push_back({"adv/delta_joint_energy_mean", {}, "mean of E(x_adv,y) - E(x,y)"});
      o.push_back({"adv/delta_joint_energy_std", {}, "sample std of E(x_adv,y) - E(x,y)"});
    }
    return o;
  }

  void reset() override { energy_ = joint_ = samples_ = delta_ = delta_joint_ = Running{}; }

  void update(const ebm::EvalBatch& b, ebm::StepContext& ctx) override {
    std::int64_t take = b.y.size(0);
    if (max_images_ > 0) take = std::min<std::int64_t>(take, max_images_ - static_cast<std::int64_t>(energy_.n));
    if (take <= 0) return;
    at::Tensor x = b.x.slice(0, 0, take).detach(), y = b.y.slice(0, 0, take), logits = b.logits.slice(0, 0, take).detach();
    at::Tensor e = ebm::energy(logits), ej = ebm::joint_energy(logits, y);
    energy_.add(e);
    joint_.add(ej);
    if (!sampler_.empty()) {
      at::Tensor s = ctx.samples(sampler_);
      torch::NoGradGuard no_grad;
      ebm::ModeGuard guard(ctx.model(), ebm::ModelMode::eval);
      samples_.add(ebm::energy(ctx.logits(s.slice(0, 0, std::min(take, s.size(0))))));
    }
    if (eps_ > 0) {
      ebm::ModeGuard guard(ctx.model(), ebm::ModelMode::eval);
      at::Tensor adv = attack(ctx, x, y);
      torch::NoGradGuard no_grad;
      at::Tensor la = ctx.logits(adv);
      delta_.add(ebm::energy(la) - e);
      delta_joint_.add(ebm::joint_energy(la, y) - ej);
    }
  }

  std::map<std::string, double> result() const override {
    std::map<std::string, double> r = {{"data/energy_mean", energy_.mean},
                                       {"data/energy_std", energy_.std()},
                                       {"data/joint_energy_mean", joint_.mean},
                                       {"data/joint_energy_std", joint_.std()},
                                       {"n", energy_.n}};
    if (!sampler_.empty()) {
      r["samples/energy_mean"] = samples_.mean;
      r["samples/energy_std"] = samples_.std();
    }
    if (eps_ > 0) {
      r["adv/delta_energy_mean"] = delta_.mean;
      r["adv/delta_energy_std"] = delta_.std();
      r["adv/delta_joint_energy_mean"] = delta_joint_.mean;
      r["adv/delta_joint_energy_std"] = delta_joint_.std();
    }
    return r;
  }

 private:
  /// PGD ascending the cross-entropy from x itself (no random start): sign steps in the
  /// L-inf ball or normalized steps in the L2 ball, clamped to the data range. Only x's
  /// gradient is taken, so the parameters' .grad stay untouched.
  at::Tensor attack(ebm::StepContext& ctx, const at::Tensor& x0, const at::Tensor& y) const {
    at::Tensor x = x0;
    for (std::int64_t t = 0; t < steps_; ++t) {
      x = x.detach().requires_grad_(true);
      at::Tensor ce = F::cross_entropy(ctx.logits(x), y, F::CrossEntropyFuncOptions().reduction(torch::kNone));
      at::Tensor g = sp::input_grad(ce, x);
      at::Tensor delta;
      if (norm_ == "linf")
        delta = (x.detach() + alpha_ * g.sign() - x0).clamp(-eps_, eps_);
      else
        delta = sp::project_l2(x.detach() + alpha_ * sp::normalize_l2(g) - x0, eps_);
      x = (x0 + delta).clamp(lo_, hi_);
    }
    return x.detach();
  }

  std::string sampler_;
  double eps_;
  std::string norm_;
  std::int64_t steps_;
  double alpha_;
  std::int64_t max_images_;
  double lo_, hi_;
  Running energy_, joint_, samples_, delta_, delta_joint_;
};

ebm::Schema schema() {
  namespace p = ebm::param;
  return {
      p::reference("sampler", "sampler",
                   "optional: a sampler whose samples (one call per evaluation batch) get energy statistics"),
      p::real("adv_eps", "radius of the PGD-CE attack for the delta energies, in pixel units (0: no attack)")
          .set_default(0.0)
          .range(0, 100),
      p::enumeration("adv_norm", {"linf", "l2"},
                     "threat model of the attack: sign steps in an L-inf ball or normalized steps in an L2 ball")
          .set_default("linf"),
      p::integer("adv_steps", "attack steps (0: x_adv = x)").set_default(10).range(0, 10000),
      p::real("adv_alpha", "attack step size in pixel units (0: 2.5 * adv_eps / adv_steps)").set_default(0.0).range(0, 100),
      p::integer("max_images", "at most this many images of the split (0: all)").set_default(0).range(0, 100000000),
  };
}

}  // namespace

EBMLAB_PLUGIN(ebm::entry<EnergyStats>(ebm::Kind::metric, "energy_stats", "1.0",
                                      "energy statistics at data, samples and PGD-CE adversarial examples", schema))
