#include "run/saved_run.hpp"

#include <cstring>
#include <filesystem>
#include <regex>

#include <boost/json.hpp>

#include "config/json.hpp"
#include "loader/registry.hpp"
#include "loader/sha256.hpp"
#include "store/h5log.hpp"
#include "store/h5util.hpp"
#include "store/run_files.hpp"

namespace ebm::kernel {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

VariantConfig config_from_json(const json::value& resolved, const std::string& variant, const std::string& file,
                               const Registry& registry) {
  SourceLoc loc{file + " (resolved configuration of " + variant + ")", 0, 0};
  try {
    return resolve(Variant{variant, from_json(resolved, loc)}, registry);
  } catch (const SchemaError& e) {
    throw ConfigError(file + ": the saved configuration of variant '" + variant +
                      "' no longer validates against the loaded plugins:\n" + e.what());
  }
}

}  // namespace

SavedRun open_saved_run(const std::string& index, const std::string& variant, const Registry& registry) {
  if (!fs::exists(index)) throw ConfigError(index + ": no such file (give the run's index file, e.g. runs/<name>.h5)");
  check_format(open_for_read(index), index);
  json::value all = parse_json(read_string(index, "resolved"), index, "the 'resolved' dataset");
  if (!all.is_object()) throw ConfigError(index + ": 'resolved' is not a table of variants");
  const json::object& variants = all.get_object();
  std::string names;
  for (auto& [k, v] : variants) names += (names.empty() ? "" : ", ") + std::string(k);
  SavedRun run;
  run.index = index;
  if (variant.empty()) {
    if (variants.size() != 1)
      throw ConfigError(index + ": the run has " + std::to_string(variants.size()) + " variants (" + names +
                        "); choose one with --variant");
    run.variant = std::string(variants.begin()->key());
  } else {
    if (!variants.contains(variant)) throw ConfigError(index + ": no variant '" + variant + "'; the run has: " + names);
    run.variant = variant;
  }
  const fs::path log_dir = fs::path(index).replace_extension("");
  run.log = (log_dir / (run.variant + ".h5")).string();
  run.ckpt_dir = (log_dir / run.variant).string();
  run.cfg = config_from_json(variants.at(run.variant), run.variant, index, registry);
  return run;
}

SavedRun saved_run_of_checkpoint(const std::string& checkpoint, const Registry& registry) {
  if (!fs::exists(checkpoint)) throw ConfigError(checkpoint + ": no such checkpoint file");
  const fs::path dir = fs::absolute(checkpoint).parent_path();
  SavedRun run;
  run.variant = dir.filename().string();
  run.ckpt_dir = dir.string();
  run.log = dir.string() + ".h5";
  if (!fs::exists(run.log))
    throw ConfigError(checkpoint + ": cannot tell which model wrote it: expected its variant log " + run.log +
                      " (checkpoints live in <run>/<variant>/ beside <run>/<variant>.h5)");
  check_format(open_for_read(run.log), run.log);
  run.cfg = config_from_json(parse_json(read_string(run.log, "config"), run.log, "the 'config' dataset"), run.variant, run.log,
                             registry);
  return run;
}

std::int64_t checkpoint_step(const std::string& file) {
  static const std::regex kCheckpointName("ckpt-([0-9]+)\\.h5");
  std::smatch m;
  std::string name = fs::path(file).filename().string();
  return std::regex_match(name, m, kCheckpointName) ? std::stoll(m[1]) : -1;
}

std::string find_checkpoint(const SavedRun& run, const std::string& which) {
  if (which.find('/') != std::string::npos || (which.size() > 3 && which.substr(which.size() - 3) == ".h5")) {
    if (!fs::exists(which)) throw ConfigError("--checkpoint " + which + ": no such file");
    return which;
  }
  std::vector<std::string> files;
  if (fs::is_directory(run.ckpt_dir))
    for (auto& e : fs::directory_iterator(run.ckpt_dir)) {
      std::string name = e.path().filename().string();
      if (name.rfind("ckpt-", 0) == 0 && e.path().extension() == ".h5") files.push_back(name);
    }
  std::sort(files.begin(), files.end());
  std::string listing = files.empty() ? "none" : "";
  for (auto& f : files) listing += (listing.empty() ? "" : ", ") + f;
  auto fail = [&](const std::string& why) {
    return ConfigError("--checkpoint " + which + ": " + why + " in " + run.ckpt_dir + " (checkpoints there: " + listing +
                       "); the run writes them per its [checkpoint] section");
  };
  if (which == "best") {
    if (std::find(files.begin(), files.end(), "ckpt-best.h5") == files.end()) throw fail("no ckpt-best.h5");
    return (fs::path(run.ckpt_dir) / "ckpt-best.h5").string();
  }
  if (which == "last") {
    std::int64_t best = -1;
    std::string chosen;
    for (auto& f : files)
      if (checkpoint_step(f) > best) {
        best = checkpoint_step(f);
        chosen = f;
      }
    if (chosen.empty()) throw fail("no ckpt-<step>.h5");
    return (fs::path(run.ckpt_dir) / chosen).string();
  }
  if (!which.empty() && std::all_of(which.begin(), which.end(), ::isdigit)) {
    std::string name = "ckpt-" + which + ".h5";
    if (std::find(files.begin(), files.end(), name) == files.end()) throw fail("no " + name);
    return (fs::path(run.ckpt_dir) / name).string();
  }
  throw ConfigError("--checkpoint " + which + ": expected last, best, a step number or a checkpoint file path");
}

void verify_checkpoint(const SavedRun& run, const std::string& checkpoint) {
  if (!fs::exists(run.log)) return;
  std::string recorded;
  // Records name files relative to the log's folder; the latest record of a file wins
  // (ckpt-best.h5 is rewritten).
  const fs::path base = fs::absolute(run.log).parent_path();
  for (auto& r : h5::read_checkpoint_rows(h5::open_for_read(run.log))) {
    std::error_code ec;
    if (fs::equivalent(base / r.file, checkpoint, ec)) recorded = r.sha256;
  }
  if (recorded.empty()) return;
  const std::string actual = sha256_file(checkpoint);
  if (actual != recorded)
    throw DataError(checkpoint + ": sha256 " + actual + " differs from " + recorded + " recorded in " + run.log +
                    " when it was written; the file was modified or damaged — use another checkpoint (--checkpoint)");
}

Dataset load_run_data(const SavedRun& run) {
  return load_dataset(run.cfg.data.params, static_cast<std::uint64_t>(run.cfg.experiment.seed));
}

}  // namespace ebm::kernel
