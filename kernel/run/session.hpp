// What `ebmlab eval`, `sample` and `counterfactual` share: options, opening a saved variant
// with a checkpoint loaded into a trainer, and describing it in the /posthoc record.
#pragma once

#include <boost/program_options.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "../components.hpp"
#include "../data.hpp"
#include "../posthoc.hpp"
#include "../progress.hpp"
#include "../registry.hpp"
#include "../saved_run.hpp"
#include "../trainer.hpp"

namespace ebm::cli {

/// A saved variant with a checkpoint loaded into a trainer, ready to evaluate or sample.
struct Session {
  std::unique_ptr<kernel::Registry> registry;  // first: outlives the components built from its plugins
  kernel::SavedRun run;
  kernel::Dataset data;
  std::unique_ptr<kernel::Components> comps;
  std::unique_ptr<kernel::Progress> progress;
  std::unique_ptr<kernel::Trainer> trainer;
  std::string checkpoint, checkpoint_sha256;
  std::string weights;  ///< raw | ema, as resolved from --weights
  std::int64_t step = 0;
};

/// Changes a run's resolved configuration before it is validated again (eval's metrics).
using TreeEdit = std::function<void(Table& root, const kernel::Registry& registry)>;

/// --run, --variant, --checkpoint, --weights, --threads, --seed.
void common_options(boost::program_options::options_description& opts);

/// Opens the variant, applies `edit`, loads the checkpoint and seeds the generator. With
/// `writes`, first checks that the log can take a /posthoc record.
std::unique_ptr<Session> open_session(const boost::program_options::variables_map& vm, const std::string& command,
                                      const TreeEdit& edit = {}, bool writes = true);

/// The record's source attributes: variant, checkpoint and its sha256, step, weights.
void describe_source(kernel::PosthocWriter& w, const Session& s);

/// sample and counterfactual work on the model itself: put the average in when asked.
void apply_weights(Session& s);

/// `key=value` with the value read as TOML (numbers, booleans, arrays), else as a string.
std::pair<std::string, Value> parse_setting(const std::string& setting, const std::string& option);

/// Test images of one class (or all, cls < 0), repeated when fewer than n exist.
Batch pick_images(const kernel::Dataset& data, std::int64_t n, std::int64_t cls);

}  // namespace ebm::cli
