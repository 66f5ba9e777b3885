// Data parallel training over PyTorch's c10d (ProcessGroupGloo, TCPStore rendezvous).
// The trainer sees only this small interface; the c10d headers stay in distributed.cpp.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace ebm::kernel {

/// The collectives one data-parallel trainer needs. Every call is collective: each rank
/// makes the same calls in the same order.
class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const = 0;
  virtual int world() const = 0;
  /// Sums `t` (contiguous) over the ranks, in place.
  virtual void allreduce_sum(at::Tensor& t) = 0;
  /// Copies rank 0's tensors into every rank's (in place).
  virtual void broadcast(std::vector<at::Tensor>& tensors) = 0;
  virtual void barrier() = 0;
};

/// Where and how to meet: the torchrun variables RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT.
struct DistributedEnv {
  int rank = 0, world = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool present = false;  ///< RANK and WORLD_SIZE were set
};
/// Reads the variables; ConfigError naming the variable when one is malformed.
DistributedEnv distributed_env();

/// Joins the group: rank 0 serves the TCPStore, every rank connects, then Gloo pairs up.
/// RunError within `rendezvous` seconds when a rank does not arrive, naming who waited
/// for whom. Collectives fail after `timeout` (a rank that died fails them at once).
std::unique_ptr<Collective> join_gloo(const DistributedEnv& env, std::chrono::seconds rendezvous, std::chrono::seconds timeout);

/// True when this build has c10d Gloo (USE_C10D_GLOO).
bool gloo_available();

}  // namespace ebm::kernel
