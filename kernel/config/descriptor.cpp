// resolve(): one expanded variant checked against the kernel's sections (kernel_schemas.cpp)
// and every plugin's declared parameters, into the VariantConfig the trainer runs.
#include "config/descriptor.hpp"

#include <algorithm>

#include "config/validate.hpp"
#include "loader/registry.hpp"

namespace ebm::kernel {

namespace p = ebm::param;

namespace {

const std::vector<std::string> kTopLevel = {"experiment", "data", "model", "samplers", "stage", "metric", "log", "checkpoint"};

/// The stream a component reads: its first declared stream reference (param::stream), or
/// "" when it declares none.
std::string stream_of(const Schema& schema, const Params& params) {
  for (auto& spec : schema)
    if (spec.type == ParamType::reference && spec.ref_kind == "stream" && params.has(spec.name)) return params.string(spec.name);
  return "";
}

struct Resolver {
  const Registry& registry;
  const Value& root;
  Diagnostics diag;
  References refs;

  Resolver(const Registry& r, const Value& tree) : registry(r), root(tree) {
    refs.exists = [this](const std::string& kind, const std::string& name) {
      if (kind == "stream" && name == "train") return true;
      const Value* t = table_of(kind);
      return t && t->find(name) != nullptr;
    };
    refs.available = [this](const std::string& kind) {
      std::vector<std::string> out;
      if (const Value* t = table_of(kind); t && t->type() == Value::Type::table)
        for (auto& [k, v] : t->as_table()) out.push_back(k);
      return out;
    };
  }

  /// The table a reference of `kind` points into: [samplers], or [data.streams] for streams.
  const Value* table_of(const std::string& kind) const {
    if (kind != "stream") return root.find(kind + "s");
    const Value* data = root.find("data");
    return data && data->type() == Value::Type::table ? data->find("streams") : nullptr;
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
      diag.add(plugin ? plugin->loc() : v.loc(), "'" + instance + ".plugin': expected the name of a " + kind_name(kind) +
                                                     " plugin (one of: " + join(registry.names(kind)) + ")");
      return c;
    }
    c.plugin = plugin->as_string();
    const LoadedEntry* e = registry.find(kind, c.plugin);
    if (!e) {
      auto names = registry.names(kind);
      auto near = closest(c.plugin, names);
      // No close match: most likely a plugin of the user's own that was not found.
      const std::string where = near.empty() ? "; a plugin built out of tree is found through EBMLAB_PLUGIN_PATH=<its folder> "
                                               "(docs/writing-a-plugin.md)"
                                             : "";
      diag.add(plugin->loc(), "'" + instance + ".plugin': no " + kind_name(kind) + " plugin named '" + c.plugin + "'" +
                                  (near.empty() ? "" : "; did you mean '" + near + "'?") + " (available: " + join(names) + ")" +
                                  where);
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
    static const Value kEmpty(Table{});
    const Value* v = root.find(key);
    if (!v) {
      if (required) {
        diag.add(root.loc(), "missing required table [" + key + "]");
        diag.mark_missing(key);
      }
      return kEmpty;
    }
    return *v;
  }
  VariantConfig cfg;
  Table resolved;
  std::vector<std::pair<Params, Params>> stage_tables;  ///< optimizer, schedule of each stage

  void check_top_level() {
    if (root.find("metric") && !root.find("experiment") && !root.find("data") && !root.find("model") && !root.find("stage"))
      diag.add(root.loc(),
               "this looks like a metrics file (it has [[metric]] but no [experiment], [data], [model] or "
               "[[stage]]): give it to `ebmlab eval RUN.h5 --metrics-file FILE`; `validate` and `run` "
               "take experiment descriptors");
    for (auto& [key, v] : root.as_table())
      if (std::find(kTopLevel.begin(), kTopLevel.end(), key) == kTopLevel.end()) {
        auto near = closest(key, kTopLevel);
        diag.add(v.loc(), "unknown top-level key '" + key + "'" + (near.empty() ? "" : "; did you mean '" + near + "'?") +
                              " (expected one of: " + join(kTopLevel) + ")");
      }
  }

  /// A plain section: validated now, typed at the end once nothing failed.
  Params plain(const std::string& key, const Schema& schema, bool required) {
    Table t = validate_table(section(key, required), schema, key, diag, refs);
    resolved[key] = Value(t);
    return Params(t, "[" + key + "]");
  }

  /// One [data.streams.<name>] table, validated into `out`; typed into cfg.streams when
  /// nothing failed so far.
  void stream(const std::string& name, const Value& st, const StreamSpec& train, bool ok, Table& out) {
    std::string path = "data.streams." + name;
    Table stt = validate_table(st, stream_schema(), path, diag, refs, {"source"});
    // An empty source (as a saved configuration records "none") is the training split.
    const Value* src = st.find("source");
    if (src && src->type() == Value::Type::table && src->as_table().empty()) src = nullptr;
    if (src) {
      // Another data set as the stream's source (auxiliary seeds): a [data]-like table.
      Table source = validate_table(*src, data_schema(), path + ".source", diag, refs, {"streams"});
      if (src->find("streams")) diag.add(src->loc(), "'" + path + ".source': a source cannot declare streams");
      source.erase("streams");
      stt["source"] = Value(source);
    }
    if (name == "train" || name == "eval")
      diag.add(st.loc(), "'" + path + "': '" + name + "' is reserved; the [data] table configures the train stream");
    if (ok && diag.empty()) {
      Params spp(stt, path);
      std::int64_t bs = spp.integer("batch_size");
      cfg.streams.push_back(StreamSpec{name, bs > 0 ? bs : train.batch_size, spp.string("augment"), spp.integer("crop_padding"),
                                       spp.real("noise")});
    }
    out[name] = Value(stt);
  }

  void data() {
    const Value& dv = section("data", true);
    Table t = validate_table(dv, data_schema(), "data", diag, refs, {"streams"});
    Params dp(t, "[data]");
    StreamSpec train{"train", 0, "none", 0, 0.0};
    const bool ok = diag.empty();  // values are only typed when nothing failed so far
    if (ok)
      train = StreamSpec{"train", dp.integer("batch_size"), dp.string("augment"), dp.integer("crop_padding"), dp.real("noise")};
    cfg.streams.push_back(train);
    Table streams_out;
    if (const Value* sv = dv.find("streams"); sv && sv->type() == Value::Type::table)
      for (auto& [name, st] : sv->as_table()) stream(name, st, train, ok, streams_out);
    t["streams"] = Value(streams_out);
    resolved["data"] = Value(t);
    cfg.data.params = Params(t, "[data]");
  }

  void model() {
    const Value& model = section("model", true);
    Table model_out;
    if (model.type() == Value::Type::table) {
      validate_table(model,
                     {p::table("backbone", {}, "the network, a table like { plugin = \"convnet\" }").require(),
                      p::table("norm", {}, "normalization")},
                     "model", diag, refs, {"backbone", "norm"});
      if (const Value* b = model.find("backbone")) cfg.backbone = component(*b, Kind::backbone, "model.backbone", {});
      Value norm_default(Table{{"plugin", Value("none", model.loc())}}, model.loc());
      const Value* n = model.find("norm");
      cfg.norm = component(n ? *n : norm_default, Kind::normalization, "model.norm", {});
      model_out["backbone"] = Value(cfg.backbone.params.values());
      model_out["norm"] = Value(cfg.norm.params.values());
      model_out["backbone"].as_table()["plugin"] = Value(cfg.backbone.plugin);
      model_out["norm"].as_table()["plugin"] = Value(cfg.norm.plugin);
    } else {
      diag.add(model.loc(), "'model': expected a table");
    }
    resolved["model"] = Value(model_out);
  }

  void samplers() {
    if (const Value* s = root.find("samplers")) {
      if (s->type() != Value::Type::table)
        diag.add(s->loc(), "'samplers': expected a table of [samplers.<name>] tables");
      else
        for (auto& [name, v] : s->as_table()) {
          auto c = component(v, Kind::sampler, "samplers." + name, {});
          c.name = name;
          cfg.samplers.push_back(std::move(c));
        }
    }
  }

  /// The stage's scalar settings (only when its table validated, so every key is present).
  void stage_settings(StageSpec& st, const Params& sp, const Value& sv, const std::string& path) {
    st.epochs = sp.integer("epochs");
    st.steps = sp.integer("steps");
    if ((st.epochs > 0) == (st.steps > 0))
      diag.add(sv.loc(), "'" + path + "': expected exactly one of 'epochs' or 'steps' to be positive, found epochs = " +
                             std::to_string(st.epochs) + ", steps = " + std::to_string(st.steps));
    st.grad_clip = sp.real("grad_clip");
    st.norm_mode = sp.string("norm_mode");
    st.eval_every = sp.integer("eval_every");
    st.ema = sp.real("ema");
    st.ema_warmup = sp.boolean("ema_warmup");
    st.init = sp.string("init");
    st.eval_weights = sp.string("eval_weights");
    st.loss_bound = sp.real("loss_bound");
    st.energy_bound = sp.real("energy_bound");
    if (st.eval_weights == "ema" && st.ema <= 0)
      diag.add(sv.loc(), "'" + path + ".eval_weights': \"ema\" needs an average; set '" + path + ".ema' (e.g. 0.999)");
  }

  Value stage(const Value& sv, std::size_t i) {
    const Schema weighted = {p::real("weight", "multiplier of this loss in the total").set_default(1.0),
                             p::string("name", "name under which terms are logged (default: the plugin name)")};
    std::string path = "stage." + std::to_string(i);
    Table t = validate_table(sv, stage_schema(), path, diag, refs, {"losses"});
    StageSpec st;
    Params sp(t, path);
    st.name = sp.has("name") ? sp.string("name") : "stage" + std::to_string(i);
    if (t.count("epochs")) stage_settings(st, sp, sv, path);
    const Value* losses = sv.find("losses");
    if (losses && losses->type() == Value::Type::list) {
      List losses_out;
      size_t j = 0;
      for (auto& lv : losses->as_list()) {
        auto c = component(lv, Kind::loss, path + ".losses." + std::to_string(j++), weighted);
        Table lt = c.params.values();
        lt["plugin"] = Value(c.plugin);
        lt["weight"] = Value(c.weight);
        lt["name"] = Value(c.name);
        losses_out.push_back(Value(lt));
        st.losses.push_back(std::move(c));
      }
      t["losses"] = Value(losses_out);
    }
    if (losses && (losses->type() != Value::Type::list || losses->as_list().empty()))
      diag.add(losses->loc(), "'" + path + ".losses': expected a non-empty array of loss tables like [ { plugin = \"ce\" } ]");
    t["name"] = Value(st.name);
    stage_tables.emplace_back(t.count("optimizer") ? sp.table("optimizer") : Params(),
                              t.count("schedule") ? sp.table("schedule") : Params());
    cfg.stages.push_back(std::move(st));
    return Value(t);
  }

  void stages() {
    const Value& stages = section("stage", true);
    List stages_out;
    if (stages.type() == Value::Type::list && !stages.as_list().empty()) {
      size_t i = 0;
      for (auto& sv : stages.as_list()) stages_out.push_back(stage(sv, i++));
    } else if (root.find("stage")) {
      diag.add(stages.loc(), "'stage': expected one or more [[stage]] tables");
    }
    resolved["stage"] = Value(stages_out);
  }

  void metrics() {
    const Schema named = {p::string("name", "name under which results are logged (default: the plugin name)")};
    List metrics_out;
    if (const Value* m = root.find("metric")) {
      if (m->type() != Value::Type::list)
        diag.add(m->loc(), "'metric': expected [[metric]] tables");
      else {
        size_t i = 0;
        for (auto& mv : m->as_list()) {
          auto c = component(mv, Kind::metric, "metric." + std::to_string(i++), named);
          Table mt = c.params.values();
          mt["plugin"] = Value(c.plugin);
          mt["name"] = Value(c.name);
          metrics_out.push_back(Value(mt));
          cfg.metrics.push_back(std::move(c));
        }
      }
    }
    resolved["metric"] = Value(metrics_out);
  }

  /// Component names become HDF5 group names: unique (per stage for losses) and without '/'.
  void check_names() {
    auto check = [&](const std::vector<ComponentSpec>& group) {
      std::vector<std::string> seen;
      for (auto& c : group) {
        if (c.name.empty()) continue;
        if (c.name.find('/') != std::string::npos)
          diag.add(root.loc(), "'" + c.instance + "': name '" + c.name + "' must not contain '/'");
        if (std::find(seen.begin(), seen.end(), c.name) != seen.end())
          diag.add(root.loc(), "'" + c.instance + "': name '" + c.name + "' is used twice; give one of them `name = \"...\"`");
        seen.push_back(c.name);
      }
    };
    check(cfg.metrics);
    for (auto& st : cfg.stages) check(st.losses);
  }

  /// A loss and the samplers it references read the same data stream: labels and clean
  /// partners of a sample come from the batch it was made from. Both sides are found by
  /// their declared stream references (param::stream), whatever the parameters are called.
  void check_loss_streams(std::size_t si, std::size_t li) {
    const ComponentSpec& l = cfg.stages[si].losses[li];
    const LoadedEntry* e = registry.find(Kind::loss, l.plugin);
    if (!e) return;
    const std::string loss_stream = stream_of(e->entry.schema(), l.params);
    if (loss_stream.empty()) return;
    for (auto& spec : e->entry.schema()) {
      if (spec.type != ParamType::reference || spec.ref_kind != "sampler" || !l.params.has(spec.name)) continue;
      const std::string& sampler = l.params.string(spec.name);
      auto s = std::find_if(cfg.samplers.begin(), cfg.samplers.end(), [&](const ComponentSpec& c) { return c.name == sampler; });
      if (s == cfg.samplers.end()) continue;
      const LoadedEntry* se = registry.find(Kind::sampler, s->plugin);
      const std::string sampler_stream = se ? stream_of(se->entry.schema(), s->params) : "";
      if (sampler_stream.empty() || sampler_stream == loss_stream) continue;
      const Value& where = root.find("stage")->as_list()[si].find("losses")->as_list()[li];
      diag.add(where.loc(), "'" + l.instance + "': reads stream '" + loss_stream + "' but its " + spec.name + " '" + sampler +
                                "' samples from stream '" + sampler_stream +
                                "'; give both the same stream (labels and clean inputs must match the samples)");
    }
  }

  void check_device() {
    const Value* e = root.find("experiment");
    const Value* d = e && e->type() == Value::Type::table ? e->find("device") : nullptr;
    if (d && d->type() == Value::Type::string && !is_device_text(d->as_string()))
      diag.add(d->loc(), "'experiment.device': expected \"auto\", \"cpu\", \"cuda\" or \"cuda:N\" (N a GPU index), found \"" +
                             d->as_string() + "\"");
  }

  void record_samplers() {
    Table samplers_out;
    for (auto& c : cfg.samplers) {
      Table t = c.params.values();
      t["plugin"] = Value(c.plugin);
      samplers_out[c.name] = Value(t);
    }
    resolved["samplers"] = Value(samplers_out);
  }
};

}  // namespace

VariantConfig resolve(const Variant& variant, const Registry& registry) {
  Resolver r(registry, variant.tree);
  r.cfg.name = variant.name;
  r.check_top_level();
  const Params experiment = r.plain("experiment", experiment_schema(), true);
  r.check_device();
  r.data();
  const Params log = r.plain("log", log_schema(), false);
  const Params checkpoint = r.plain("checkpoint", checkpoint_schema(), false);
  r.model();
  r.samplers();
  r.stages();
  r.metrics();
  r.check_names();
  if (r.diag.empty())
    for (std::size_t si = 0; si < r.cfg.stages.size(); ++si)
      for (std::size_t li = 0; li < r.cfg.stages[si].losses.size(); ++li) r.check_loss_streams(si, li);
  r.record_samplers();
  r.diag.raise();
  VariantConfig cfg = std::move(r.cfg);
  cfg.resolved = Value(std::move(r.resolved));
  type_sections(cfg, experiment, log, checkpoint, r.stage_tables);
  return cfg;
}

}  // namespace ebm::kernel
