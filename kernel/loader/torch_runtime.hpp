// The LibTorch this process runs on, and what it offers of CUDA: printed by `ebmlab
// --version` and `ebmlab plugins`, stored in every run record (docs/hdf5-layout.md).
#pragma once

#include <string>

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

}  // namespace ebm::kernel
