// Reopening what `ebmlab run` wrote: a variant's validated configuration, its data and
// a model with a checkpoint's weights — for `ebmlab eval`, `sample`, `counterfactual`
// and reference networks (the feature net of sample_quality).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/descriptor.hpp"
#include "data/data.hpp"
#include "train/components.hpp"

namespace ebm::kernel {

class Registry;

struct SavedRun {
  std::string index;  ///< runs/<exp>.h5 ("" when opened from a checkpoint alone)
  std::string variant;
  std::string log;       ///< runs/<exp>/<variant>.h5
  std::string ckpt_dir;  ///< runs/<exp>/<variant>/
  VariantConfig cfg;     ///< re-validated from the log's resolved configuration
};

/// Opens variant `variant` ("" = the only one) of the run whose index file is `index`.
/// ConfigError naming the file when it is not an ebmlab index or the variant is unknown.
SavedRun open_saved_run(const std::string& index, const std::string& variant, const Registry& registry);

/// The run a checkpoint file belongs to: <dir>/<variant>/ckpt-*.h5 -> <dir>/<variant>.h5.
SavedRun saved_run_of_checkpoint(const std::string& checkpoint, const Registry& registry);

/// Resolves --checkpoint: "last" (highest step), "best" (ckpt-best.h5), a step number,
/// or a path. ConfigError listing what exists when nothing matches.
std::string find_checkpoint(const SavedRun& run, const std::string& which);

/// Step recorded in a checkpoint file name ckpt-<step>.h5 (-1 for ckpt-best.h5 etc.).
std::int64_t checkpoint_step(const std::string& file);

/// Checks `checkpoint` against the sha256 the variant log recorded when it was written
/// (the latest record of that file name). DataError when they differ; nothing when the
/// log has no record of it (e.g. a converted state_dict given by path).
void verify_checkpoint(const SavedRun& run, const std::string& checkpoint);

/// The data info a model of this config is built with (loads the data set).
Dataset load_run_data(const SavedRun& run);

}  // namespace ebm::kernel
