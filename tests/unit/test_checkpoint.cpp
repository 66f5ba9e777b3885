// Checkpoints: a trainer restored from a checkpoint file continues bit-exactly (weights,
// Adam state, EMA, replay buffer, curriculum, generators); a stage can start from a
// checkpoint's weights; files that do not fit or claim absurd sizes are clear errors.
#include <fstream>
#include <functional>

#include <doctest/doctest.h>
#include <hdf5.h>
#include <torch/torch.h>

#include "helpers.hpp"
#include "loader/sha256.hpp"
#include "run.hpp"
#include "store/checkpoint.hpp"
#include "train/components.hpp"
#include "train/trainer.hpp"

using namespace ebm;
using namespace ebm::kernel;

namespace {

std::string descriptor(int seed, const std::string& hidden = "[16]", const std::string& stage_extra = "") {
  return R"([experiment]
name = "ckpt"
seed = )" +
         std::to_string(seed) + R"(

[data]
dataset = "toy2d"
toy_samples = 400
validation = 40
batch_size = 32

[data.streams.aux]
noise = 0.1

[model]
backbone = { plugin = "mlp", hidden = )" +
         hidden + R"( }

[samplers.sgld]
plugin = "sgld"
buffer_size = 64
steps = 2
step_size = 0.01

[samplers.contrastive]
plugin = "pgd"
norm = "l2_unbounded"
objective = "energy"
init = "stream"
init_stream = "aux"
steps = 3
curriculum = "epochs"
start_steps = 1

[[stage]]
steps = 100
ema = 0.9
)" + stage_extra +
         R"(
optimizer = { name = "adam", lr = 0.01 }
losses = [ { plugin = "ce" }, { plugin = "jem_ml", sampler = "sgld" }, { plugin = "bce_ebm", sampler = "contrastive" } ]
)";
}

struct Resumable : test::Run {
  std::unique_ptr<Trainer> trainer;
  explicit Resumable(const std::string& text, std::uint64_t init_seed = 0) : test::Run(text, init_seed) {
    trainer = std::make_unique<Trainer>(cfg, comps, data, TrainerSetup{nullptr, &progress});
  }
  Batch batch(int i) const { return data.train.rows(32 * i, 32 * (i + 1)); }
};

}  // namespace

TEST_CASE("checkpoint: a restored trainer continues bit-exactly") {
  test::TempDir dir;
  Resumable a(descriptor(1));
  a.trainer->begin_stage(0);
  for (int i = 0; i < 3; ++i) a.trainer->step(a.batch(i));
  const std::string file = dir.file("ckpt-3.h5");
  const std::string sha = write_checkpoint(file, a.trainer->snapshot());
  CHECK(sha == sha256_file(file));
  CHECK(sha.size() == 64);

  std::vector<double> losses_a;
  for (int i = 3; i < 6; ++i) losses_a.push_back(a.trainer->step(a.batch(i)));

  Resumable b(descriptor(1), 77);  // same descriptor, other initial weights: everything must come from the file
  b.trainer->restore(read_checkpoint(file), file);
  std::vector<double> losses_b;
  for (int i = 3; i < 6; ++i) losses_b.push_back(b.trainer->step(b.batch(i)));
  CHECK(losses_a == losses_b);
  auto pa = a.comps.model->parameters(), pb = b.comps.model->parameters();
  for (std::size_t i = 0; i < pa.size(); ++i) CHECK(torch::equal(pa[i], pb[i]));
  CHECK(torch::equal(a.comps.samplers.at("sgld")->state().at("buffer"), b.comps.samplers.at("sgld")->state().at("buffer")));
  REQUIRE(a.trainer->load_ema_into_model());
  REQUIRE(b.trainer->load_ema_into_model());
  for (std::size_t i = 0; i < pa.size(); ++i) CHECK(torch::equal(pa[i], pb[i]));
}

TEST_CASE("checkpoint: the file holds plain named tensors and its counters") {
  test::TempDir dir;
  Resumable a(descriptor(1));
  a.trainer->begin_stage(0);
  for (int i = 0; i < 2; ++i) a.trainer->step(a.batch(i));
  write_checkpoint(dir.file("c.h5"), a.trainer->snapshot());
  auto d = read_checkpoint(dir.file("c.h5"));
  CHECK(d.step == 2);
  CHECK(d.step_in_stage == 2);
  CHECK(d.optimizer_name == "adam");
  CHECK(d.optimizer.count("0/exp_avg") == 1);
  CHECK(d.optimizer.at("0/step").item<std::int64_t>() == 2);
  CHECK(d.components.at("sgld").at("buffer").sizes() == at::IntArrayRef({64, 2}));
  CHECK(d.components.at("contrastive").count("steps_now") == 1);
  CHECK(d.rng.count("stream_aux") == 1);
  bool found = false;
  for (auto& [name, t] : d.model) found = found || name == "backbone.head.fc.weight";
  CHECK(found);
}

TEST_CASE("checkpoint: a stage starts from a checkpoint's weights exactly") {
  test::TempDir dir;
  Resumable a(descriptor(1));
  a.trainer->begin_stage(0);
  a.trainer->step(a.batch(0));
  write_checkpoint(dir.file("stage1.h5"), a.trainer->snapshot());
  Resumable b(descriptor(5, "[16]", "init = \"" + dir.file("stage1.h5") + "\""));
  b.trainer->begin_stage(0);
  auto pa = a.comps.model->parameters(), pb = b.comps.model->parameters();
  for (std::size_t i = 0; i < pa.size(); ++i) CHECK(torch::equal(pa[i], pb[i]));

  Resumable wrong(descriptor(5, "[8]", "init = \"" + dir.file("stage1.h5") + "\""));
  auto msg = test::error_of<DataError>([&] { wrong.trainer->begin_stage(0); });
  CHECK(msg.find("does not fit this model") != std::string::npos);
  CHECK(msg.find("backbone.fc0.fc.weight: shape [16, 2], the model expects [8, 2]") != std::string::npos);
  Resumable missing(descriptor(5, "[16]", "init = \"" + dir.file("nope.h5") + "\""));
  CHECK(test::error_of<DataError>([&] { missing.trainer->begin_stage(0); }).find("nope.h5: no such checkpoint file") !=
        std::string::npos);
}

TEST_CASE("checkpoint: a dataset claiming an absurd size is refused before allocation") {
  test::TempDir dir;
  Resumable a(descriptor(1));
  a.trainer->begin_stage(0);
  write_checkpoint(dir.file("c.h5"), a.trainer->snapshot());
  hid_t f = H5Fopen(dir.file("c.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  hsize_t dims[2] = {hsize_t(1) << 20, hsize_t(1) << 20};
  hid_t space = H5Screate_simple(2, dims, nullptr);
  hid_t ds = H5Dcreate2(f, "model/huge", H5T_NATIVE_FLOAT, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dclose(ds);
  H5Sclose(space);
  H5Fclose(f);
  auto msg = test::error_of<DataError>([&] { read_checkpoint(dir.file("c.h5")); });
  CHECK(msg.find("'model/huge' claims more than 2^31 elements") != std::string::npos);
  std::ofstream(dir.file("junk.h5")) << "not hdf5";
  CHECK(test::error_of<DataError>([&] { read_checkpoint(dir.file("junk.h5")); }).find("not an HDF5 file") != std::string::npos);
}

TEST_CASE("checkpoint: contents that do not fit the variant are errors naming the file, never a crash") {
  test::TempDir dir;
  Resumable a(descriptor(1));
  a.trainer->begin_stage(0);
  for (int i = 0; i < 2; ++i) a.trainer->step(a.batch(i));
  const CheckpointData good = a.trainer->snapshot();
  const std::string file = dir.file("c.h5");
  // Each edit is written as a well-formed checkpoint, read back, and restored into a fresh trainer.
  auto restore_error = [&](const std::function<void(CheckpointData&)>& edit) {
    CheckpointData d = good;
    edit(d);
    write_checkpoint(file, d);
    Resumable b(descriptor(1));
    return test::error_of<DataError>([&] { b.trainer->restore(read_checkpoint(file), file); });
  };
  auto has = [&](const std::string& msg, const std::string& part) {
    INFO(msg);
    CHECK(msg.find(file) != std::string::npos);
    CHECK(msg.find(part) != std::string::npos);
  };
  has(restore_error([](CheckpointData& d) { d.ema.pop_back(); }), "the weight average (ema/) holds");
  has(restore_error([](CheckpointData& d) { d.ema[0] = torch::zeros({3}); }), "ema/0 is Float [3] but the model's tensor 0 is");
  has(restore_error([](CheckpointData& d) { d.ema[1] = d.ema[1].to(torch::kInt); }), "ema/1 is Int");
  has(restore_error([](CheckpointData& d) { d.step_in_stage = -5; }), "step counters out of range");
  has(restore_error([](CheckpointData& d) { d.step_in_stage = 1000; }), "step counters out of range");
  has(restore_error([](CheckpointData& d) { d.counters.begin()->second = -1; }), "expected a count >= 0");
  has(restore_error([](CheckpointData& d) { d.rng["torch"] = torch::zeros({3}, torch::kByte); }),
      "rng/torch is not a generator state");
  has(restore_error([](CheckpointData& d) { d.optimizer["0/step"] = torch::ones({2}); }), "optimizer/0/step must be one count");
  has(restore_error([](CheckpointData& d) { d.optimizer["0/exp_avg"] = d.optimizer["0/exp_avg"].to(torch::kLong); }),
      "optimizer/0/exp_avg is Long");
  has(restore_error([](CheckpointData& d) { d.components["sgld"]["buffer"] = torch::zeros({2, 7}); }), "components/sgld");
  has(restore_error([](CheckpointData& d) { d.components["kernel.trainer"]["best"] = torch::zeros({0}); }),
      "kernel.trainer/best must hold one value");
  // The unedited file still restores.
  write_checkpoint(file, good);
  Resumable c(descriptor(1));
  c.trainer->restore(read_checkpoint(file), file);
}
