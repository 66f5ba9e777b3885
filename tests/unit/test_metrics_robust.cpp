// Attacks (ebmlab/attacks.hpp) and the robust_accuracy metric: known answers on linear
// models, then a small MLP trained here on synthetic 6x6 images (three noisy templates):
// monotonicity in eps, ~0 at large eps (no gradient masking), APGD-CE vs PGD, targeted
// attacks, restarts, parameter gradients and modes untouched, determinism.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include "ebmlab/attacks.hpp"

#include "fixtures.hpp"

using namespace ebm;
using test::Context;
using namespace ebm::test;

TEST_CASE("apgd_checkpoints: AutoAttack's integer windows by default, the paper's ceil rule by name") {
  using W = std::vector<std::int64_t>;
  // fra31/auto-attack autopgd_base.py:153-155, 403-424: windows 22, 19, 16, ... (N = 100);
  // 4, 3, 2, 1, 1, ... (N = 20); 11, 10, 9, 8, 7 (N = 50).
  CHECK(attacks::apgd_checkpoints(100) == W{0, 22, 41, 57, 70, 80, 87, 93, 99});
  CHECK(attacks::apgd_checkpoints(20) == W{0, 4, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20});
  CHECK(attacks::apgd_checkpoints(50) == W{0, 11, 21, 30, 38, 45});
  CHECK(attacks::apgd_checkpoints(0) == W{0});
  CHECK(attacks::apgd_checkpoints(100, "paper") == W{0, 22, 41, 57, 70, 80, 87, 93, 99});
  CHECK(attacks::apgd_checkpoints(20, "paper") == W{0, 5, 9, 12, 14, 16, 18, 19, 20});
  CHECK(attacks::apgd_checkpoints(0, "paper") == W{0});
}

TEST_CASE("random starts: torchattacks' L2 radius eps*u, the ball's eps*u^(1/d), AutoAttack's boundary") {
  torch::manual_seed(0);
  const at::Tensor x = torch::zeros({4000, 1, 6, 6});  // d = 36
  auto radius = [&](const std::string& norm, const std::string& start) {
    at::Tensor d = attacks::random_delta(norm, 0.5, x, start).flatten(1);
    return norm == "linf" ? d.abs().amax(1) : d.norm(2, 1);
  };
  // pgdl2.py:65-72 scales a unit direction by eps * U(0, 1): mean radius eps / 2.
  CHECK(radius("l2", "torchattacks").mean().item<double>() == doctest::Approx(0.25).epsilon(0.03));
  CHECK(radius("l2", "ball").mean().item<double>() == doctest::Approx(0.5 * 36.0 / 37.0).epsilon(0.01));
  CHECK(torch::allclose(radius("l2", "boundary"), torch::full({4000}, 0.5), 1e-5, 1e-6));
  CHECK(torch::allclose(radius("linf", "boundary"), torch::full({4000}, 0.5), 1e-5, 1e-6));
  CHECK(radius("linf", "torchattacks").max().item<double>() <= 0.5);
}

TEST_CASE("the pgd sampler and attacks::pgd share one PGD core: the same attack gives the same points") {
  Trained t;
  for (std::string norm : {"linf", "l2"}) {
    CAPTURE(norm);
    attacks::Spec s;
    s.norm = norm, s.eps = norm == "linf" ? 0.1 : 0.8, s.alpha = norm == "linf" ? 0.03 : 0.2, s.steps = 5;
    torch::manual_seed(11);
    at::Tensor sdk = attacks::pgd(t.logits_fn(), t.test.x, t.test.y, s);
    Context ctx(t.model, t.info);
    ctx.batch_ = t.test;
    auto sampler = make_plugin<Sampler>(Kind::sampler,
                                        "plugin = \"pgd\"\nnorm = \"" + norm + "\"\neps = " + std::to_string(s.eps) +
                                            "\nstep_size = " + std::to_string(s.alpha) + "\nsteps = 5",
                                        t.info);
    torch::manual_seed(11);
    at::Tensor plugin = sampler->sample(ctx);
    CHECK(torch::equal(plugin, sdk));
  }
}

TEST_CASE("attacks on a linear binary classifier flip exactly the points within eps of the boundary") {
  // logits = [0, w·x + b]: the best perturbation changes the margin by eps·‖w‖_1 (L-inf)
  // or eps·‖w‖_2 (L2), so a point is fooled iff |w·x + b| < that. A wide box keeps the
  // clamp out of the way.
  torch::manual_seed(4);
  const std::int64_t D = 10;
  at::Tensor w = torch::randn({D}), b = torch::randn({1});
  attacks::LogitsFn f = [&](const at::Tensor& x) {
    at::Tensor s = x.mv(w) + b;
    return torch::stack({torch::zeros_like(s), s}, 1);
  };
  at::Tensor x = torch::randn({400, D});
  at::Tensor margin = x.mv(w) + b;
  at::Tensor y = margin.gt(0).to(torch::kLong);
  for (std::string norm : {"linf", "l2"})
    for (bool random_start : {false, true}) {
      if (norm == "l2" && random_start) continue;  // L2 PGD from inside the ball only approaches the optimum
      attacks::Spec s;
      s.norm = norm, s.eps = 0.5, s.steps = 10, s.random_start = random_start, s.lo = -100, s.hi = 100;
      const double reach = s.eps * (norm == "linf" ? w.abs().sum() : w.norm()).item<double>();
      at::Tensor clear = (margin.abs() - reach).abs().gt(1e-3 * reach);
      at::Tensor expect_fooled = margin.abs().lt(reach);
      REQUIRE(expect_fooled.logical_and(clear).sum().item<int>() > 20);
      for (int apgd = 0; apgd < 2; ++apgd) {
        CAPTURE(norm);
        CAPTURE(random_start);
        CAPTURE(apgd);
        at::Tensor adv = apgd ? attacks::apgd_ce(f, x, y, s) : attacks::pgd(f, x, y, s);
        at::Tensor fooled;
        {
          torch::NoGradGuard ng;
          fooled = f(adv).argmax(1).ne(y);
        }
        CHECK(torch::equal(fooled.masked_select(clear), expect_fooled.masked_select(clear)));
      }
    }
}

TEST_CASE("attacks stay in the ball and the data range, return detached points, validate the spec") {
  Trained t;
  for (std::string norm : {"linf", "l2"})
    for (int apgd = 0; apgd < 2; ++apgd) {
      CAPTURE(norm);
      CAPTURE(apgd);
      attacks::Spec s;
      s.norm = norm, s.eps = norm == "linf" ? 0.1 : 0.8, s.steps = 7, s.restarts = 2;
      at::Tensor adv =
          apgd ? attacks::apgd_ce(t.logits_fn(), t.test.x, t.test.y, s) : attacks::pgd(t.logits_fn(), t.test.x, t.test.y, s);
      REQUIRE(adv.sizes() == t.test.x.sizes());
      CHECK(!adv.requires_grad());
      CHECK(adv.min().item<double>() >= 0.0);
      CHECK(adv.max().item<double>() <= 1.0);
      at::Tensor d = (adv - t.test.x).flatten(1);
      double dist = (norm == "linf" ? d.abs().amax(1) : d.norm(2, 1)).max().item<double>();
      CHECK(dist <= s.eps * (1 + 1e-5));
      CHECK(dist >= s.eps * 0.5);  // the attack actually moved
    }
  attacks::Spec bad;
  bad.norm = "l1";
  CHECK_THROWS_AS(attacks::pgd(t.logits_fn(), t.test.x, t.test.y, bad), ConfigError);
  bad.norm = "linf", bad.restarts = 0;
  CHECK_THROWS_AS(attacks::apgd_ce(t.logits_fn(), t.test.x, t.test.y, bad), ConfigError);
}

TEST_CASE("targeted attacks reach the target class at large eps") {
  Trained t;
  at::Tensor target = (t.test.y + 1) % 3;
  for (int apgd = 0; apgd < 2; ++apgd) {
    CAPTURE(apgd);
    attacks::Spec s;
    s.eps = 0.5, s.steps = 20, s.targeted = true;
    at::Tensor adv =
        apgd ? attacks::apgd_ce(t.logits_fn(), t.test.x, target, s) : attacks::pgd(t.logits_fn(), t.test.x, target, s);
    torch::NoGradGuard ng;
    CHECK(t.model->forward(adv).argmax(1).eq(target).to(torch::kDouble).mean().item<double>() >= 0.9);
  }
}
