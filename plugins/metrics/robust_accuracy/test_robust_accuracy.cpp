// The robust_accuracy plugin's own tests (registered by this folder's CMakeLists.txt; the
// conformance suites in tests/unit cover the contracts every plugin shares).
#include <cmath>

#include <doctest/doctest.h>
#include <torch/torch.h>

#include "fixtures.hpp"

using namespace ebm;
using namespace ebm::test;

TEST_CASE("robust_accuracy: eps 0 is clean accuracy; falls with eps; ~0 at large eps for both attacks and norms") {
  Trained t;
  const double clean = t.clean_accuracy();
  REQUIRE(clean > 0.95);
  const std::map<std::string, std::vector<double>> grids = {{"linf", {0, 0.01, 0.02, 0.04, 0.08, 0.16, 1.0}},
                                                            {"l2", {0, 0.05, 0.1, 0.2, 0.4, 0.8, 6.0}}};
  for (std::string attack : {"pgd", "apgd_ce"})
    for (auto& norm_grid : grids) {
      const std::string& norm = norm_grid.first;
      const std::vector<double>& grid = norm_grid.second;
      CAPTURE(attack);
      CAPTURE(norm);
      std::vector<double> acc;
      for (double eps : grid) {
        auto r = t.evaluate(settings(attack, norm, eps));
        CHECK(r.at("clean_accuracy") == clean);
        CHECK(r.at("n") == t.test.y.size(0));
        acc.push_back(r.at("robust_accuracy"));
      }
      CHECK(acc[0] == clean);  // eps = 0: no attack, exactly the clean accuracy
      for (std::size_t i = 1; i < acc.size(); ++i) CHECK(acc[i] <= acc[i - 1] + 0.02);
      CHECK(acc[3] < clean);        // a mid eps hurts ...
      CHECK(acc[4] < clean - 0.5);  // ... and a larger one much more
      CHECK(acc.back() <= 0.05);    // the whole data range: no gradient masking
    }
}

TEST_CASE("robust_accuracy: apgd_ce is at least as strong as pgd with the same budget; restarts only help") {
  Trained t;
  for (const auto& setting :
       std::vector<std::pair<std::string, double>>{{"linf", 0.04}, {"linf", 0.08}, {"l2", 0.2}, {"l2", 0.4}}) {
    const std::string& norm = setting.first;
    const double eps = setting.second;
    CAPTURE(norm);
    CAPTURE(eps);
    double pgd = 0, apgd = 0;
    for (int seed = 0; seed < 3; ++seed) {
      std::string extra = "steps = 10\nseed = " + std::to_string(seed) + "\n";
      pgd += t.robust(settings("pgd", norm, eps) + extra) / 3;
      apgd += t.robust(settings("apgd_ce", norm, eps) + extra) / 3;
    }
    CHECK(apgd <= pgd + 0.01);
    // The first restart repeats the single run's draws; later ones only add fooled images.
    for (std::string attack : {"pgd", "apgd_ce"})
      CHECK(t.robust(settings(attack, norm, eps) + "restarts = 3\nsteps = 5\n") <=
            t.robust(settings(attack, norm, eps) + "restarts = 1\nsteps = 5\n"));
  }
}

TEST_CASE("robust_accuracy: parameters' gradients and the model's mode are untouched; seeded results repeat") {
  Trained t;
  for (auto& p : t.model->parameters()) REQUIRE(!p.grad().defined());
  const std::string body = settings("pgd", "linf", 0.05) + "restarts = 2\nsteps = 5\n";
  auto first = t.evaluate(body);
  for (auto& p : t.model->parameters()) CHECK(!p.grad().defined());
  CHECK(!t.model->is_training());
  // Existing gradients (a caller mid-step) keep their values; a training-mode caller stays so.
  for (auto& p : t.model->parameters()) p.mutable_grad() = torch::full_like(p, 0.5);
  t.model->train();
  for (int apgd = 0; apgd < 2; ++apgd) {
    attacks::Spec s;
    s.eps = 0.1, s.steps = 3;
    apgd ? attacks::apgd_ce(t.logits_fn(), t.test.x, t.test.y, s) : attacks::pgd(t.logits_fn(), t.test.x, t.test.y, s);
  }
  CHECK(t.model->is_training());
  for (auto& p : t.model->parameters()) CHECK(torch::equal(p.grad(), torch::full_like(p, 0.5)));
  for (auto& p : t.model->parameters()) p.mutable_grad() = at::Tensor();
  t.model->eval();

  // The metric's own generator: the global seed does not matter, a reset repeats the run,
  // and a different seed draws different starts.
  auto m = make_plugin<Metric>(Kind::metric, "plugin = \"robust_accuracy\"\n" + body, t.info);
  torch::manual_seed(99);
  auto a = t.evaluate(body, m.get());
  torch::manual_seed(7);
  CHECK(t.evaluate(body, m.get()) == a);
  CHECK(a == first);
  for (std::string attack : {"pgd", "apgd_ce"}) {
    attacks::Spec s;
    s.eps = 0.05, s.steps = 3;
    auto run = [&](std::uint64_t seed) {
      auto g = at::detail::createCPUGenerator(seed);
      return attack == "pgd" ? attacks::pgd(t.logits_fn(), t.test.x, t.test.y, s, &g)
                             : attacks::apgd_ce(t.logits_fn(), t.test.x, t.test.y, s, &g);
    };
    CHECK(torch::equal(run(5), run(5)));
    CHECK(!torch::equal(run(5), run(6)));
  }
}

TEST_CASE("robust_accuracy: max_images, reported settings, declared outputs, parameter errors") {
  Trained t;
  auto r = t.evaluate(settings("apgd_ce", "l2", 0.3) + "max_images = 150\nsteps = 4\nrestarts = 2\n");
  CHECK(r.at("n") == 150);  // two batches of 100: the second is cut at 50
  at::Tensor logits;
  {
    torch::NoGradGuard ng;
    logits = t.model->forward(t.test.x.slice(0, 0, 150));
  }
  CHECK(r.at("clean_accuracy") == logits.argmax(1).eq(t.test.y.slice(0, 0, 150)).sum().item<double>() / 150);
  CHECK(r.at("eps") == doctest::Approx(0.3));
  CHECK(r.at("steps") == 4);
  CHECK(r.at("restarts") == 2);
  CHECK(r.at("norm_l2") == 1);
  CHECK(r.at("apgd") == 1);
  auto all = t.evaluate("max_images = 0\nsteps = 2\n");
  CHECK(all.at("n") == t.test.y.size(0));
  CHECK(all.at("norm_l2") == 0);
  CHECK(all.at("apgd") == 0);
  CHECK(all.at("eps") == doctest::Approx(0.1));

  auto m = make_plugin<Metric>(Kind::metric, "plugin = \"robust_accuracy\"", t.info);
  std::set<std::string> declared;
  for (auto& o : m->outputs()) {
    CHECK(o.shape.empty());
    declared.insert(o.name);
  }
  for (auto& kv : all) {
    CAPTURE(kv.first);
    CHECK(declared.count(kv.first) == 1);
    CHECK(std::isfinite(kv.second));
  }
  CHECK(declared.size() == all.size());

  for (std::string bad :
       {"norm = \"l1\"", "eps = -0.1", "attack = \"fgsm\"", "restarts = 0", "attack = \"apgd_ce\"\nalpha = 0.01"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(make_plugin<Metric>(Kind::metric, "plugin = \"robust_accuracy\"\n" + bad, t.info), ConfigError);
  }
}

TEST_CASE("robust_accuracy: per_image stores each image's verdicts and loss in split order and -1 past the split") {
  Trained t;
  const std::int64_t n = t.test.y.size(0), room = n + 7;
  auto m = make_plugin<Metric>(Kind::metric,
                               "plugin = \"robust_accuracy\"\n" + settings("pgd", "linf", 0.05) +
                                   "steps = 5\nper_image = true\nmax_images = " + std::to_string(room) + "\n",
                               t.info);
  t.evaluate(settings("pgd", "linf", 0.05), m.get());  // the parameters are m's
  const auto result = m->result();
  const auto tensors = m->tensors();
  const at::Tensor robust = tensors.at("robust_per_image"), clean = tensors.at("clean_per_image");
  const at::Tensor loss = tensors.at("loss_per_image");
  REQUIRE(robust.size(0) == room);
  CHECK(robust.slice(0, n).eq(-1).all().item<bool>());  // the split is shorter than max_images
  CHECK(clean.slice(0, n).eq(-1).all().item<bool>());
  CHECK(robust.slice(0, 0, n).sum().item<double>() == doctest::Approx(result.at("robust_accuracy") * static_cast<double>(n)));
  CHECK(clean.slice(0, 0, n).sum().item<double>() == doctest::Approx(result.at("clean_accuracy") * static_cast<double>(n)));
  // Clean predictions in split order (batches of 100); a robust image was correct when clean.
  at::Tensor want_clean;
  {
    torch::NoGradGuard ng;
    want_clean = t.model->forward(t.test.x).argmax(1).eq(t.test.y).to(torch::kFloat64);
  }
  CHECK(torch::equal(clean.slice(0, 0, n), want_clean));
  CHECK(robust.slice(0, 0, n).le(clean.slice(0, 0, n)).all().item<bool>());
  // The loss is the attack's result for the attacked (clean-correct) images only, and it
  // separates the verdicts: a fooled image ends above a robust one's typical loss.
  const at::Tensor attacked = want_clean.to(torch::kBool);
  CHECK(loss.slice(0, 0, n).masked_select(attacked).isfinite().all().item<bool>());
  CHECK(loss.slice(0, 0, n).masked_select(attacked.logical_not()).isnan().all().item<bool>());
  const at::Tensor fooled = attacked.logical_and(robust.slice(0, 0, n).eq(0));
  if (fooled.any().item<bool>()) CHECK(loss.slice(0, 0, n).masked_select(fooled).min().item<double>() > std::log(2.0) - 1e-9);
  // A vector length is needed.
  CHECK_THROWS_AS(make_plugin<Metric>(Kind::metric, "plugin = \"robust_accuracy\"\nper_image = true\nmax_images = 0\n", t.info),
                  ConfigError);
}
