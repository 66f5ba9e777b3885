// Checkpoint files: everything needed to continue a variant, as plain tensors in HDF5
// (no pickles, nothing executed on load), readable with h5py. Layout in docs/hdf5-layout.md.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ebmlab/component.hpp"

namespace torch::nn {
class Module;
}

namespace ebm::kernel {

inline constexpr int kCheckpointFormatVersion = 1;

struct CheckpointData {
  std::string variant;
  std::int64_t step = 0;                                  ///< global optimizer steps completed
  std::int64_t stage = 0;                                 ///< index of the stage the step belongs to
  std::int64_t step_in_stage = 0;                         ///< steps completed within that stage
  std::vector<std::pair<std::string, at::Tensor>> model;  ///< named parameters, then named buffers
  std::string optimizer_name;                             ///< sgd | adam ("" when absent)
  std::map<std::string, at::Tensor> optimizer;            ///< "<parameter index>/<state>"
  std::vector<at::Tensor> ema;                            ///< weight average, in the trainer's order
  std::map<std::string, StateDict> components;            ///< component name -> its state()
  std::map<std::string, at::Tensor> rng;                  ///< generator states (uint8)
  std::map<std::string, std::int64_t> counters;           ///< e.g. batches drawn per stream
};

/// Writes `data` to `path` atomically (temporary file, fsync, rename, fsync of the folder)
/// and returns the file's sha256. Throws RunError naming the file on any I/O failure; an
/// earlier file at `path` is then left untouched.
std::string write_checkpoint(const std::string& path, const CheckpointData& data);

/// Reads a checkpoint; DataError naming the file and dataset when something is not a
/// checkpoint, has an unsupported type, or claims an absurd size (checked before allocating).
CheckpointData read_checkpoint(const std::string& path);

/// The periodic checkpoint files `ckpt-<step>.h5` in `dir` (not ckpt-best.h5), as (step,
/// path), by step ascending; nothing when `dir` is absent.
std::vector<std::pair<std::int64_t, std::string>> periodic_checkpoints(const std::string& dir);

/// Copies the checkpoint's model tensors into `model` by name. Every tensor of the model
/// must be present with the same shape (DataError listing the differences otherwise).
void load_model_weights(torch::nn::Module& model, const CheckpointData& data, const std::string& path);

}  // namespace ebm::kernel
