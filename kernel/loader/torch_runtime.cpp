#include "loader/torch_runtime.hpp"

#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/cuda.h>
#include <torch/version.h>

namespace ebm::kernel {

namespace {

/// CUDART_VERSION is major * 1000 + minor * 10.
std::string cuda_version(long v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); }

/// CUDNN_VERSION is major * 1000 + minor * 100 + patch before cuDNN 9, major * 10000 + minor * 100 + patch after.
std::string cudnn_version(long v) {
  const long major_unit = v >= 90000 ? 10000 : 1000;
  return std::to_string(v / major_unit) + "." + std::to_string((v % major_unit) / 100) + "." + std::to_string(v % 100);
}

}  // namespace

std::string TorchRuntime::summary() const {
  std::string s = "LibTorch " + version;
  if (!cuda_built) return s + ", built without CUDA";
  s += ", CUDA " + cuda;
  if (!cudnn.empty()) s += ", cuDNN " + cudnn;
  return s + ", " + std::to_string(gpus) + (gpus == 1 ? " GPU" : " GPUs") + " visible";
}

TorchRuntime torch_runtime() {
  TorchRuntime r;
  r.version = TORCH_VERSION;
  const auto& hooks = at::detail::getCUDAHooks();
  // Without LibTorch's CUDA library the default hooks throw instead of answering.
  try {
    r.cuda = cuda_version(hooks.versionCUDART());
    r.cuda_built = true;
  } catch (const std::exception&) {
    return r;
  }
  try {
    if (hooks.compiledWithCuDNN()) r.cudnn = cudnn_version(hooks.versionCuDNN());
  } catch (const std::exception&) {
  }
  r.gpus = static_cast<int>(torch::cuda::device_count());
  return r;
}

}  // namespace ebm::kernel
