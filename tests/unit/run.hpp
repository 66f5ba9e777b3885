// A variant built from descriptor text the way `ebmlab run` builds it: resolved against
// the real plugins, its data loaded, its components constructed.
#pragma once

#include <torch/torch.h>

#include "config/descriptor.hpp"
#include "data/data.hpp"
#include "helpers.hpp"
#include "train/components.hpp"
#include "train/progress.hpp"

namespace ebm::test {

struct Run {
  kernel::VariantConfig cfg;
  kernel::Dataset data;
  kernel::Components comps;
  kernel::Progress progress{false, 0.0, true};
  /// init_seed: seeds the weight initialization (default: the descriptor's seed).
  explicit Run(const std::string& text, std::uint64_t init_seed = 0) {
    kernel::Descriptor d{"test.toml", text, kernel::parse_toml_text(text, "test.toml"), {}};
    cfg = kernel::resolve(kernel::expand(d).at(0), registry());
    const auto seed = static_cast<std::uint64_t>(cfg.experiment.seed);
    data = kernel::load_dataset(cfg.data.params, seed);
    torch::manual_seed(init_seed ? init_seed : seed);
    comps = kernel::build_components(cfg, registry(), data.info);
  }
};

}  // namespace ebm::test
