// Key functions of the SDK interfaces, so dynamic_cast and typeinfo work across libraries.
#include <torch/torch.h>

#include "ebmlab/ebmlab.hpp"

namespace ebm {

Component::~Component() = default;
StepContext::~StepContext() = default;
Backbone::~Backbone() = default;
Sampler::~Sampler() = default;
Loss::~Loss() = default;
Metric::~Metric() = default;
Normalization::~Normalization() = default;
NormLayer::~NormLayer() = default;

void NormLayer::train(bool on) { torch::nn::Module::train(on && !frozen_); }

void NormLayer::set_frozen(bool frozen) {
  frozen_ = frozen;
  if (frozen_) torch::nn::Module::train(false);
}

void StepContext::log(const std::string& term, double value) { log(term, torch::scalar_tensor(value, torch::kFloat64)); }

const Batch& StepContext::other_dataset(const std::string& name, const std::string&, std::int64_t) {
  throw RunError("this context offers no other data sets (asked for '" + name + "'); run the metric through ebmlab");
}

Embedding StepContext::embed(const std::string& checkpoint, const at::Tensor&) {
  throw RunError("this context cannot load reference networks (asked for '" + checkpoint + "'); run the metric through ebmlab");
}

at::Tensor Backbone::features(const at::Tensor&) {
  throw RunError("this backbone does not expose features(); implement Backbone::features to use it as a feature network");
}

at::Tensor energy(const at::Tensor& logits) { return -torch::logsumexp(logits, 1); }

at::Tensor joint_energy(const at::Tensor& logits, const at::Tensor& y) { return -logits.gather(1, y.view({-1, 1})).squeeze(1); }

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::backbone:
      return "backbone";
    case Kind::sampler:
      return "sampler";
    case Kind::loss:
      return "loss";
    case Kind::normalization:
      return "normalization";
    case Kind::metric:
      return "metric";
  }
  return "unknown";
}

bool Fingerprint::operator==(const Fingerprint& o) const {
  if (abi_version != o.abi_version || torch_major != o.torch_major || torch_minor != o.torch_minor || cxx11_abi != o.cxx11_abi ||
      sanitizer != o.sanitizer)
    return false;
  for (int i = 0; i < kKindCount; ++i)
    if (interface_versions[i] != o.interface_versions[i]) return false;
  return true;
}

std::string Fingerprint::str() const {
  std::string s = "{abi " + std::to_string(abi_version) + ", interfaces";
  for (int i = 0; i < kKindCount; ++i) s += std::string(i ? "/" : " ") + std::to_string(interface_versions[i]);
  s += ", torch " + std::to_string(torch_major) + "." + std::to_string(torch_minor);
  s += ", cxx11_abi " + std::to_string(cxx11_abi) + ", sanitizer " + std::to_string(sanitizer) + "}";
  return s;
}

}  // namespace ebm
