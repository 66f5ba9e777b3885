// The runner: where a run's files go, what --resume continues, and training one variant
// in this process with its log, its lock and the resume protocol. The command line
// (cli/run.cpp) decides which variants run where; this layer runs them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "config/descriptor.hpp"
#include "data/data.hpp"

namespace ebm::kernel {

class Registry;
class Progress;
class Collective;

/// The run's index file: [experiment] output, or runs/<name>.h5.
std::string output_path(const VariantConfig& cfg);

/// What to do with one variant.
struct Plan {
  const VariantConfig* cfg = nullptr;
  std::string log_path, ckpt_dir;
  bool skip = false;            ///< resuming: completed or diverged before
  std::int64_t from_step = -1;  ///< continue from this checkpoint (-1: from the start)
  std::string checkpoint;
};

/// One plan per variant, their logs under `log_dir`. With `resume`, completed and diverged
/// variants are skipped and the others continue from their latest readable checkpoint.
std::vector<Plan> plan_variants(const std::vector<VariantConfig>& configs, const std::filesystem::path& log_dir, bool resume);

/// --resume refuses a variant whose configuration now resolves differently from the one
/// the index recorded (ConfigError naming it).
void check_resumable(const std::string& index, const std::vector<VariantConfig>& configs);
/// Every variant's [experiment] device exists here (ConfigError, exit 2, naming the LibTorch
/// found); `from_option`: --device set it, and the message says so.
void check_devices(const std::vector<VariantConfig>& configs, bool from_option);

/// Loads the data of every plan that runs, before anything is written; variants with the
/// same [data] table and seed share one data set (kept in `loaded`). nullptr for skipped plans.
std::vector<const Dataset*> load_plan_data(const std::vector<Plan>& plans, std::map<std::string, Dataset>& loaded);

/// What the index records of the command that ran: the descriptor and how it was run.
struct RunRecord {
  const Descriptor& descriptor;
  std::string descriptor_path;  ///< absolute
  std::string command_line;
  int threads = 1, world_size = 1;
  std::vector<std::string> overrides;
};

/// Writes the run's index file: descriptor, includes, command line, overrides, every
/// variant's resolved configuration and log, and the plugins loaded. Resuming, it keeps
/// the variants the run had and appends this command to the earlier ones.
void write_run_index(const std::string& index, const std::filesystem::path& log_dir, const RunRecord& rec,
                     const std::vector<VariantConfig>& configs, const Registry& registry, bool resume);

/// Trains one variant in this process: takes the variant's lock, opens its log (carrying
/// the kept records over when resuming), builds the trainer, runs it and records the
/// status. Returns 0 (completed/diverged), 1 (failed), 130/143 (interrupted).
int run_variant(const Plan& plan, const Dataset& data, const Registry& registry, Progress& progress, Collective* coll);

}  // namespace ebm::kernel
