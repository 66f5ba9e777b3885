// The differences between the LibTorch versions ebmlab builds against (Debian's 1.13, a pip
// PyTorch's 2.x; docs/gpu.md), in one place.
#pragma once

#include <sstream>
#include <string>
#include <type_traits>

#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/torch.h>
#include <torch/version.h>

namespace ebm::kernel {

/// The key of `param` in `optimizer.state()`. LibTorch 1.13 keys the per-parameter state by
/// the printed address of the parameter's TensorImpl (c10::guts::to_string, an ostream
/// insertion; torch/csrc/api/src/optim/adam.cpp), 2.x by the address itself
/// (ska::flat_hash_map<void*, ...>); the key type of the map tells which (a template, so
/// that the branch of the other version is discarded, not compiled).
template <class Optimizer>
auto optimizer_state_key(const Optimizer& optimizer, const at::Tensor& param) {
  using Key = typename std::decay_t<decltype(optimizer.state())>::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream out;
    out << param.unsafeGetTensorImpl();
    return out.str();
  } else {
    return static_cast<Key>(param.unsafeGetTensorImpl());
  }
}

/// The default random generator of CUDA device `index`, through LibTorch's CUDA hooks (no
/// CUDA headers needed): 1.13 names it getDefaultCUDAGenerator, 2.x getDefaultGenerator
/// (AcceleratorHooksInterface). Throws (c10::Error) on a LibTorch without CUDA.
inline at::Generator cuda_default_generator(c10::DeviceIndex index) {
#if TORCH_VERSION_MAJOR >= 2
  return at::detail::getCUDAHooks().getDefaultGenerator(index);
#else
  return at::detail::getCUDAHooks().getDefaultCUDAGenerator(index);
#endif
}

}  // namespace ebm::kernel
