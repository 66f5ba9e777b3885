#include "train/model.hpp"

#include <torch/torch.h>

#include "ebmlab/error.hpp"
#include "ebmlab/normalization.hpp"

#include "train/torch_compat.hpp"

namespace ebm::kernel {

Model::Model(std::shared_ptr<Backbone> backbone, const DataInfo& info, std::string label)
    : backbone_(std::move(backbone)), classes_(info.num_classes), label_(std::move(label)) {
  std::vector<std::int64_t> view(info.shape.size() + 1, 1);
  view[1] = static_cast<std::int64_t>(info.mean.size());
  auto mean = torch::tensor(info.mean, torch::kFloat32).view(view);
  auto std = torch::tensor(info.std, torch::kFloat32).view(view);
  mean_ = register_buffer("input_mean", mean);
  inv_std_ = register_buffer("input_inv_std", 1.0 / std);
  register_module("backbone", std::shared_ptr<torch::nn::Module>(backbone_));
}

at::Tensor Model::forward(const at::Tensor& x) {
  at::Tensor out;
  if (bf16_) {
    // Autocast as torch.autocast does it: matrix products and convolutions in bfloat16,
    // reductions and pointwise work as autocast's lists say; the logits leave as float32, so
    // every energy, loss and metric downstream is reduced in fp32.
    const AutocastGuard autocast(x.device().type(), at::kBFloat16);
    out = backbone_->forward((x - mean_) * inv_std_);
    if (out.defined()) out = out.to(at::kFloat);
  } else {
    out = backbone_->forward((x - mean_) * inv_std_);
  }
  if (!out.defined() || out.dim() != 2 || out.size(0) != x.size(0) || (classes_ > 0 && out.size(1) != classes_))
    throw RunError(label_ + " returned logits of shape " + (out.defined() ? c10::str(out.sizes()) : std::string("(undefined)")) +
                   " for a batch of " + std::to_string(x.size(0)) + "; expected [" + std::to_string(x.size(0)) + ", " +
                   (classes_ > 0 ? std::to_string(classes_) : std::string("K")) + "]");
  return out;
}

at::Tensor Model::features(const at::Tensor& x) { return backbone_->features((x - mean_) * inv_std_); }

void Model::set_norm_frozen(bool frozen) {
  for (auto& m : modules(/*include_self=*/false))
    if (auto* norm = dynamic_cast<NormLayer*>(m.get())) norm->set_frozen(frozen);
}

}  // namespace ebm::kernel
