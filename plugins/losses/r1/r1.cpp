// loss "r1": AT-EBM's gradient penalty on real data (METHODS.md §3), ½ E‖∇x s(x_real)‖²
// with s = -E(x) (or f(x)[y]). Its weight is the loss's `weight` (AT-EBM's lambda). As
// xuwangyin/AT-EBMs misc.py:28-39 (r1_reg) on the input its BCE sees (train.py:339-344): with
// `real_sampler`, the real batch after that sampler's in-distribution steps.
#include <torch/torch.h>

#include "ebmlab/ebmlab.hpp"

namespace {

class R1 : public ebm::Loss {
 public:
  R1(const ebm::Params& p, const ebm::BuildContext&)
      : stream_(p.string("stream")),
        real_sampler_(p.has("real_sampler") ? p.string("real_sampler") : ""),
        joint_(p.string("score") == "joint_energy") {}

  std::vector<ebm::OutputSpec> outputs() const override {
    return {{"grad_norm_sq", {}, "mean squared L2 norm of the score's input gradient on real data"}};
  }

  at::Tensor compute(ebm::StepContext& ctx) override {
    const ebm::Batch& b = ctx.batch(stream_);
    at::Tensor x = (real_sampler_.empty() ? b.x : ctx.samples(real_sampler_)).detach().requires_grad_(true);
    at::Tensor logits = ctx.logits(x);
    at::Tensor s = joint_ ? -ebm::joint_energy(logits, b.y) : -ebm::energy(logits);
    at::Tensor g = torch::autograd::grad({s.sum()}, {x}, {}, /*retain_graph=*/true, /*create_graph=*/true)[0];
    at::Tensor sq = g.reshape({g.size(0), -1}).pow(2).sum(1).mean();
    ctx.log("grad_norm_sq", sq);
    return 0.5 * sq;
  }

 private:
  std::string stream_, real_sampler_;
  bool joint_;
};

ebm::Schema schema() {
  namespace p = ebm::param;
  return {p::stream("stream", "data stream of the real batch"),
          p::reference("real_sampler", "sampler",
                       "optional: penalize the real batch after this sampler's steps (AT-EBM: the same in-distribution "
                       "sampler as bce_ebm's real_sampler)"),
          p::enumeration("score", {"energy", "joint_energy"}, "penalized score: -E(x) or f(x)[y]").set_default("energy")};
}

}  // namespace

EBMLAB_PLUGIN(ebm::entry<R1>(ebm::Kind::loss, "r1", "1.1", "R1 gradient penalty on real data (AT-EBM)", schema))
