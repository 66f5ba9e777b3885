// metric "ood_auroc": how well scores of the classifier-as-EBM separate the evaluation
// split (in-distribution, the positive class) from out-of-distribution inputs — synthetic
// noise, transformed test images and other data sets. METHODS.md §6.
#include <algorithm>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "ebmlab/ebmlab.hpp"

namespace {

namespace sp = ebm::sampling;

const std::vector<std::string> kScores = {"logsumexp", "max_softmax", "grad_norm"};
const std::vector<std::string> kSets = {"uniform", "gaussian", "constant", "flip_h", "flip_v", "rotate90"};
const std::vector<std::string> kDatasets = {"fashion_mnist", "cifar10", "cifar100"};

std::string shape_str(const std::vector<std::int64_t>& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

class OodAuroc : public ebm::Metric {
 public:
  OodAuroc(const ebm::Params& p, const ebm::BuildContext& b)
      : scores_(strings(p, "scores")),
        sets_(strings(p, "sets")),
        datasets_(strings(p, "datasets")),
        max_images_(p.integer("max_images")),
        seed_(static_cast<std::uint64_t>(p.integer("seed"))),
        gaussian_std_(p.real("gaussian_std")),
        lo_(b.data.lo),
        hi_(b.data.hi) {
    const auto& shape = b.data.shape;
    const bool image = shape.size() >= 2;
    for (const auto& s : sets_) {
      const bool image_only = s == "flip_h" || s == "flip_v" || s == "rotate90";
      if (image_only && !image)
        throw ebm::ConfigError(p.owner() + ": 'sets' contains \"" + s + "\", which transforms images ([C, H, W]); data '" +
                               b.data.name + "' has samples of shape " + shape_str(shape));
      if (s == "rotate90" && image && shape[shape.size() - 1] != shape[shape.size() - 2])
        throw ebm::ConfigError(p.owner() + ": 'sets' contains \"rotate90\", which needs square images; data '" + b.data.name +
                               "' has samples of shape " + shape_str(shape));
    }
    if (!datasets_.empty() && !image)
      throw ebm::ConfigError(p.owner() + ": 'datasets' names image data sets, but data '" + b.data.name +
                             "' has samples of shape " + shape_str(shape));
    if (sets_.empty() && datasets_.empty())
      throw ebm::ConfigError(p.owner() + ": 'sets' and 'datasets' are both empty: nothing to detect");
    for (const auto& s : sets_) sources_.push_back(s);
    for (const auto& d : datasets_) sources_.push_back(d);
    for (const auto& src : sources_)
      for (const auto& sc : scores_)
        outputs_.push_back({src + "/" + sc, {}, "AUROC of " + sc + " separating the split (positive) from " + src});
    outputs_.push_back({"n_in", {}, "in-distribution images scored (each OOD source has as many, or fewer if exhausted)"});
    reset();
  }

  std::vector<ebm::OutputSpec> outputs() const override { return outputs_; }

  void reset() override {
    // A fresh generator per evaluation: every evaluation sees the same synthetic sets.
    gen_ = at::make_generator<at::CPUGeneratorImpl>(seed_);
    in_.clear();
    out_.clear();
    offsets_.clear();
    n_in_ = 0;
  }

  void update(const ebm::EvalBatch& b, ebm::StepContext& ctx) override {
    const std::int64_t take = std::min<std::int64_t>(b.x.size(0), max_images_ - n_in_);
    if (take <= 0) return;
    ebm::ModeGuard guard(ctx.model(), ebm::ModelMode::eval);
    at::Tensor x = b.x.slice(0, 0, take).detach();
    append(in_, score(ctx, x));
    for (const auto& s : sets_) append(out_[s], score(ctx, make_set(s, x)));
    for (const auto& d : datasets_) {
      const ebm::Batch& other = ctx.other_dataset(d, "", max_images_);
      std::int64_t& off = offsets_[d];
      const std::int64_t rows = std::min(take, other.x.size(0) - off);
      if (rows <= 0) continue;
      append(out_[d], score(ctx, other.x.slice(0, off, off + rows).to(x.device(), x.scalar_type())));
      off += rows;
    }
    n_in_ += take;
  }

  std::map<std::string, double> result() const override {
    std::map<std::string, double> r{{"n_in", static_cast<double>(n_in_)}};
    for (const auto& src : sources_)
      for (const auto& sc : scores_) r[src + "/" + sc] = sp::auc(cat(in_, sc), cat(lookup(src), sc));
    return r;
  }

 private:
  using Scores = std::map<std::string, std::vector<at::Tensor>>;  ///< score name -> per-batch [B] float64 CPU

  static std::vector<std::string> strings(const ebm::Params& p, const std::string& key) {
    std::vector<std::string> out;
    for (const auto& v : p.list(key)) {
      if (std::find(out.begin(), out.end(), v.as_string()) != out.end())
        throw ebm::ConfigError(p.owner() + ": '" + key + "' lists \"" + v.as_string() + "\" twice");
      out.push_back(v.as_string());
    }
    return out;
  }

  /// x: [n, ...shape] in the data range -> each requested score [n], high = in-distribution.
  std::map<std::string, at::Tensor> score(ebm::StepContext& ctx, const at::Tensor& x) const {
    const bool need_grad = std::find(scores_.begin(), scores_.end(), "grad_norm") != scores_.end();
    at::Tensor logits, grad_norm;
    if (need_grad) {
      at::Tensor xg = x.detach().requires_grad_(true);
      logits = ctx.logits(xg);
      // -||grad_x E(x)||: a flat energy around real data (the gradient-norm score of METHODS.md §6).
      grad_norm = -sp::l2_norm(sp::input_grad(ebm::energy(logits), xg)).flatten();
      logits = logits.detach();
    } else {
      torch::NoGradGuard no_grad;
      logits = ctx.logits(x);
    }
    std::map<std::string, at::Tensor> out;
    for (const auto& s : scores_) {
      at::Tensor v = s == "logsumexp"     ? -ebm::energy(logits)
                     : s == "max_softmax" ? std::get<0>(torch::softmax(logits, 1).max(1))
                                          : grad_norm;
      out[s] = v.detach().to(torch::kCPU, torch::kFloat64);
    }
    return out;
  }

  /// One OOD image per in-distribution image of x, synthetic ones from the local generator.
  at::Tensor make_set(const std::string& set, const at::Tensor& x) {
    if (set == "flip_h") return x.flip({-1});
    if (set == "flip_v") return x.flip({-2});
    if (set == "rotate90") return x.rot90(1, {-2, -1});
    const auto cpu = torch::TensorOptions().dtype(torch::kFloat32);
    const double range = hi_ - lo_;
    at::Tensor out;
    if (set == "uniform") {
      out = torch::rand(x.sizes(), gen_, cpu) * range + lo_;
    } else if (set == "gaussian") {
      out = (torch::randn(x.sizes(), gen_, cpu) * (gaussian_std_ * range) + 0.5 * (lo_ + hi_)).clamp(lo_, hi_);
    } else {  // constant: one random grey level per image
      out = (torch::rand({x.size(0)}, gen_, cpu) * range + lo_);
      out = sp::per_sample(out, x).expand(x.sizes()).contiguous();
    }
    return out.to(x.device(), x.scalar_type());
  }

  static void append(Scores& into, const std::map<std::string, at::Tensor>& s) {
    for (const auto& [k, v] : s) into[k].push_back(v);
  }
  static at::Tensor cat(const Scores& s, const std::string& score) {
    auto it = s.find(score);
    if (it == s.end() || it->second.empty()) return torch::zeros({0}, torch::kFloat64);
    return torch::cat(it->second);
  }
  const Scores& lookup(const std::string& src) const {
    static const Scores kEmpty;
    auto it = out_.find(src);
    return it == out_.end() ? kEmpty : it->second;
  }

  std::vector<std::string> scores_, sets_, datasets_, sources_;
  std::int64_t max_images_;
  std::uint64_t seed_;
  double gaussian_std_, lo_, hi_;
  std::vector<ebm::OutputSpec> outputs_;
  at::Generator gen_;
  Scores in_;
  std::map<std::string, Scores> out_;            ///< source -> scores
  std::map<std::string, std::int64_t> offsets_;  ///< rows of each other data set used so far
  std::int64_t n_in_ = 0;
};

ebm::List strings_list(const std::vector<std::string>& v) {
  ebm::List l;
  for (const auto& s : v) l.emplace_back(s);
  return l;
}

ebm::Schema schema() {
  namespace p = ebm::param;
  return {
      p::list("scores", p::enumeration("score", kScores, "an OOD score"),
              "scores, high = in-distribution: logsumexp (-E(x)), max_softmax, grad_norm (-||grad_x E(x)||_2)")
          .set_default(strings_list(kScores))
          .range(1, 3),
      p::list("sets", p::enumeration("set", kSets, "a synthetic OOD set"),
              "synthetic OOD sets: uniform (U[lo,hi]), gaussian (N(mid, (gaussian_std*range)^2) clamped), constant (one "
              "random value per image), flip_h / flip_v / rotate90 (test images mirrored left-right, upside down, turned "
              "90 degrees; image data only)")
          .set_default(strings_list({"uniform", "gaussian", "constant", "flip_v"}))
          .range(0, 6),
      p::list("datasets", p::enumeration("dataset", kDatasets, "a built-in data set"),
              "other built-in data sets whose test images (converted to this data's shape) are OOD")
          .set_default(ebm::List{})
          .range(0, 3),
      p::integer("max_images", "at most this many in-distribution images, and as many of each OOD source")
          .set_default(2000)
          .range(1, 100000000),
      p::integer("seed", "seed of the synthetic sets (a generator of the metric's own; the global RNG is untouched)")
          .set_default(0)
          .at_least(0),
      p::real("gaussian_std",
              "std of the gaussian set as a fraction of the data range hi - lo (0.25: Hendrycks et al. 2019's "
              "N(0, 0.5^2) on [-1, 1])")
          .set_default(0.25)
          .range(0, 10),
  };
}

}  // namespace

EBMLAB_PLUGIN(ebm::entry<OodAuroc>(ebm::Kind::metric, "ood_auroc", "1.0",
                                   "AUROC of energy, softmax and gradient-norm scores against OOD inputs", schema))
