// Builds a variant's components from its validated config through the registry.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "descriptor.hpp"
#include "ebmlab/loss.hpp"
#include "ebmlab/metric.hpp"
#include "ebmlab/normalization.hpp"
#include "ebmlab/sampler.hpp"
#include "h5log.hpp"
#include "model.hpp"

namespace ebm::kernel {

template <class T>
struct Named {
  std::string name;
  std::shared_ptr<T> object;
  double weight = 1.0;
};

struct Components {
  std::shared_ptr<Normalization> norm;
  std::shared_ptr<Model> model;
  std::map<std::string, std::shared_ptr<Sampler>> samplers;
  std::vector<std::vector<Named<Loss>>> stage_losses;  ///< per stage
  std::vector<Named<Metric>> metrics;
};

Components build_components(const VariantConfig& cfg, const Registry& registry, const DataInfo& data);

/// Every curve and evaluation series the variant will write, from the declared outputs.
VariantLog::Layout log_layout(const Components& c);

}  // namespace ebm::kernel
