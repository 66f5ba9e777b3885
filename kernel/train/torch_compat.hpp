// The differences between the LibTorch versions ebmlab builds against (Debian's 1.13, a pip
// PyTorch's 2.x; docs/gpu.md), in one place.
#pragma once

#include <sstream>
#include <string>
#include <type_traits>

#include <ATen/autocast_mode.h>
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

/// Whether autocast is on for a device type (CPU or CUDA).
inline bool autocast_enabled(c10::DeviceType type) {
#if TORCH_VERSION_MAJOR >= 2
  return at::autocast::is_autocast_enabled(type);
#else
  return type == c10::DeviceType::CUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

/// Autocast's dtype for a device type, and setting both its switch and dtype.
inline at::ScalarType autocast_dtype(c10::DeviceType type) {
#if TORCH_VERSION_MAJOR >= 2
  return at::autocast::get_autocast_dtype(type);
#else
  return type == c10::DeviceType::CUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
#endif
}
inline void set_autocast(c10::DeviceType type, bool enabled, at::ScalarType dtype) {
#if TORCH_VERSION_MAJOR >= 2
  at::autocast::set_autocast_enabled(type, enabled);
  at::autocast::set_autocast_dtype(type, dtype);
#else
  if (type == c10::DeviceType::CUDA) {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
#endif
}

/// Autocast to `dtype` on one device type (CPU or CUDA) for the guard's life, the previous
/// state restored after (Python's `with torch.autocast(device_type, dtype)`). 1.13 has one
/// function per device type (set_enabled for CUDA, set_cpu_enabled; ATen/autocast_mode.h),
/// 2.x one taking the device type. The cast cache is cleared when the outermost guard ends.
class AutocastGuard {
 public:
  AutocastGuard(c10::DeviceType type, at::ScalarType dtype)
      : type_(type == c10::DeviceType::CUDA ? type : c10::DeviceType::CPU),
        enabled_(autocast_enabled(type_)),
        dtype_(autocast_dtype(type_)) {
    set_autocast(type_, true, dtype);
    at::autocast::increment_nesting();
  }
  ~AutocastGuard() {
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    set_autocast(type_, enabled_, dtype_);
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  c10::DeviceType type_;
  bool enabled_;
  at::ScalarType dtype_;
};

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
