// A StepContext over a real kernel Model for exercising plugins one at a time: the batch,
// the training set and the sample memo are set by the test; logged terms are recorded.
#pragma once

#include <map>
#include <memory>
#include <string>

#include <torch/torch.h>

#include "ebmlab/ebmlab.hpp"
#include "ebmlab/testing.hpp"

#include "config/descriptor.hpp"
#include "config/validate.hpp"
#include "helpers.hpp"
#include "loader/registry.hpp"
#include "train/components.hpp"
#include "train/model.hpp"

namespace ebm::test {

/// Builds plugin `plugin` of `kind` from its descriptor table (without `plugin`),
/// validated against its schema exactly as a descriptor would be.
template <class T>
std::shared_ptr<T> make_plugin_from(Kind kind, const std::string& plugin, Table values, const DataInfo& info,
                                    std::shared_ptr<Normalization> norm = nullptr) {
  const kernel::LoadedEntry* e = registry().find(kind, plugin);
  REQUIRE_MESSAGE(e != nullptr, "no plugin " << plugin);
  // Fill defaults through the schema (the kernel's validator).
  kernel::Diagnostics diag;
  kernel::References refs{[](const std::string&, const std::string&) { return true; },
                          [](const std::string&) { return std::vector<std::string>{}; }};
  Schema schema = e->entry.schema();
  Table checked = kernel::validate_table(Value(std::move(values)), schema, "t", diag, refs);
  diag.raise();
  BuildContext bc;
  bc.instance = "t";
  bc.data = info;
  bc.norm = std::move(norm);
  return registry().create<T>(kind, plugin, Params(checked, "t (" + plugin + ")"), bc);
}

/// Builds a plugin of `kind` from a TOML table body such as `plugin = "pgd"\neps = 0.1`,
/// validated against its schema exactly as a descriptor would be.
template <class T>
std::shared_ptr<T> make_plugin(Kind kind, const std::string& body, const DataInfo& info,
                               std::shared_ptr<Normalization> norm = nullptr) {
  Value root = kernel::parse_toml_text("[t]\n" + body + "\n", "plugin.toml");
  const Value& t = *root.find("t");
  Table values = t.as_table();
  values.erase("plugin");
  return make_plugin_from<T>(kind, t.find("plugin")->as_string(), std::move(values), info, std::move(norm));
}

/// Toy 2-D data info ([0,1]^2): the testing library's points with `classes` classes.
inline DataInfo toy_info(std::int64_t classes = 2) {
  DataInfo d = ebm::testing::toy_info(ebm::testing::ToyData::points);
  d.name = "toy";
  d.num_classes = classes;
  return d;
}

/// Fashion-MNIST-shaped info (the testing library's images).
inline DataInfo image_info() { return ebm::testing::toy_info(ebm::testing::ToyData::images); }

class Context : public StepContext {
 public:
  Context(std::shared_ptr<kernel::Model> model, DataInfo info) : model_(std::move(model)), info_(std::move(info)) {}

  Batch batch_;
  Batch train_;
  std::map<std::string, at::Tensor> memo;
  std::map<std::string, std::shared_ptr<Sampler>> samplers;
  std::map<std::string, double> logged;
  std::int64_t step_ = 0, epoch_ = 0;

  const Batch& batch(const std::string&) override { return batch_; }
  const Batch& train_set() override { return train_.x.defined() ? train_ : batch_; }
  torch::nn::Module& model() override { return *model_; }
  at::Tensor logits(const at::Tensor& x) override { return model_->forward(x); }
  at::Tensor samples(const std::string& name) override {
    if (auto it = memo.find(name); it != memo.end()) return it->second;
    auto s = samplers.at(name);
    ModeGuard guard(*model_, s->model_mode());
    return memo[name] = s->sample(*this).detach();
  }
  using StepContext::log;
  /// As the kernel: a 0-d tensor, fetched as a double.
  void log(const std::string& term, const at::Tensor& value) override {
    REQUIRE_MESSAGE(value.dim() == 0, term << " logged with shape " << value.sizes());
    logged[term] = value.to(torch::kFloat64).item<double>();
  }
  std::int64_t step() const override { return step_; }
  std::int64_t epoch() const override { return epoch_; }
  const DataInfo& data() const override { return info_; }

 private:
  std::shared_ptr<kernel::Model> model_;
  DataInfo info_;
};

/// A model (per-channel normalization + backbone) from TOML bodies.
inline std::shared_ptr<kernel::Model> make_model(const std::string& backbone, const std::string& norm, const DataInfo& info) {
  auto n = make_plugin<Normalization>(Kind::normalization, norm, info);
  auto b = make_plugin<Backbone>(Kind::backbone, backbone, info, n);
  return std::make_shared<kernel::Model>(b, info);
}

}  // namespace ebm::test
