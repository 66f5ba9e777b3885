#include "loader/torch_runtime.hpp"

#include <cstdlib>
#include <sstream>
#include <vector>

#include <ATen/Context.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include "ebmlab/error.hpp"

#include "loader/runtime_libraries.hpp"

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

c10::Device resolve_device(const std::string& text, const std::string& where) {
  const TorchRuntime rt = torch_runtime();
  if (text == "cpu" || (text == "auto" && rt.gpus == 0)) return c10::Device(c10::kCPU);
  if (text == "auto") return c10::Device(c10::kCUDA, 0);
  const std::string asked = where + " = \"" + text + "\": ";
  if (!rt.cuda_built)
    throw ConfigError(asked + "this ebmlab was built against " + rt.summary() +
                      ", so it cannot use a GPU; build it against a CUDA LibTorch (docs/gpu.md: the torch2 preset with a "
                      "pip PyTorch), or use device = \"cpu\" or \"auto\"");
  if (rt.gpus == 0)
    throw ConfigError(asked + "no GPU is visible to this process (" + rt.summary() +
                      "); check nvidia-smi and CUDA_VISIBLE_DEVICES, or use device = \"cpu\" or \"auto\"");
  const int index = text == "cuda" ? 0 : std::stoi(text.substr(5));
  if (index >= rt.gpus)
    throw ConfigError(asked + "GPU " + std::to_string(index) + " does not exist: " + std::to_string(rt.gpus) +
                      (rt.gpus == 1 ? " GPU is" : " GPUs are") + " visible (cuda:0 to cuda:" + std::to_string(rt.gpus - 1) + ")");
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
}

std::string describe_device(const c10::Device& device) {
  if (!device.is_cuda()) return device.str();
  // nvidia-smi counts every GPU; CUDA only the visible ones, in CUDA_VISIBLE_DEVICES's order.
  std::string id = std::to_string(device.index() < 0 ? 0 : device.index());
  if (const char* visible = std::getenv("CUDA_VISIBLE_DEVICES"); visible && *visible) {
    std::vector<std::string> ids;
    std::stringstream list(visible);
    for (std::string item; std::getline(list, item, ',');) ids.push_back(item);
    const auto at = static_cast<std::size_t>(device.index() < 0 ? 0 : device.index());
    if (at < ids.size()) id = ids[at];
  }
  if (id.empty() || id.find_first_not_of("0123456789") != std::string::npos) return device.str();  // a UUID: no lookup
  const std::string name = first_line_of("nvidia-smi --query-gpu=name --format=csv,noheader -i " + id + " 2>/dev/null");
  return name.empty() ? device.str() : device.str() + " (" + name + ")";
}

void use_deterministic(bool on) {
  if (on) setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", /*overwrite=*/0);
  at::globalContext().setDeterministicAlgorithms(on, /*warn_only=*/false);
  at::globalContext().setDeterministicCuDNN(on);
  at::globalContext().setBenchmarkCuDNN(false);
}

}  // namespace ebm::kernel
