// The der plugin's own tests (registered by this folder's CMakeLists.txt; the
// conformance suites in tests/unit cover the contracts every plugin shares).
#include <cmath>

#include <doctest/doctest.h>
#include <torch/torch.h>

#include "fixtures.hpp"

using namespace ebm;
using namespace ebm::test;

namespace {

std::shared_ptr<Loss> der(const std::string& extra, const DataInfo& info) {
  return make_plugin<Loss>(Kind::loss, "plugin = \"der\"\nattack = \"s\"\n" + extra, info);
}

}  // namespace

TEST_CASE("der, paper form: mean of max(|[dE(x), dE(x,y)]|_2 - gamma, 0) by hand") {
  Linear m;
  auto lc = m.logits(m.ctx->batch_.x), la = m.logits(m.ctx->memo["s"]);
  auto d = Linear::energy(lc) - Linear::energy(la), dxy = m.joint(lc) - m.joint(la);
  auto norm = (d * d + dxy * dxy).sqrt();
  CHECK(der("", m.info)->compute(*m.ctx).item<double>() == doctest::Approx(norm.mean().item<double>()).epsilon(1e-5));
  CHECK(m.ctx->logged.at("delta_norm") == doctest::Approx(norm.mean().item<double>()).epsilon(1e-5));
  // A margin between the smallest and the largest gap: only the gaps above it count.
  const double gamma = 0.5 * (norm.min().item<double>() + norm.max().item<double>());
  const double want = (norm - gamma).clamp_min(0).mean().item<double>();
  REQUIRE(want > 0);
  REQUIRE(want < (norm - gamma).abs().mean().item<double>());
  CHECK(der("gamma = " + std::to_string(gamma), m.info)->compute(*m.ctx).item<double>() == doctest::Approx(want).epsilon(1e-4));
}

TEST_CASE("der, paper form, aae_only: only examples whose cross-entropy the perturbation lowered") {
  Linear m;
  // The third point moves to where its cross-entropy is higher (4.91 against 4.51): not abnormal.
  m.ctx->memo["s"] = torch::tensor({{0.5, 0.5}, {0.1, 0.3}, {0.1, 0.9}});
  auto lc = m.logits(m.ctx->batch_.x), la = m.logits(m.ctx->memo["s"]);
  auto ce = [&](const at::Tensor& l) { return m.joint(l) - Linear::energy(l); };
  auto aae = ce(la).lt(ce(lc));
  const auto count = aae.sum().item<std::int64_t>();
  REQUIRE(count == 2);
  auto d = Linear::energy(lc) - Linear::energy(la), dxy = m.joint(lc) - m.joint(la);
  auto norm = (d * d + dxy * dxy).sqrt();
  const double want = (norm * aae.to(torch::kFloat32)).mean().item<double>();
  CHECK(der("aae_only = true", m.info)->compute(*m.ctx).item<double>() == doctest::Approx(want).epsilon(1e-5));
  CHECK(m.ctx->logged.at("aae_fraction") == doctest::Approx(static_cast<double>(count) / 3));
}

TEST_CASE("der, paper form: a zero gap has a zero gradient, not NaN") {
  Linear m;
  m.ctx->memo["s"] = m.ctx->batch_.x.clone();
  auto loss = der("", m.info)->compute(*m.ctx);
  CHECK(loss.item<double>() == doctest::Approx(0.0).epsilon(1e-5));
  loss.backward();
  for (auto& p : m.model->parameters()) CHECK(torch::isfinite(p.grad()).all().item<bool>());
}

TEST_CASE("der, ebmlab form: lambda_x mean|dE(x)|^p + lambda_xy mean|dE(x,y)|^p by hand") {
  Linear m;
  auto lc = m.logits(m.ctx->batch_.x), la = m.logits(m.ctx->memo["s"]);
  auto d = Linear::energy(lc) - Linear::energy(la), dxy = m.joint(lc) - m.joint(la);
  auto l2 = der("form = \"ebmlab\"\nlambda_x = 0.7\nlambda_xy = 0.2", m.info);
  CHECK(l2->compute(*m.ctx).item<double>() ==
        doctest::Approx((0.7 * d.pow(2).mean() + 0.2 * dxy.pow(2).mean()).item<double>()).epsilon(1e-5));
  CHECK(m.ctx->logged.at("delta_e") == doctest::Approx(d.mean().item<double>()).epsilon(1e-5));
  auto l1 = der("form = \"ebmlab\"\np = 1\nlambda_xy = 0", m.info);
  CHECK(l1->compute(*m.ctx).item<double>() == doctest::Approx(d.abs().mean().item<double>()).epsilon(1e-5));
  auto defaults = der("form = \"ebmlab\"", m.info);  // p = 2, both weights 1
  CHECK(defaults->compute(*m.ctx).item<double>() ==
        doctest::Approx((d.pow(2).mean() + dxy.pow(2).mean()).item<double>()).epsilon(1e-5));
}

TEST_CASE("der: a parameter of the other form is a ConfigError naming it") {
  Linear m;
  auto e1 = test::error_of<ConfigError>([&] { der("lambda_x = 1.0", m.info); });
  CHECK(e1.find("lambda_x belongs to form = \"ebmlab\"") != std::string::npos);
  auto e2 = test::error_of<ConfigError>([&] { der("form = \"ebmlab\"\ngamma = 0.5", m.info); });
  CHECK(e2.find("gamma and aae_only belong to form = \"paper\"") != std::string::npos);
}

TEST_CASE("der, log_only: energies in eval mode, no penalty, BatchNorm statistics untouched") {
  const DataInfo info = toy_info(3);
  auto model = make_model("plugin = \"mlp\"\nhidden = [4]", "plugin = \"batch\"", info);
  model->train();
  Context ctx(model, info);
  ctx.batch_ = {torch::tensor({{0.2, 0.9}, {0.6, 0.4}, {0.8, 0.1}}), torch::tensor({0, 2, 1}, torch::kInt64)};
  ctx.memo["s"] = torch::tensor({{0.5, 0.5}, {0.1, 0.3}, {0.9, 0.7}});
  auto buffers = [&] {
    std::vector<at::Tensor> out;
    for (auto& b : model->buffers()) out.push_back(b.clone());
    return out;
  };
  const auto before = buffers();
  auto loss = der("log_only = true", info)->compute(ctx);
  CHECK(loss.item<double>() == 0.0);
  CHECK_FALSE(loss.requires_grad());
  CHECK(model->is_training());
  const auto after = buffers();
  for (std::size_t i = 0; i < before.size(); ++i) CHECK(torch::equal(before[i], after[i]));
  double want = 0;
  {
    torch::NoGradGuard ng;
    ModeGuard eval(*model, ModelMode::eval);
    want = (ebm::energy(model->forward(ctx.batch_.x)) - ebm::energy(model->forward(ctx.memo["s"]))).mean().item<double>();
  }
  CHECK(ctx.logged.at("delta_e") == doctest::Approx(want).epsilon(1e-6));
  // Without log_only the clean and adversarial batches pass BatchNorm in train mode.
  der("", info)->compute(ctx);
  bool moved = false;
  const auto trained = buffers();
  for (std::size_t i = 0; i < before.size(); ++i) moved = moved || !torch::equal(before[i], trained[i]);
  CHECK(moved);
}
