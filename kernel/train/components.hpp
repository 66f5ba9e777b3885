// Builds a variant's components from its validated config through the registry.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "ebmlab/loss.hpp"
#include "ebmlab/metric.hpp"
#include "ebmlab/normalization.hpp"
#include "ebmlab/sampler.hpp"

#include "config/descriptor.hpp"
#include "store/h5log.hpp"
#include "train/model.hpp"

namespace ebm::kernel {

template <class T>
struct Named {
  std::string name;
  std::shared_ptr<T> object;
  double weight = 1.0;
  std::string plugin;       ///< metrics: the plugin name (recorded beside the results)
  std::string params_json;  ///< metrics: the resolved parameters as JSON
};

struct Components {
  std::shared_ptr<Normalization> norm;
  std::shared_ptr<Model> model;
  std::map<std::string, std::shared_ptr<Sampler>> samplers;
  std::map<std::string, std::string> sampler_plugins;  ///< sampler name -> plugin name (for messages)
  std::vector<std::vector<Named<Loss>>> stage_losses;  ///< per stage
  std::vector<Named<Metric>> metrics;
  DataInfo data;
  /// "component/term" of every output a loss or sampler declared as an energy
  /// (OutputRole::energy): what the divergence guard holds to energy_bound.
  std::set<std::string> energy_terms;
  std::int64_t sample_grid = 0;  ///< [log] samples_every > 0: samples kept per record, else 0
};

/// The model alone (normalization scheme + backbone), e.g. a reference network.
std::shared_ptr<Model> build_model(const VariantConfig& cfg, const Registry& registry, const DataInfo& data,
                                   std::shared_ptr<Normalization>* norm = nullptr);

Components build_components(const VariantConfig& cfg, const Registry& registry, const DataInfo& data);
/// Builds every component of a validated variant on the data set's description
/// (describe_dataset: no data read), so that a rule a plugin checks in its constructor
/// (a ConfigError naming the instance and plugin) fails validation, before anything is
/// written. Other construction failures may depend on the real data and are left to the
/// real build, which marks the variant failed.
void dry_build(const VariantConfig& cfg, const Registry& registry);

/// Every curve, evaluation series and tensor series the variant will write, from the
/// declared outputs, with each metric's plugin and parameters as attributes.
VariantLog::Layout log_layout(const Components& c);

}  // namespace ebm::kernel
