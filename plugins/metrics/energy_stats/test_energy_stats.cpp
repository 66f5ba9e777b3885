// The energy_stats plugin's own tests (registered by this folder's CMakeLists.txt; the
// conformance suites in tests/unit cover the contracts every plugin shares).
#include <cmath>

#include <doctest/doctest.h>
#include <torch/torch.h>

#include "fixtures.hpp"

using namespace ebm;
using namespace ebm::test;

TEST_CASE("energy_stats: data and sample energies against hand values, max_images") {
  DataInfo info = toy_info(2);
  at::Tensor W = torch::tensor({{1.0, -2.0}, {0.5, 0.25}}), bias = torch::tensor({0.1, -0.2});
  auto model = linear_model(info, W, bias);
  Context ctx(model, info);
  // Samples: logits = W ((s - 0.5) / 0.25) + b, by hand.
  ctx.memo["s"] = torch::tensor({{0.5, 0.5}, {0.75, 0.25}});
  //   (0.5, 0.5):  z = (0, 0),  logits (0.1, -0.2)
  //   (0.75, 0.25): z = (1, -1), logits (1 + 2 + 0.1, 0.5 - 0.25 - 0.2) = (3.1, 0.05)
  auto lse = [](double a, double b) { return std::log(std::exp(a) + std::exp(b)); };
  std::vector<double> sample_e = {-lse(0.1, -0.2), -lse(3.1, 0.05)};

  // Data: logits given directly (x unused without a sampler or attack):
  //   (0, 0) y 0: E = -log 2,  E(x,y) = 0;     (log 3, 0) y 1: E = -log 4,  E(x,y) = 0
  //   (1, 2) y 1: E = -log(e + e^2), E(x,y) = -2;  (-1, 0.5) y 0: E = -lse(-1, 0.5), E(x,y) = 1
  at::Tensor logits = torch::tensor({{0.0, 0.0}, {std::log(3.0), 0.0}, {1.0, 2.0}, {-1.0, 0.5}});
  at::Tensor y = torch::tensor({0, 1, 1, 0}, torch::kInt64);
  std::vector<double> e = {-std::log(2.0), -std::log(4.0), -lse(1, 2), -lse(-1, 0.5)}, ej = {0, 0, -2, 1};

  auto m = metric("plugin = \"energy_stats\"\nsampler = \"s\"", info);
  std::vector<std::string> names;
  for (auto& o : m->outputs()) names.push_back(o.name);
  CHECK(std::count(names.begin(), names.end(), "samples/energy_mean") == 1);
  CHECK(std::none_of(names.begin(), names.end(), [](auto& n) { return n.rfind("adv/", 0) == 0; }));
  m->reset();
  m->update({torch::zeros({2, 2}), y.slice(0, 0, 2), logits.slice(0, 0, 2)}, ctx);
  m->update({torch::zeros({2, 2}), y.slice(0, 2, 4), logits.slice(0, 2, 4)}, ctx);
  auto r = m->result();
  auto mean = [](const std::vector<double>& v) {
    return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  };
  CHECK(r.at("n") == 4);
  CHECK(r.at("data/energy_mean") == doctest::Approx(mean(e)));
  CHECK(r.at("data/energy_std") == doctest::Approx(stdev(e)));
  CHECK(r.at("data/joint_energy_mean") == doctest::Approx(mean(ej)));
  CHECK(r.at("data/joint_energy_std") == doctest::Approx(stdev(ej)));
  // The sampler ran once per batch, both times on the same memoized samples.
  std::vector<double> se = {sample_e[0], sample_e[1], sample_e[0], sample_e[1]};
  CHECK(r.at("samples/energy_mean") == doctest::Approx(mean(se)));
  CHECK(r.at("samples/energy_std") == doctest::Approx(stdev(se)));
  CHECK(!r.count("adv/delta_energy_mean"));

  auto capped = metric("plugin = \"energy_stats\"\nmax_images = 3", info);
  capped->reset();
  capped->update({torch::zeros({2, 2}), y.slice(0, 0, 2), logits.slice(0, 0, 2)}, ctx);
  capped->update({torch::zeros({2, 2}), y.slice(0, 2, 4), logits.slice(0, 2, 4)}, ctx);
  r = capped->result();
  CHECK(r.at("n") == 3);
  CHECK(r.at("data/energy_mean") == doctest::Approx(mean({e[0], e[1], e[2]})));
  CHECK(r.count("samples/energy_mean") == 0);
}

TEST_CASE("energy_stats: delta energies of the PGD-CE attack") {
  DataInfo info = toy_info(3);
  at::Tensor W = torch::tensor({{1.0, -2.0}, {0.5, 0.25}, {-1.0, 1.5}}), bias = torch::tensor({0.1, -0.2, 0.3});
  auto model = linear_model(info, W, bias);
  Context ctx(model, info);
  torch::manual_seed(4);
  at::Tensor x = torch::rand({32, 2}) * 0.6 + 0.2, y = torch::randint(0, 3, {32}, torch::kInt64);
  auto run = [&](const std::string& body) {
    auto m = metric(body, info);
    model->train();
    m->reset();
    m->update(eval_batch(x, y, *model), ctx);
    CHECK(model->is_training());
    for (auto& p : model->parameters()) CHECK(!p.grad().defined());
    return m->result();
  };

  // Zero steps: x_adv = x, every delta is exactly 0.
  auto r = run("plugin = \"energy_stats\"\nadv_eps = 0.1\nadv_steps = 0");
  CHECK(r.at("adv/delta_energy_mean") == 0.0);
  CHECK(r.at("adv/delta_energy_std") == 0.0);
  CHECK(r.at("adv/delta_joint_energy_mean") == 0.0);

  // One L-inf step of length eps is x + eps sign(grad_x CE), clamped: recomputed here.
  const double eps = 0.05;
  r = run("plugin = \"energy_stats\"\nadv_eps = 0.05\nadv_steps = 1\nadv_alpha = 0.05");
  at::Tensor xg = x.clone().requires_grad_(true);
  auto logits = [&](const at::Tensor& v) { return ((v - 0.5) / 0.25).mm(W.t()) + bias; };
  torch::nn::functional::cross_entropy(logits(xg), y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
      .backward();
  at::Tensor adv = (x + eps * xg.grad().sign()).clamp(0, 1);
  {
    torch::NoGradGuard ng;
    auto la = logits(adv), l0 = logits(x);
    CHECK(r.at("adv/delta_energy_mean") == doctest::Approx((energy(la) - energy(l0)).mean().item<double>()).epsilon(1e-4));
    CHECK(r.at("adv/delta_joint_energy_mean") ==
          doctest::Approx((joint_energy(la, y) - joint_energy(l0, y)).mean().item<double>()).epsilon(1e-4));
  }

  // Ascending the cross-entropy lowers f(x)[y]: the joint energy rises on average.
  for (const char* norm : {"linf", "l2"}) {
    CAPTURE(norm);
    r = run(std::string("plugin = \"energy_stats\"\nadv_eps = 0.1\nadv_norm = \"") + norm + "\"");
    CHECK(r.at("adv/delta_joint_energy_mean") > 0.05);
    CHECK(std::isfinite(r.at("adv/delta_energy_mean")));
    CHECK(r.at("adv/delta_joint_energy_std") > 0);
  }
  // adv_eps = 0 switches the attack off: no adv outputs declared or returned.
  auto off = metric("plugin = \"energy_stats\"", info);
  for (auto& o : off->outputs()) CHECK(o.name.rfind("adv/", 0) != 0);
  r = run("plugin = \"energy_stats\"");
  CHECK(!r.count("adv/delta_energy_mean"));
}
