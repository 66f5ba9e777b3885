// Learning tests on toy2d: a JEM run (SGLD + replay buffer) and an AT-EBM run (BCE on PGD
// samples + R1) each learn the 2-D density: their samples end much closer to the data
// (MMD, RBF kernel) than the uniform noise they started from. Fixed seeds, seconds each.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include "context.hpp"
#include "run.hpp"
#include "train/components.hpp"
#include "train/trainer.hpp"

using namespace ebm;
using namespace ebm::kernel;

namespace {

/// Biased MMD^2 with an RBF kernel of bandwidth `h` (points in [0,1]^2).
double mmd(const at::Tensor& a, const at::Tensor& b, double h = 0.1) {
  auto k = [h](const at::Tensor& x, const at::Tensor& y) { return torch::exp(-torch::cdist(x, y).pow(2) / (2 * h * h)).mean(); };
  return (k(a, a) + k(b, b) - 2 * k(a, b)).item<double>();
}

const std::string kBase = R"([experiment]
name = "learn"
seed = 4

[data]
dataset = "toy2d"
toy = "gaussians8"
toy_noise = 0.1
toy_samples = 2000
validation = 200
batch_size = 64

[model]
backbone = { plugin = "mlp", hidden = [64, 64], activation = "silu" }
)";

using test::Run;

}  // namespace

TEST_CASE("learning: JEM (ce + jem_ml on persistent SGLD) moves its samples onto the toy density") {
  Run r(kBase + R"(
[samplers.sgld]
plugin = "sgld"
buffer_size = 1000
steps = 20
step_size = 0.002
noise = 0.005
clamp = true

[[stage]]
steps = 600
optimizer = { name = "adam", lr = 0.001 }
losses = [ { plugin = "ce" }, { plugin = "jem_ml", sampler = "sgld", energy_l2 = 0.01 } ]
)");
  Trainer t(r.cfg, r.comps, r.data, TrainerSetup{nullptr, &r.progress});
  REQUIRE(t.run() == "completed");
  auto buffer = r.comps.samplers.at("sgld")->state().at("buffer");
  auto data = r.data.test.x.slice(0, 0, 500);
  double learned = mmd(buffer.slice(0, 0, 500), data), noise = mmd(torch::rand({500, 2}), data);
  MESSAGE("JEM MMD " << learned << " vs noise " << noise);
  CHECK(learned < 0.3 * noise);
}

TEST_CASE("learning: AT-EBM (bce_ebm on PGD samples from noise + r1) learns the toy density") {
  Run r(kBase + R"(
[samplers.contrastive]
plugin = "pgd"
norm = "l2_unbounded"
objective = "energy"
init = "uniform"
step_size = 0.02
steps = 15

[[stage]]
steps = 600
optimizer = { name = "adam", lr = 0.001 }
losses = [ { plugin = "ce" }, { plugin = "bce_ebm", sampler = "contrastive" }, { plugin = "r1", weight = 0.05 } ]
)");
  Trainer t(r.cfg, r.comps, r.data, TrainerSetup{nullptr, &r.progress});
  REQUIRE(t.run() == "completed");
  test::Context ctx(r.comps.model, r.data.info);
  ctx.batch_ = {r.data.test.x.slice(0, 0, 500), r.data.test.y.slice(0, 0, 500)};
  ctx.samplers["contrastive"] = r.comps.samplers.at("contrastive");
  torch::manual_seed(9);
  auto samples = ctx.samples("contrastive");
  double learned = mmd(samples, ctx.batch_.x), noise = mmd(torch::rand({500, 2}), ctx.batch_.x);
  MESSAGE("AT-EBM MMD " << learned << " vs noise " << noise);
  CHECK(learned < 0.3 * noise);
}
