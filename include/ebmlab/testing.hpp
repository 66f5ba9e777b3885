// ebmlab testing library (libebmlab_testing, installed with the SDK): the conformance checks
// every in-tree plugin passes, for any plugin, on real kernel objects (the plugin registry,
// a model built from ebmlab's own backbone and normalization plugins, a step context over a
// toy data set), and that context for a plugin's own tests. The in-tree conformance suites
// (tests/unit) run through these same functions. docs/testing-a-plugin.md walks through it.
//
//   find_package(ebmlab REQUIRED)
//   ebmlab_add_plugin(my_sampler SOURCES my_sampler.cpp)
//   ebmlab_add_plugin_test(my_sampler SOURCES test_my_sampler.cpp)   # then: ctest
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ebmlab/ebmlab.hpp"

namespace torch::nn {
class Module;
}

namespace ebm::testing {

/// The outcome of a check: one line per broken promise, none when the plugin conforms.
struct EBMLAB_API Report {
  std::string subject;                ///< e.g. "sampler 'pgd' {steps = 3}"
  std::vector<std::string> failures;  ///< what was expected and what was found
  bool ok() const { return failures.empty(); }
  /// The subject and every failure, one per line (doctest: CHECK_MESSAGE(r.ok(), r.text())).
  std::string text() const;
};

/// Plugins the checks and the harness can use: ebmlab's own (beside this library, in the
/// build tree or the install), then every folder or file of EBMLAB_PLUGIN_PATH, which
/// ebmlab_add_plugin_test points at the plugin under test. Loaded once per process.
EBMLAB_API std::vector<std::string> plugin_names(Kind kind);
/// Loads more plugins into the same registry: a library file or a folder of them.
EBMLAB_API void load_plugins(const std::string& path);

/// The data sets of the harness and the checks.
enum class ToyData {
  points,  ///< 2-D points in [0,1]^2, 3 classes (losses and metrics: a linear model)
  images,  ///< 1x12x12 images in [0,1], 10 classes (samplers: a small convnet with BatchNorm)
};
/// The facts of a toy data set (shape, classes, mean and std), for building a component
/// by hand with a BuildContext.
EBMLAB_API DataInfo toy_info(ToyData data);

/// A real step context for a plugin's own tests: a model (normalization + backbone plugins)
/// on a toy data set, a batch of 8, a training split of 60, and the terms logged. Losses and
/// metrics asking for ctx.samples(name) get a sampler added with add_sampler, or else
/// uniform samples in the data range (the same within a step).
class EBMLAB_API Harness {
 public:
  /// `backbone` and `norm` are descriptor table bodies, e.g. "plugin = \"mlp\"\nhidden = []".
  /// Empty: the toy data's model (points: a linear model without normalization; images: a
  /// convnet with one 4-channel layer and BatchNorm). Seeds LibTorch's generator with `seed`.
  explicit Harness(ToyData data = ToyData::images, std::uint64_t seed = 1, const std::string& backbone = "",
                   const std::string& norm = "");
  ~Harness();
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  StepContext& context();
  torch::nn::Module& model();
  at::Tensor logits(const at::Tensor& x);
  const DataInfo& data() const;
  /// The step's batch (x in the data range, y) and the whole training split; settable.
  Batch& batch();
  Batch& train_set();
  /// A new step: the step number, the sample memo cleared (the next samples() runs again).
  void next_step(std::int64_t step);
  /// Terms logged through context() since construction, by term.
  const std::map<std::string, double>& logged() const;
  /// Runs `sampler` when a component asks for ctx.samples(name) (once per step, as the kernel).
  void add_sampler(const std::string& name, std::shared_ptr<Sampler> sampler);

  /// Builds plugin `plugin` of `kind` from a TOML table body (without `plugin`), validated
  /// against its schema as a descriptor is; a ConfigError names what is wrong.
  std::shared_ptr<Component> make(Kind kind, const std::string& plugin, const std::string& body = "") const;
  template <class T>
  std::shared_ptr<T> make(Kind kind, const std::string& plugin, const std::string& body = "") const {
    return std::dynamic_pointer_cast<T>(make(kind, plugin, body));
  }

 private:
  struct State;
  std::unique_ptr<State> s_;
};

/// The conformance checks (the contract of docs/writing-a-plugin.md, kind by kind). `body`
/// is the plugin's descriptor table body without `plugin`, e.g. "steps = 3".
///  sampler: samples shaped like the batch, finite, detached, in the range sample_range()
///    declares, no parameter gradients left, every module's mode restored, the same samples
///    at the same seed, state() round trip, every declared term logged;
///  loss: a finite 0-d loss, gradients reach the parameters, declared terms logged, the
///    same value twice;
///  metric: results and tensors exactly as declared in outputs(), finite, the model's mode
///    and gradients untouched, the same results from a fresh instance at the same seed;
///  backbone: logits [B, K], finite, gradients to the input and every parameter, with
///    each of ebmlab's normalizations "none" and "batch";
///  normalization: with the convnet backbone as above, and a frozen normalization never
///    changes its running statistics while a trainable one with statistics does.
EBMLAB_API Report check_sampler(const std::string& plugin, const std::string& body = "");
EBMLAB_API Report check_loss(const std::string& plugin, const std::string& body = "");
EBMLAB_API Report check_metric(const std::string& plugin, const std::string& body = "");
EBMLAB_API Report check_backbone(const std::string& plugin, const std::string& body = "");
EBMLAB_API Report check_normalization(const std::string& plugin, const std::string& body = "");
/// One backbone with one normalization (the in-tree suite runs every pair).
EBMLAB_API Report check_model(const std::string& backbone, const std::string& backbone_body, const std::string& norm,
                              const std::string& norm_body);
/// The check of `kind`.
EBMLAB_API Report check(Kind kind, const std::string& plugin, const std::string& body = "");

}  // namespace ebm::testing
