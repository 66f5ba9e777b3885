// sampler "langevin_guided": generation from a (robust) classifier, seed 003 (METHODS.md §5):
// start from a class-wise PCA draw, run Langevin steps on E(x,y) (optionally with momentum)
// and stop each sample once (E(x,y) - mean real energy of class y)^2 < stop_threshold.
#include <torch/torch.h>

#include "ebmlab/ebmlab.hpp"

namespace {

namespace sp = ebm::sampling;

class LangevinGuided : public ebm::Sampler {
 public:
  LangevinGuided(const ebm::Params& p, const ebm::BuildContext& b)
      : steps_(p.integer("steps")),
        step_size_(p.real("step_size")),
        noise_(p.real("noise")),
        momentum_(p.real("momentum")),
        threshold_(p.real("stop_threshold")),
        stats_images_(p.integer("stats_images")),
        stream_(p.string("stream")),
        init_(p, b.data),
        data_(b.data) {}

  ebm::ModelMode model_mode() const override { return ebm::ModelMode::eval; }
  ebm::SampleRange sample_range() const override { return ebm::SampleRange::clamped; }

  std::vector<ebm::OutputSpec> outputs() const override {
    return {{"stopped_fraction", {}, "fraction of samples stopped early by the energy criterion"},
            {"mean_steps", {}, "mean number of steps a sample took"},
            {"e_sample", {}, "mean E(x,y) of the returned samples", ebm::OutputRole::energy}};
  }

  at::Tensor sample(ebm::StepContext& ctx) override {
    const ebm::Batch& b = ctx.batch(stream_);
    const std::int64_t n = b.x.size(0);
    const at::Tensor& y = b.y;
    at::Tensor target = threshold_ > 0 ? class_energy(ctx).index_select(0, y) : at::Tensor();
    at::Tensor x = init_.draw(ctx, n, y, stream_);
    at::Tensor velocity = torch::zeros_like(x);
    const auto on = torch::TensorOptions().device(x.device());
    at::Tensor active = torch::ones({n}, on.dtype(torch::kBool)), taken = torch::zeros({n}, on.dtype(torch::kFloat64));
    at::Tensor e;
    for (std::int64_t t = 0; t <= steps_; ++t) {
      x = x.detach().requires_grad_(t < steps_);
      auto logits = ctx.logits(x);
      e = ebm::joint_energy(logits, y);
      if (threshold_ > 0) active = active & (e.detach() - target).pow(2).ge(threshold_);
      if (t == steps_ || !active.any().item<bool>()) break;
      at::Tensor g = sp::input_grad(e, x);
      velocity = momentum_ * velocity + g;
      at::Tensor next = x.detach() - step_size_ * velocity;
      if (noise_ > 0) next = next + noise_ * torch::randn_like(next);
      next = next.clamp(data_.lo, data_.hi);
      auto mask = sp::per_sample(active, x);
      x = torch::where(mask, next, x.detach());
      velocity = torch::where(mask, velocity, torch::zeros_like(velocity));
      taken += active.to(torch::kFloat64);
    }
    x = x.detach();
    ctx.log("stopped_fraction",
            threshold_ > 0 ? 1.0 - active.to(torch::kFloat64).mean() : torch::zeros({}, on.dtype(torch::kFloat64)));
    ctx.log("mean_steps", taken.mean());
    ctx.log("e_sample", e.detach().mean());
    return x;
  }

 private:
  /// Mean E(x,y) of real training images per class, on `stats_images` random images.
  at::Tensor class_energy(ebm::StepContext& ctx) {
    torch::NoGradGuard no_grad;
    const ebm::Batch& all = ctx.train_set();
    // Drawn on the host (the same images on every device), then used where the data live.
    auto idx = torch::randperm(all.x.size(0), torch::kInt64).slice(0, 0, stats_images_).to(all.x.device());
    auto xs = all.x.index_select(0, idx), ys = all.y.index_select(0, idx);
    auto e = ebm::joint_energy(ctx.logits(xs), ys).to(torch::kFloat64);
    auto sums = torch::zeros({data_.num_classes}, e.options()).index_add_(0, ys, e);
    auto counts = torch::zeros({data_.num_classes}, e.options()).index_add_(0, ys, torch::ones_like(e));
    return (sums / counts.clamp_min(1)).to(torch::kFloat32);
  }

  std::int64_t steps_;
  double step_size_, noise_, momentum_, threshold_;
  std::int64_t stats_images_;
  std::string stream_;
  sp::Initializer init_;
  ebm::DataInfo data_;
};

ebm::Schema schema() {
  namespace p = ebm::param;
  ebm::Schema s = {
      p::integer("steps", "maximum Langevin steps (seed 003: ~20)").set_default(20).range(0, 100000),
      p::real("step_size", "gradient coefficient in pixel units").set_default(0.01).range(0, 1e6),
      p::real("noise", "Langevin noise sigma").set_default(0.001).range(0, 100),
      p::real("momentum", "heavy-ball momentum on the gradient (0 = plain Langevin)").set_default(0.0).range(0, 0.999),
      p::real("stop_threshold", "stop a sample once (E(x,y) - mean real E of class y)^2 falls below this (0 = never)")
          .set_default(1.0)
          .at_least(0),
      p::integer("stats_images", "training images used for the per-class energy means").set_default(1000).at_least(1),
      p::stream("stream", "data stream giving the labels (and the batch size)"),
  };
  ebm::sampling::Initializer::add_params(s, "class_pca");
  return s;
}

}  // namespace

EBMLAB_PLUGIN(ebm::entry<LangevinGuided>(ebm::Kind::sampler, "langevin_guided", "1.0",
                                         "class-conditional Langevin from class-wise PCA with adaptive stopping (seed 003)",
                                         schema))
