// The evaluation services the runner hands a trainer (train/services.hpp): other data sets
// as OOD inputs and reference networks (e.g. the feature net) loaded from other runs'
// checkpoints, with the plugins of the command's own registry.
#pragma once

#include <map>
#include <memory>
#include <string>

#include <c10/core/Device.h>

#include "ebmlab/context.hpp"

#include "train/services.hpp"

namespace ebm::kernel {

class Registry;
class Model;

class EvalServices final : public Services {
 public:
  /// `registry`: the command's own, so plugins it loaded from anywhere (--allow-plugin-path
  /// included) build the reference networks too. It must outlive this object.
  /// `device`: where the other data sets are handed over (reference networks follow the
  /// inputs they are asked to embed).
  EvalServices(DataInfo info, const Registry& registry, c10::Device device = c10::Device(c10::kCPU));
  ~EvalServices() override;

  const Batch& other_dataset(const std::string& name, const std::string& path, std::int64_t n) override;
  Embedding embed(const std::string& checkpoint, const at::Tensor& x) override;
  const std::map<std::string, std::string>& loaded() const override { return loaded_; }

 private:
  struct Reference {
    std::shared_ptr<Model> model;
    DataInfo info;
  };
  DataInfo info_;
  const Registry& registry_;
  c10::Device device_;
  std::map<std::string, Batch> datasets_;
  std::map<std::string, Reference> references_;
  std::map<std::string, std::string> loaded_;
};

/// Converts images x [N, C, H, W] in [from.lo, from.hi] to `to`'s shape and range: channels
/// averaged (3 -> 1) or repeated (1 -> 3), bilinear resize, linear range map.
at::Tensor convert_images(const at::Tensor& x, const DataInfo& from, const DataInfo& to);

}  // namespace ebm::kernel
