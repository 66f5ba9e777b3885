#include "train/distributed.hpp"

#include <cstdlib>
#include <thread>

#include "ebmlab/error.hpp"

#ifdef EBMLAB_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace ebm::kernel {

namespace {
int env_int(const char* name, int lo, int hi) {
  const char* v = std::getenv(name);
  char* end = nullptr;
  long x = std::strtol(v, &end, 10);
  if (!*v || *end || x < lo || x > hi)
    throw ConfigError(std::string("environment variable ") + name + "=" + v + ": expected an integer in [" + std::to_string(lo) +
                      ", " + std::to_string(hi) + "]");
  return static_cast<int>(x);
}
}  // namespace

DistributedEnv distributed_env() {
  DistributedEnv e;
  const bool has_rank = std::getenv("RANK") != nullptr, has_world = std::getenv("WORLD_SIZE") != nullptr;
  if (!has_rank && !has_world) return e;
  if (!has_rank || !has_world)
    throw ConfigError("data parallel: set both RANK and WORLD_SIZE (found only " + std::string(has_rank ? "RANK" : "WORLD_SIZE") +
                      ")");
  e.present = true;
  e.world = env_int("WORLD_SIZE", 1, 4096);
  e.rank = env_int("RANK", 0, e.world - 1);
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a) e.master_addr = a;
  if (std::getenv("MASTER_PORT")) e.master_port = env_int("MASTER_PORT", 1, 65535);
  return e;
}

#ifdef EBMLAB_WITH_GLOO

namespace {

class GlooCollective : public Collective {
 public:
  GlooCollective(c10::intrusive_ptr<c10d::ProcessGroupGloo> pg, int rank, int world)
      : pg_(std::move(pg)), rank_(rank), world_(world) {}
  int rank() const override { return rank_; }
  int world() const override { return world_; }
  void allreduce_sum(at::Tensor& t) override {
    std::vector<at::Tensor> v{t};
    wait(pg_->allreduce(v), "all-reduce");
  }
  void broadcast(std::vector<at::Tensor>& tensors) override {
    for (auto& t : tensors) {
      std::vector<at::Tensor> v{t};
      wait(pg_->broadcast(v), "broadcast");
    }
  }
  void barrier() override { wait(pg_->barrier(), "barrier"); }

 private:
  void wait(const c10::intrusive_ptr<c10d::Work>& w, const char* what) {
    try {
      w->wait();
    } catch (const c10::Error& e) {
      throw RunError("data parallel: rank " + std::to_string(rank_) + " of " + std::to_string(world_) + ": " + what +
                     " failed (another rank died, stopped or timed out): " + e.what_without_backtrace());
    } catch (const std::exception& e) {
      throw RunError("data parallel: rank " + std::to_string(rank_) + " of " + std::to_string(world_) + ": " + what +
                     " failed (another rank died, stopped or timed out): " + e.what());
    }
  }
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg_;
  int rank_, world_;
};

}  // namespace

bool gloo_available() { return true; }

std::unique_ptr<Collective> join_gloo(const DistributedEnv& env, std::chrono::seconds rendezvous, std::chrono::seconds timeout) {
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  const std::string who = "data parallel: rank " + std::to_string(env.rank) + " of " + std::to_string(env.world);
  c10::intrusive_ptr<c10d::TCPStore> store;
  try {
    c10d::TCPStoreOptions o;
    o.port = static_cast<std::uint16_t>(env.master_port);
    o.isServer = env.rank == 0;
    o.numWorkers = env.world;
    o.waitWorkers = false;  // counted below: the server's own wait does not honour the time-out
    o.timeout = rendezvous;
    store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, o);
  } catch (const std::exception& e) {
    const std::string detail =
        dynamic_cast<const c10::Error*>(&e) ? static_cast<const c10::Error&>(e).what_without_backtrace() : e.what();
    throw RunError(who + ": rendezvous at " + where + " failed within " + std::to_string(rendezvous.count()) + " s (" +
                   (env.rank == 0 ? "not every rank arrived" : "rank 0 is not serving there") + "): " + detail +
                   "; start all WORLD_SIZE ranks with the same MASTER_ADDR and MASTER_PORT, or raise --dist-timeout");
  }
  // Every rank checks in, then waits until all have, with our own deadline.
  {
    const auto deadline = std::chrono::steady_clock::now() + rendezvous;
    std::int64_t arrived = 0;
    try {
      arrived = store->add("ebmlab/arrived", 1);
      while (arrived < env.world && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        arrived = store->add("ebmlab/arrived", 0);
      }
    } catch (const std::exception& e) {
      throw RunError(who + ": lost the rendezvous server at " + where + ": " + e.what());
    }
    if (arrived < env.world)
      throw RunError(who + ": only " + std::to_string(arrived) + " of " + std::to_string(env.world) + " ranks arrived at " +
                     where + " within --dist-timeout " + std::to_string(rendezvous.count()) +
                     " s; start every rank with the same MASTER_ADDR, MASTER_PORT and WORLD_SIZE, or raise --dist-timeout");
  }
  try {
    auto opts = c10d::ProcessGroupGloo::Options::create(std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
    // The address this rank listens on: GLOO_SOCKET_IFNAME as in PyTorch, loopback for a
    // local group, otherwise the address this machine's hostname resolves to.
    const char* iface = std::getenv("GLOO_SOCKET_IFNAME");
    const bool local = env.master_addr == "127.0.0.1" || env.master_addr == "localhost";
    opts->devices.push_back(iface && *iface ? c10d::ProcessGroupGloo::createDeviceForInterface(iface)
                            : local         ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                            : c10d::ProcessGroupGloo::createDefaultDevice());
    opts->threads = 1;
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, env.rank, env.world, opts);
    return std::make_unique<GlooCollective>(pg, env.rank, env.world);
  } catch (const std::exception& e) {
    const std::string detail =
        dynamic_cast<const c10::Error*>(&e) ? static_cast<const c10::Error&>(e).what_without_backtrace() : e.what();
    throw RunError(who + ": connecting the Gloo process group via " + where + " failed: " + detail);
  }
}

#else

bool gloo_available() { return false; }

std::unique_ptr<Collective> join_gloo(const DistributedEnv&, std::chrono::seconds, std::chrono::seconds) {
  throw ConfigError("data parallel: this ebmlab was built without c10d Gloo (install libgloo-dev and rebuild)");
}

#endif

}  // namespace ebm::kernel
