#include "run/eval_services.hpp"

#include <torch/torch.h>

#include "ebmlab/mode_guard.hpp"

#include "config/descriptor.hpp"
#include "config/validate.hpp"
#include "data/data.hpp"
#include "loader/registry.hpp"
#include "loader/sha256.hpp"
#include "run/saved_run.hpp"
#include "store/checkpoint.hpp"
#include "train/components.hpp"
#include "train/model.hpp"

namespace ebm::kernel {

namespace {

std::string shape_str(const std::vector<std::int64_t>& s) { return c10::str(c10::IntArrayRef(s)); }

}  // namespace

EvalServices::EvalServices(DataInfo info, const Registry& registry, c10::Device device)
    : info_(std::move(info)), registry_(registry), device_(device) {}
EvalServices::~EvalServices() = default;

at::Tensor convert_images(const at::Tensor& x, const DataInfo& from, const DataInfo& to) {
  if (from.shape == to.shape && from.lo == to.lo && from.hi == to.hi) return x;
  if (from.shape.size() != 3 || to.shape.size() != 3)
    throw RunError("cannot convert samples of shape " + shape_str(from.shape) + " to " + shape_str(to.shape) +
                   " (only images [C, H, W] are converted)");
  at::Tensor out = (x - from.lo) / (from.hi - from.lo);
  if (from.shape[0] != to.shape[0]) {
    if (from.shape[0] == 3 && to.shape[0] == 1)
      out = out.mean(1, /*keepdim=*/true);
    else if (from.shape[0] == 1)
      out = out.expand({-1, to.shape[0], -1, -1});
    else
      throw RunError("cannot convert " + std::to_string(from.shape[0]) + " channels to " + std::to_string(to.shape[0]));
  }
  if (from.shape[1] != to.shape[1] || from.shape[2] != to.shape[2])
    out = torch::nn::functional::interpolate(out, torch::nn::functional::InterpolateFuncOptions()
                                                      .size(std::vector<std::int64_t>{to.shape[1], to.shape[2]})
                                                      .mode(torch::kBilinear)
                                                      .align_corners(false));
  return (out.clamp(0, 1) * (to.hi - to.lo) + to.lo).contiguous();
}

const Batch& EvalServices::other_dataset(const std::string& name, const std::string& path, std::int64_t n) {
  const std::string key = name + "\n" + path + "\n" + std::to_string(n);
  if (auto it = datasets_.find(key); it != datasets_.end()) return it->second;
  Table t{{"dataset", Value(name)}, {"path", Value(path)}};
  Diagnostics diag;
  References refs{[](const std::string&, const std::string&) { return true; },
                  [](const std::string&) { return std::vector<std::string>{}; }};
  SourceLoc where{"<other data set " + name + ">", 0, 0};
  Table checked = validate_table(Value(t, where), data_schema(), "data", diag, refs, {"streams"});
  try {
    diag.raise();
  } catch (const SchemaError& e) {
    throw ConfigError("other data set '" + name + "': " + e.what());
  }
  Dataset d = load_dataset(Params(checked, "other data set " + name), 0);
  const Split& split = d.test.size() > 0 ? d.test : d.train;
  // Evenly spaced rows, so a capped set still covers every class of an ordered split.
  Batch b = split.size() > n ? split.take(torch::linspace(0, static_cast<double>(split.size() - 1), n).round().to(torch::kInt64))
                             : split.whole();
  b.x = convert_images(b.x, d.info, info_).to(device_);
  b.y = b.y.to(device_);
  return datasets_.emplace(key, b).first->second;
}

Embedding EvalServices::embed(const std::string& checkpoint, const at::Tensor& x) {
  auto it = references_.find(checkpoint);
  if (it == references_.end()) {
    SavedRun run = saved_run_of_checkpoint(checkpoint, registry_);
    // Only the data set's facts are needed; the model's input statistics come from the checkpoint.
    Dataset d = load_run_data(run);
    Reference ref{build_model(run.cfg, registry_, d.info), d.info};
    verify_checkpoint(run, checkpoint);
    load_model_weights(*ref.model, read_checkpoint(checkpoint), checkpoint);
    ref.model->eval();
    loaded_[checkpoint] = sha256_file(checkpoint);
    it = references_.emplace(checkpoint, std::move(ref)).first;
  }
  Reference& ref = it->second;
  ref.model->to(x.device());  // where its inputs are (a no-op after the first call)
  torch::NoGradGuard no_grad;
  ModeGuard guard(*ref.model, ModelMode::eval);
  at::Tensor input = convert_images(x.detach(), info_, ref.info);
  return Embedding{ref.model->features(input), ref.model->forward(input)};
}

}  // namespace ebm::kernel
