#include "store/sample_record.hpp"

#include <filesystem>
#include <limits>

#include <torch/torch.h>

#include "store/h5log.hpp"
#include "store/png.hpp"

namespace ebm::kernel {

void record_samples(VariantLog* log, const std::string& dir, const std::string& sampler, const at::Tensor& x, std::int64_t count,
                    std::int64_t step, const DataInfo& info) {
  at::Tensor flat = x.detach().to(torch::kFloat32).reshape({x.size(0), -1});
  at::Tensor kept = torch::full({count, flat.size(1)}, std::numeric_limits<float>::quiet_NaN());
  const std::int64_t n = std::min(count, flat.size(0));
  kept.slice(0, 0, n).copy_(flat.slice(0, 0, n));
  if (log) {
    int id = log->tensor_id("samples/" + sampler);
    if (id >= 0) log->append_tensor(id, step, kept.data_ptr<float>(), static_cast<std::size_t>(kept.numel()));
  }
  if (!dir.empty() && is_image_shape(info.shape)) {
    std::filesystem::create_directories(dir);
    auto file = std::filesystem::path(dir) / ("samples-" + sampler + "-" + std::to_string(step) + ".png");
    write_png_grid(file.string(), x.slice(0, 0, n), info.lo, info.hi, 8);
  }
}

}  // namespace ebm::kernel
