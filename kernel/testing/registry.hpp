// Inside the testing library: its plugin registry and the builders the harness and the
// conformance checks share (include/ebmlab/testing.hpp is the public side).
#pragma once

#include <memory>
#include <string>

#include "ebmlab/testing.hpp"

namespace ebm::kernel {
class Registry;
class Model;
}  // namespace ebm::kernel

namespace ebm::testing {

/// ebmlab's own plugins (beside the library) and EBMLAB_PLUGIN_PATH, loaded once.
const kernel::Registry& registry();
/// Plugin `plugin` of `kind` from a TOML body without `plugin`, validated against its schema.
std::shared_ptr<Component> build(Kind kind, const std::string& plugin, const std::string& body, const DataInfo& info,
                                 std::shared_ptr<Normalization> norm);
/// A kernel Model: normalization `norm` then backbone `backbone`.
std::shared_ptr<kernel::Model> build_model(const std::string& backbone, const std::string& backbone_body, const std::string& norm,
                                           const std::string& norm_body, const DataInfo& info);
}  // namespace ebm::testing
