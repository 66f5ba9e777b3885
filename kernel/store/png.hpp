// PNG pictures of image tensors: sample grids, counterfactual strips.
#pragma once

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

namespace ebm::kernel {

/// True when one sample of this shape is an image ([C,H,W] with C = 1 or 3).
bool is_image_shape(const std::vector<std::int64_t>& shape);

/// Writes images x [N, C, H, W] with values in [lo, hi] as one PNG grid of `cols` columns
/// (1-pixel gaps, `scale` pixels per pixel). NaN images (padding) are left black. Written
/// to a temporary file, then renamed. Throws RunError naming the file on failure.
void write_png_grid(const std::string& path, const at::Tensor& x, double lo, double hi, std::int64_t cols,
                    std::int64_t scale = 2);

}  // namespace ebm::kernel
