// Samplers: a conformance suite run against every sampler plugin, then the geometry of
// PGD, its curriculum, and the SGLD replay buffer.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include "conformance.hpp"
#include "fixtures.hpp"

using namespace ebm;
using test::Context;
using namespace ebm::test;

TEST_CASE("sampler conformance (ebm::testing::check_sampler): shape, range, determinism, gradients, modes, state") {
  for (const auto& setting : test::conformance_settings(Kind::sampler)) {
    const ebm::testing::Report r = ebm::testing::check_sampler(setting.plugin, setting.body());
    CHECK_MESSAGE(r.ok(), setting.source << ": " << r.text());
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

TEST_CASE("samplers declare the range their parameters give (issue 17)") {
  const DataInfo info = image_info();
  auto range = [&](const std::string& body) { return make_plugin<Sampler>(Kind::sampler, body, info)->sample_range(); };
  CHECK(range("plugin = \"sgld\"") == SampleRange::unbounded);  // JEM's SGLD does not clamp
  CHECK(range("plugin = \"sgld\"\nclamp = true") == SampleRange::clamped);
  CHECK(range("plugin = \"sgld\"\nproximal = true\ngrad_clamp = 2.0") == SampleRange::clamped);
  CHECK(range("plugin = \"pgd\"") == SampleRange::clamped);
  CHECK(range("plugin = \"pgd\"\nclamp = false") == SampleRange::unbounded);
  CHECK(range("plugin = \"langevin_guided\"") == SampleRange::clamped);
}
