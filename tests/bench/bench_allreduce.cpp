// The cost of the data-parallel gradient exchange: one all-reduce (sum) of a flat float32
// buffer with c10d ProcessGroupGloo between 2 ranks on loopback, the two ranks being
// threads of this process (a TCPStore served by rank 0 on a free port, one process
// group per rank). Cases: the parameter count of every distinct model the descriptors
// under experiments/ build (through the plugin registry), and a sweep of 1e4..1e7
// floats. Baselines in the same run: a local copy and a local add of the same buffer,
// and, for the models, one forward + backward at the per-rank batch (batch_size / 2).
// After the Google Benchmark cases a table prints the all-reduce time against the
// baselines.
//
//   bench_allreduce [--threads N] [--experiments DIR] [google-benchmark flags]
//
// --threads: LibTorch threads of the baselines (default 1: one thread per rank, as
// `--nproc 2 --threads 2` runs them on this 2-core machine).
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>

#include "config/descriptor.hpp"
#include "data/data.hpp"
#include "loader/registry.hpp"
#include "train/components.hpp"
#include "train/trainer.hpp"

using namespace ebm;
using namespace ebm::kernel;

namespace {

using Clock = std::chrono::steady_clock;

c10::intrusive_ptr<c10d::ProcessGroupGloo> make_group(const c10::intrusive_ptr<c10d::Store>& store, int rank) {
  auto opts = c10d::ProcessGroupGloo::Options::create(std::chrono::milliseconds(60000));
  opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, 2, opts);
}

/// Two ranks of one process group on loopback. Rank 0 is the calling thread; rank 1 is
/// a thread that runs the same number of all-reduces of the same size when asked, so
/// the collectives pair up exactly as in two processes.
class LoopbackPair {
 public:
  LoopbackPair() {
    c10d::TCPStoreOptions server;
    server.port = 0;  // the OS picks a free port
    server.isServer = true;
    server.numWorkers = 2;
    server.waitWorkers = false;
    server.timeout = std::chrono::seconds(60);
    store0_ = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", server);
    c10d::TCPStoreOptions client = server;
    client.port = store0_->getPort();
    client.isServer = false;
    store1_ = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", client);
    // Each constructor waits for the other rank's address in the store.
    std::exception_ptr error;
    std::thread t([&] {
      try {
        pg1_ = make_group(store1_, 1);
      } catch (...) {
        error = std::current_exception();
      }
    });
    pg0_ = make_group(store0_, 0);
    t.join();
    if (error) std::rethrow_exception(error);
    peer_ = std::thread([this] { peer_loop(); });
  }
  ~LoopbackPair() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_ = true;
    }
    cv_.notify_all();
    peer_.join();
  }

  /// Rank 1 starts `iterations` back-to-back all-reduces of `numel` floats; rank 0 (the
  /// caller) then makes the same number of allreduce() calls, and finish().
  void start(std::int64_t numel, std::int64_t iterations) {
    {
      std::lock_guard<std::mutex> lk(m_);
      job_ = Job{numel, iterations, job_.generation + 1};
    }
    cv_.notify_all();
  }
  void allreduce(at::Tensor& buf) {
    std::vector<at::Tensor> v{buf};
    pg0_->allreduce(v)->wait();
  }
  void finish() {
    std::unique_lock<std::mutex> lk(m_);
    cv_.wait(lk, [&] { return done_ == job_.generation; });
    if (peer_error_) std::rethrow_exception(peer_error_);
  }

 private:
  struct Job {
    std::int64_t numel = 0, iterations = 0, generation = 0;
  };

  void peer_loop() {
    std::unique_lock<std::mutex> lk(m_);
    at::Tensor buf;
    for (;;) {
      cv_.wait(lk, [&] { return stop_ || job_.generation != done_; });
      if (stop_) return;
      Job job = job_;
      lk.unlock();
      try {
        if (!buf.defined() || buf.numel() != job.numel) buf = torch::zeros({job.numel});
        std::vector<at::Tensor> v{buf};
        for (std::int64_t i = 0; i < job.iterations; ++i) pg1_->allreduce(v)->wait();
      } catch (...) {
        peer_error_ = std::current_exception();
      }
      lk.lock();
      done_ = job.generation;
      cv_.notify_all();
    }
  }

  c10::intrusive_ptr<c10d::TCPStore> store0_, store1_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg0_, pg1_;
  std::thread peer_;
  std::mutex m_;
  std::condition_variable cv_;
  Job job_;
  std::int64_t done_ = 0;
  bool stop_ = false;
  std::exception_ptr peer_error_;
};

LoopbackPair& pair() {
  static LoopbackPair p;
  return p;
}

/// One distinct model of the descriptors: the numel of its parameters is what a step
/// all-reduces (plus the few logged loss terms).
struct ModelCase {
  std::string label;        ///< "jem.toml:main"
  std::string description;  ///< backbone, norm, data set, and every other descriptor using it
  std::int64_t numel = 0;
  std::shared_ptr<Model> model;
  std::vector<std::int64_t> shape;
  std::int64_t classes = 0, batch = 0;  ///< per-rank batch: batch_size / 2
};

/// Builds each distinct (backbone, norm, data set) of the descriptors in `dir` through the
/// registry. Descriptors that do not resolve or whose data set is missing are reported
/// and skipped.
std::vector<ModelCase> experiment_models(const std::string& dir, const Registry& registry) {
  std::vector<std::filesystem::path> files;
  for (auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".toml") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::map<std::string, DataInfo> infos;
  std::map<std::string, std::size_t> seen;
  std::vector<ModelCase> cases;
  for (auto& f : files) {
    try {
      Descriptor d = load_descriptor(f.string());
      for (auto& v : expand(d)) {
        VariantConfig cfg = resolve(v, registry);
        std::string dataset = cfg.data.dataset;
        std::string key = cfg.backbone.plugin + " " + Value(cfg.backbone.params.values()).to_string() + " + norm " +
                          cfg.norm.plugin + " " + Value(cfg.norm.params.values()).to_string() + " on " + dataset;
        std::string label = f.filename().string() + ":" + v.name;
        if (auto it = seen.find(key); it != seen.end()) {
          cases[it->second].description += ", " + label;
          continue;
        }
        if (!infos.count(dataset)) infos[dataset] = load_dataset(cfg.data.params, 0).info;
        const DataInfo& info = infos[dataset];
        torch::manual_seed(0);
        ModelCase c;
        c.label = label;
        c.description = key + "; used by " + label;
        c.model = build_model(cfg, registry, info);
        for (auto& p : c.model->parameters())
          if (p.requires_grad()) c.numel += p.numel();
        c.shape = info.shape;
        c.classes = info.num_classes;
        c.batch = std::max<std::int64_t>(1, cfg.data.batch_size / 2);
        seen[key] = cases.size();
        cases.push_back(std::move(c));
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_allreduce: skipping %s: %s\n", f.string().c_str(), e.what());
    }
  }
  return cases;
}

/// What the table after the benchmarks reads: each case's last measurement.
struct Result {
  double ms = 0, gbps = 0;
};
std::map<std::string, Result> results;

/// Sets the counters: ms per iteration and, when bytes_per_iteration > 0, GB/s (buffer
/// bytes over time, for 2 ranks also Gloo's bus bandwidth, 2 (N-1)/N x buffer / time).
void record(benchmark::State& state, const std::string& name, double seconds, double bytes_per_iteration) {
  double it = static_cast<double>(state.iterations());
  Result r{1e3 * seconds / it, bytes_per_iteration * it / seconds / 1e9};
  state.counters["ms"] = r.ms;
  if (bytes_per_iteration > 0) state.counters["GB/s"] = r.gbps;
  results[name] = r;
}

void BM_allreduce(benchmark::State& state, const std::string& name, std::int64_t numel) {
  at::Tensor buf = torch::zeros({numel});  // zeros: summing keeps them finite and normal
  auto& p = pair();
  const std::int64_t warmup = 3;  // Gloo's buffers for this size, both ranks running
  p.start(numel, warmup + state.max_iterations);
  for (std::int64_t i = 0; i < warmup; ++i) p.allreduce(buf);
  // The ranks then run freely, as two processes would: no hand-off per iteration.
  auto t0 = Clock::now();
  for (auto _ : state) p.allreduce(buf);
  double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  p.finish();
  record(state, name, seconds, 4.0 * static_cast<double>(numel));
}

void BM_local(benchmark::State& state, const std::string& name, std::int64_t numel, bool add) {
  at::Tensor a = torch::zeros({numel}), b = torch::zeros({numel});
  auto t0 = Clock::now();
  for (auto _ : state) {
    if (add)
      a.add_(b);
    else
      a.copy_(b);
  }
  double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  record(state, name, seconds, 4.0 * static_cast<double>(numel));
}

/// One rank's compute of a plain classifier step: forward, cross-entropy, backward.
void BM_forward_backward(benchmark::State& state, const std::string& name, const ModelCase* c) {
  std::vector<std::int64_t> shape{c->batch};
  shape.insert(shape.end(), c->shape.begin(), c->shape.end());
  torch::manual_seed(0);
  at::Tensor x = torch::rand(shape), y = torch::randint(c->classes, {c->batch});
  c->model->train();
  auto t0 = Clock::now();
  for (auto _ : state) {
    c->model->zero_grad();
    auto loss = torch::nn::functional::cross_entropy(c->model->forward(x), y);
    loss.backward();
  }
  double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  record(state, name, seconds, 0);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1;
  std::string experiments = std::string(EBMLAB_SOURCE_DIR) + "/experiments";
  std::vector<char*> rest = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc)
      threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--experiments") && i + 1 < argc)
      experiments = argv[++i];
    else
      rest.push_back(argv[i]);
  }
  torch::set_num_threads(threads);
  configure_allocator();

  Registry registry;
  registry.load_dir(EBMLAB_PLUGIN_BUILD_DIR);
  std::vector<ModelCase> models = experiment_models(experiments, registry);
  std::vector<std::int64_t> sweep = {10000, 100000, 1000000, 10000000};

  auto add_case = [](const std::string& name, std::int64_t numel) {
    for (std::string what : {"allreduce", "copy", "add"}) {
      std::string full = what + "/" + name;
      auto* b = what == "allreduce" ? benchmark::RegisterBenchmark(full.c_str(), BM_allreduce, full, numel)
                                    : benchmark::RegisterBenchmark(full.c_str(), BM_local, full, numel, what == "add");
      b->UseRealTime()->Unit(benchmark::kMillisecond);
    }
  };
  for (auto& m : models) {
    add_case(m.label, m.numel);
    std::string full = "step/" + m.label;
    benchmark::RegisterBenchmark(full.c_str(), BM_forward_backward, full, &m)->UseRealTime()->Unit(benchmark::kMillisecond);
  }
  for (auto n : sweep) add_case(std::to_string(n), n);

  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  if (benchmark::ReportUnrecognizedArguments(rest_argc, rest.data())) return 2;
  benchmark::RunSpecifiedBenchmarks();

  std::printf(
      "\nall-reduce (sum, float32) between 2 Gloo ranks on loopback vs a local copy/add of the same buffer"
      " (baselines on %d LibTorch thread%s)\n",
      threads, threads == 1 ? "" : "s");
  std::printf("%-24s %10s %8s %12s %8s %10s %10s %10s %10s\n", "case", "floats", "MB", "allreduce ms", "GB/s", "copy ms",
              "add ms", "ar/copy", "ar/add");
  auto row = [&](const std::string& name, std::int64_t n) {
    auto ar = results.find("allreduce/" + name), cp = results.find("copy/" + name), ad = results.find("add/" + name);
    if (ar == results.end() || cp == results.end() || ad == results.end()) return;  // filtered out
    std::printf("%-24s %10lld %8.2f %12.3f %8.2f %10.4f %10.4f %10.1f %10.1f\n", name.c_str(), static_cast<long long>(n),
                4e-6 * static_cast<double>(n), ar->second.ms, ar->second.gbps, cp->second.ms, ad->second.ms,
                ar->second.ms / cp->second.ms, ar->second.ms / ad->second.ms);
  };
  for (auto& m : models) row(m.label, m.numel);
  for (auto n : sweep) row(std::to_string(n), n);
  for (auto& m : models) {
    std::printf("\n%s: %lld parameters = %s\n", m.label.c_str(), static_cast<long long>(m.numel), m.description.c_str());
    auto ar = results.find("allreduce/" + m.label), st = results.find("step/" + m.label);
    if (ar != results.end() && st != results.end())
      std::printf("  forward + backward at the per-rank batch %lld on %d thread%s: %.2f ms; all-reduce / that = %.4f\n",
                  static_cast<long long>(m.batch), threads, threads == 1 ? "" : "s", st->second.ms,
                  ar->second.ms / st->second.ms);
  }
  benchmark::Shutdown();
  return 0;
}
