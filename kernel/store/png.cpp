#include "store/png.hpp"

#include <unistd.h>

#include <cstdio>
#include <vector>

#include <stb/stb_image_write.h>
#include <torch/torch.h>

#include "ebmlab/error.hpp"

namespace ebm::kernel {

bool is_image_shape(const std::vector<std::int64_t>& shape) { return shape.size() == 3 && (shape[0] == 1 || shape[0] == 3); }

void write_png_grid(const std::string& path, const at::Tensor& images, double lo, double hi, std::int64_t cols,
                    std::int64_t scale) {
  if (images.dim() != 4 || !is_image_shape({images.size(1), images.size(2), images.size(3)}))
    throw RunError(path + ": a PNG grid needs images [N, 1 or 3, H, W]");
  const std::int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  cols = std::max<std::int64_t>(1, std::min(cols, n));
  const std::int64_t rows = (n + cols - 1) / cols;
  const std::int64_t cell_w = w * scale + 1, cell_h = h * scale + 1;
  const std::int64_t width = cols * cell_w + 1, height = rows * cell_h + 1;
  // Map [lo, hi] to [0, 255]; NaN padding becomes 0 (black).
  at::Tensor x = images.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  at::Tensor u8 = torch::nan_to_num((x - lo) / (hi - lo), 0.0).clamp(0, 1).mul(255).round().to(torch::kUInt8).contiguous();
  const std::uint8_t* px = u8.data_ptr<std::uint8_t>();
  std::vector<std::uint8_t> canvas(static_cast<size_t>(width * height * 3), 40);
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t x0 = (i % cols) * cell_w + 1, y0 = (i / cols) * cell_h + 1;
    for (std::int64_t yy = 0; yy < h * scale; ++yy)
      for (std::int64_t xx = 0; xx < w * scale; ++xx)
        for (std::int64_t ch = 0; ch < 3; ++ch) {
          const std::int64_t src = ((i * c + (c == 1 ? 0 : ch)) * h + yy / scale) * w + xx / scale;
          canvas[static_cast<size_t>(((y0 + yy) * width + x0 + xx) * 3 + ch)] = px[src];
        }
  }
  const std::string tmp = path + ".tmp" + std::to_string(getpid());
  if (!stbi_write_png(tmp.c_str(), static_cast<int>(width), static_cast<int>(height), 3, canvas.data(),
                      static_cast<int>(width * 3))) {
    std::remove(tmp.c_str());
    throw RunError(path + ": could not write the PNG (is the folder writable and the disk not full?)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw RunError(path + ": could not move the PNG into place");
  }
}

}  // namespace ebm::kernel
