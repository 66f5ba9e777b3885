// One sampler step (PGD and SGLD, through the real plugins) against the baseline it
// cannot beat: one forward + backward with respect to the input, written directly with
// LibTorch on the same model, batch and threads. Interleaved rounds; the median ratio
// per step is printed (goal <= 1.1).
//
//   bench_sampler_step [--threads N] [--rounds R] [--steps K]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

#include <torch/torch.h>

#include "ebmlab/ebmlab.hpp"

#include "data/data.hpp"
#include "loader/registry.hpp"
#include "timing.hpp"
#include "train/components.hpp"
#include "train/trainer.hpp"

using namespace ebm;
using namespace ebm::kernel;
using ebm::bench::median;
using ebm::bench::seconds;

namespace {

/// The minimal context a sampler needs: one batch, the model, the training set.
class BenchContext : public StepContext {
 public:
  BenchContext(Model& m, Batch b, DataInfo info) : model_(m), batch_(std::move(b)), info_(std::move(info)) {}
  const Batch& batch(const std::string&) override { return batch_; }
  const Batch& train_set() override { return batch_; }
  torch::nn::Module& model() override { return model_; }
  at::Tensor logits(const at::Tensor& x) override { return model_.forward(x); }
  at::Tensor samples(const std::string&) override { throw RunError("no nested samplers here"); }
  using StepContext::log;
  void log(const std::string&, const at::Tensor&) override {}
  std::int64_t step() const override { return 0; }
  std::int64_t epoch() const override { return 0; }
  const DataInfo& data() const override { return info_; }

 private:
  Model& model_;
  Batch batch_;
  DataInfo info_;
};

std::string descriptor(int steps) {
  return R"([experiment]
name = "bench"
[data]
dataset = "fashion_mnist"
subset = 512
validation = 1000
[model]
backbone = { plugin = "convnet" }
norm = { plugin = "batch" }
[samplers.pgd]
plugin = "pgd"
norm = "l2_unbounded"
objective = "energy"
init = "uniform"
steps = )" +
         std::to_string(steps) + R"(
[samplers.sgld]
plugin = "sgld"
buffer_size = 10000
steps = )" +
         std::to_string(steps) + R"(
[[stage]]
steps = 1
losses = [ { plugin = "ce" } ]
)";
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, rounds = 21, steps = 10;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc)
      threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--rounds") && i + 1 < argc)
      rounds = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--steps") && i + 1 < argc)
      steps = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: bench_sampler_step [--threads N] [--rounds R] [--steps K]\n");
      return 2;
    }
  }
  torch::set_num_threads(threads);
  configure_allocator();  // as ebmlab does: otherwise whichever side runs first is slower
  Registry registry;
  registry.load_dir(EBMLAB_PLUGIN_BUILD_DIR);
  auto text = descriptor(steps);
  Descriptor d{"bench.toml", text, parse_toml_text(text, "bench.toml"), {}};
  VariantConfig cfg = resolve(expand(d).at(0), registry);
  Dataset data = load_dataset(cfg.data.params, 0);
  torch::manual_seed(0);
  Components comps = build_components(cfg, registry, data.info);
  Batch batch{data.train.x.slice(0, 0, 64), data.train.y.slice(0, 0, 64)};
  BenchContext ctx(*comps.model, batch, data.info);
  comps.model->eval();

  // Baseline: one forward + backward with respect to the input.
  auto baseline = [&] {
    auto x = batch.x.detach().requires_grad_(true);
    auto g = sampling::input_grad(energy(comps.model->forward(x)), x);
    if (!g.defined()) std::abort();
  };
  std::printf("threads %d, %d rounds, %d steps per sampler call (convnet + BatchNorm, batch 64, Fashion-MNIST)\n", threads,
              rounds, steps);
  for (int i = 0; i < 30; ++i) baseline();  // the first calls of a process run slower
  for (const char* name : {"pgd", "sgld"}) {
    Sampler& s = *comps.samplers.at(name);
    for (int i = 0; i < 3; ++i) {
      baseline();
      s.sample(ctx);
    }  // warm-up (fills the SGLD buffer)
    std::vector<double> ratios;
    double base_median = 0;
    std::vector<double> bases;
    for (int r = 0; r < rounds; ++r) {
      double base = 0, samp = 0;
      if (r % 2 == 0) {
        base = seconds(baseline, steps);
        samp = seconds([&] { s.sample(ctx); }, 1) / steps;
      } else {
        samp = seconds([&] { s.sample(ctx); }, 1) / steps;
        base = seconds(baseline, steps);
      }
      ratios.push_back(samp / base);
      bases.push_back(base);
    }
    base_median = median(bases);
    std::printf("%-5s step / (forward+backward wrt input)  %.4f (median; min %.4f, max %.4f)  goal <= 1.1   [baseline %.3f ms]\n",
                name, median(ratios), *std::min_element(ratios.begin(), ratios.end()),
                *std::max_element(ratios.begin(), ratios.end()), base_median * 1e3);
  }
  return 0;
}
