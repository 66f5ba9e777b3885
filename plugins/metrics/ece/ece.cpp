// metric "ece": calibration of the softmax classifier — expected and maximum calibration
// error over equal-width confidence bins (Guo et al., ICML 2017), the reliability diagram,
// negative log-likelihood and the multi-class Brier score (Brier 1950). METHODS.md §6.
#include <torch/torch.h>

#include "ebmlab/ebmlab.hpp"

namespace {

class Ece : public ebm::Metric {
 public:
  Ece(const ebm::Params& p, const ebm::BuildContext&) : bins_(p.integer("bins")), temperature_(p.real("temperature")) {
    if (!(temperature_ > 0.0))
      throw ebm::SchemaError(p.owner() + ": 'temperature' = " + std::to_string(temperature_) + ": expected a real > 0");
    reset();
  }

  std::vector<ebm::OutputSpec> outputs() const override {
    return {{"ece", {}, "expected calibration error: sum_b |B_b|/n |acc(B_b) - conf(B_b)|"},
            {"mce", {}, "maximum calibration error: max over non-empty bins of |acc(B_b) - conf(B_b)|"},
            {"nll", {}, "mean cross-entropy -log p(y|x) of the (tempered) softmax"},
            {"brier", {}, "mean over images of sum_k (p_k - 1[k = y])^2"},
            {"n", {}, "number of images evaluated"},
            {"reliability", {3, bins_}, "per bin: row 0 accuracy, row 1 mean confidence, row 2 count (empty bins: 0)"}};
  }

  void reset() override {
    auto opt = torch::TensorOptions().dtype(torch::kFloat64);
    count_ = torch::zeros({bins_}, opt);
    correct_ = torch::zeros({bins_}, opt);
    confidence_ = torch::zeros({bins_}, opt);
    nll_ = brier_ = 0.0;
    n_ = 0;
  }

  void update(const ebm::EvalBatch& b, ebm::StepContext&) override {
    torch::NoGradGuard no_grad;
    // Double precision: sums over tens of thousands of images, and confidences near 1.
    at::Tensor logits = b.logits.detach().to(torch::kCPU, torch::kFloat64) / temperature_;
    at::Tensor y = b.y.to(torch::kCPU, torch::kInt64);
    at::Tensor logp = torch::log_softmax(logits, 1);
    at::Tensor p = logp.exp();
    auto [conf, pred] = p.max(1);
    // Guo et al.'s bins are half-open on the left, ((b-1)/M, b/M]; confidence is >= 1/K > 0.
    at::Tensor bin = (conf * static_cast<double>(bins_)).ceil().to(torch::kInt64).sub(1).clamp(0, bins_ - 1);
    count_.index_add_(0, bin, torch::ones_like(conf));
    correct_.index_add_(0, bin, pred.eq(y).to(torch::kFloat64));
    confidence_.index_add_(0, bin, conf);
    nll_ -= logp.gather(1, y.view({-1, 1})).sum().item<double>();
    at::Tensor onehot = torch::zeros_like(p).scatter_(1, y.view({-1, 1}), 1.0);
    brier_ += (p - onehot).pow(2).sum().item<double>();
    n_ += y.size(0);
  }

  std::map<std::string, double> result() const override {
    if (n_ == 0) return {{"ece", 0.0}, {"mce", 0.0}, {"nll", 0.0}, {"brier", 0.0}, {"n", 0.0}};
    at::Tensor rel = reliability();
    at::Tensor gap = (rel[0] - rel[1]).abs();
    at::Tensor nonempty = count_.gt(0);
    const double n = static_cast<double>(n_);
    return {{"ece", (gap * count_).sum().item<double>() / n},
            {"mce", gap.masked_select(nonempty).max().item<double>()},
            {"nll", nll_ / n},
            {"brier", brier_ / n},
            {"n", n}};
  }

  std::map<std::string, at::Tensor> tensors() const override { return {{"reliability", reliability().to(torch::kFloat32)}}; }

 private:
  /// [3, bins] float64: accuracy, mean confidence, count.
  at::Tensor reliability() const {
    at::Tensor safe = count_.clamp_min(1.0);
    return torch::stack({correct_ / safe, confidence_ / safe, count_});
  }

  std::int64_t bins_;
  double temperature_;
  at::Tensor count_, correct_, confidence_;  ///< per bin, float64
  double nll_ = 0.0, brier_ = 0.0;
  std::int64_t n_ = 0;
};

ebm::Schema schema() {
  namespace p = ebm::param;
  return {p::integer("bins", "equal-width confidence bins on [0, 1] (Guo et al.: 15)").set_default(15).range(1, 10000),
          p::real("temperature", "logits are divided by this before the softmax (temperature scaling); > 0")
              .set_default(1.0)
              .range(0, 1e6)};
}

}  // namespace

EBMLAB_PLUGIN(ebm::entry<Ece>(ebm::Kind::metric, "ece", "1.0",
                              "expected/maximum calibration error, reliability diagram, NLL and Brier score", schema))
