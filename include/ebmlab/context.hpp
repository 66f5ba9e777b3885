// ebmlab SDK: what a component sees during one training step or one evaluation batch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "ebmlab/error.hpp"

namespace torch::nn {
class Module;
}

namespace ebm {

/// A labelled batch. x: [B, ...shape] float32 in the data range [lo, hi]; y: [B] int64.
struct Batch {
  at::Tensor x;
  at::Tensor y;
};

/// A reference network's view of a batch: penultimate features and logits.
struct Embedding {
  at::Tensor features;  ///< [B, D]
  at::Tensor logits;    ///< [B, K]
};

/// Facts about the data set a component may rely on.
struct DataInfo {
  std::string name;
  std::vector<std::int64_t> shape;  ///< one sample, e.g. {1, 28, 28} or {2}
  std::int64_t num_classes = 0;
  double lo = 0.0, hi = 1.0;      ///< data range; samplers clamp to it
  std::vector<double> mean, std;  ///< per-channel statistics (the model's first layer)
  std::vector<std::string> class_names;
};

/// The kernel's view of one step, handed to losses, samplers and metrics.
class EBMLAB_API StepContext {
 public:
  virtual ~StepContext();
  /// The step's batch from a named data stream: "train", or a stream declared under
  /// [data.streams] (own order, augmentation and input noise). During evaluation every
  /// stream name gives the evaluation batch.
  virtual const Batch& batch(const std::string& stream = "train") = 0;
  /// The whole training split without augmentation (for fitting initial distributions,
  /// e.g. per-class Gaussians). x: [N, ...shape], y: [N].
  virtual const Batch& train_set() = 0;
  /// The whole model (normalization layer + backbone), in the mode the kernel set.
  virtual torch::nn::Module& model() = 0;
  /// x: [B, ...shape] in the data range -> logits [B, K]; differentiable in x and parameters.
  virtual at::Tensor logits(const at::Tensor& x) = 0;
  /// Runs the sampler named in [samplers.<name>] once per step and returns the same
  /// detached tensor to every caller of that step (AT-CE and DER see the same x*).
  virtual at::Tensor samples(const std::string& sampler) = 0;
  /// Logs a scalar as curves/<calling component>/<term>; the term must be declared.
  /// `value` is a 0-d tensor of any dtype on any device, left there: the kernel fetches
  /// the terms of a step together (one transfer), so a plugin never calls .item() to log.
  virtual void log(const std::string& term, const at::Tensor& value) = 0;
  /// A value already on the host (a count, a curriculum's step, an AUC computed there).
  void log(const std::string& term, double value);
  virtual std::int64_t step() const = 0;   ///< global step, 0-based, across stages
  virtual std::int64_t epoch() const = 0;  ///< epoch within the current stage
  virtual const DataInfo& data() const = 0;

  // Evaluation services (metrics and post-hoc commands). The kernel provides them; a
  // context that cannot (e.g. a test's) throws RunError saying so.

  /// Test images of another built-in data set, for OOD evaluation: `name` is one of
  /// fashion_mnist, cifar10, cifar100, image_folder; `path` its folder ("" = the data
  /// set's default location). Converted to this data's shape and range (channels averaged
  /// or repeated, bilinear resize); at most `n` images, spread over the split. Cached.
  virtual const Batch& other_dataset(const std::string& name, const std::string& path, std::int64_t n);
  /// A reference network saved by another ebmlab run, given by its checkpoint file
  /// (".../<variant>/ckpt-*.h5"; the variant log beside the folder names its architecture),
  /// e.g. the feature network of sample_quality. Loaded once, evaluated in eval mode
  /// without gradients on x (this data's range).
  virtual Embedding embed(const std::string& checkpoint, const at::Tensor& x);
};

/// Energies from logits (DESIGN.md conventions). logits: [B, K] -> [B].
EBMLAB_API at::Tensor energy(const at::Tensor& logits);                             ///< -logsumexp f(x)
EBMLAB_API at::Tensor joint_energy(const at::Tensor& logits, const at::Tensor& y);  ///< -f(x)[y]

}  // namespace ebm
