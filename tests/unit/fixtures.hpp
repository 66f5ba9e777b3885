// Shared fixtures of the unit tests: the central conformance suites (tests/unit) and the
// plugins' own tests (plugins/<kind>/<name>/test_*.cpp) build their models and contexts here.
#pragma once

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <torch/torch.h>

#include "ebmlab/attacks.hpp"

#include "context.hpp"

namespace ebm::test {

// ---- samplers: a small convnet with BatchNorm on 12x12 images ----
struct SamplerSetup {
  DataInfo info = image_info();
  std::shared_ptr<kernel::Model> model;
  std::unique_ptr<Context> ctx;
  SamplerSetup() {
    torch::manual_seed(1);
    model = make_model("plugin = \"convnet\"\nchannels = [4]\nhidden = 16", "plugin = \"batch\"", info);
    ctx = std::make_unique<Context>(model, info);
    ctx->batch_ = {torch::rand({8, 1, 12, 12}), torch::arange(8, torch::kInt64) % 10};
    ctx->train_ = {torch::rand({60, 1, 12, 12}), torch::arange(60, torch::kInt64) % 10};
  }
};

// ---- losses: a linear model with known weights on toy 2-D data ----
/// A linear model on toy 2-D data: logits = W ((x - 0.5) / 0.25) + b with chosen W, b.
struct Linear {
  DataInfo info = toy_info(3);
  std::shared_ptr<kernel::Model> model;
  at::Tensor W = torch::tensor({{1.0, -2.0}, {0.5, 0.25}, {-1.0, 1.5}});
  at::Tensor b = torch::tensor({0.1, -0.2, 0.3});
  std::unique_ptr<Context> ctx;
  Linear() {
    model = make_model("plugin = \"mlp\"\nhidden = []", "plugin = \"none\"", info);
    torch::NoGradGuard ng;
    auto params = model->named_parameters();
    for (auto& p : params) {
      if (p.key().find("weight") != std::string::npos)
        p.value().copy_(W);
      else
        p.value().copy_(b);
    }
    ctx = std::make_unique<Context>(model, info);
    ctx->batch_ = {torch::tensor({{0.2, 0.9}, {0.6, 0.4}, {0.8, 0.1}}), torch::tensor({0, 2, 1}, torch::kInt64)};
    ctx->memo["s"] = torch::tensor({{0.5, 0.5}, {0.1, 0.3}, {0.9, 0.7}});
  }
  /// Logits computed independently of the model.
  at::Tensor logits(const at::Tensor& x) const { return ((x - 0.5) / 0.25).mm(W.t()) + b; }
  static at::Tensor energy(const at::Tensor& l) { return -l.exp().sum(1).log(); }
  at::Tensor joint(const at::Tensor& l) const { return -l.gather(1, ctx->batch_.y.view({-1, 1})).squeeze(1); }
};

inline double softplus(double v) { return std::log1p(std::exp(v)); }

// ---- metrics: linear models and hand-made logits ----
/// A linear model on toy 2-D data: logits = W ((x - 0.5) / 0.25) + b.
inline std::shared_ptr<kernel::Model> linear_model(const DataInfo& info, const at::Tensor& W, const at::Tensor& b) {
  auto model = make_model("plugin = \"mlp\"\nhidden = []", "plugin = \"none\"", info);
  torch::NoGradGuard ng;
  for (auto& p : model->named_parameters()) p.value().copy_(p.key().find("weight") != std::string::npos ? W : b);
  return model;
}

inline EvalBatch eval_batch(const at::Tensor& x, const at::Tensor& y, kernel::Model& model) {
  torch::NoGradGuard ng;
  return {x, y, model.forward(x)};
}

/// logits [n, K] whose softmax is exactly p on class 0 and (1 - p)/(K - 1) elsewhere.
inline at::Tensor logits_with_confidence(const at::Tensor& p, std::int64_t K) {
  auto rest = ((1 - p) / static_cast<double>(K - 1)).log().view({-1, 1}).expand({p.size(0), K - 1});
  return torch::cat({p.log().view({-1, 1}), rest}, 1).to(torch::kFloat32);
}

inline std::shared_ptr<Metric> metric(const std::string& body, const DataInfo& info) {
  return make_plugin<Metric>(Kind::metric, body, info);
}

inline double stdev(const std::vector<double>& v) {
  double m = 0, s = 0;
  for (double a : v) m += a / static_cast<double>(v.size());
  for (double a : v) s += (a - m) * (a - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

// ---- attacks and robust accuracy: an MLP trained on three noisy 6x6 templates ----
inline DataInfo tiny_info() {
  DataInfo d;
  d.name = "tiny";
  d.shape = {1, 6, 6};
  d.num_classes = 3;
  d.mean = {0.5};
  d.std = {0.25};
  return d;
}

/// n images per class: a fixed random template per class (values in [0.35, 0.65]) plus
/// N(0, 0.1²) noise, clamped.
inline Batch tiny_data(std::int64_t n, std::uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(123);
  at::Tensor templates = 0.35 + 0.3 * at::rand({3, 1, 6, 6}, gen);
  auto g2 = at::detail::createCPUGenerator(seed);
  at::Tensor y = torch::arange(3, torch::kInt64).repeat({n});
  at::Tensor x = (templates.index_select(0, y) + 0.1 * at::randn({3 * n, 1, 6, 6}, g2)).clamp(0, 1);
  return {x, y};
}

/// An MLP trained to ~100% clean accuracy in well under a second.
struct Trained {
  DataInfo info = tiny_info();
  std::shared_ptr<kernel::Model> model;
  Batch test;
  std::unique_ptr<Context> ctx;
  Trained() {
    torch::manual_seed(0);
    model = make_model("plugin = \"mlp\"\nhidden = [32]", "plugin = \"none\"", info);
    Batch train = tiny_data(100, 1);
    torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-2));
    model->train();
    for (int step = 0; step < 300; ++step) {
      opt.zero_grad();
      torch::nn::functional::cross_entropy(model->forward(train.x), train.y).backward();
      opt.step();
    }
    for (auto& p : model->parameters()) p.mutable_grad() = at::Tensor();
    model->eval();
    test = tiny_data(80, 2);
    ctx = std::make_unique<Context>(model, info);
  }
  double clean_accuracy() {
    torch::NoGradGuard ng;
    return model->forward(test.x).argmax(1).eq(test.y).to(torch::kDouble).mean().item<double>();
  }
  /// robust_accuracy's results on the test images, in batches of 100.
  std::map<std::string, double> evaluate(const std::string& params, Metric* reuse = nullptr) {
    std::shared_ptr<Metric> m;
    if (!reuse) m = make_plugin<Metric>(Kind::metric, "plugin = \"robust_accuracy\"\n" + params, info), reuse = m.get();
    reuse->reset();
    for (std::int64_t i = 0; i < test.y.size(0); i += 100) {
      at::Tensor x = test.x.slice(0, i, i + 100), y = test.y.slice(0, i, i + 100);
      at::Tensor logits;
      {
        torch::NoGradGuard ng;
        logits = model->forward(x);
      }
      reuse->update({x, y, logits}, *ctx);
    }
    return reuse->result();
  }
  double robust(const std::string& params) { return evaluate(params).at("robust_accuracy"); }
  attacks::LogitsFn logits_fn() {
    return [this](const at::Tensor& x) { return model->forward(x); };
  }
};

inline std::string settings(const std::string& attack, const std::string& norm, double eps) {
  return "attack = \"" + attack + "\"\nnorm = \"" + norm + "\"\neps = " + std::to_string(eps) + "\n";
}

}  // namespace ebm::test
