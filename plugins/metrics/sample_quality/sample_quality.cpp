// metric "sample_quality": FID, KID, an Inception-Score analogue and per-class diversity of
// a sampler's images, all measured in the feature space of an ebmlab-trained classifier
// (METHODS.md §6: no Inception weights here). The FID is "FID (ebmlab feature net)" and is
// never comparable with Inception FID; judge it against the real-vs-real baseline (no
// sampler) at the same max_images, since FID is biased at small sample sizes.
#include <torch/torch.h>

#include "ebmlab/ebmlab.hpp"

#include "stats.hpp"

namespace {

class SampleQuality : public ebm::Metric {
 public:
  SampleQuality(const ebm::Params& p, const ebm::BuildContext& b)
      : instance_(b.instance),
        feature_net_(p.string("feature_net")),
        sampler_(p.has("sampler") ? p.string("sampler") : std::string()),
        max_images_(p.integer("max_images")),
        kid_subsets_(p.integer("kid_subsets")),
        kid_subset_size_(p.integer("kid_subset_size")),
        seed_(static_cast<std::uint64_t>(p.integer("seed"))) {
    if (feature_net_.empty())
      throw ebm::ConfigError(instance_ +
                             ".feature_net: expected the path of a feature-net checkpoint, e.g. "
                             "\"runs/feature_net/main/ckpt-best.h5\" (train it with experiments/feature_net.toml); found \"\"");
  }

  std::vector<ebm::OutputSpec> outputs() const override {
    return {{"fid", {}, "FID (ebmlab feature net): Frechet distance of real vs sample features; not Inception FID"},
            {"kid", {}, "KID (ebmlab feature net): unbiased MMD^2, cubic polynomial kernel, mean over subsets"},
            {"kid_std", {}, "standard deviation of KID over the subsets"},
            {"is", {}, "Inception-Score analogue of the samples with the feature net's classifier, in [1, K]"},
            {"is_real", {}, "the same score of the real images"},
            {"diversity_samples", {}, "mean within-class pairwise feature distance of the samples (classes predicted)"},
            {"diversity_real", {}, "the same statistic of the real images"},
            {"class_coverage", {}, "fraction of classes predicted for at least 1% of the samples"},
            {"n", {}, "images per set (real and samples)"}};
  }

  void reset() override {
    real_ = Collected{};
    other_ = Collected{};
  }

  void update(const ebm::EvalBatch& b, ebm::StepContext& ctx) override {
    const std::int64_t rows = b.x.size(0);
    const std::int64_t for_real = std::min(rows, max_images_ - real_.count);
    if (sampler_.empty()) {
      // Real-vs-real baseline: the first max_images images form the reference set and
      // the next max_images the compared set, so the reference set is the same images
      // as in a run with a sampler.
      const std::int64_t for_other = std::min(rows - for_real, max_images_ - other_.count);
      if (for_real + for_other == 0) return;
      ebm::Embedding e = embed(ctx, b.x.narrow(0, 0, for_real + for_other));
      add(real_, e, 0, for_real);
      add(other_, e, for_real, for_other);
      return;
    }
    if (for_real > 0) add(real_, embed(ctx, b.x.narrow(0, 0, for_real)), 0, for_real);
    if (other_.count >= max_images_) return;  // no sampler run once enough samples are in
    at::Tensor s = ctx.samples(sampler_);
    const std::int64_t take = std::min(s.size(0), max_images_ - other_.count);
    add(other_, embed(ctx, s.narrow(0, 0, take)), 0, take);
  }

  std::map<std::string, double> result() const override {
    const std::int64_t n = std::min(real_.count, other_.count);
    if (n < 2)
      throw ebm::RunError(instance_ + " (sample_quality): needs at least 2 images in each set, got " +
                          std::to_string(real_.count) + " real and " + std::to_string(other_.count) +
                          (sampler_.empty() ? " second-half real images (the split is too small)" : " samples"));
    // Equal sizes: FID's bias depends on n, and the baseline is defined at equal n.
    at::Tensor fr = at::cat(real_.features).narrow(0, 0, n), fo = at::cat(other_.features).narrow(0, 0, n);
    at::Tensor lr = at::cat(real_.logits).narrow(0, 0, n), lo = at::cat(other_.logits).narrow(0, 0, n);
    const std::int64_t k = lr.size(1);
    at::Tensor cr = lr.argmax(1), co = lo.argmax(1);
    auto kid = ebm::quality::kid(fr, fo, kid_subsets_, kid_subset_size_, seed_);
    return {{"fid", ebm::quality::fid(fr, fo)},
            {"kid", kid.mean},
            {"kid_std", kid.std},
            {"is", ebm::quality::inception_score(lo)},
            {"is_real", ebm::quality::inception_score(lr)},
            {"diversity_samples", ebm::quality::class_diversity(fo, co, k)},
            {"diversity_real", ebm::quality::class_diversity(fr, cr, k)},
            {"class_coverage", ebm::quality::class_coverage(co, k)},
            {"n", static_cast<double>(n)}};
  }

 private:
  struct Collected {
    std::vector<at::Tensor> features, logits;  ///< [b,D] and [b,K] float64 on the CPU
    std::int64_t count = 0;
  };

  ebm::Embedding embed(ebm::StepContext& ctx, const at::Tensor& x) const {
    ebm::Embedding e = ctx.embed(feature_net_, x);
    const std::int64_t rows = x.size(0);
    if (e.features.dim() != 2 || e.logits.dim() != 2 || e.features.size(0) != rows || e.logits.size(0) != rows)
      throw ebm::RunError(instance_ + ": the feature net " + feature_net_ + " returned features " +
                          std::to_string(e.features.dim()) + "-d and logits " + std::to_string(e.logits.dim()) +
                          "-d; expected [" + std::to_string(rows) + ",D] and [" + std::to_string(rows) + ",K]");
    return e;
  }

  static void add(Collected& c, const ebm::Embedding& e, std::int64_t from, std::int64_t count) {
    if (count <= 0) return;
    auto keep = [&](const at::Tensor& t) { return t.narrow(0, from, count).detach().to(torch::kCPU, torch::kDouble); };
    c.features.push_back(keep(e.features));
    c.logits.push_back(keep(e.logits));
    c.count += count;
  }

  std::string instance_, feature_net_, sampler_;
  std::int64_t max_images_, kid_subsets_, kid_subset_size_;
  std::uint64_t seed_;
  Collected real_, other_;
};

ebm::Schema schema() {
  namespace p = ebm::param;
  return {p::string("feature_net",
                    "checkpoint of the feature network, e.g. \"runs/feature_net/main/ckpt-best.h5\" from "
                    "experiments/feature_net.toml")
              .require(),
          p::reference("sampler", "sampler",
                       "the sampler whose samples are judged, run on each evaluation batch (omit: compare the "
                       "split's next max_images real images with its first, the real-vs-real baseline)"),
          p::integer("max_images", "images per set (real and samples); the baseline needs twice as many in the split")
              .set_default(1000)
              .range(2, 1000000),
          p::integer("kid_subsets", "KID: random subsets averaged").set_default(10).range(1, 10000),
          p::integer("kid_subset_size", "KID: rows per subset (capped at the set size)").set_default(1000).range(2, 1000000),
          p::integer("seed", "KID: seed of the subset draws").set_default(0).at_least(0)};
}

}  // namespace

EBMLAB_PLUGIN(ebm::entry<SampleQuality>(ebm::Kind::metric, "sample_quality", "1.0",
                                        "FID/KID (ebmlab feature net), IS analogue and per-class diversity of samples", schema))
