// metric "robust_accuracy": accuracy under a PGD or APGD-CE attack in an L-inf or L2 ball,
// with the clean accuracy of the same images and the attack's settings. METHODS.md §6.
#include <limits>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "ebmlab/attacks.hpp"
#include "ebmlab/ebmlab.hpp"

namespace {

namespace atk = ebm::attacks;

class RobustAccuracy : public ebm::Metric {
 public:
  RobustAccuracy(const ebm::Params& p, const ebm::BuildContext& b)
      : apgd_(p.string("attack") == "apgd_ce"),
        per_image_(p.boolean("per_image")),
        max_images_(p.integer("max_images")),
        seed_(p.integer("seed")) {
    spec_.norm = p.string("norm");
    spec_.eps = p.real("eps");
    spec_.alpha = p.real("alpha");
    spec_.steps = p.integer("steps");
    spec_.restarts = p.integer("restarts");
    spec_.random_start = p.boolean("random_start");
    spec_.start = p.string("start");
    spec_.apgd_rules = p.string("apgd_rules");
    spec_.lo = b.data.lo;
    spec_.hi = b.data.hi;
    if (apgd_ && spec_.alpha > 0)
      throw ebm::ConfigError(p.owner() + ": alpha is set but attack = \"apgd_ce\" chooses its own step sizes; drop alpha");
    if (per_image_ && max_images_ == 0)
      throw ebm::ConfigError(p.owner() + ": per_image = true needs max_images > 0 (the length of the stored vectors)");
  }

  std::vector<ebm::OutputSpec> outputs() const override {
    std::vector<ebm::OutputSpec> out = {
        {"robust_accuracy", {}, "fraction of images classified correctly both clean and after the attack"},
        {"clean_accuracy", {}, "fraction of the same images classified correctly without attack"},
        {"n", {}, "number of images evaluated (at most max_images)"},
        {"eps", {}, "radius of the threat model in data units"},
        {"steps", {}, "attack steps per restart"},
        {"restarts", {}, "attack restarts"},
        {"norm_l2", {}, "1: L2 ball, 0: L-inf ball"},
        {"apgd", {}, "1: APGD-CE, 0: PGD"}};
    if (per_image_) {
      out.emplace_back("robust_per_image", std::vector<std::int64_t>{max_images_},
                       "per image of the split, in order: 1 classified correctly after the attack, 0 not, -1 not evaluated");
      out.emplace_back("clean_per_image", std::vector<std::int64_t>{max_images_},
                       "per image: 1 classified correctly without attack, 0 not, -1 not evaluated");
      out.emplace_back("loss_per_image", std::vector<std::int64_t>{max_images_},
                       "per image: cross-entropy at the attack's result (NaN where not attacked: misclassified clean)");
    }
    return out;
  }

  /// Every evaluation draws the same random starts: the generator restarts from `seed`.
  void reset() override {
    robust_ = clean_ = total_ = 0;
    gen_ = at::detail::createCPUGenerator(static_cast<std::uint64_t>(seed_));
    if (per_image_) {
      robust_images_ = torch::full({max_images_}, -1.0, torch::kFloat64);
      clean_images_ = torch::full({max_images_}, -1.0, torch::kFloat64);
      loss_images_ = torch::full({max_images_}, std::numeric_limits<double>::quiet_NaN(), torch::kFloat64);
    }
  }

  void update(const ebm::EvalBatch& b, ebm::StepContext& ctx) override {
    std::int64_t take = b.y.size(0);
    if (max_images_ > 0) take = std::min(take, max_images_ - total_);
    if (take <= 0) return;
    at::Tensor x = b.x.slice(0, 0, take), y = b.y.slice(0, 0, take);
    at::Tensor clean = b.logits.slice(0, 0, take).argmax(1).eq(y);
    at::Tensor robust = clean.clone();
    // Misclassified clean images count as not robust, so only the correct ones are attacked.
    at::Tensor idx = clean.nonzero().squeeze(1);
    if (spec_.eps > 0 && idx.numel() > 0) {
      at::Tensor xs = x.index_select(0, idx), ys = y.index_select(0, idx);
      atk::LogitsFn f = [&ctx](const at::Tensor& in) { return ctx.logits(in); };
      at::Tensor adv = apgd_ ? atk::apgd_ce(f, xs, ys, spec_, &gen_) : atk::pgd(f, xs, ys, spec_, &gen_);
      torch::NoGradGuard no_grad;
      const at::Tensor logits = ctx.logits(adv);
      robust.index_put_({idx}, logits.argmax(1).eq(ys));
      if (per_image_) {
        const at::Tensor loss = torch::nn::functional::cross_entropy(
            logits, ys, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
        loss_images_.index_put_({idx.to(torch::kCPU) + total_}, loss.to(torch::kCPU, torch::kFloat64));
      }
    }
    robust_ += robust.sum().item<std::int64_t>();
    clean_ += clean.sum().item<std::int64_t>();
    if (per_image_) {
      robust_images_.slice(0, total_, total_ + take).copy_(robust.to(torch::kCPU, torch::kFloat64));
      clean_images_.slice(0, total_, total_ + take).copy_(clean.to(torch::kCPU, torch::kFloat64));
    }
    total_ += take;
  }

  std::map<std::string, at::Tensor> tensors() const override {
    if (!per_image_) return {};
    return {{"robust_per_image", robust_images_}, {"clean_per_image", clean_images_}, {"loss_per_image", loss_images_}};
  }

  std::map<std::string, double> result() const override {
    auto frac = [this](std::int64_t k) { return total_ ? static_cast<double>(k) / static_cast<double>(total_) : 0.0; };
    return {{"robust_accuracy", frac(robust_)},          {"clean_accuracy", frac(clean_)},
            {"n", static_cast<double>(total_)},          {"eps", spec_.eps},
            {"steps", static_cast<double>(spec_.steps)}, {"restarts", static_cast<double>(spec_.restarts)},
            {"norm_l2", spec_.norm == "l2" ? 1.0 : 0.0}, {"apgd", apgd_ ? 1.0 : 0.0}};
  }

 private:
  atk::Spec spec_;
  bool apgd_, per_image_;
  std::int64_t max_images_, seed_;
  at::Tensor robust_images_, clean_images_, loss_images_;  ///< per_image: [max_images] float64
  at::Generator gen_ = at::detail::createCPUGenerator(0);
  std::int64_t robust_ = 0, clean_ = 0, total_ = 0;
};

ebm::Schema schema() {
  namespace p = ebm::param;
  return {
      p::enumeration("attack", {"pgd", "apgd_ce"},
                     "pgd: projected gradient ascent on the cross-entropy (torchattacks convention); apgd_ce: "
                     "APGD-CE of Croce & Hein 2020, AutoAttack's first attack")
          .set_default("pgd"),
      p::enumeration("norm", {"linf", "l2"}, "threat model: L-inf ball (sign steps) or L2 ball (normalized steps)")
          .set_default("linf"),
      p::real("eps",
              "radius of the ball in data units (Fashion-MNIST L-inf 0.1, MNIST 0.3, CIFAR L-inf 8/255, L2 0.5); "
              "0: clean accuracy, no attack")
          .set_default(0.1)
          .at_least(0),
      p::real("alpha", "pgd step length in data units; 0: 2.5 * eps / steps (apgd_ce sets its own)").set_default(0.0).at_least(0),
      p::integer("steps", "gradient steps per restart").set_default(20).range(1, 100000),
      p::integer("restarts", "random restarts; each later one attacks only the images not yet fooled")
          .set_default(1)
          .range(1, 1000),
      p::boolean("random_start", "start each restart at a random point of the ball").set_default(true),
      p::enumeration("start", {"torchattacks", "ball", "sphere"},
                     "pgd's random start in an L2 ball: radius eps*u as torchattacks' PGDL2 (pgdl2.py:65-72), "
                     "uniform in the ball (robust_accuracy 1.0), or on the sphere; L-inf starts are uniform in the box")
          .set_default("torchattacks"),
      p::enumeration("apgd_rules", {"autoattack", "paper"},
                     "apgd_ce: as fra31/auto-attack's code (checkpoints, start on the boundary, momentum after a "
                     "restart), or as the paper's Algorithm 1 (robust_accuracy 1.0); see ebmlab/attacks.hpp")
          .set_default("autoattack"),
      p::integer("max_images", "attack only the first this many images of the split (0: all)")
          .set_default(1000)
          .range(0, 100000000),
      p::integer("seed", "seed of the metric's own random generator (random starts), reset every evaluation")
          .set_default(0)
          .at_least(0),
      p::boolean("per_image",
                 "also store, per image of the first max_images, whether it was classified correctly clean and after "
                 "the attack (tensors robust_per_image, clean_per_image): for per-image comparisons with other code")
          .set_default(false),
  };
}

}  // namespace

EBMLAB_PLUGIN(ebm::entry<RobustAccuracy>(ebm::Kind::metric, "robust_accuracy", "1.2",
                                         "accuracy under a PGD or APGD-CE attack (L-inf or L2), with the clean accuracy", schema))
