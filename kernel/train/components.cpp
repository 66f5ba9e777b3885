#include "train/components.hpp"

#include <set>

#include <boost/json/serialize.hpp>
#include <torch/torch.h>

#include "config/json.hpp"
#include "data/data.hpp"
#include "loader/registry.hpp"

namespace ebm::kernel {

std::shared_ptr<Model> build_model(const VariantConfig& cfg, const Registry& registry, const DataInfo& data,
                                   std::shared_ptr<Normalization>* norm_out) {
  BuildContext bc;
  bc.data = data;
  bc.instance = cfg.norm.instance;
  auto norm = registry.create<Normalization>(Kind::normalization, cfg.norm.plugin, cfg.norm.params, bc);
  bc.instance = cfg.backbone.instance;
  bc.norm = norm;
  auto backbone = registry.create<Backbone>(Kind::backbone, cfg.backbone.plugin, cfg.backbone.params, bc);
  if (norm_out) *norm_out = norm;
  auto model = std::make_shared<Model>(backbone, data, "backbone (plugin " + cfg.backbone.plugin + ")");
  model->set_precision(cfg.experiment.precision);
  return model;
}

Components build_components(const VariantConfig& cfg, const Registry& registry, const DataInfo& data) {
  Components c;
  c.model = build_model(cfg, registry, data, &c.norm);
  BuildContext bc;
  bc.data = data;
  for (auto& s : cfg.samplers) {
    bc.instance = s.instance;
    c.samplers[s.name] = registry.create<Sampler>(Kind::sampler, s.plugin, s.params, bc);
    c.sampler_plugins[s.name] = s.plugin;
  }
  for (auto& st : cfg.stages) {
    std::vector<Named<Loss>> losses;
    for (auto& l : st.losses) {
      bc.instance = l.instance;
      losses.push_back({l.name, registry.create<Loss>(Kind::loss, l.plugin, l.params, bc), l.weight, l.plugin, {}});
    }
    c.stage_losses.push_back(std::move(losses));
  }
  for (auto& m : cfg.metrics) {
    bc.instance = m.instance;
    c.metrics.push_back({m.name, registry.create<Metric>(Kind::metric, m.plugin, m.params, bc), 1.0, m.plugin,
                         boost::json::serialize(to_json(Value(m.params.values())))});
  }
  auto declare = [&](const std::string& name, const Component& comp) {
    for (auto& o : comp.outputs())
      if (o.role == OutputRole::energy) c.energy_terms.insert(name + "/" + o.name);
  };
  for (auto& [name, s] : c.samplers) declare(name, *s);
  for (auto& st : c.stage_losses)
    for (auto& l : st) declare(l.name, *l.object);
  c.data = data;
  if (cfg.log.samples_every > 0) c.sample_grid = cfg.log.samples_count;
  return c;
}

void dry_build(const VariantConfig& cfg, const Registry& registry) {
  try {
    build_components(cfg, registry, describe_dataset(cfg.data.params));
  } catch (const ConfigError&) {
    throw;
  } catch (const std::exception&) {
    // Left to the real build (see the header): it may need the real data's statistics.
  }
}

VariantLog::Layout log_layout(const Components& c) {
  VariantLog::Layout layout;
  std::set<std::string> curves = {"train/loss", "train/lr"};
  auto add_outputs = [&](const std::string& name, const Component& comp) {
    for (auto& o : comp.outputs())
      if (o.shape.empty()) curves.insert(name + "/" + o.name);
  };
  for (auto& stage : c.stage_losses)
    for (auto& l : stage) {
      curves.insert(l.name + "/loss");
      add_outputs(l.name, *l.object);
    }
  for (auto& [name, s] : c.samplers) add_outputs(name, *s);
  layout.curves.assign(curves.begin(), curves.end());
  for (const std::string split : {"val", "test"}) {
    if (!c.metrics.empty()) layout.evals.push_back(split + "/ema_weights");
    for (auto& m : c.metrics) {
      for (auto& o : m.object->outputs()) {
        if (o.shape.empty())
          layout.evals.push_back(split + "/" + m.name + "/" + o.name);
        else
          layout.tensors.push_back({"eval/" + split + "/" + m.name + "/" + o.name, o.shape});
      }
      layout.attrs["eval/" + split + "/" + m.name] = {{"plugin", m.plugin}, {"params", m.params_json}};
    }
  }
  if (c.sample_grid > 0)
    for (auto& [name, s] : c.samplers) {
      std::vector<std::int64_t> shape{c.sample_grid};
      shape.insert(shape.end(), c.data.shape.begin(), c.data.shape.end());
      layout.tensors.push_back({"samples/" + name, shape});
    }
  return layout;
}

}  // namespace ebm::kernel
