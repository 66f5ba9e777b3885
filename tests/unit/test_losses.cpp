// Losses: conformance over every loss plugin, then bce_ebm, jem_ml, der and r1 against
// values computed by hand on a linear model with known weights.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include "context.hpp"

using namespace ebm;
using test::Context;

namespace {

/// A linear model on toy 2-D data: logits = W ((x - 0.5) / 0.25) + b with chosen W, b.
struct Linear {
  DataInfo info = test::toy_info(3);
  std::shared_ptr<kernel::Model> model;
  at::Tensor W = torch::tensor({{1.0, -2.0}, {0.5, 0.25}, {-1.0, 1.5}});
  at::Tensor b = torch::tensor({0.1, -0.2, 0.3});
  std::unique_ptr<Context> ctx;
  Linear() {
    model = test::make_model("plugin = \"mlp\"\nhidden = []", "plugin = \"none\"", info);
    torch::NoGradGuard ng;
    auto params = model->named_parameters();
    for (auto& p : params) {
      if (p.key().find("weight") != std::string::npos) p.value().copy_(W);
      else p.value().copy_(b);
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

double softplus(double v) { return std::log1p(std::exp(v)); }

}  // namespace

TEST_CASE("loss conformance: finite scalar, gradients reach the parameters, declared terms logged") {
  const std::vector<std::string> bodies = {
      "plugin = \"ce\"",
      "plugin = \"jem_ml\"\nsampler = \"s\"\njoint_weight = 0.5\nenergy_l2 = 0.1",
      "plugin = \"bce_ebm\"\nsampler = \"s\"",
      "plugin = \"bce_ebm\"\nsampler = \"s\"\nscore = \"joint_energy\"",
      "plugin = \"at_ce\"\nattack = \"s\"",
      "plugin = \"trades\"\nattack = \"s\"",
      "plugin = \"r1\"",
      "plugin = \"der\"\nattack = \"s\"\np = 1",
  };
  test::check_covers_every_plugin(Kind::loss, bodies);
  for (auto& body : bodies) {
    CAPTURE(body);
    Linear m;
    auto loss = test::make_plugin<Loss>(Kind::loss, body, m.info);
    at::Tensor v = loss->compute(*m.ctx);
    CHECK(v.dim() == 0);
    CHECK(std::isfinite(v.item<double>()));
    m.model->zero_grad();
    v.backward();
    double g = 0;
    for (auto& p : m.model->parameters()) g += p.grad().abs().sum().item<double>();
    CHECK(g > 0);
    for (auto& o : loss->outputs()) CHECK_MESSAGE(m.ctx->logged.count(o.name), "declared but not logged: " << o.name);
    // Deterministic: a second evaluation gives the same value.
    CHECK(loss->compute(*m.ctx).item<double>() == doctest::Approx(v.item<double>()));
  }
}

TEST_CASE("bce_ebm matches BCE with logits on logsumexp computed by hand") {
  Linear m;
  auto loss = test::make_plugin<Loss>(Kind::loss, "plugin = \"bce_ebm\"\nsampler = \"s\"", m.info);
  double v = loss->compute(*m.ctx).item<double>();
  auto sr = -Linear::energy(m.logits(m.ctx->batch_.x)), sf = -Linear::energy(m.logits(m.ctx->memo["s"]));
  double expected = 0;
  for (int i = 0; i < 3; ++i) expected += (softplus(-sr[i].item<double>()) + softplus(sf[i].item<double>())) / 3.0;
  CHECK(v == doctest::Approx(expected).epsilon(1e-5));
  CHECK(m.ctx->logged.at("e_data") == doctest::Approx(-sr.mean().item<double>()).epsilon(1e-5));
}

TEST_CASE("jem_ml matches mean E(data) - mean E(samples) (+ the joint and L2 terms) by hand") {
  Linear m;
  auto ed = Linear::energy(m.logits(m.ctx->batch_.x)), es = Linear::energy(m.logits(m.ctx->memo["s"]));
  auto jd = m.joint(m.logits(m.ctx->batch_.x)), js = m.joint(m.logits(m.ctx->memo["s"]));
  auto plain = test::make_plugin<Loss>(Kind::loss, "plugin = \"jem_ml\"\nsampler = \"s\"", m.info);
  CHECK(plain->compute(*m.ctx).item<double>() == doctest::Approx((ed.mean() - es.mean()).item<double>()).epsilon(1e-5));
  auto full = test::make_plugin<Loss>(Kind::loss, "plugin = \"jem_ml\"\nsampler = \"s\"\njoint_weight = 0.5\nenergy_l2 = 0.1", m.info);
  double expected = (ed.mean() - es.mean() + 0.5 * (jd.mean() - js.mean()) + 0.1 * (ed.pow(2).mean() + es.pow(2).mean())).item<double>();
  CHECK(full->compute(*m.ctx).item<double>() == doctest::Approx(expected).epsilon(1e-5));
}

TEST_CASE("der matches lambda_x mean|dE(x)|^p + lambda_xy mean|dE(x,y)|^p by hand") {
  Linear m;
  auto lc = m.logits(m.ctx->batch_.x), la = m.logits(m.ctx->memo["s"]);
  auto d = Linear::energy(lc) - Linear::energy(la), dxy = m.joint(lc) - m.joint(la);
  auto l2 = test::make_plugin<Loss>(Kind::loss, "plugin = \"der\"\nattack = \"s\"\nlambda_x = 0.7\nlambda_xy = 0.2", m.info);
  CHECK(l2->compute(*m.ctx).item<double>() ==
        doctest::Approx((0.7 * d.pow(2).mean() + 0.2 * dxy.pow(2).mean()).item<double>()).epsilon(1e-5));
  CHECK(m.ctx->logged.at("delta_e") == doctest::Approx(d.mean().item<double>()).epsilon(1e-5));
  auto l1 = test::make_plugin<Loss>(Kind::loss, "plugin = \"der\"\nattack = \"s\"\np = 1\nlambda_xy = 0", m.info);
  CHECK(l1->compute(*m.ctx).item<double>() == doctest::Approx(d.abs().mean().item<double>()).epsilon(1e-5));
}

TEST_CASE("r1 matches half the mean squared input-gradient norm of logsumexp, by hand") {
  Linear m;
  auto loss = test::make_plugin<Loss>(Kind::loss, "plugin = \"r1\"", m.info);
  double v = loss->compute(*m.ctx).item<double>();
  // d/dx logsumexp(W (x-0.5)/0.25 + b) = (softmax(l) W) / 0.25
  auto l = m.logits(m.ctx->batch_.x);
  auto g = torch::softmax(l, 1).mm(m.W) / 0.25;
  double expected = 0.5 * g.pow(2).sum(1).mean().item<double>();
  CHECK(v == doctest::Approx(expected).epsilon(1e-5));
}
