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

TEST_CASE("pgd curriculum: advances on its epoch rule and on the running AUC") {
  DataInfo info = test::toy_info();
  auto by_epochs = test::make_plugin<Sampler>(
      Kind::sampler, "plugin = \"pgd\"\nsteps = 5\ncurriculum = \"epochs\"\nstart_steps = 1\nstep_increment = 2\nepochs_per_increment = 2", info);
  auto steps_now = [](Sampler& s) { return s.state().at("steps_now").item<std::int64_t>(); };
  CHECK(steps_now(*by_epochs) == 1);
  by_epochs->on_step_end(StepStats{1, 0, "a", 0.0, {}});
  by_epochs->on_step_end(StepStats{2, 1, "a", 0.0, {}});
  CHECK(steps_now(*by_epochs) == 1);
  by_epochs->on_step_end(StepStats{3, 2, "a", 0.0, {}});
  CHECK(steps_now(*by_epochs) == 3);
  by_epochs->on_step_end(StepStats{4, 4, "a", 0.0, {}});
  CHECK(steps_now(*by_epochs) == 5);
  by_epochs->on_step_end(StepStats{5, 6, "a", 0.0, {}});
  CHECK(steps_now(*by_epochs) == 5);  // capped at steps

  auto by_auc = test::make_plugin<Sampler>(
      Kind::sampler, "plugin = \"pgd\"\nsteps = 5\ncurriculum = \"auc\"\nepochs_per_increment = 100\nauc_window = 3\nauc_threshold = 0.8", info);
  auto st = by_auc->state();
  st["auc_window"] = torch::tensor(std::vector<double>{0.7, 0.75, 0.8});
  by_auc->load_state(st);
  by_auc->on_step_end(StepStats{1, 0, "a", 0.0, {}});
  CHECK(steps_now(*by_auc) == 0);  // mean 0.75 <= 0.8
  st = by_auc->state();
  st["auc_window"] = torch::tensor(std::vector<double>{0.85, 0.9, 0.95});
  by_auc->load_state(st);
  by_auc->on_step_end(StepStats{2, 0, "a", 0.0, {}});
  CHECK(steps_now(*by_auc) == 1);
  CHECK(by_auc->state().at("auc_window").numel() == 0);  // the window restarts after an advance
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
