// Experiment descriptors: TOML -> Value tree -> plain variants -> validated configs.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "ebmlab/plugin.hpp"
#include "ebmlab/value.hpp"

namespace ebm::kernel {

class Registry;

/// A parsed descriptor file with its includes merged in. Throws ConfigError
/// (file:line:column) on TOML errors, missing include files and include cycles.
struct Descriptor {
  std::string path;
  std::string text;
  Value root;
  /// Every file read through `include = [...]` (path as resolved, text), in reading order.
  std::vector<std::pair<std::string, std::string>> includes;
};
/// `include = ["base.toml", ...]`: files relative to the including one, deep-merged in
/// order underneath it (so the including file wins); nested includes are allowed.
Descriptor load_descriptor(const std::string& path);
Value parse_toml_text(const std::string& text, const std::string& source_name);

/// One plain experiment: the base descriptor with a named overlay merged in.
/// Variants and (later) sweeps all expand to this, and each is validated the same way.
struct Variant {
  std::string name;
  Value tree;
};
/// A command-line override `key.path=value`: the value is read as a TOML value, or as a
/// string when it is not one. Its place in error messages is "override 'TEXT'".
struct Override {
  std::string text;
  std::vector<std::string> path;
  Value value;
};
Override parse_override(const std::string& arg);

/// More variants than this from one descriptor is a mistake, not an ablation.
inline constexpr std::size_t kMaxVariants = 10000;

/// `[variants.NAME]` tables are deep-merged onto the base (tables merge, arrays replace),
/// in file order; without any, the single variant is named "main". `[sweep]` then crosses
/// every variant with its values (names `<variant>-<label>=<value>-...`), and overrides
/// apply last (those under `variants.` or `sweep.` first, to the document).
std::vector<Variant> expand(const Descriptor& d, const std::vector<Override>& overrides = {});
Value deep_merge(const Value& base, const Value& overlay);
/// Sets `path` (table keys and array indices) in `root`, creating missing tables.
/// ConfigError prefixed with `origin` when the path does not fit the tree.
void set_path(Value& root, const std::vector<std::string>& path, const Value& value, const std::string& origin);

/// `[plugins] paths = ["folder", "lib.so"]`: plugin files or folders, relative to the file
/// naming them. Plugins are code, so the CLI loads them only with --allow-plugin-path.
/// Throws SchemaError (file:line:column) on a malformed table.
struct PluginPath {
  std::string path;
  SourceLoc loc;
};
std::vector<PluginPath> descriptor_plugin_paths(const Descriptor& d);

/// A component instance as the descriptor wires it.
struct ComponentSpec {
  std::string instance;  ///< "model.backbone", "samplers.attack", "stage.0.losses.1", "metric.0"
  std::string name;      ///< samplers: the table key; metrics/losses: `name` or the plugin name
  std::string plugin;
  Kind kind = Kind::loss;
  Params params;
  double weight = 1.0;  ///< losses only
};

/// A stage's optimizer table.
struct OptimizerSpec {
  std::string name;  ///< "sgd" | "adam"
  double lr = 0.0, momentum = 0.0, weight_decay = 0.0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  bool nesterov = false;
};

/// A stage's learning-rate schedule table.
struct ScheduleSpec {
  std::string name;  ///< "constant" | "step" | "multistep" | "cosine"
  std::int64_t warmup_steps = 0, step_every = 1000;
  double gamma = 0.1, min_lr = 0.0;
  std::vector<std::int64_t> milestones;  ///< multistep: steps of the stage where the rate is multiplied by gamma
};

struct StageSpec {
  std::string name;
  std::int64_t epochs = 0, steps = 0;  ///< exactly one is > 0
  OptimizerSpec optimizer;
  ScheduleSpec schedule;
  double grad_clip = 0.0;
  std::string norm_mode;        ///< "train" | "frozen"
  std::int64_t eval_every = 0;  ///< steps; 0 = at each epoch's end
  double ema = 0.0;             ///< weight-average decay; 0 = off
  bool ema_warmup = true;       ///< decay min(ema, (1+n)/(10+n)) after n updates (DAT)
  std::string init;             ///< checkpoint file whose model weights start the stage ("" = carry on)
  std::string eval_weights = "raw";
  double loss_bound = 1e8, energy_bound = 1e6;
  std::vector<ComponentSpec> losses;
};

/// A data stream drawn from the training split with its own order and augmentation.
struct StreamSpec {
  std::string name;
  std::int64_t batch_size = 0;
  std::string augment;
  std::int64_t crop_padding = 0;
  double noise = 0.0;
};

/// [experiment]
struct ExperimentSpec {
  std::string name;
  std::int64_t seed = 0;
  std::string output;              ///< the index file; "" = runs/<name>.h5
  std::string device;              ///< "auto", "cpu", "cuda" or "cuda:N" (checked syntax; resolve_device() decides)
  bool deterministic = false;      ///< LibTorch's deterministic algorithms (use_deterministic())
  std::string precision = "fp32";  ///< "fp32" or "bf16" (autocast in the model's forward passes)
};

/// Whether `text` is a device the [experiment] table may name: auto, cpu, cuda, cuda:N.
bool is_device_text(const std::string& text);

/// [data]: the keys the kernel itself uses; the data layer reads every key from `params`.
struct DataSpec {
  Params params;
  std::string dataset;
  std::int64_t batch_size = 0, eval_batch_size = 0;
};

/// [log]
struct LogSpec {
  std::int64_t flush_every = 50, samples_every = 0, samples_count = 0;
  double progress_every = 0.0;  ///< seconds between progress lines
};

/// [checkpoint]
struct CheckpointSpec {
  bool enabled = true;
  std::int64_t every = 0, keep = 1;
  std::string best, best_mode;  ///< "metric/result" to keep the best by ("" = none), "max" | "min"
};

/// A validated variant: every plugin exists and every parameter satisfies its schema.
/// Each kernel section is read once, here, into its typed struct.
struct VariantConfig {
  std::string name;
  Value resolved;  ///< the whole tree with defaults filled in
  ExperimentSpec experiment;
  DataSpec data;
  LogSpec log;
  CheckpointSpec checkpoint;
  std::vector<StreamSpec> streams;  ///< "train" first
  ComponentSpec backbone, norm;
  std::vector<ComponentSpec> samplers;
  std::vector<StageSpec> stages;
  std::vector<ComponentSpec> metrics;
};

/// Validates one variant against the kernel's sections and every plugin's schema.
/// Throws SchemaError listing every problem (each with file:line:column).
VariantConfig resolve(const Variant& v, const Registry& registry);

/// After validation (kernel_schemas.cpp): the kernel's sections read once into `cfg`'s typed
/// structs. `stage_tables` holds each stage's optimizer and schedule tables.
void type_sections(VariantConfig& cfg, const Params& experiment, const Params& log, const Params& checkpoint,
                   const std::vector<std::pair<Params, Params>>& stage_tables);

/// The kernel's own sections, for `ebmlab validate` and the docs.
const Schema& experiment_schema();
const Schema& data_schema();
const Schema& stream_schema();
const Schema& stage_schema();
const Schema& log_schema();
const Schema& checkpoint_schema();

}  // namespace ebm::kernel
