// normalization "spectral": spectral normalization of every conv/linear weight through
// wrap() (Miyato et al. 2018): W / sigma(W), sigma estimated by power iteration on the
// weight reshaped to [out, in*k*k], the vector u updated in training mode only. Norm
// layers are identities. LibTorch 1.13 has no spectral_norm: written here.
#include <torch/torch.h>

#include "ebmlab/ebmlab.hpp"

namespace {

class Identity : public ebm::NormLayer {
 public:
  at::Tensor forward(const at::Tensor& x) override { return x; }
};

at::Tensor unit(const at::Tensor& v, double eps) { return v / v.norm().clamp_min(eps); }

class SpectralLayer : public ebm::Layer {
 public:
  SpectralLayer(std::shared_ptr<ebm::Layer> inner, std::int64_t iterations, double eps, double bound)
      : inner_(register_module("inner", std::move(inner))), iterations_(iterations), eps_(eps), bound_(bound) {
    auto w = inner_->weight().detach();
    u_ = register_buffer("sn_u", unit(torch::randn({w.size(0)}), eps_));
  }
  at::Tensor apply(const at::Tensor& x, const at::Tensor& w) override { return inner_->apply(x, w); }
  at::Tensor weight() const override { return inner_->weight(); }

  /// W * bound / sigma(W): the largest singular value of the reshaped weight is `bound`.
  at::Tensor effective_weight() override {
    at::Tensor w = inner_->weight();
    at::Tensor mat = w.reshape({w.size(0), -1});
    if (is_training()) {
      torch::NoGradGuard no_grad;
      at::Tensor u = u_;
      for (std::int64_t i = 0; i < iterations_; ++i) {
        at::Tensor v = unit(mat.detach().t().mv(u), eps_);
        u = unit(mat.detach().mv(v), eps_);
      }
      u_.copy_(u);
    }
    // A copy: the stored vector changes in place at the next training forward, which would
    // invalidate this graph when one step runs the model twice before backward().
    at::Tensor u = unit(u_, eps_).clone();
    at::Tensor v = unit(mat.detach().t().mv(u), eps_);
    at::Tensor sigma = u.dot(mat.mv(v));
    return w * (bound_ / sigma.clamp_min(eps_));
  }

 private:
  std::shared_ptr<ebm::Layer> inner_;
  std::int64_t iterations_;
  double eps_, bound_;
  at::Tensor u_;
};

class Spectral : public ebm::Normalization {
 public:
  Spectral(const ebm::Params& p, const ebm::BuildContext&)
      : iterations_(p.integer("power_iterations")), eps_(p.real("eps")), bound_(p.real("bound")) {}
  std::shared_ptr<ebm::NormLayer> make(std::int64_t, ebm::NormInput) const override { return std::make_shared<Identity>(); }
  std::shared_ptr<ebm::Layer> wrap(std::shared_ptr<ebm::Layer> layer) const override {
    return std::make_shared<SpectralLayer>(std::move(layer), iterations_, eps_, bound_);
  }

 private:
  std::int64_t iterations_;
  double eps_, bound_;
};

ebm::Schema schema() {
  namespace p = ebm::param;
  return {p::integer("power_iterations", "power iterations per training forward pass").set_default(1).range(1, 100),
          p::real("eps", "numerical floor of norms").set_default(1e-12).range(0, 1),
          p::real("bound", "target largest singular value of each weight").set_default(1.0).range(1e-6, 1e6)};
}

}  // namespace

EBMLAB_PLUGIN(ebm::entry<Spectral>(ebm::Kind::normalization, "spectral", "1.0",
                                   "spectral normalization of every conv/linear weight", schema))
