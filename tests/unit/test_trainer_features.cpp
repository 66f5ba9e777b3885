// Trainer features the methods need: extra data streams with augmentation and noise,
// weight averaging (EMA) and the divergence guard on energies.
#include <algorithm>
#include <chrono>
#include <set>

#include <doctest/doctest.h>
#include <torch/torch.h>

#include "data/augment.hpp"
#include "helpers.hpp"
#include "run.hpp"
#include "train/components.hpp"
#include "train/optimization.hpp"
#include "train/services.hpp"
#include "train/step_context.hpp"
#include "train/torch_compat.hpp"
#include "train/trainer.hpp"

using namespace ebm;
using namespace ebm::kernel;

namespace {

const std::string kHead = R"([experiment]
name = "features"
seed = 1

[model]
backbone = { plugin = "mlp", hidden = [16] }
)";

const std::string kToyData = R"(
[data]
dataset = "toy2d"
toy_samples = 400
validation = 40
batch_size = 32

[data.streams.ebm]
batch_size = 16

[data.streams.noisy]
noise = 0.5
)";

using test::Run;

bool is_training_row(const at::Tensor& row, const at::Tensor& train) { return train.eq(row).all(1).any().item<bool>(); }

}  // namespace

TEST_CASE("streams: own batch size and order, rows from the training split, noise added, unknown names refused") {
  Run r(kHead + kToyData + "\n[[stage]]\nsteps = 1\nlosses = [ { plugin = \"ce\", stream = \"ebm\" } ]\n");
  Trainer t(r.cfg, r.comps, r.data, TrainerSetup{nullptr, &r.progress});
  t.begin_stage(0);
  Batch a = t.draw("ebm"), b = t.draw("ebm");
  CHECK(a.x.size(0) == 16);
  CHECK(!torch::equal(a.x, b.x));
  for (int i = 0; i < 16; ++i) CHECK(is_training_row(a.x[i], r.data.train.x));
  Batch n = t.draw("noisy");
  CHECK(n.x.size(0) == 32);  // [data] batch_size
  CHECK(!is_training_row(n.x[0], r.data.train.x));
  CHECK(test::error_of<RunError>([&] { t.draw("aux"); }).find("declared: train, ebm, noisy") != std::string::npos);
  // A loss reading stream "ebm" trains on it.
  CHECK(std::isfinite(t.step(Batch{r.data.train.x.slice(0, 0, 32), r.data.train.y.slice(0, 0, 32)})));
}

TEST_CASE("streams: a stream can draw from another data set (auxiliary seeds)") {
  Run r(kHead + kToyData + R"(
[data.streams.aux]
batch_size = 8
source = { dataset = "toy2d", toy = "rings", toy_samples = 100, validation = 0 }

[[stage]]
steps = 1
losses = [ { plugin = "ce" } ]
)");
  REQUIRE(r.data.sources.count("aux") == 1);
  CHECK(r.data.sources.at("aux").size() == 100);
  Trainer t(r.cfg, r.comps, r.data, TrainerSetup{nullptr, &r.progress});
  Batch b = t.draw("aux");
  CHECK(b.x.size(0) == 8);
  for (int i = 0; i < 8; ++i) {
    CHECK(is_training_row(b.x[i], r.data.sources.at("aux").x));
    CHECK(!is_training_row(b.x[i], r.data.train.x));
  }
  auto msg = test::error_of<SchemaError>([&] {
    Run bad(kHead + kToyData +
            "\n[data.streams.aux]\nsource = { toy = \"rings\" }\n\n[[stage]]\nsteps = 1\nlosses = [ { plugin = \"ce\" } ]\n");
  });
  CHECK(msg.find("missing required key 'data.streams.aux.source.dataset'") != std::string::npos);
}

TEST_CASE("streams: a reserved or misspelled stream key is a schema error with its location") {
  auto msg = test::error_of<SchemaError>([&] {
    Run r(kHead + kToyData +
          "\n[data.streams.train]\nbatch_size = 3\n\n[data.streams.x]\naugmnt = \"none\"\n\n[[stage]]\nsteps = 1\nlosses = [ { "
          "plugin = \"ce\" } ]\n");
  });
  CHECK(msg.find("'data.streams.train': 'train' is reserved") != std::string::npos);
  CHECK(msg.find("augmnt") != std::string::npos);
  CHECK(msg.find("did you mean 'augment'") != std::string::npos);
}

TEST_CASE("augment: crop shifts content inside the padding, flip mirrors, strong stays in range; toy data refuses") {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  auto x = torch::zeros({64, 1, 8, 8});
  x.select(2, 4).select(2, 4).fill_(1.0);  // one bright pixel at (4,4)
  auto c = augment(x, "crop", 2, 0.0, 1.0, gen);
  CHECK(c.sizes() == x.sizes());
  auto pos = c.reshape({64, -1}).argmax(1);
  auto rows = pos.div(8, "floor"), cols = pos.remainder(8);
  CHECK(rows.ge(2).all().item<bool>());
  CHECK(rows.le(6).all().item<bool>());
  CHECK(rows.ne(4).any().item<bool>());   // some shift happened
  CHECK(c.sum().item<double>() == 64.0);  // a shift of at most the padding never loses the pixel
  auto f = augment(x, "flip_crop", 0, 0.0, 1.0, gen);
  auto fcols = f.reshape({64, -1}).argmax(1).remainder(8);
  CHECK((fcols.eq(4) | fcols.eq(3)).all().item<bool>());
  CHECK(fcols.eq(3).any().item<bool>());
  CHECK(fcols.eq(4).any().item<bool>());
  auto s = augment(torch::rand({16, 3, 8, 8}), "strong", 2, 0.0, 1.0, gen);
  CHECK(s.min().item<double>() >= 0.0);
  CHECK(s.max().item<double>() <= 1.0);
  CHECK(torch::equal(augment(x, "none", 2, 0.0, 1.0, gen), x));
  CHECK(test::error_of<DataError>([&] {
          augment(torch::rand({4, 2}), "flip_crop", 2, 0.0, 1.0, gen);
        }).find("augment = \"none\"") != std::string::npos);
}

namespace {

/// Ten steps with ema = 0.99; the average must be w_ema = d w_ema + (1 - d) w after each.
/// By default d warms up as DAT's AveragedModel, min(0.99, (1 + n) / (10 + n)) after n
/// updates; ema_warmup = false keeps d = 0.99 from the first update.
void check_average(bool warmup) {
  Run r(kHead + kToyData + "\n[[stage]]\nsteps = 10\nema = 0.99\nema_warmup = " + (warmup ? "true" : "false") +
        "\neval_weights = \"ema\"\noptimizer = { lr = 0.2 }\nlosses = [ { plugin = \"ce\" } "
        "]\n\n[[metric]]\nplugin = \"accuracy\"\n");
  Trainer t(r.cfg, r.comps, r.data, TrainerSetup{nullptr, &r.progress});
  t.begin_stage(0);
  auto first = [&] { return r.comps.model->parameters().front().detach().clone(); };
  std::vector<at::Tensor> w;
  at::Tensor expected;
  for (int i = 0; i < 10; ++i) {
    t.step(r.data.train.rows(32 * i, 32 * (i + 1)));
    w.push_back(first());
    const double d = warmup ? std::min(0.99, (1.0 + i) / (10.0 + i)) : 0.99;
    expected = i == 0 ? w[0] : d * expected + (1 - d) * w[i];  // the average starts at the first step's weights
  }
  auto accuracy_now = [&] {
    torch::NoGradGuard ng;
    r.comps.model->eval();
    auto acc = r.comps.model->forward(r.data.val.x).argmax(1).eq(r.data.val.y).to(torch::kFloat64).mean().item<double>();
    r.comps.model->train();
    return acc;
  };
  const double raw = accuracy_now();
  auto with_ema = t.evaluate("val");  // swaps the average in and back out
  CHECK(torch::equal(first(), w.back()));
  REQUIRE(t.load_ema_into_model());
  CHECK(torch::allclose(first(), expected, 1e-6, 1e-7));
  // evaluate() reported the averaged model: the same numbers as the average loaded for good.
  const double averaged = accuracy_now();
  // With the warm-up, the average after ten steps is close to the last weights and the metric
  // cannot tell the two apart; evaluate()'s use of the average is checked without it.
  if (warmup) return;
  REQUIRE(raw != averaged);  // the two weight sets must be told apart by the metric
  CHECK(with_ema.at("accuracy/accuracy") == doctest::Approx(averaged));
}

}  // namespace

TEST_CASE("ema: the average warms up as DAT's (decay min(d, (1+n)/(10+n))), and evaluation can use it") { check_average(true); }

TEST_CASE("ema: with ema_warmup = false the average is w_ema = d w_ema + (1 - d) w from the first step") { check_average(false); }

TEST_CASE("ema: eval_weights = \"ema\" without an average is a schema error") {
  auto msg = test::error_of<SchemaError>(
      [&] { Run r(kHead + kToyData + "\n[[stage]]\nsteps = 3\neval_weights = \"ema\"\nlosses = [ { plugin = \"ce\" } ]\n"); });
  CHECK(msg.find("'stage.0.ema'") != std::string::npos);
}

TEST_CASE("divergence guard: an energy beyond energy_bound ends the variant with the term, step and last values") {
  Run r(kHead + kToyData + R"(
[samplers.noise]
plugin = "sgld"
buffer_size = 0
steps = 1

[[stage]]
name = "jem"
steps = 50
energy_bound = 1e-9
losses = [ { plugin = "ce" }, { plugin = "jem_ml", sampler = "noise" } ]
)");
  Trainer t(r.cfg, r.comps, r.data, TrainerSetup{nullptr, &r.progress});
  CHECK(t.run() == "diverged");
  CHECK(t.detail().find("jem_ml/e_") != std::string::npos);
  CHECK(t.detail().find("exceeds energy_bound") != std::string::npos);
  CHECK(t.detail().find("at step 1 (stage jem)") != std::string::npos);
}

TEST_CASE("divergence guard: a loss beyond loss_bound stops before the update reaches the weights") {
  Run r(kHead + kToyData + "\n[[stage]]\nname = \"s\"\nsteps = 20\nloss_bound = 1e-6\nlosses = [ { plugin = \"ce\" } ]\n");
  Trainer t(r.cfg, r.comps, r.data, TrainerSetup{nullptr, &r.progress});
  auto before = r.comps.model->parameters().front().detach().clone();
  CHECK(t.run() == "diverged");
  CHECK(t.detail().find("exceeds loss_bound") != std::string::npos);
  CHECK(torch::equal(before, r.comps.model->parameters().front()));
}

TEST_CASE("streams: a loss and the sampler it references must read the same stream") {
  auto msg = test::error_of<SchemaError>([&] {
    Run r(kHead + kToyData + R"(
[samplers.attack]
plugin = "pgd"
stream = "ebm"

[[stage]]
steps = 1
losses = [ { plugin = "at_ce", attack = "attack" } ]
)");
  });
  CHECK(msg.find("test.toml:") != std::string::npos);
  CHECK(msg.find("'stage.0.losses.0': reads stream 'train' but its attack 'attack' samples from stream 'ebm'") !=
        std::string::npos);
}

TEST_CASE("streams: a stream reference to an undeclared stream is a located error listing the streams") {
  auto msg = test::error_of<SchemaError>(
      [&] { Run r(kHead + kToyData + "\n[[stage]]\nsteps = 1\nlosses = [ { plugin = \"ce\", stream = \"ebn\" } ]\n"); });
  CHECK(msg.find("test.toml:") != std::string::npos);
  CHECK(msg.find("'stage.0.losses.0.stream' refers to stream 'ebn', which is not defined: expected one of \"train\", "
                 "[data.streams.ebm], [data.streams.noisy]; did you mean 'ebm'?") != std::string::npos);
}

/// One step of ce + jem_ml on a one-step SGLD sampler named "noise".
const std::string kJemOneStep = kHead + kToyData + R"(
[samplers.noise]
plugin = "sgld"
buffer_size = 0
steps = 1

[[stage]]
steps = 1
losses = [ { plugin = "ce" }, { plugin = "jem_ml", sampler = "noise" } ]
)";

TEST_CASE("roles: the divergence guard holds exactly the outputs declared as energies to energy_bound") {
  Run r(kJemOneStep);
  const std::set<std::string> want = {"jem_ml/e_data", "jem_ml/e_data_std", "jem_ml/e_sample", "jem_ml/e_sample_std",
                                      "noise/e_sample"};
  CHECK(r.comps.energy_terms == want);
}

TEST_CASE("step context: each component logs under its own name; a term that is not 0-d names the component") {
  Run r(kJemOneStep);
  NoServices none;
  StepState state(
      r.comps, r.data, nullptr, std::chrono::steady_clock::now(), [&](const std::string&) { return r.data.train.rows(0, 8); },
      none);
  state.begin(r.data.train.rows(0, 8), 0, 0);
  ComponentContext loss = state.context("jem_ml");
  loss.samples("noise");  // the sampler logs through its own context
  loss.log("ml", torch::tensor(2.5, torch::kFloat32));
  loss.log("e_data", 1.0);
  state.flush();
  CHECK(state.terms().at("jem_ml/ml") == 2.5);
  CHECK(state.terms().at("jem_ml/e_data") == 1.0);
  CHECK(state.terms().count("noise/e_sample") == 1);
  CHECK(state.terms().count("jem_ml/e_sample") == 0);
  auto msg = test::error_of<RunError>([&] { loss.log("ml", torch::ones({2})); });
  CHECK(msg.find("jem_ml: logged term 'ml' as a tensor of shape [2]; expected a scalar (0-d) tensor") != std::string::npos);
}

TEST_CASE("schedule: multistep multiplies the rate by gamma once at each milestone, after the warm-up") {
  Run r(kHead + kToyData +
        "\n[[stage]]\nname = \"s\"\nsteps = 16\noptimizer = { name = \"sgd\", lr = 0.2 }\n"
        "schedule = { name = \"multistep\", warmup_steps = 4, milestones = [6, 11], gamma = 0.5 }\n"
        "losses = [ { plugin = \"ce\" } ]\n");
  const StageSpec& st = r.cfg.stages.at(0);
  REQUIRE(st.schedule.milestones == std::vector<std::int64_t>{6, 11});
  for (std::int64_t s = 0; s < 16; ++s) {
    CAPTURE(s);
    const double want = s < 4 ? 0.2 * static_cast<double>(s + 1) / 4 : s < 6 ? 0.2 : s < 11 ? 0.1 : 0.05;
    CHECK(learning_rate(st.optimizer, st.schedule, s, 16) == doctest::Approx(want).epsilon(1e-15));
  }
  // Without milestones the rate stays at its base (after the warm-up).
  ScheduleSpec none = st.schedule;
  none.milestones.clear();
  CHECK(learning_rate(st.optimizer, none, 12, 16) == 0.2);
}

TEST_CASE("precision: bf16 runs the backbone under autocast and returns float32 logits") {
  const std::string stage =
      "\n[[stage]]\nname = \"s\"\nsteps = 60\noptimizer = { name = \"adam\", lr = 0.01 }\n"
      "losses = [ { plugin = \"ce\" } ]\n";
  Run fp32(kHead + kToyData + stage, 5);
  std::string head = kHead;
  head.replace(head.find("seed = 1\n"), 9, "seed = 1\nprecision = \"bf16\"\n");
  Run bf16(head + kToyData + stage, 5);
  REQUIRE(bf16.cfg.experiment.precision == "bf16");
  REQUIRE(fp32.cfg.experiment.precision == "fp32");
  const at::Tensor x = fp32.data.test.x.slice(0, 0, 64).requires_grad_();
  bf16.comps.model->eval();
  fp32.comps.model->eval();
  const at::Tensor a = fp32.comps.model->forward(x), b = bf16.comps.model->forward(x);
  CHECK((b.scalar_type() == at::kFloat));
  CHECK(!torch::equal(a, b));                                                             // the linear layers ran in bfloat16 ...
  CHECK((a - b).abs().max().item<double>() < 0.05 * (a.abs().max().item<double>() + 1));  // ... close to fp32
  CHECK(!autocast_enabled(c10::DeviceType::CPU));                                         // the guard restored the state
  // Input gradients (the samplers' path) flow through the autocast region in float32.
  const at::Tensor g = torch::autograd::grad({b.logsumexp(1).sum()}, {x})[0];
  CHECK((g.scalar_type() == at::kFloat));
  CHECK(g.abs().sum().item<double>() > 0);
  // Training in bf16 learns the toy problem as fp32 does.
  auto accuracy = [](Run& r) {
    Trainer t(r.cfg, r.comps, r.data, TrainerSetup{nullptr, &r.progress});
    REQUIRE(t.run() == "completed");
    torch::NoGradGuard ng;
    r.comps.model->eval();
    return r.comps.model->forward(r.data.test.x).argmax(1).eq(r.data.test.y).to(at::kDouble).mean().item<double>();
  };
  const double acc32 = accuracy(fp32), acc16 = accuracy(bf16);
  CHECK(acc32 > 0.8);
  CHECK(acc16 > acc32 - 0.05);
}
