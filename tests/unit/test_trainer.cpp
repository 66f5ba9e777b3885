// The trainer on toy2d: it learns, it is repeatable under a seed, samplers run under
// the mode guard and are memoized per step, and frozen stages keep norm layers in eval.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include "helpers.hpp"
#include "run.hpp"
#include "store/run_files.hpp"
#include "train/components.hpp"
#include "train/trainer.hpp"

using namespace ebm;
using namespace ebm::kernel;

namespace {

const std::string kToy = R"([experiment]
name = "toy"
seed = 3

[data]
dataset = "toy2d"
toy = "moons"
toy_samples = 2000
validation = 200
batch_size = 32

[model]
backbone = { plugin = "mlp", hidden = [32, 32] }

[[stage]]
steps = 300
optimizer = { name = "adam", lr = 0.01 }
losses = [ { plugin = "ce" } ]

[[metric]]
plugin = "accuracy"
)";

using test::Run;

}  // namespace

TEST_CASE("trainer: an MLP learns the two moons and the run is repeatable") {
  Run a(kToy);
  Trainer ta(a.cfg, a.comps, a.data, TrainerSetup{nullptr, &a.progress});
  CHECK(ta.evaluate("test").at("accuracy/accuracy") < 0.8);  // untrained
  CHECK(ta.run() == "completed");
  double acc = ta.evaluate("test").at("accuracy/accuracy");
  CHECK(acc > 0.95);

  Run b(kToy);
  Trainer tb(b.cfg, b.comps, b.data, TrainerSetup{nullptr, &b.progress});
  tb.run();
  CHECK(tb.evaluate("test").at("accuracy/accuracy") == acc);
  auto pa = a.comps.model->parameters(), pb = b.comps.model->parameters();
  for (size_t i = 0; i < pa.size(); ++i) CHECK(torch::equal(pa[i], pb[i]));
}

TEST_CASE("trainer: samplers are memoized per step and run in their declared mode") {
  std::string text = kToy;
  text.replace(text.find("losses = [ { plugin = \"ce\" } ]"), 30,
               "losses = [ { plugin = \"ce\" }, { plugin = \"fixture_loss\", label = \"x\", inner = { tag = \"t\" }, "
               "sampler = \"attack\", scale = 0.01 } ]");
  text.replace(text.find("steps = 300"), 11, "steps = 5");
  text += "\n[samplers.attack]\nplugin = \"fixture_sampler\"\nmodel_mode = \"eval\"\n";
  Run r(text);
  test::TempDir dir;
  auto path = dir.file("log.h5");
  {
    VariantLog log(path, "main", "{}", log_layout(r.comps));
    Trainer t(r.cfg, r.comps, r.data, TrainerSetup{&log, &r.progress});
    CHECK(t.run() == "completed");
    CHECK(r.comps.model->is_training());  // restored after every sampler call
  }
  auto memo = read_series(path, "curves/fixture_loss/memo_same");
  auto mode = read_series(path, "curves/attack/model_training");
  REQUIRE(memo.size() == 5);
  REQUIRE(mode.size() == 5);  // once per step: the second call hit the memo
  for (auto& rec : memo) CHECK(rec.value == 1.0);
  for (auto& rec : mode) CHECK(rec.value == 0.0);  // eval while sampling, train otherwise
  CHECK(read_series(path, "curves/train/loss").size() == 5);
  CHECK(read_series(path, "eval/test/accuracy/accuracy").size() == 1);
}

TEST_CASE("trainer: a frozen stage keeps BatchNorm statistics fixed") {
  std::string text = kToy;
  text.replace(text.find("hidden = [32, 32] }"), 19, "hidden = [32, 32] }\nnorm = { plugin = \"batch\" }");
  text.replace(text.find("steps = 300"), 11, "steps = 20");
  text += "\n[[stage]]\nname = \"frozen\"\nsteps = 20\nnorm_mode = \"frozen\"\nlosses = [ { plugin = \"ce\" } ]\n";
  Run r(text);
  Trainer t(r.cfg, r.comps, r.data, TrainerSetup{nullptr, &r.progress});
  t.begin_stage(0);
  auto perm = torch::arange(32);
  Batch batch{r.data.train.x.index_select(0, perm), r.data.train.y.index_select(0, perm)};
  auto running_mean = [&] { return r.comps.model->named_buffers()["backbone.norm0.bn.running_mean"].clone(); };
  auto before = running_mean();
  t.step(batch);
  CHECK_FALSE(torch::equal(before, running_mean()));  // stage 0: statistics update
  t.begin_stage(1);
  before = running_mean();
  t.step(batch);
  t.step(batch);
  CHECK(torch::equal(before, running_mean()));  // stage 1: frozen
}

TEST_CASE("trainer: the step context reports the epoch within the stage") {
  std::string text = kToy;
  text.replace(text.find("losses = [ { plugin = \"ce\" } ]"), 30,
               "losses = [ { plugin = \"fixture_loss\", label = \"x\", inner = { tag = \"t\" }, scale = 0.01 } ]");
  text.replace(text.find("steps = 300"), 11, "steps = 60");
  Run r(text);  // 1800 training points / batch 32 = 56 steps per epoch
  test::TempDir dir;
  auto path = dir.file("log.h5");
  {
    VariantLog log(path, "main", "{}", log_layout(r.comps));
    Trainer t(r.cfg, r.comps, r.data, TrainerSetup{&log, &r.progress});
    CHECK(t.run() == "completed");
  }
  auto epochs = read_series(path, "curves/fixture_loss/epoch");
  REQUIRE(epochs.size() == 60);
  CHECK(epochs[55].value == 0.0);
  CHECK(epochs[56].value == 1.0);
  CHECK(epochs[59].value == 1.0);
}
