// One training step through ebmlab (trainer + plugins + HDF5 logging) against the same
// step written directly with LibTorch: same model, batch and threads. The two are
// interleaved in rounds and the median ratio is printed; the cost of appending one
// scalar to an HDF5 curve is printed as a fraction of a step.
//
//   bench_train_step [--threads N] [--rounds R] [google-benchmark flags]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "loader/registry.hpp"
#include "timing.hpp"
#include "train/components.hpp"
#include "train/trainer.hpp"

using namespace ebm;
using namespace ebm::kernel;
using ebm::bench::median;
using ebm::bench::seconds;

namespace {

const char* kDescriptor = R"([experiment]
name = "bench"
[data]
dataset = "fashion_mnist"
subset = 2048
validation = 1000
batch_size = 64
[model]
backbone = { plugin = "convnet" }
norm = { plugin = "batch" }
[[stage]]
steps = 1000000
optimizer = { name = "sgd", lr = 0.01, momentum = 0.9 }
losses = [ { plugin = "ce" } ]
)";

struct Setup {
  Registry registry;
  VariantConfig cfg;
  Dataset data;
  Components comps;
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("ebmlab_bench_" + std::to_string(::getpid()));
  std::unique_ptr<VariantLog> log;
  Progress progress{false, 0.0, true};
  std::unique_ptr<Trainer> trainer;
  Batch batch;
  std::unique_ptr<torch::optim::SGD> raw_opt;
  std::int64_t steps = 0;

  Setup() {
    registry.load_dir(EBMLAB_PLUGIN_BUILD_DIR);
    Descriptor d{"bench.toml", kDescriptor, parse_toml_text(kDescriptor, "bench.toml"), {}};
    cfg = resolve(expand(d).at(0), registry);
    data = load_dataset(cfg.data.params, 0);
    torch::manual_seed(0);
    comps = build_components(cfg, registry, data.info);
    std::filesystem::create_directories(dir);
    log = std::make_unique<VariantLog>((dir / "main.h5").string(), "main", "{}", log_layout(comps));
    trainer = std::make_unique<Trainer>(cfg, comps, data, TrainerSetup{log.get(), &progress});
    trainer->begin_stage(0);
    batch = Batch{data.train.x.slice(0, 0, 64), data.train.y.slice(0, 0, 64)};
    raw_opt = std::make_unique<torch::optim::SGD>(comps.model->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
  }
  ~Setup() {
    log.reset();
    std::filesystem::remove_all(dir);
  }

  void ebmlab_step() {
    trainer->step(batch);
    if (++steps % 50 == 0) log->flush();  // the run loop's default flush cadence
  }
  void raw_step() {
    auto logits = comps.model->forward(batch.x);
    auto loss = torch::nn::functional::cross_entropy(logits, batch.y);
    raw_opt->zero_grad();
    loss.backward();
    raw_opt->step();
    benchmark::DoNotOptimize(loss.item<double>());
  }
};

Setup& setup() {
  static Setup s;
  return s;
}

void BM_step_libtorch(benchmark::State& state) {
  for (auto _ : state) setup().raw_step();
}
void BM_step_ebmlab(benchmark::State& state) {
  for (auto _ : state) setup().ebmlab_step();
}
void BM_hdf5_append_scalar(benchmark::State& state) {
  auto& s = setup();
  int id = s.log->curve_id("train/loss");
  std::int64_t i = 0;
  for (auto _ : state) {
    s.log->append_curve(id, CurveRecord{i++, 0.5, 1.0});
    if (i % 50 == 0) s.log->flush();
  }
}
BENCHMARK(BM_step_libtorch)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_step_ebmlab)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_hdf5_append_scalar)->Unit(benchmark::kNanosecond);

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, rounds = 31;
  std::vector<char*> rest = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc)
      threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--rounds") && i + 1 < argc)
      rounds = std::atoi(argv[++i]);
    else
      rest.push_back(argv[i]);
  }
  torch::set_num_threads(threads);
  configure_allocator();
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  benchmark::RunSpecifiedBenchmarks();

  // Interleaved comparison: each round times a block of raw steps, then of ebmlab steps.
  auto& s = setup();
  const int block = 10;
  for (int i = 0; i < 10; ++i) {
    s.raw_step();
    s.ebmlab_step();
  }  // warm-up
  std::vector<double> ratios, raw_times;
  for (int r = 0; r < rounds; ++r) {
    // Alternate which side goes first so cache and allocator warmth favour neither.
    double raw = 0, ebm = 0;
    if (r % 2 == 0) {
      raw = seconds([&] { s.raw_step(); }, block);
      ebm = seconds([&] { s.ebmlab_step(); }, block);
    } else {
      ebm = seconds([&] { s.ebmlab_step(); }, block);
      raw = seconds([&] { s.raw_step(); }, block);
    }
    ratios.push_back(ebm / raw);
    raw_times.push_back(raw);
  }
  int id = s.log->curve_id("train/loss");
  std::int64_t k = 0;
  double append = seconds(
      [&] {
        s.log->append_curve(id, CurveRecord{k++, 0.5, 1.0});
        if (k % 50 == 0) s.log->flush();
      },
      200000);
  double step = median(raw_times);
  std::printf("\nthreads %d, %d rounds of %d steps (convnet + BatchNorm, batch 64, Fashion-MNIST)\n", threads, rounds, block);
  std::printf("libtorch step (median)       %.3f ms\n", step * 1e3);
  std::printf("ebmlab/libtorch step ratio   %.4f (median; min %.4f, max %.4f)  goal <= 1.03\n", median(ratios),
              *std::min_element(ratios.begin(), ratios.end()), *std::max_element(ratios.begin(), ratios.end()));
  std::printf("hdf5 scalar append           %.1f ns = %.5f %% of a step  goal << 1 %%\n", append * 1e9, 100.0 * append / step);
  benchmark::Shutdown();
  return 0;
}
