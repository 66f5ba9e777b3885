// Batch augmentation of the data streams: random crop with padding, horizontal flip and
// a stronger policy, plus Gaussian input noise. Deterministic under the given generator.
#pragma once

#include <string>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

namespace ebm::kernel {

/// x: [B, C, H, W] in [lo, hi] (or [B, D]: only "none" applies). kind: none | crop |
/// flip_crop | strong. Returns a new tensor; never modifies x.
at::Tensor augment(const at::Tensor& x, const std::string& kind, std::int64_t padding, double lo, double hi, at::Generator& gen);

}  // namespace ebm::kernel
