// The LibTorch this process runs on, and what it offers of CUDA: printed by `ebmlab
// --version` and `ebmlab plugins`, stored in every run record (docs/hdf5-layout.md).
#pragma once

#include <string>

#include <c10/core/Device.h>

namespace ebm::kernel {

struct TorchRuntime {
  std::string version;      ///< LibTorch's own version, e.g. "1.13.0"
  bool cuda_built = false;  ///< this LibTorch carries CUDA kernels (a pip CUDA wheel; never Debian's)
  std::string cuda;         ///< the CUDA runtime it was built with, e.g. "13.0" ("" without CUDA)
  std::string cudnn;        ///< the cuDNN it was built with, e.g. "9.10.2" ("" without)
  int gpus = 0;             ///< CUDA devices visible to this process

  /// One line: "LibTorch 1.13.0, built without CUDA" or
  /// "LibTorch 2.11.0, CUDA 13.0, cuDNN 9.10.2, 0 GPUs visible".
  std::string summary() const;
};

TorchRuntime torch_runtime();

/// The device a descriptor's or --device's text names (syntax already checked: auto, cpu,
/// cuda, cuda:N). "auto" is the first GPU when this LibTorch has CUDA and one is visible,
/// else the CPU. A GPU this process cannot use is a ConfigError (exit 2) that names the
/// LibTorch found and what to do; `where` says who asked ("[experiment] device", "--device").
c10::Device resolve_device(const std::string& text, const std::string& where);

/// "cpu", or "cuda:N" followed by the GPU's name as nvidia-smi gives it, e.g.
/// "cuda:0 (NVIDIA H200)" (just "cuda:N" without nvidia-smi).
std::string describe_device(const c10::Device& device);

/// Sets LibTorch's deterministic algorithms (an operation without a deterministic version
/// then throws), deterministic cuDNN and no cuDNN autotuning, or puts back the defaults.
/// On: CUBLAS_WORKSPACE_CONFIG=:4096:8 unless already set (cuBLAS needs it to be deterministic).
void use_deterministic(bool on);

}  // namespace ebm::kernel
