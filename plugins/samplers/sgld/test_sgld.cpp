// The sgld plugin's own tests (registered by this folder's CMakeLists.txt; the
// conformance suites in tests/unit cover the contracts every plugin shares).
#include <cmath>

#include <doctest/doctest.h>
#include <torch/torch.h>

#include "fixtures.hpp"

using namespace ebm;
using namespace ebm::test;

TEST_CASE("sgld: the replay buffer re-initializes the configured fraction and keeps the rest") {
  DataInfo info = toy_info();
  torch::manual_seed(2);
  auto model = make_model("plugin = \"mlp\"\nhidden = [8]", "plugin = \"none\"", info);
  Context ctx(model, info);
  ctx.batch_ = {torch::rand({2000, 2}), torch::zeros({2000}, torch::kInt64)};
  auto sgld = make_plugin<Sampler>(Kind::sampler, "plugin = \"sgld\"\nbuffer_size = 100\nsteps = 0\nreinit_freq = 0.3", info);
  sgld->load_state({{"buffer", torch::full({100, 2}, 7.0)}});  // outside the init range [0,1]
  at::Tensor x = sgld->sample(ctx);
  double fresh = x.select(1, 0).ne(7.0).to(torch::kFloat64).mean().item<double>();
  CHECK(fresh == doctest::Approx(0.3).epsilon(0.15));
  CHECK(ctx.logged.at("reinit_fraction") == doctest::Approx(fresh));
  CHECK(x.select(1, 0).ne(7.0).eq(x.select(1, 0).le(1.0)).all().item<bool>());  // fresh chains start in [0,1]
  // Written back: the buffer now holds the fresh chains where they were drawn.
  auto buf = sgld->state().at("buffer");
  CHECK(buf.ne(7.0).any().item<bool>());
  CHECK(error_of<RunError>([&] {
          sgld->load_state({{"buffer", torch::zeros({5, 2})}});
        }).find("expected [100, 2]") != std::string::npos);
}

TEST_CASE("sgld: steps lower the energy; joint sampling draws chains of the batch's classes") {
  DataInfo info = toy_info(4);
  torch::manual_seed(2);
  auto model = make_model("plugin = \"mlp\"\nhidden = [16]", "plugin = \"none\"", info);
  model->eval();
  Context ctx(model, info);
  ctx.batch_ = {torch::rand({64, 2}), torch::arange(64, torch::kInt64) % 4};
  auto e = [&](const at::Tensor& x) {
    torch::NoGradGuard ng;
    return energy(model->forward(x)).mean().item<double>();
  };
  auto sgld =
      make_plugin<Sampler>(Kind::sampler, "plugin = \"sgld\"\nbuffer_size = 0\nsteps = 10\nstep_size = 0.01\nnoise = 0.0", info);
  torch::manual_seed(4);
  at::Tensor start = torch::rand({64, 2});  // what the uniform init draws under this seed
  torch::manual_seed(4);
  at::Tensor x = sgld->sample(ctx);
  CHECK(e(x) < e(start));

  auto joint = make_plugin<Sampler>(
      Kind::sampler, "plugin = \"sgld\"\nbuffer_size = 40\nsteps = 0\nreinit_freq = 0.0\nobjective = \"joint_energy\"", info);
  auto buf = torch::arange(40, torch::kFloat32).view({40, 1}).repeat({1, 2});  // chain i holds the value i
  joint->load_state({{"buffer", buf}});
  at::Tensor drawn = joint->sample(ctx);
  auto chain = drawn.select(1, 0).to(torch::kInt64);
  CHECK(torch::equal(chain % 4, ctx.batch_.y));  // chain i belongs to class i mod 4
  CHECK(error_of<ConfigError>([&] {
          make_plugin<Sampler>(Kind::sampler, "plugin = \"sgld\"\nproximal = true", info);
        }).find("set grad_clamp") != std::string::npos);
}
