#include "descriptor.hpp"

#include <algorithm>

#include "registry.hpp"
#include "validate.hpp"

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
  static const Schema s = {
      p::string("name", "experiment name; names the output files").require(),
      p::integer("seed", "global seed: a CPU run is repeatable at a fixed thread count").set_default(0).range(0, kMaxSeed),
      p::string("output", "index file to write (default runs/<name>.h5)"),
      p::string("description", "free text stored with the run").set_default(""),
  };
  return s;
}

const Schema& data_schema() {
  static const Schema s = [] {
  Schema s = {
      p::enumeration("dataset", {"fashion_mnist", "toy2d", "cifar10", "cifar100", "image_folder"}, "built-in data set").require(),
      p::string("path", "data folder: fashion_mnist's gzip IDX files (empty: /usr/share/datasets/fashion-mnist), the CIFAR "
                        "binary version, or an image folder with train/<class>/ and test/<class>/")
          .set_default(""),
      p::enumeration("input_norm", {"dataset", "symmetric"},
                     "the model's first layer: standardize with the training split's per-channel mean/std (dataset), "
                     "or map [0,1] to [-1,1] as JEM's code does (symmetric: mean = std = 0.5)")
          .set_default("dataset"),
      p::integer("image_size", "image_folder: shorter side resized to this, then center-cropped square").set_default(32).range(4, 4096),
      p::integer("channels", "image_folder: 1 (grayscale) or 3 (RGB)").set_default(3).range(1, 3),
      p::integer("batch_size", "training batch size").set_default(64).range(1, 1 << 16),
      p::integer("eval_batch_size", "evaluation batch size").set_default(1000).range(1, 1 << 16),
      p::integer("validation", "training samples held out for validation (-1: 5000 for fashion_mnist and CIFAR, 10 % otherwise)")
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
  return s;
}

const Schema& stream_schema() {
  static const Schema s = {
      p::integer("batch_size", "batch size of this stream (0: [data] batch_size)").set_default(0).range(0, 1 << 16),
      p::enumeration("augment", {"none", "flip_crop", "crop", "strong"},
                     "augmentation: flip_crop = random crop with padding + horizontal flip; strong = flip_crop + "
                     "cutout + brightness/contrast jitter (image data only)")
          .set_default("none"),
      p::integer("crop_padding", "random-crop padding in pixels").set_default(2).range(0, 64),
      p::real("noise", "Gaussian input noise sigma added to each batch (JEM's sigma_data; 0.015 on [0,1] = 0.03 on [-1,1])")
          .set_default(0.0)
          .range(0, 10),
      p::table("source", {}, "streams only: draw from another data set (keys as [data]; same sample shape) instead "
                             "of the training split, e.g. auxiliary seeds for contrastive samples"),
  };
  return s;
}

const Schema& stage_schema() {
  static const Schema s = {
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
      p::table("schedule",
               {p::enumeration("name", {"constant", "step", "cosine"}, "learning-rate schedule").set_default("constant"),
                p::integer("warmup_steps", "linear warm-up from 0 over this many steps").set_default(0).range(0, kMaxSteps),
                p::integer("step_every", "step schedule: multiply by gamma every N steps").set_default(1000).range(1, kMaxSteps),
                p::real("gamma", "step schedule factor").set_default(0.1).range(0, 1),
                p::real("min_lr", "cosine schedule floor").set_default(0.0).at_least(0)},
               "learning-rate schedule"),
      p::real("grad_clip", "clip the global gradient norm (0 = off)").set_default(0.0).at_least(0),
      p::enumeration("norm_mode", {"train", "frozen"}, "norm layers: batch statistics or frozen (eval) statistics")
          .set_default("train"),
      p::integer("eval_every", "evaluate on the validation split every N steps (0 = each epoch end)").set_default(0).range(0, kMaxSteps),
      p::string("init", "start from the model weights of this ebmlab checkpoint file (empty: the previous stage's weights)")
          .set_default(""),
      p::real("ema", "decay of an exponential moving average of the weights (0 = off; DAT: 0.999)").set_default(0.0).range(0, 0.999999),
      p::enumeration("eval_weights", {"raw", "ema"}, "weights evaluated during and after this stage").set_default("raw"),
      p::real("loss_bound", "divergence: |loss| above this ends the variant as diverged (JEM's rule: 1e8)").set_default(1e8).at_least(0),
      p::real("energy_bound", "divergence: a logged energy term (named e_* or *energy*) above this in magnitude ends the variant")
          .set_default(1e6)
          .at_least(0),
      p::list("losses", p::table("loss", {}, "a loss"), "losses summed with their weights").require().at_least(1),
  };
  return s;
}

const Schema& checkpoint_schema() {
  static const Schema s = {
      p::integer("every", "write a checkpoint every N steps (0: only at the end of each stage)").set_default(0).range(0, kMaxSteps),
      p::integer("keep", "periodic checkpoints kept (the newest; the best is kept besides)").set_default(1).range(1, 1000),
      p::string("best", "validation result that picks ckpt-best.h5, e.g. \"accuracy/accuracy\" (empty: none)").set_default(""),
      p::enumeration("best_mode", {"max", "min"}, "whether higher or lower is better for 'best'").set_default("max"),
      p::boolean("enabled", "write checkpoints at all").set_default(true),
  };
  return s;
}

const Schema& log_schema() {
  static const Schema s = {
      p::integer("flush_every", "flush curves to disk every N steps (and at every evaluation)").set_default(50).at_least(1),
      p::real("progress_every", "seconds between plain progress lines when not on a terminal").set_default(10.0).at_least(0),
      p::integer("samples_every", "every N steps, keep the samples each sampler drew in that step: samples/<sampler> in "
                                  "the log and a PNG grid beside it (0 = off)").set_default(0).at_least(0),
      p::integer("samples_count", "samples kept per record (NaN-padded when a step drew fewer)").set_default(64).range(1, 1024),
  };
  return s;
}

namespace {

const std::vector<std::string> kTopLevel = {"experiment", "data", "model", "samplers", "stage", "metric", "log", "checkpoint"};

struct Resolver {
  const Registry& registry;
  const Value& root;
  Diagnostics diag;
  References refs;

  Resolver(const Registry& r, const Value& tree) : registry(r), root(tree) {
    refs.exists = [this](const std::string& kind, const std::string& name) {
      const Value* t = root.find(kind + "s");
      return t && t->find(name) != nullptr;
    };
    refs.available = [this](const std::string& kind) {
      std::vector<std::string> out;
      if (const Value* t = root.find(kind + "s"); t && t->type() == Value::Type::table)
        for (auto& [k, v] : t->as_table()) out.push_back(k);
      return out;
    };
  }

  // A table naming a plugin plus its parameters (and kernel-level extras such as `weight`).
  ComponentSpec component(const Value& v, Kind kind, const std::string& instance, const Schema& extras) {
    ComponentSpec c;
    c.instance = instance;
    c.kind = kind;
    if (v.type() != Value::Type::table) {
      diag.add(v.loc(), "'" + instance + "': expected a table like { plugin = \"...\", ... }, found " + type_name(v.type()));
      return c;
    }
    const Value* plugin = v.find("plugin");
    if (!plugin || plugin->type() != Value::Type::string) {
      diag.add(plugin ? plugin->loc() : v.loc(),
               "'" + instance + ".plugin': expected the name of a " + kind_name(kind) + " plugin (one of: " +
                   join(registry.names(kind)) + ")");
      return c;
    }
    c.plugin = plugin->as_string();
    const LoadedEntry* e = registry.find(kind, c.plugin);
    if (!e) {
      auto names = registry.names(kind);
      auto near = closest(c.plugin, names);
      diag.add(plugin->loc(), "'" + instance + ".plugin': no " + kind_name(kind) + " plugin named '" + c.plugin + "'" +
                                  (near.empty() ? "" : "; did you mean '" + near + "'?") + " (available: " + join(names) +
                                  ")");
      return c;
    }
    Schema schema = e->entry.schema();
    Schema all = extras;
    all.insert(all.end(), schema.begin(), schema.end());
    all.push_back(p::string("plugin", "plugin name"));
    Table t = validate_table(v, all, instance, diag, refs);
    if (auto it = t.find("weight"); it != t.end() && !it->second.is_null()) c.weight = it->second.as_real();
    c.name = c.plugin;
    if (auto it = t.find("name"); it != t.end() && !it->second.is_null()) c.name = it->second.as_string();
    t.erase("plugin");
    for (auto& x : extras) t.erase(x.name);
    c.params = Params(t, instance + " (" + c.plugin + ")");
    return c;
  }

  const Value& section(const std::string& key, bool required) {
    static const Value empty(Table{});
    const Value* v = root.find(key);
    if (!v) {
      if (required) diag.add(root.loc(), "missing required table [" + key + "]");
      return empty;
    }
    return *v;
  }
};

}  // namespace

VariantConfig resolve(const Variant& variant, const Registry& registry) {
  Resolver r(registry, variant.tree);
  VariantConfig cfg;
  cfg.name = variant.name;
  Table resolved;

  for (auto& [key, v] : variant.tree.as_table())
    if (std::find(kTopLevel.begin(), kTopLevel.end(), key) == kTopLevel.end()) {
      auto near = closest(key, kTopLevel);
      r.diag.add(v.loc(), "unknown top-level key '" + key + "'" + (near.empty() ? "" : "; did you mean '" + near + "'?") +
                              " (expected one of: " + join(kTopLevel) + ")");
    }

  auto plain = [&](const std::string& key, const Schema& schema, bool required, Params& out) {
    const Value& v = r.section(key, required);
    Table t = validate_table(v, schema, key, r.diag, r.refs);
    resolved[key] = Value(t);
    out = Params(t, "[" + key + "]");
  };
  plain("experiment", experiment_schema(), true, cfg.experiment);
  {
    const Value& dv = r.section("data", true);
    Table t = validate_table(dv, data_schema(), "data", r.diag, r.refs, {"streams"});
    Params dp(t, "[data]");
    StreamSpec train{"train", 0, "none", 0, 0.0};
    const bool ok = r.diag.empty();  // values are only typed when nothing failed so far
    if (ok) train = StreamSpec{"train", dp.integer("batch_size"), dp.string("augment"), dp.integer("crop_padding"), dp.real("noise")};
    cfg.streams.push_back(train);
    Table streams_out;
    if (const Value* sv = dv.find("streams"); sv && sv->type() == Value::Type::table) {
      for (auto& [name, st] : sv->as_table()) {
        std::string path = "data.streams." + name;
        Table stt = validate_table(st, stream_schema(), path, r.diag, r.refs, {"source"});
        // An empty source (as a saved configuration records "none") is the training split.
        const Value* src = st.find("source");
        if (src && src->type() == Value::Type::table && src->as_table().empty()) src = nullptr;
        if (src) {
          // Another data set as the stream's source (auxiliary seeds): a [data]-like table.
          Table source = validate_table(*src, data_schema(), path + ".source", r.diag, r.refs, {"streams"});
          if (src->find("streams")) r.diag.add(src->loc(), "'" + path + ".source': a source cannot declare streams");
          source.erase("streams");
          stt["source"] = Value(source);
        }
        if (name == "train" || name == "eval")
          r.diag.add(st.loc(), "'" + path + "': '" + name + "' is reserved; the [data] table configures the train stream");
        if (ok && r.diag.empty()) {
          Params spp(stt, path);
          std::int64_t bs = spp.integer("batch_size");
          cfg.streams.push_back(StreamSpec{name, bs > 0 ? bs : train.batch_size, spp.string("augment"),
                                           spp.integer("crop_padding"), spp.real("noise")});
        }
        streams_out[name] = Value(stt);
      }
    }
    t["streams"] = Value(streams_out);
    resolved["data"] = Value(t);
    cfg.data = Params(t, "[data]");
  }
  plain("log", log_schema(), false, cfg.log);
  plain("checkpoint", checkpoint_schema(), false, cfg.checkpoint);

  const Schema named = {p::string("name", "name under which results are logged (default: the plugin name)")};
  const Schema weighted = {p::real("weight", "multiplier of this loss in the total").set_default(1.0),
                           p::string("name", "name under which terms are logged (default: the plugin name)")};

  // [model]
  const Value& model = r.section("model", true);
  Table model_out;
  if (model.type() == Value::Type::table) {
    validate_table(model, {p::table("backbone", {}, "backbone").require(), p::table("norm", {}, "normalization")}, "model",
                   r.diag, r.refs, {"backbone", "norm"});
    if (const Value* b = model.find("backbone")) cfg.backbone = r.component(*b, Kind::backbone, "model.backbone", {});
    else r.diag.add(model.loc(), "missing required key 'model.backbone' (a table like { plugin = \"convnet\" })");
    Value norm_default(Table{{"plugin", Value("none", model.loc())}}, model.loc());
    const Value* n = model.find("norm");
    cfg.norm = r.component(n ? *n : norm_default, Kind::normalization, "model.norm", {});
    model_out["backbone"] = Value(cfg.backbone.params.values());
    model_out["norm"] = Value(cfg.norm.params.values());
    model_out["backbone"].as_table()["plugin"] = Value(cfg.backbone.plugin);
    model_out["norm"].as_table()["plugin"] = Value(cfg.norm.plugin);
  } else {
    r.diag.add(model.loc(), "'model': expected a table");
  }
  resolved["model"] = Value(model_out);

  // [samplers.<name>]
  if (const Value* s = variant.tree.find("samplers")) {
    if (s->type() != Value::Type::table) r.diag.add(s->loc(), "'samplers': expected a table of [samplers.<name>] tables");
    else
      for (auto& [name, v] : s->as_table()) {
        auto c = r.component(v, Kind::sampler, "samplers." + name, {});
        c.name = name;
        cfg.samplers.push_back(std::move(c));
      }
  }

  // [[stage]]
  const Value& stages = r.section("stage", true);
  List stages_out;
  if (stages.type() == Value::Type::list && !stages.as_list().empty()) {
    size_t i = 0;
    for (auto& sv : stages.as_list()) {
      std::string path = "stage." + std::to_string(i);
      Table t = validate_table(sv, stage_schema(), path, r.diag, r.refs, {"losses"});
      StageSpec st;
      Params sp(t, path);
      st.name = sp.has("name") ? sp.string("name") : "stage" + std::to_string(i);
      if (t.count("epochs")) {
        st.epochs = sp.integer("epochs");
        st.steps = sp.integer("steps");
        if ((st.epochs > 0) == (st.steps > 0))
          r.diag.add(sv.loc(), "'" + path + "': expected exactly one of 'epochs' or 'steps' to be positive, found epochs = " +
                                   std::to_string(st.epochs) + ", steps = " + std::to_string(st.steps));
        st.optimizer = sp.table("optimizer");
        st.schedule = sp.table("schedule");
        st.grad_clip = sp.real("grad_clip");
        st.norm_mode = sp.string("norm_mode");
        st.eval_every = sp.integer("eval_every");
        st.ema = sp.real("ema");
        st.init = sp.string("init");
        st.eval_weights = sp.string("eval_weights");
        st.loss_bound = sp.real("loss_bound");
        st.energy_bound = sp.real("energy_bound");
        if (st.eval_weights == "ema" && st.ema <= 0)
          r.diag.add(sv.loc(), "'" + path + ".eval_weights': \"ema\" needs an average; set '" + path + ".ema' (e.g. 0.999)");
      }
      if (const Value* losses = sv.find("losses"); losses && losses->type() == Value::Type::list) {
        List losses_out;
        size_t j = 0;
        for (auto& lv : losses->as_list()) {
          auto c = r.component(lv, Kind::loss, path + ".losses." + std::to_string(j++), weighted);
          Table lt = c.params.values();
          lt["plugin"] = Value(c.plugin);
          lt["weight"] = Value(c.weight);
          lt["name"] = Value(c.name);
          losses_out.push_back(Value(lt));
          st.losses.push_back(std::move(c));
        }
        t["losses"] = Value(losses_out);
      }
      if (const Value* losses = sv.find("losses");
          losses && (losses->type() != Value::Type::list || losses->as_list().empty()))
        r.diag.add(losses->loc(), "'" + path + ".losses': expected a non-empty array of loss tables like [ { plugin = \"ce\" } ]");
      t["name"] = Value(st.name);
      stages_out.push_back(Value(t));
      cfg.stages.push_back(std::move(st));
      ++i;
    }
  } else if (variant.tree.find("stage")) {
    r.diag.add(stages.loc(), "'stage': expected one or more [[stage]] tables");
  }
  resolved["stage"] = Value(stages_out);

  // [[metric]]
  List metrics_out;
  if (const Value* m = variant.tree.find("metric")) {
    if (m->type() != Value::Type::list) r.diag.add(m->loc(), "'metric': expected [[metric]] tables");
    else {
      size_t i = 0;
      for (auto& mv : m->as_list()) {
        auto c = r.component(mv, Kind::metric, "metric." + std::to_string(i++), named);
        Table mt = c.params.values();
        mt["plugin"] = Value(c.plugin);
        mt["name"] = Value(c.name);
        metrics_out.push_back(Value(mt));
        cfg.metrics.push_back(std::move(c));
      }
    }
  }
  resolved["metric"] = Value(metrics_out);

  // Component names become HDF5 group names: they must be unique and contain no '/'.
  std::vector<std::string> seen;
  auto unique = [&](const ComponentSpec& c, const SourceLoc& where) {
    if (c.name.empty()) return;
    if (c.name.find('/') != std::string::npos)
      r.diag.add(where, "'" + c.instance + "': name '" + c.name + "' must not contain '/'");
    if (std::find(seen.begin(), seen.end(), c.name) != seen.end())
      r.diag.add(where, "'" + c.instance + "': name '" + c.name + "' is used twice; give one of them `name = \"...\"`");
    seen.push_back(c.name);
  };
  for (auto& c : cfg.metrics) unique(c, variant.tree.loc());
  seen.clear();
  for (auto& st : cfg.stages) {
    for (auto& c : st.losses) unique(c, variant.tree.loc());
    seen.clear();
  }

  // A loss and the samplers it references read the same data stream: labels and clean
  // partners of a sample come from the batch it was made from.
  if (r.diag.empty()) {
    const Value* stage_list = variant.tree.find("stage");
    for (std::size_t si = 0; si < cfg.stages.size(); ++si)
      for (std::size_t li = 0; li < cfg.stages[si].losses.size(); ++li) {
        const ComponentSpec& l = cfg.stages[si].losses[li];
        const LoadedEntry* e = registry.find(Kind::loss, l.plugin);
        if (!e || !l.params.has("stream")) continue;
        for (auto& spec : e->entry.schema()) {
          if (spec.type != ParamType::reference || spec.ref_kind != "sampler" || !l.params.has(spec.name)) continue;
          const std::string& sampler = l.params.string(spec.name);
          auto s = std::find_if(cfg.samplers.begin(), cfg.samplers.end(), [&](const ComponentSpec& c) { return c.name == sampler; });
          if (s == cfg.samplers.end() || !s->params.has("stream") || s->params.string("stream") == l.params.string("stream")) continue;
          const Value& where = stage_list->as_list()[si].find("losses")->as_list()[li];
          r.diag.add(where.loc(), "'" + l.instance + "': reads stream '" + l.params.string("stream") + "' but its " + spec.name +
                                      " '" + sampler + "' samples from stream '" + s->params.string("stream") +
                                      "'; give both the same stream (labels and clean inputs must match the samples)");
        }
      }
  }

  Table samplers_out;
  for (auto& c : cfg.samplers) {
    Table t = c.params.values();
    t["plugin"] = Value(c.plugin);
    samplers_out[c.name] = Value(t);
  }
  resolved["samplers"] = Value(samplers_out);

  r.diag.raise();
  cfg.resolved = Value(std::move(resolved));
  return cfg;
}

}  // namespace ebm::kernel
