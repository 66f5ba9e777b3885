#include "data/augment.hpp"

#include <torch/torch.h>

#include "ebmlab/error.hpp"

namespace ebm::kernel {

// The random numbers come from the stream's host generator whatever the device of x, and
// are moved to x's device: a stream draws the same augmentations on a CPU and on a GPU.
namespace {

at::Tensor random_crop(const at::Tensor& x, std::int64_t pad, at::Generator& gen) {
  if (pad == 0) return x;
  const std::int64_t B = x.size(0), H = x.size(2), W = x.size(3);
  auto padded = torch::constant_pad_nd(x, {pad, pad, pad, pad}, 0.0);
  auto off = torch::randint(0, 2 * pad + 1, {B, 2}, gen, torch::kInt64);
  auto o = off.accessor<std::int64_t, 2>();
  std::vector<at::Tensor> out;
  out.reserve(static_cast<std::size_t>(B));
  for (std::int64_t i = 0; i < B; ++i) out.push_back(padded[i].slice(1, o[i][0], o[i][0] + H).slice(2, o[i][1], o[i][1] + W));
  return torch::stack(out);
}

at::Tensor random_flip(const at::Tensor& x, at::Generator& gen) {
  auto flip = torch::rand({x.size(0)}, gen).lt(0.5).view({-1, 1, 1, 1}).to(x.device());
  return torch::where(flip, x.flip({3}), x);
}

/// Cutout of a square half the image side, then brightness and contrast jitter of ±20 %.
at::Tensor strong_extra(const at::Tensor& x, double lo, double hi, at::Generator& gen) {
  const std::int64_t B = x.size(0), H = x.size(2), W = x.size(3);
  const std::int64_t side = std::max<std::int64_t>(H / 2, 1);
  auto cy = torch::randint(0, H, {B, 1, 1}, gen, torch::kInt64), cx = torch::randint(0, W, {B, 1, 1}, gen, torch::kInt64);
  auto rows = torch::arange(H, torch::kInt64).view({1, H, 1}), cols = torch::arange(W, torch::kInt64).view({1, 1, W});
  auto inside = ((rows - cy).abs().le(side / 2) & (cols - cx).abs().le(side / 2)).to(x.device());
  auto out = x.masked_fill(inside.unsqueeze(1), lo);
  auto brightness = ((torch::rand({B, 1, 1, 1}, gen) - 0.5) * 0.4 * (hi - lo)).to(x.device());
  auto contrast = (1.0 + (torch::rand({B, 1, 1, 1}, gen) - 0.5) * 0.4).to(x.device());
  auto mean = out.mean({1, 2, 3}, true);
  return ((out - mean) * contrast + mean + brightness).clamp(lo, hi);
}

}  // namespace

at::Tensor augment(const at::Tensor& x, const std::string& kind, std::int64_t padding, double lo, double hi, at::Generator& gen) {
  if (kind == "none") return x;
  if (x.dim() != 4)
    throw DataError("augment = \"" + kind + "\" needs image data [B,C,H,W]; this data set has " + std::to_string(x.dim() - 1) +
                    "-d samples (use augment = \"none\")");
  torch::NoGradGuard no_grad;
  at::Tensor out = random_crop(x, padding, gen);
  if (kind == "crop") return out;
  out = random_flip(out, gen);
  if (kind == "flip_crop") return out;
  return strong_extra(out, lo, hi, gen);
}

}  // namespace ebm::kernel
