// Samplers: a conformance suite run against every sampler plugin, then the geometry of
// PGD, its curriculum, and the SGLD replay buffer.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include "context.hpp"

using namespace ebm;
using test::Context;

namespace {

/// Every sampler with settings that make it cheap; the conformance suite runs each.
const std::vector<std::string> kSamplers = {
    "plugin = \"pgd\"\nsteps = 3",
    "plugin = \"pgd\"\nnorm = \"l2\"\neps = 0.5\nstep_size = 0.1\nsteps = 3\nconvention = \"robustness\"\nrestarts = 2",
    "plugin = \"pgd\"\nnorm = \"l2_unbounded\"\nobjective = \"energy\"\ninit = \"uniform\"\nstep_size = 0.1\nsteps = 4",
    "plugin = \"pgd\"\nobjective = \"kl\"\nsteps = 2",
    "plugin = \"pgd\"\nnorm = \"l2_unbounded\"\nobjective = \"joint_energy\"\ninit = \"class_gaussian\"\nsteps = 2\ncurriculum = \"auc\"\nstart_steps = 2",
    "plugin = \"sgld\"\nbuffer_size = 50\nsteps = 3\nclamp = true",
    "plugin = \"sgld\"\nbuffer_size = 0\nsteps = 3\nproximal = true\ngrad_clamp = 2.0\nstep_size = 0.05\ninit = \"class_gaussian\"",
    "plugin = \"langevin_guided\"\nsteps = 3\nstats_images = 40",
};

struct Setup {
  DataInfo info = test::image_info();
  std::shared_ptr<kernel::Model> model;
  std::unique_ptr<Context> ctx;
  Setup() {
    torch::manual_seed(1);
    model = test::make_model("plugin = \"convnet\"\nchannels = [4]\nhidden = 16", "plugin = \"batch\"", info);
    ctx = std::make_unique<Context>(model, info);
    ctx->batch_ = {torch::rand({8, 1, 12, 12}), torch::arange(8, torch::kInt64) % 10};
    ctx->train_ = {torch::rand({60, 1, 12, 12}), torch::arange(60, torch::kInt64) % 10};
  }
};

bool all_modes(torch::nn::Module& m, const std::vector<bool>& expected) {
  auto mods = m.modules(false);
  for (std::size_t i = 0; i < mods.size(); ++i)
    if (mods[i]->is_training() != expected[i]) return false;
  return true;
}

}  // namespace

TEST_CASE("sampler conformance: shape, range, determinism, no parameter gradients, modes, state") {
  test::check_covers_every_plugin(Kind::sampler, kSamplers);
  for (const auto& body : kSamplers) {
    CAPTURE(body);
    Setup s;
    // A frozen norm inside a training model: the sampler must leave every flag as it was.
    s.model->train();
    s.model->set_norm_frozen(true);
    std::vector<bool> modes;
    for (auto& m : s.model->modules(false)) modes.push_back(m->is_training());

    auto sampler = test::make_plugin<Sampler>(Kind::sampler, body, s.info);
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
    auto again = test::make_plugin<Sampler>(Kind::sampler, body, s.info);
    torch::manual_seed(5);
    CHECK(torch::equal(again->sample(*s.ctx), a));

    // State round trip into a fresh instance.
    auto st = sampler->state();
    auto fresh = test::make_plugin<Sampler>(Kind::sampler, body, s.info);
    fresh->load_state(st);
    auto st2 = fresh->state();
    CHECK(st2.size() == st.size());
    for (auto& [k, v] : st) CHECK(torch::equal(st2.at(k), v));
    for (auto& o : sampler->outputs()) CHECK_MESSAGE(s.ctx->logged.count(o.name), "declared but not logged: " << o.name);
  }
}

TEST_CASE("pgd linf: stays in the eps-ball and the data range, and raises the loss") {
  Setup s;
  s.model->eval();
  auto pgd = test::make_plugin<Sampler>(Kind::sampler, "plugin = \"pgd\"\neps = 0.05\nstep_size = 0.02\nsteps = 10", s.info);
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
  Setup s;
  s.model->eval();
  const auto& b = s.ctx->batch_;
  auto l2 = test::make_plugin<Sampler>(Kind::sampler, "plugin = \"pgd\"\nnorm = \"l2\"\neps = 0.3\nstep_size = 0.2\nsteps = 5", s.info);
  at::Tensor adv = l2->sample(*s.ctx);
  CHECK(sampling::l2_norm(adv - b.x).max().item<double>() <= 0.3 + 1e-5);

  auto one = test::make_plugin<Sampler>(
      Kind::sampler, "plugin = \"pgd\"\nnorm = \"l2_unbounded\"\nstep_size = 0.3\nsteps = 1\nclamp = false\nrandom_start = false", s.info);
  at::Tensor moved = one->sample(*s.ctx);
  auto dist = sampling::l2_norm(moved - b.x).flatten();
  CHECK(torch::allclose(dist, torch::full_like(dist, 0.3), 1e-4, 1e-5));

  auto sign = test::make_plugin<Sampler>(
      Kind::sampler, "plugin = \"pgd\"\neps = 1.0\nstep_size = 0.01\nsteps = 1\nclamp = false\nrandom_start = false", s.info);
  at::Tensor step = (sign->sample(*s.ctx) - b.x).abs();
  // A sign step moves every coordinate with a non-zero gradient by exactly step_size.
  CHECK(((step - 0.01).abs().lt(1e-6) | step.eq(0)).all().item<bool>());
  CHECK(step.gt(0).to(torch::kFloat32).mean().item<double>() > 0.5);
}

TEST_CASE("pgd curriculum: advances on its epoch rule and on the pooled AUC, only in steps that used it") {
  DataInfo info = test::toy_info();
  auto model = test::make_model("plugin = \"mlp\"\nhidden = [8]", "plugin = \"none\"", info);
  Context ctx(model, info);
  ctx.batch_ = {torch::rand({8, 2}), torch::zeros({8}, torch::kInt64)};
  auto steps_now = [](Sampler& s) { return s.state().at("steps_now").item<std::int64_t>(); };
  auto by_epochs = test::make_plugin<Sampler>(
      Kind::sampler, "plugin = \"pgd\"\nsteps = 5\ncurriculum = \"epochs\"\nstart_steps = 1\nstep_increment = 2\nepochs_per_increment = 2", info);
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
  auto late = test::make_plugin<Sampler>(
      Kind::sampler, "plugin = \"pgd\"\nsteps = 5\ncurriculum = \"epochs\"\nstart_steps = 1\nepochs_per_increment = 2", info);
  for (int e = 0; e < 6; ++e) late->on_step_end(StepStats{e + 1, e, "stage1", 0.0, {}});
  used_step(*late, 7, 0, "stage2");
  used_step(*late, 8, 1, "stage2");
  CHECK(steps_now(*late) == 1);
  used_step(*late, 9, 2, "stage2");
  CHECK(steps_now(*late) == 2);

  auto by_auc = test::make_plugin<Sampler>(
      Kind::sampler, "plugin = \"pgd\"\nsteps = 5\ncurriculum = \"auc\"\nepochs_per_increment = 100\nauc_window = 1000\nauc_threshold = 0.8", info);
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

TEST_CASE("pgd: a targeted attack raises the target class's probability; robustness keeps the best iterate") {
  Setup s;
  s.model->eval();
  const auto& b = s.ctx->batch_;
  torch::manual_seed(3);
  auto targeted = test::make_plugin<Sampler>(Kind::sampler, "plugin = \"pgd\"\neps = 0.2\nsteps = 10\ntargeted = true", s.info);
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

  // With a huge step the last iterate overshoots; the robustness convention returns the
  // best loss seen, which is never below the loss at the start.
  auto best = test::make_plugin<Sampler>(
      Kind::sampler, "plugin = \"pgd\"\nnorm = \"l2_unbounded\"\nstep_size = 30.0\nsteps = 3\nconvention = \"robustness\"", s.info);
  auto ce = [&](const at::Tensor& x) {
    torch::NoGradGuard ng;
    return torch::nn::functional::cross_entropy(s.model->forward(x), b.y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  };
  at::Tensor xb = best->sample(*s.ctx);
  CHECK((ce(xb) >= ce(b.x) - 1e-6).all().item<bool>());
}

TEST_CASE("sgld: the replay buffer re-initializes the configured fraction and keeps the rest") {
  DataInfo info = test::toy_info();
  torch::manual_seed(2);
  auto model = test::make_model("plugin = \"mlp\"\nhidden = [8]", "plugin = \"none\"", info);
  Context ctx(model, info);
  ctx.batch_ = {torch::rand({2000, 2}), torch::zeros({2000}, torch::kInt64)};
  auto sgld = test::make_plugin<Sampler>(Kind::sampler, "plugin = \"sgld\"\nbuffer_size = 100\nsteps = 0\nreinit_freq = 0.3", info);
  sgld->load_state({{"buffer", torch::full({100, 2}, 7.0)}});  // outside the init range [0,1]
  at::Tensor x = sgld->sample(ctx);
  double fresh = x.select(1, 0).ne(7.0).to(torch::kFloat64).mean().item<double>();
  CHECK(fresh == doctest::Approx(0.3).epsilon(0.15));
  CHECK(ctx.logged.at("reinit_fraction") == doctest::Approx(fresh));
  CHECK(x.select(1, 0).ne(7.0).eq(x.select(1, 0).le(1.0)).all().item<bool>());  // fresh chains start in [0,1]
  // Written back: the buffer now holds the fresh chains where they were drawn.
  auto buf = sgld->state().at("buffer");
  CHECK(buf.ne(7.0).any().item<bool>());
  CHECK(test::error_of<RunError>([&] { sgld->load_state({{"buffer", torch::zeros({5, 2})}}); }).find("expected [100, 2]") !=
        std::string::npos);
}

TEST_CASE("sgld: steps lower the energy; joint sampling draws chains of the batch's classes") {
  DataInfo info = test::toy_info(4);
  torch::manual_seed(2);
  auto model = test::make_model("plugin = \"mlp\"\nhidden = [16]", "plugin = \"none\"", info);
  model->eval();
  Context ctx(model, info);
  ctx.batch_ = {torch::rand({64, 2}), torch::arange(64, torch::kInt64) % 4};
  auto e = [&](const at::Tensor& x) {
    torch::NoGradGuard ng;
    return energy(model->forward(x)).mean().item<double>();
  };
  auto sgld = test::make_plugin<Sampler>(Kind::sampler, "plugin = \"sgld\"\nbuffer_size = 0\nsteps = 10\nstep_size = 0.01\nnoise = 0.0", info);
  torch::manual_seed(4);
  at::Tensor start = torch::rand({64, 2});  // what the uniform init draws under this seed
  torch::manual_seed(4);
  at::Tensor x = sgld->sample(ctx);
  CHECK(e(x) < e(start));

  auto joint = test::make_plugin<Sampler>(
      Kind::sampler, "plugin = \"sgld\"\nbuffer_size = 40\nsteps = 0\nreinit_freq = 0.0\nobjective = \"joint_energy\"", info);
  auto buf = torch::arange(40, torch::kFloat32).view({40, 1}).repeat({1, 2});  // chain i holds the value i
  joint->load_state({{"buffer", buf}});
  at::Tensor drawn = joint->sample(ctx);
  auto chain = drawn.select(1, 0).to(torch::kInt64);
  CHECK(torch::equal(chain % 4, ctx.batch_.y));  // chain i belongs to class i mod 4
  CHECK(test::error_of<ConfigError>([&] {
          test::make_plugin<Sampler>(Kind::sampler, "plugin = \"sgld\"\nproximal = true", info);
        }).find("set grad_clamp") != std::string::npos);
}

TEST_CASE("langevin_guided: adaptive stopping ends chains whose energy reaches the class mean") {
  Setup s;
  s.model->eval();
  auto never = test::make_plugin<Sampler>(Kind::sampler, "plugin = \"langevin_guided\"\nsteps = 4\nstop_threshold = 0\nstats_images = 40", s.info);
  never->sample(*s.ctx);
  CHECK(s.ctx->logged.at("mean_steps") == 4.0);
  CHECK(s.ctx->logged.at("stopped_fraction") == 0.0);
  auto always = test::make_plugin<Sampler>(Kind::sampler, "plugin = \"langevin_guided\"\nsteps = 4\nstop_threshold = 1e9\nstats_images = 40", s.info);
  always->sample(*s.ctx);
  CHECK(s.ctx->logged.at("mean_steps") == 0.0);
  CHECK(s.ctx->logged.at("stopped_fraction") == 1.0);
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
