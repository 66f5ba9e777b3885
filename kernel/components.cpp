#include "components.hpp"

#include <set>
#include <torch/torch.h>

#include "registry.hpp"

namespace ebm::kernel {

Components build_components(const VariantConfig& cfg, const Registry& registry, const DataInfo& data) {
  Components c;
  BuildContext bc;
  bc.data = data;
  bc.instance = cfg.norm.instance;
  c.norm = registry.create<Normalization>(Kind::normalization, cfg.norm.plugin, cfg.norm.params, bc);
  bc.instance = cfg.backbone.instance;
  bc.norm = c.norm;
  auto backbone = registry.create<Backbone>(Kind::backbone, cfg.backbone.plugin, cfg.backbone.params, bc);
  c.model = std::make_shared<Model>(backbone, data);
  bc.norm = nullptr;
  for (auto& s : cfg.samplers) {
    bc.instance = s.instance;
    c.samplers[s.name] = registry.create<Sampler>(Kind::sampler, s.plugin, s.params, bc);
  }
  for (auto& st : cfg.stages) {
    std::vector<Named<Loss>> losses;
    for (auto& l : st.losses) {
      bc.instance = l.instance;
      losses.push_back({l.name, registry.create<Loss>(Kind::loss, l.plugin, l.params, bc), l.weight});
    }
    c.stage_losses.push_back(std::move(losses));
  }
  for (auto& m : cfg.metrics) {
    bc.instance = m.instance;
    c.metrics.push_back({m.name, registry.create<Metric>(Kind::metric, m.plugin, m.params, bc), 1.0});
  }
  return c;
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
  for (const char* split : {"val", "test"})
    for (auto& m : c.metrics)
      for (auto& o : m.object->outputs()) layout.evals.push_back(std::string(split) + "/" + m.name + "/" + o.name);
  return layout;
}

}  // namespace ebm::kernel
