// Keeping a sampler's samples during training ([log] samples_every): a padded row block in
// the variant log's /samples/<sampler> series, and a PNG grid beside the checkpoints.
#pragma once

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

#include "ebmlab/context.hpp"

namespace ebm::kernel {

class VariantLog;

/// Records the first `count` samples of x [N, ...shape] from `sampler` at `step`: flattened
/// and NaN-padded to `count` rows in the log (when given and the series is declared), and
/// as a PNG grid samples-<sampler>-<step>.png in `dir` for images (when `dir` is not "").
void record_samples(VariantLog* log, const std::string& dir, const std::string& sampler, const at::Tensor& x, std::int64_t count,
                    std::int64_t step, const DataInfo& info);

}  // namespace ebm::kernel
