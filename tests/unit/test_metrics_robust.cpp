// Attacks (ebmlab/attacks.hpp) and the robust_accuracy metric: known answers on linear
// models, then a small MLP trained here on synthetic 6x6 images (three noisy templates):
// monotonicity in eps, ~0 at large eps (no gradient masking), APGD-CE vs PGD, targeted
// attacks, restarts, parameter gradients and modes untouched, determinism.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include "context.hpp"
#include "ebmlab/attacks.hpp"

using namespace ebm;
using test::Context;

namespace {

DataInfo tiny_info() {
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
Batch tiny_data(std::int64_t n, std::uint64_t seed) {
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
    model = test::make_model("plugin = \"mlp\"\nhidden = [32]", "plugin = \"none\"", info);
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
    if (!reuse) m = test::make_plugin<Metric>(Kind::metric, "plugin = \"robust_accuracy\"\n" + params, info), reuse = m.get();
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

std::string settings(const std::string& attack, const std::string& norm, double eps) {
  return "attack = \"" + attack + "\"\nnorm = \"" + norm + "\"\neps = " + std::to_string(eps) + "\n";
}

}  // namespace

TEST_CASE("apgd_checkpoints: the paper's schedule (AutoAttack's 22, 41, 57, ... for 100 iterations)") {
  CHECK(attacks::apgd_checkpoints(100) == std::vector<std::int64_t>{0, 22, 41, 57, 70, 80, 87, 93, 99});
  CHECK(attacks::apgd_checkpoints(20) == std::vector<std::int64_t>{0, 5, 9, 12, 14, 16, 18, 19, 20});
  CHECK(attacks::apgd_checkpoints(0) == std::vector<std::int64_t>{0});
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
      at::Tensor adv = apgd ? attacks::apgd_ce(t.logits_fn(), t.test.x, t.test.y, s)
                            : attacks::pgd(t.logits_fn(), t.test.x, t.test.y, s);
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
  for (const auto& setting : std::vector<std::pair<std::string, double>>{{"linf", 0.04}, {"linf", 0.08}, {"l2", 0.2}, {"l2", 0.4}}) {
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

TEST_CASE("targeted attacks reach the target class at large eps") {
  Trained t;
  at::Tensor target = (t.test.y + 1) % 3;
  for (int apgd = 0; apgd < 2; ++apgd) {
    CAPTURE(apgd);
    attacks::Spec s;
    s.eps = 0.5, s.steps = 20, s.targeted = true;
    at::Tensor adv = apgd ? attacks::apgd_ce(t.logits_fn(), t.test.x, target, s)
                          : attacks::pgd(t.logits_fn(), t.test.x, target, s);
    torch::NoGradGuard ng;
    CHECK(t.model->forward(adv).argmax(1).eq(target).to(torch::kDouble).mean().item<double>() >= 0.9);
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
  auto m = test::make_plugin<Metric>(Kind::metric, "plugin = \"robust_accuracy\"\n" + body, t.info);
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

  auto m = test::make_plugin<Metric>(Kind::metric, "plugin = \"robust_accuracy\"", t.info);
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

  for (std::string bad : {"norm = \"l1\"", "eps = -0.1", "attack = \"fgsm\"", "restarts = 0", "attack = \"apgd_ce\"\nalpha = 0.01"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(test::make_plugin<Metric>(Kind::metric, "plugin = \"robust_accuracy\"\n" + bad, t.info), ConfigError);
  }
}
