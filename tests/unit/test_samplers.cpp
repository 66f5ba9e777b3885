// Samplers: a conformance suite run against every sampler plugin, then the geometry of
// PGD, its curriculum, and the SGLD replay buffer.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include "conformance.hpp"
#include "fixtures.hpp"

using namespace ebm;
using test::Context;
using namespace ebm::test;

TEST_CASE("sampler conformance: shape, range, determinism, no parameter gradients, modes, state") {
  for (const auto& setting : test::conformance_settings(Kind::sampler)) {
    CAPTURE(setting.source);
    SamplerSetup s;
    // A frozen norm inside a training model: the sampler must leave every flag as it was.
    s.model->train();
    s.model->set_norm_frozen(true);
    std::vector<bool> modes;
    for (auto& m : s.model->modules(false)) modes.push_back(m->is_training());

    auto sampler = test::make_plugin<Sampler>(Kind::sampler, setting, s.info);
    torch::manual_seed(5);
    at::Tensor a = sampler->sample(*s.ctx);
    CHECK(a.sizes() == s.ctx->batch_.x.sizes());
    CHECK(torch::isfinite(a).all().item<bool>());
    CHECK(!a.requires_grad());
    CHECK(a.min().item<double>() >= 0.0);
    CHECK(a.max().item<double>() <= 1.0);
    for (auto& p : s.model->parameters()) CHECK((!p.grad().defined() || p.grad().abs().sum().item<double>() == 0.0));
    CHECK(all_modes(*s.model, modes));

    // Same seed, fresh sampler -> same samples.
    auto again = test::make_plugin<Sampler>(Kind::sampler, setting, s.info);
    torch::manual_seed(5);
    CHECK(torch::equal(again->sample(*s.ctx), a));

    // State round trip into a fresh instance.
    auto st = sampler->state();
    auto fresh = test::make_plugin<Sampler>(Kind::sampler, setting, s.info);
    fresh->load_state(st);
    auto st2 = fresh->state();
    CHECK(st2.size() == st.size());
    for (auto& [k, v] : st) CHECK(torch::equal(st2.at(k), v));
    for (auto& o : sampler->outputs()) CHECK_MESSAGE(s.ctx->logged.count(o.name), "declared but not logged: " << o.name);
  }
}

TEST_CASE("sampling: AUC, L2 projection and fitted class Gaussians") {
  CHECK(sampling::auc(torch::tensor({3.0, 4.0}), torch::tensor({1.0, 2.0})) == 1.0);
  CHECK(sampling::auc(torch::tensor({1.0, 2.0}), torch::tensor({3.0, 4.0})) == 0.0);
  CHECK(sampling::auc(torch::tensor({1.0, 3.0}), torch::tensor({2.0, 2.0})) == 0.5);
  CHECK(sampling::auc(torch::tensor({2.0}), torch::tensor({2.0})) == 0.5);
  auto d = torch::tensor({{3.0, 4.0}, {0.3, 0.4}});
  auto p = sampling::project_l2(d, 1.0);
  CHECK(p[0][0].item<double>() == doctest::Approx(0.6));
  CHECK(p[1][1].item<double>() == doctest::Approx(0.4));
  torch::manual_seed(0);
  auto x = torch::cat({torch::randn({400, 2}) * 0.1 + 0.2, torch::randn({400, 2}) * 0.1 + 0.8});
  auto y = torch::cat({torch::zeros({400}, torch::kInt64), torch::ones({400}, torch::kInt64)});
  auto g = sampling::fit_class_gaussians(x, y, 2);
  auto draws = sampling::draw(g, torch::ones({2000}, torch::kInt64));
  CHECK(draws.mean().item<double>() == doctest::Approx(0.8).epsilon(0.02));
  CHECK(draws.std(0).mean().item<double>() == doctest::Approx(0.1).epsilon(0.1));
  auto pca = sampling::fit_class_pca(x, y, 2, 0.95);
  auto pd = sampling::draw(pca, torch::zeros({2000}, torch::kInt64), 0.0);
  CHECK(pd.mean().item<double>() == doctest::Approx(0.2).epsilon(0.05));
}
