// sampler "sgld": JEM's persistent stochastic-gradient Langevin dynamics with a replay
// buffer (METHODS.md §1), the JEM++ proximal variant and informative init (§2).
// Defaults are JEM's, converted from its [-1,1] scale to ebmlab's [0,1]: a step
// x <- x - a grad_x E + s N(0,I) on [-1,1] is u <- u - (a/4) grad_u E + (s/2) N(0,I) on [0,1].
#include <torch/torch.h>

#include "ebmlab/ebmlab.hpp"

namespace {

namespace sp = ebm::sampling;

class Sgld : public ebm::Sampler {
 public:
  Sgld(const ebm::Params& p, const ebm::BuildContext& b)
      : buffer_size_(p.integer("buffer_size")),
        reinit_freq_(p.real("reinit_freq")),
        steps_(p.integer("steps")),
        step_size_(p.real("step_size")),
        noise_(p.real("noise")),
        grad_clamp_(p.real("grad_clamp")),
        proximal_(p.boolean("proximal")),
        clamp_(p.boolean("clamp")),
        joint_(p.string("objective") == "joint_energy"),
        mode_(p.string("model_mode") == "train" ? ebm::ModelMode::train : ebm::ModelMode::eval),
        stream_(p.string("stream")),
        init_(p, b.data),
        data_(b.data) {
    if (init_.kind() == "batch")
      throw ebm::ConfigError(p.owner() +
                             ": init = \"batch\" would start the chains at the data; use uniform, "
                             "gaussian, class_gaussian, class_pca or stream");
    if (proximal_ && grad_clamp_ <= 0)
      throw ebm::ConfigError(p.owner() +
                             ": proximal = true is JEM++'s clamped step; set grad_clamp (JEM++ on [0,1]: "
                             "step_size = 0.05, grad_clamp = 2.0)");
    if (joint_ && buffer_size_ > 0 && buffer_size_ < data_.num_classes)
      throw ebm::ConfigError(p.owner() +
                             ": objective = \"joint_energy\" splits the buffer by class; buffer_size must be "
                             "at least the " +
                             std::to_string(data_.num_classes) + " classes");
  }

  ebm::ModelMode model_mode() const override { return mode_; }
  // JEM's reference SGLD leaves the range (train_wrn_ebm.py:203-237 has no clamp): clamp = false.
  ebm::SampleRange sample_range() const override {
    return clamp_ || proximal_ ? ebm::SampleRange::clamped : ebm::SampleRange::unbounded;
  }

  std::vector<ebm::OutputSpec> outputs() const override {
    return {{"e_sample", {}, "mean energy of the returned samples (before the last step)", ebm::OutputRole::energy},
            {"grad_norm", {}, "mean per-sample L2 norm of grad_x E at the last step"},
            {"reinit_fraction", {}, "fraction of this batch's chains restarted from the init distribution"}};
  }

  at::Tensor sample(ebm::StepContext& ctx) override {
    const ebm::Batch& b = ctx.batch(stream_);
    const std::int64_t n = b.x.size(0);
    const auto on = torch::TensorOptions().device(b.x.device());
    const auto index_on = on.dtype(torch::kInt64);
    if (buffer_.defined() && buffer_.device() != b.x.device()) buffer_ = buffer_.to(b.x.device());  // restored on the host
    at::Tensor x, idx;
    double reinit = 1.0;
    if (buffer_size_ == 0) {
      x = init_.draw(ctx, n, b.y, stream_);  // short-run chains
    } else {
      // Chain i of the buffer belongs to class i mod K: class-conditional sampling (joint
      // objective) draws chains of the batch's classes, as JEM's per-class buffers do.
      const std::int64_t K = data_.num_classes;
      if (!buffer_.defined()) buffer_ = init_.draw(ctx, buffer_size_, torch::arange(buffer_size_, index_on) % K, stream_);
      idx =
          joint_ ? b.y + K * torch::randint(0, buffer_size_ / K, {n}, index_on) : torch::randint(0, buffer_size_, {n}, index_on);
      x = buffer_.index_select(0, idx);
      auto fresh = torch::rand({n}, on).lt(reinit_freq_).nonzero().squeeze(1);
      if (fresh.numel() > 0)  // only the restarted chains are drawn from the init distribution
        x.index_copy_(0, fresh, init_.draw(ctx, fresh.numel(), (idx % K).index_select(0, fresh), stream_));
      reinit = static_cast<double>(fresh.numel()) / static_cast<double>(n);
    }
    // Logged as tensors, left on the device (no per-step sync); 0 when there are no steps.
    at::Tensor e_last = torch::zeros({}, on.dtype(torch::kFloat64)), g_last = torch::zeros({}, on.dtype(torch::kFloat64));
    for (std::int64_t t = 0; t < steps_; ++t) {
      x = x.detach().requires_grad_(true);
      auto logits = ctx.logits(x);
      at::Tensor e = joint_ ? ebm::joint_energy(logits, b.y) : ebm::energy(logits);
      at::Tensor g = sp::input_grad(e, x);
      if (t + 1 == steps_) {
        e_last = e.detach().mean();
        g_last = sp::l2_norm(g).detach().mean();
      }
      if (grad_clamp_ > 0) g = g.clamp(-grad_clamp_, grad_clamp_);
      at::Tensor next = x.detach() - step_size_ * g;
      if (!proximal_ && noise_ > 0) next = next + noise_ * torch::randn_like(next);
      x = clamp_ || proximal_ ? next.clamp(data_.lo, data_.hi) : next;
    }
    x = x.detach();
    if (buffer_size_ > 0) buffer_.index_copy_(0, idx, x);
    ctx.log("e_sample", e_last);
    ctx.log("grad_norm", g_last);
    ctx.log("reinit_fraction", reinit);
    return x;
  }

  ebm::StateDict state() const override {
    if (!buffer_.defined()) return {};
    return {{"buffer", buffer_}};
  }
  void load_state(const ebm::StateDict& s) override {
    auto it = s.find("buffer");
    if (it == s.end()) return;  // saved before the buffer was filled
    auto expected = buffer_shape();
    if (it->second.sizes().vec() != expected)
      throw ebm::RunError("sgld: saved replay buffer has shape " + shape_str(it->second.sizes().vec()) + ", expected " +
                          shape_str(expected) + " (buffer_size and data shape must match)");
    buffer_ = it->second.to(torch::kFloat32).clone();
  }

 private:
  std::vector<std::int64_t> buffer_shape() const {
    std::vector<std::int64_t> s{buffer_size_};
    s.insert(s.end(), data_.shape.begin(), data_.shape.end());
    return s;
  }
  static std::string shape_str(const std::vector<std::int64_t>& s) {
    std::string out = "[";
    for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
  }

  std::int64_t buffer_size_;
  double reinit_freq_;
  std::int64_t steps_;
  double step_size_, noise_, grad_clamp_;
  bool proximal_, clamp_, joint_;
  ebm::ModelMode mode_;
  std::string stream_;
  sp::Initializer init_;
  ebm::DataInfo data_;
  at::Tensor buffer_;  ///< the replay buffer [buffer_size, ...shape] (checkpointed)
};

ebm::Schema schema() {
  namespace p = ebm::param;
  ebm::Schema s = {
      p::integer("buffer_size", "replay buffer size (JEM: 10000); 0 = short-run chains from the init each step")
          .set_default(10000)
          .range(0, 10000000),
      p::real("reinit_freq", "fraction of drawn chains restarted from the init distribution (JEM: 0.05)")
          .set_default(0.05)
          .range(0, 1),
      p::integer("steps", "SGLD steps per training step (JEM: 20)").set_default(20).range(0, 100000),
      p::real("step_size", "gradient coefficient on [0,1] (JEM's 1.0 on [-1,1] = 0.25)").set_default(0.25).range(0, 1e6),
      p::real("noise", "noise sigma on [0,1] (JEM's 0.01 on [-1,1] = 0.005)").set_default(0.005).range(0, 100),
      p::real("grad_clamp", "clamp grad_x E elementwise to [-c, c] (0 = off; JEM++/SADA-JEM clamp)").set_default(0.0).at_least(0),
      p::boolean("proximal",
                 "JEM++ proximal SGLD: no noise and clamp to the data range each step "
                 "(JEM++: step_size 0.05, grad_clamp 2 on [0,1])")
          .set_default(false),
      p::boolean("clamp", "clamp to the data range each step (JEM: off)").set_default(false),
      p::enumeration("objective", {"energy", "joint_energy"},
                     "descend E(x) (JEM) or E(x,y) with y from the stream's batch (chains of the buffer are per class)")
          .set_default("energy"),
      p::enumeration("model_mode", {"train", "eval"}, "model mode while sampling (JEM: eval)").set_default("eval"),
      p::stream("stream", "data stream giving the batch size (and labels)"),
  };
  ebm::sampling::Initializer::add_params(s, "uniform");
  return s;
}

}  // namespace

EBMLAB_PLUGIN(ebm::entry<Sgld>(ebm::Kind::sampler, "sgld", "1.0",
                               "JEM's persistent SGLD with a replay buffer (and JEM++'s proximal variant)", schema))
