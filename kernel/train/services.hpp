// What a step may ask of the world beyond its own variant: other data sets as OOD inputs
// (StepContext::other_dataset) and reference networks saved by other runs (StepContext::embed).
// The trainer only holds this interface; the run layer implements it (run/eval_services.hpp)
// with the command's own plugin registry, so this layer never opens another run.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "ebmlab/context.hpp"

namespace ebm::kernel {

class Services {
 public:
  virtual ~Services() = default;
  /// StepContext::other_dataset: a test split converted to this data's shape and range.
  virtual const Batch& other_dataset(const std::string& name, const std::string& path, std::int64_t n) = 0;
  /// StepContext::embed: features and logits of the network saved in `checkpoint`.
  virtual Embedding embed(const std::string& checkpoint, const at::Tensor& x) = 0;
  /// Reference networks loaded so far: checkpoint path -> sha256 (provenance).
  virtual const std::map<std::string, std::string>& loaded() const = 0;
};

/// For a trainer given no services (unit tests, benchmarks): every request is a RunError
/// that says so; nothing is loaded.
class NoServices final : public Services {
 public:
  const Batch& other_dataset(const std::string& name, const std::string& path, std::int64_t n) override;
  Embedding embed(const std::string& checkpoint, const at::Tensor& x) override;
  const std::map<std::string, std::string>& loaded() const override { return none_; }

 private:
  std::map<std::string, std::string> none_;
};

}  // namespace ebm::kernel
