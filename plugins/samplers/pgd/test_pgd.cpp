// The pgd plugin's own tests (registered by this folder's CMakeLists.txt; the
// conformance suites in tests/unit cover the contracts every plugin shares).
#include <cmath>

#include <doctest/doctest.h>
#include <torch/torch.h>

#include "fixtures.hpp"

using namespace ebm;
using namespace ebm::test;

TEST_CASE("pgd linf: stays in the eps-ball and the data range, and raises the loss") {
  SamplerSetup s;
  s.model->eval();
  auto pgd = make_plugin<Sampler>(Kind::sampler, "plugin = \"pgd\"\neps = 0.05\nstep_size = 0.02\nsteps = 10", s.info);
  const auto& b = s.ctx->batch_;
  at::Tensor adv = pgd->sample(*s.ctx);
  CHECK((adv - b.x).abs().max().item<double>() <= 0.05 + 1e-6);
  CHECK(adv.min().item<double>() >= 0.0);
  CHECK(adv.max().item<double>() <= 1.0);
  torch::NoGradGuard ng;
  double before = torch::nn::functional::cross_entropy(s.model->forward(b.x), b.y).item<double>();
  double after = torch::nn::functional::cross_entropy(s.model->forward(adv), b.y).item<double>();
  CHECK(after > before);
}

TEST_CASE("pgd l2: stays in the L2 ball; one unbounded step moves each sample by exactly step_size") {
  SamplerSetup s;
  s.model->eval();
  const auto& b = s.ctx->batch_;
  auto l2 = make_plugin<Sampler>(Kind::sampler, "plugin = \"pgd\"\nnorm = \"l2\"\neps = 0.3\nstep_size = 0.2\nsteps = 5", s.info);
  at::Tensor adv = l2->sample(*s.ctx);
  CHECK(sampling::l2_norm(adv - b.x).max().item<double>() <= 0.3 + 1e-5);

  auto one = make_plugin<Sampler>(
      Kind::sampler, "plugin = \"pgd\"\nnorm = \"l2_unbounded\"\nstep_size = 0.3\nsteps = 1\nclamp = false\nrandom_start = false",
      s.info);
  at::Tensor moved = one->sample(*s.ctx);
  auto dist = sampling::l2_norm(moved - b.x).flatten();
  CHECK(torch::allclose(dist, torch::full_like(dist, 0.3), 1e-4, 1e-5));

  auto sign = make_plugin<Sampler>(
      Kind::sampler, "plugin = \"pgd\"\neps = 1.0\nstep_size = 0.01\nsteps = 1\nclamp = false\nrandom_start = false", s.info);
  at::Tensor step = (sign->sample(*s.ctx) - b.x).abs();
  // A sign step moves every coordinate with a non-zero gradient by exactly step_size.
  CHECK(((step - 0.01).abs().lt(1e-6) | step.eq(0)).all().item<bool>());
  CHECK(step.gt(0).to(torch::kFloat32).mean().item<double>() > 0.5);
}

TEST_CASE("pgd curriculum: advances on its epoch rule and on the pooled AUC, only in steps that used it") {
  DataInfo info = toy_info();
  auto model = make_model("plugin = \"mlp\"\nhidden = [8]", "plugin = \"none\"", info);
  Context ctx(model, info);
  ctx.batch_ = {torch::rand({8, 2}), torch::zeros({8}, torch::kInt64)};
  auto steps_now = [](Sampler& s) { return s.state().at("steps_now").item<std::int64_t>(); };
  auto by_epochs = make_plugin<Sampler>(
      Kind::sampler,
      "plugin = \"pgd\"\nsteps = 5\ncurriculum = \"epochs\"\nstart_steps = 1\nstep_increment = 2\nepochs_per_increment = 2",
      info);
  auto used_step = [&](Sampler& s, std::int64_t step, std::int64_t epoch, const char* stage = "a") {
    s.sample(ctx);
    s.on_step_end(StepStats{step, epoch, stage, 0.0, {}});
  };
  CHECK(steps_now(*by_epochs) == 1);
  used_step(*by_epochs, 1, 0);
  used_step(*by_epochs, 2, 1);
  CHECK(steps_now(*by_epochs) == 1);
  by_epochs->on_step_end(StepStats{3, 2, "a", 0.0, {}});  // not used this step: no advance
  CHECK(steps_now(*by_epochs) == 1);
  used_step(*by_epochs, 4, 2);
  CHECK(steps_now(*by_epochs) == 3);
  used_step(*by_epochs, 5, 4);
  CHECK(steps_now(*by_epochs) == 5);
  used_step(*by_epochs, 6, 6);
  CHECK(steps_now(*by_epochs) == 5);  // capped at steps

  // A sampler first used in a later stage counts epochs from its first use there.
  auto late = make_plugin<Sampler>(
      Kind::sampler, "plugin = \"pgd\"\nsteps = 5\ncurriculum = \"epochs\"\nstart_steps = 1\nepochs_per_increment = 2", info);
  for (int e = 0; e < 6; ++e) late->on_step_end(StepStats{e + 1, e, "stage1", 0.0, {}});
  used_step(*late, 7, 0, "stage2");
  used_step(*late, 8, 1, "stage2");
  CHECK(steps_now(*late) == 1);
  used_step(*late, 9, 2, "stage2");
  CHECK(steps_now(*late) == 2);

  auto by_auc = make_plugin<Sampler>(
      Kind::sampler,
      "plugin = \"pgd\"\nsteps = 5\ncurriculum = \"auc\"\nepochs_per_increment = 100\nauc_average = \"pooled\"\n"
      "auc_window = 1000\nauc_threshold = 0.8",
      info);
  auto st = by_auc->state();
  st["auc_real_scores"] = torch::full({1000}, -10.0);  // real scored below the samples: AUC ~ 0
  st["auc_sample_scores"] = torch::full({1000}, 10.0);
  by_auc->load_state(st);
  used_step(*by_auc, 1, 0);
  CHECK(steps_now(*by_auc) == 0);
  st["auc_real_scores"] = torch::full({1000}, 10.0);  // well separated: AUC ~ 1
  st["auc_sample_scores"] = torch::full({1000}, -10.0);
  by_auc->load_state(st);
  used_step(*by_auc, 2, 0);
  CHECK(steps_now(*by_auc) == 1);
  CHECK(by_auc->state().at("auc_real_scores").numel() == 0);  // the window restarts after an advance
  CHECK(ctx.logged.count("auc") == 1);
}

TEST_CASE("pgd curriculum as the references: mean of per-batch AUCs over a full window, epochs counted per level") {
  DataInfo info = toy_info();
  auto model = make_model("plugin = \"mlp\"\nhidden = [8]", "plugin = \"none\"", info);
  Context ctx(model, info);
  ctx.batch_ = {torch::rand({8, 2}), torch::zeros({8}, torch::kInt64)};
  auto steps_now = [](Sampler& s) { return s.state().at("steps_now").item<std::int64_t>(); };
  auto used_step = [&](Sampler& s, std::int64_t step, std::int64_t steps_per_epoch) {
    s.sample(ctx);
    s.on_step_end(StepStats{step, (step - 1) / std::max<std::int64_t>(steps_per_epoch, 1), "a", 0.0, {}, steps_per_epoch});
  };
  // T = 0 and no random start: the samples are the batch itself, so each batch's AUC is 0.5.
  const std::string auc = "plugin = \"pgd\"\nsteps = 3\ncurriculum = \"auc\"\nrandom_start = false\nepochs_per_increment = 0\n";
  auto with_window = [&](const std::string& extra, const std::vector<float>& earlier) {
    auto s = make_plugin<Sampler>(Kind::sampler, auc + extra, info);
    auto st = s->state();
    st["auc_batch_values"] = torch::tensor(earlier);
    s->load_state(st);
    used_step(*s, 1, 0);
    return steps_now(*s);
  };
  // DAT: mean over the last 3 batches >= 0.5 passes (inclusive), > 0.5 does not (AT-EBM's rule).
  CHECK(with_window("auc_batches = 3\nauc_threshold = 0.5\nauc_inclusive = true", {0.5f, 0.5f}) == 1);
  CHECK(with_window("auc_batches = 3\nauc_threshold = 0.5", {0.5f, 0.5f}) == 0);
  // The mean of batch AUCs, not a pooled AUC: (1 + 1 + 0.5) / 3 > 0.8.
  CHECK(with_window("auc_batches = 3\nauc_threshold = 0.8", {1.0f, 1.0f}) == 1);
  // A window that is not full yet never advances, however high its mean.
  CHECK(with_window("auc_batches = 4\nauc_threshold = 0.1", {1.0f, 1.0f}) == 0);
  CHECK(ctx.logged.count("auc") == 1);

  // AT-EBM: at most epochs_per_increment full epochs per level, counted from the level's start
  // (2 epochs of 3 steps: the 6th step at the level advances, then 6 more).
  auto per_level =
      make_plugin<Sampler>(Kind::sampler, "plugin = \"pgd\"\nsteps = 5\ncurriculum = \"epochs\"\nepochs_per_increment = 2", info);
  for (std::int64_t step = 1; step <= 5; ++step) used_step(*per_level, step, 3);
  CHECK(steps_now(*per_level) == 0);
  used_step(*per_level, 6, 3);
  CHECK(steps_now(*per_level) == 1);
  for (std::int64_t step = 7; step <= 11; ++step) used_step(*per_level, step, 3);
  CHECK(steps_now(*per_level) == 1);
  used_step(*per_level, 12, 3);
  CHECK(steps_now(*per_level) == 2);

  // A scheduled curriculum needs a schedule.
  auto msg = test::error_of<ConfigError>(
      [&] { make_plugin<Sampler>(Kind::sampler, "plugin = \"pgd\"\ncurriculum = \"epochs\"\nepochs_per_increment = 0", info); });
  CHECK(msg.find("epochs_per_increment >= 1") != std::string::npos);
}

TEST_CASE("pgd: a targeted attack raises the target class's probability; iterate = best keeps the best iterate") {
  SamplerSetup s;
  s.model->eval();
  const auto& b = s.ctx->batch_;
  torch::manual_seed(3);
  auto targeted = make_plugin<Sampler>(Kind::sampler, "plugin = \"pgd\"\neps = 0.2\nsteps = 10\ntargeted = true", s.info);
  at::Tensor adv = targeted->sample(*s.ctx);
  // The targets are drawn inside sample(): re-draw them with the same seed to check.
  torch::manual_seed(3);
  auto target = (b.y + torch::randint(1, 10, {8}, torch::kInt64)) % 10;
  {
    torch::NoGradGuard ng;
    auto p0 = torch::softmax(s.model->forward(b.x), 1).gather(1, target.view({-1, 1})).mean().item<double>();
    auto p1 = torch::softmax(s.model->forward(adv), 1).gather(1, target.view({-1, 1})).mean().item<double>();
    CHECK(p1 > p0);
  }

  // With a huge step the last iterate overshoots; iterate = "best" returns the best loss
  // seen, which is never below the loss at the start.
  const std::string overshoot =
      "plugin = \"pgd\"\nnorm = \"l2_unbounded\"\nstep_size = 30.0\nsteps = 3\n"
      "convention = \"robustness\"\n";
  auto best = make_plugin<Sampler>(Kind::sampler, overshoot + "iterate = \"best\"", s.info);
  auto ce = [&](const at::Tensor& x, bool grad = false) {
    torch::AutoGradMode mode(grad);
    return torch::nn::functional::cross_entropy(s.model->forward(x), b.y,
                                                torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  };
  at::Tensor xb = best->sample(*s.ctx);
  CHECK((ce(xb) >= ce(b.x) - 1e-6).all().item<bool>());
  // The robustness convention itself returns the last iterate, as the DAT and AT-EBM code:
  // the same chain by hand (normalized L2 steps, clamped to the data range) gives it exactly.
  auto last = make_plugin<Sampler>(Kind::sampler, overshoot, s.info);
  at::Tensor xl = last->sample(*s.ctx);
  at::Tensor x = b.x.clone();
  for (int t = 0; t < 3; ++t) {
    at::Tensor xr = x.detach().requires_grad_(true);
    at::Tensor g = ebm::sampling::input_grad(ce(xr, true).sum(), xr);
    x = (x + 30.0 * ebm::sampling::normalize_l2(g)).clamp(s.info.lo, s.info.hi).detach();
  }
  CHECK(torch::allclose(xl, x, 1e-5, 1e-6));
  CHECK(!torch::equal(xl, xb));
}
