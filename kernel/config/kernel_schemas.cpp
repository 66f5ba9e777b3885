// The kernel's own descriptor sections ([experiment], [data], streams, [[stage]], [log],
// [checkpoint]): their parameters, defaults and bounds. Plugins declare theirs in their
// own schema(); resolve() in descriptor.cpp checks a descriptor against both.
#include <algorithm>
#include <cstdint>

#include "config/descriptor.hpp"

namespace ebm::kernel {

namespace {
// Sane bounds on sizes: a value beyond them is a typo, not an experiment, and would only
// fail later (an allocation, an overflow) or run for years.
constexpr std::int64_t kMaxSeed = std::int64_t{1} << 40;
constexpr std::int64_t kMaxImages = 1'000'000'000;
constexpr std::int64_t kMaxEpochs = 1'000'000;
constexpr std::int64_t kMaxSteps = 10'000'000'000;
}  // namespace

namespace p = ebm::param;

const Schema& experiment_schema() {
  static const Schema kSchema = {
      p::string("name", "experiment name; names the output files").require(),
      p::integer("seed", "global seed: a CPU run is repeatable at a fixed thread count").set_default(0).range(0, kMaxSeed),
      p::string("output", "index file to write (default runs/<name>.h5)"),
      p::string("description", "free text stored with the run").set_default(""),
      p::string("device",
                "where to train and evaluate: \"auto\" (the GPU when this LibTorch has CUDA and one is visible, else the "
                "CPU), \"cpu\", \"cuda\" or \"cuda:N\"; --device overrides it")
          .set_default("auto"),
      p::boolean("deterministic",
                 "LibTorch's deterministic algorithms and deterministic cuDNN without autotuning: an operation "
                 "without a deterministic implementation then stops the run; on a GPU, two runs agree bit for bit "
                 "(on the CPU they do anyway at a fixed thread count)")
          .set_default(false),
      p::enumeration("precision", {"fp32", "bf16"},
                     "bf16: the model's forward passes (training, sampling, evaluation) under autocast to bfloat16, "
                     "logits returned as float32 so energies and losses are reduced in fp32; fp32: none")
          .set_default("fp32"),
  };
  return kSchema;
}

const Schema& data_schema() {
  static const Schema kSchema = [] {
    Schema s = {
        p::enumeration("dataset", {"fashion_mnist", "toy2d", "cifar10", "cifar100", "image_folder"}, "built-in data set")
            .require(),
        p::string("path",
                  "data folder: fashion_mnist's gzip IDX files (empty: /usr/share/datasets/fashion-mnist), the CIFAR "
                  "binary version, or an image folder with train/<class>/ and test/<class>/")
            .set_default(""),
        p::enumeration("input_norm", {"dataset", "symmetric"},
                       "the model's first layer: standardize with the training split's per-channel mean/std (dataset), "
                       "or map [0,1] to [-1,1] as JEM's code does (symmetric: mean = std = 0.5)")
            .set_default("dataset"),
        p::integer("image_size", "image_folder: shorter side resized to this, then center-cropped square")
            .set_default(32)
            .range(4, 4096),
        p::integer("channels", "image_folder: 1 (grayscale) or 3 (RGB)").set_default(3).range(1, 3),
        p::integer("batch_size", "training batch size").set_default(64).range(1, 1 << 16),
        p::integer("eval_batch_size", "evaluation batch size").set_default(1000).range(1, 1 << 16),
        p::integer("validation",
                   "training samples held out for validation (-1: 5000 for fashion_mnist and CIFAR, 10 % otherwise)")
            .set_default(-1)
            .range(-1, kMaxImages),
        p::integer("subset", "use only the first N training images (0 = all)").set_default(0).range(0, kMaxImages),
        p::integer("test_subset", "use only the first N test images (0 = all)").set_default(0).range(0, kMaxImages),
        p::enumeration("toy", {"rings", "moons", "gaussians8"}, "toy2d: the distribution").set_default("moons"),
        p::integer("toy_samples", "toy2d: training points (test: a quarter as many)").set_default(4000).range(16, 10000000),
        p::real("toy_noise", "toy2d: Gaussian noise added to the points").set_default(0.05).range(0, 10),
        p::table("streams", {}, "extra data streams by name: [data.streams.NAME] (see stream keys)"),
    };
    for (auto& k : stream_schema())
      if (k.name != "batch_size" && k.name != "source") s.push_back(k);  // the "train" stream's own keys live in [data]
    return s;
  }();
  return kSchema;
}

const Schema& stream_schema() {
  static const Schema kSchema = {
      p::integer("batch_size", "batch size of this stream (0: [data] batch_size)").set_default(0).range(0, 1 << 16),
      p::enumeration("augment", {"none", "flip_crop", "crop", "strong"},
                     "augmentation: flip_crop = random crop with padding + horizontal flip; strong = flip_crop + "
                     "cutout + brightness/contrast jitter (image data only)")
          .set_default("none"),
      p::integer("crop_padding", "random-crop padding in pixels").set_default(2).range(0, 64),
      p::real("noise", "Gaussian input noise sigma added to each batch (JEM's sigma_data; 0.015 on [0,1] = 0.03 on [-1,1])")
          .set_default(0.0)
          .range(0, 10),
      p::table("source", {},
               "streams only: draw from another data set (keys as [data]; same sample shape) instead "
               "of the training split, e.g. auxiliary seeds for contrastive samples"),
  };
  return kSchema;
}

const Schema& stage_schema() {
  static const Schema kSchema = {
      p::string("name", "stage name (default stage<i>)"),
      p::integer("epochs", "length in epochs (give epochs or steps)").set_default(0).range(0, kMaxEpochs),
      p::integer("steps", "length in optimizer steps (give epochs or steps)").set_default(0).range(0, kMaxSteps),
      p::table("optimizer",
               {p::enumeration("name", {"sgd", "adam"}, "optimizer").set_default("sgd"),
                p::real("lr", "learning rate").set_default(0.01).range(0, 10),
                p::real("momentum", "SGD momentum").set_default(0.0).range(0, 0.999999),
                p::boolean("nesterov", "SGD Nesterov momentum").set_default(false),
                p::real("weight_decay", "L2 weight decay").set_default(0.0).range(0, 1),
                p::real("beta1", "Adam beta1").set_default(0.9).range(0, 0.999999),
                p::real("beta2", "Adam beta2").set_default(0.999).range(0, 0.999999999),
                p::real("eps", "Adam epsilon").set_default(1e-8).range(0, 1)},
               "optimizer settings"),
      p::table(
          "schedule",
          {p::enumeration("name", {"constant", "step", "multistep", "cosine"}, "learning-rate schedule").set_default("constant"),
           p::integer("warmup_steps", "linear warm-up from 0 over this many steps").set_default(0).range(0, kMaxSteps),
           p::integer("step_every", "step schedule: multiply by gamma every N steps").set_default(1000).range(1, kMaxSteps),
           p::real("gamma", "step and multistep schedules' factor").set_default(0.1).range(0, 1),
           p::list("milestones", p::integer("milestone", "a step of the stage").range(1, kMaxSteps),
                   "multistep schedule: multiply by gamma once at each of these steps of the stage (counted from its "
                   "first step, warm-up included; JEM: the steps of epochs 160 and 180)")
               .set_default(ebm::List{})
               .range(0, 64),
           p::real("min_lr", "cosine schedule floor").set_default(0.0).at_least(0)},
          "learning-rate schedule"),
      p::real("grad_clip", "clip the global gradient norm (0 = off)").set_default(0.0).at_least(0),
      p::enumeration("norm_mode", {"train", "frozen"}, "norm layers: batch statistics or frozen (eval) statistics")
          .set_default("train"),
      p::integer("eval_every", "evaluate on the validation split every N steps (0 = each epoch end)")
          .set_default(0)
          .range(0, kMaxSteps),
      p::string("init", "start from the model weights of this ebmlab checkpoint file (empty: the previous stage's weights)")
          .set_default(""),
      p::real("ema", "decay of an exponential moving average of the weights (0 = off; DAT: 0.999)")
          .set_default(0.0)
          .range(0, 0.999999),
      p::boolean("ema_warmup",
                 "average with decay min(ema, (1 + n) / (10 + n)) after n updates, as DAT's code "
                 "(rebm/training/average_model.py:28-49); false: ema from the first update (ebmlab before issue 19)")
          .set_default(true),
      p::enumeration("eval_weights", {"raw", "ema"}, "weights evaluated during and after this stage").set_default("raw"),
      p::real("loss_bound", "divergence: |loss| above this ends the variant as diverged (JEM's rule: 1e8)")
          .set_default(1e8)
          .at_least(0),
      p::real(
          "energy_bound",
          "divergence: a logged term its plugin declares an energy (OutputRole::energy) above this in magnitude ends the variant")
          .set_default(1e6)
          .at_least(0),
      p::list("losses", p::table("loss", {}, "a loss"), "losses summed with their weights").require().at_least(1),
  };
  return kSchema;
}

const Schema& checkpoint_schema() {
  static const Schema kSchema = {
      p::integer("every", "write a checkpoint every N steps (0: only at the end of each stage)")
          .set_default(0)
          .range(0, kMaxSteps),
      p::integer("keep", "periodic checkpoints kept (the newest; the best is kept besides)").set_default(1).range(1, 1000),
      p::string("best", "validation result that picks ckpt-best.h5, e.g. \"accuracy/accuracy\" (empty: none)").set_default(""),
      p::enumeration("best_mode", {"max", "min"}, "whether higher or lower is better for 'best'").set_default("max"),
      p::boolean("enabled", "write checkpoints at all").set_default(true),
  };
  return kSchema;
}

const Schema& log_schema() {
  static const Schema kSchema = {
      p::integer("flush_every", "flush curves to disk every N steps (and at every evaluation)").set_default(50).at_least(1),
      p::real("progress_every", "seconds between plain progress lines when not on a terminal").set_default(10.0).at_least(0),
      p::integer("samples_every",
                 "every N steps, keep the samples each sampler drew in that step: samples/<sampler> in "
                 "the log and a PNG grid beside it (0 = off)")
          .set_default(0)
          .at_least(0),
      p::integer("samples_count", "samples kept per record (NaN-padded when a step drew fewer)").set_default(64).range(1, 1024),
  };
  return kSchema;
}

bool is_device_text(const std::string& text) {
  if (text == "auto" || text == "cpu" || text == "cuda") return true;
  if (text.rfind("cuda:", 0) != 0 || text.size() == 5 || text.size() > 8) return false;
  return std::all_of(text.begin() + 5, text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// The kernel's sections, read once into their typed structs (after validation passed,
/// so every key holds a checked value or its default).
void type_sections(VariantConfig& cfg, const Params& experiment, const Params& log, const Params& checkpoint,
                   const std::vector<std::pair<Params, Params>>& stage_tables) {
  cfg.experiment = ExperimentSpec{experiment.string("name"),
                                  experiment.integer("seed"),
                                  experiment.has("output") ? experiment.string("output") : "",
                                  experiment.string("device"),
                                  experiment.boolean("deterministic"),
                                  experiment.string("precision")};
  const Params& d = cfg.data.params;
  cfg.data.dataset = d.string("dataset");
  cfg.data.batch_size = d.integer("batch_size");
  cfg.data.eval_batch_size = d.integer("eval_batch_size");
  cfg.log =
      LogSpec{log.integer("flush_every"), log.integer("samples_every"), log.integer("samples_count"), log.real("progress_every")};
  cfg.checkpoint = CheckpointSpec{checkpoint.boolean("enabled"), checkpoint.integer("every"), checkpoint.integer("keep"),
                                  checkpoint.string("best"), checkpoint.string("best_mode")};
  for (std::size_t i = 0; i < cfg.stages.size() && i < stage_tables.size(); ++i) {
    const Params& o = stage_tables[i].first;
    const Params& s = stage_tables[i].second;
    cfg.stages[i].optimizer = OptimizerSpec{o.string("name"), o.real("lr"),    o.real("momentum"), o.real("weight_decay"),
                                            o.real("beta1"),  o.real("beta2"), o.real("eps"),      o.boolean("nesterov")};
    cfg.stages[i].schedule = ScheduleSpec{s.string("name"), s.integer("warmup_steps"), s.integer("step_every"),
                                          s.real("gamma"),  s.real("min_lr"),          s.integers("milestones")};
  }
}

}  // namespace ebm::kernel
