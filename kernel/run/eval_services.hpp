// The kernel side of StepContext's evaluation services: other data sets as OOD inputs
// and reference networks (e.g. the feature net) loaded from other runs' checkpoints.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "ebmlab/context.hpp"

namespace ebm::kernel {

class Registry;
class Model;

class EvalServices {
 public:
  explicit EvalServices(DataInfo info);
  ~EvalServices();

  /// StepContext::other_dataset: a test split converted to this data's shape and range.
  const Batch& other_dataset(const std::string& name, const std::string& path, std::int64_t n);
  /// StepContext::embed: features and logits of the network saved in `checkpoint`.
  Embedding embed(const std::string& checkpoint, const at::Tensor& x);
  /// Reference networks loaded so far: checkpoint path -> sha256 (provenance).
  const std::map<std::string, std::string>& loaded() const { return loaded_; }

 private:
  struct Reference {
    std::shared_ptr<Model> model;
    DataInfo info;
  };
  DataInfo info_;
  std::unique_ptr<Registry> registry_;  ///< keeps the reference networks' plugins loaded
  std::map<std::string, Batch> datasets_;
  std::map<std::string, Reference> references_;
  std::map<std::string, std::string> loaded_;
};

/// Converts images x [N, C, H, W] in [from.lo, from.hi] to `to`'s shape and range: channels
/// averaged (3 -> 1) or repeated (1 -> 3), bilinear resize, linear range map.
at::Tensor convert_images(const at::Tensor& x, const DataInfo& from, const DataInfo& to);

}  // namespace ebm::kernel
