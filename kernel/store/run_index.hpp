// A run's index file: the descriptor, the command that ran it, its machine and libraries,
// every variant's resolved configuration with an external link to its log, and the plugins
// loaded (docs/hdf5-layout.md).
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ebm::kernel {

struct PluginRecord {
  std::string path, sha256, fingerprint, compiler;
};

/// Provenance and contents of a run's index file.
struct IndexInfo {
  std::string descriptor_text, descriptor_path, resolved_json, command_line;
  int threads = 1;
  int world_size = 1;                                         ///< data-parallel processes per variant
  std::vector<std::string> overrides;                         ///< key.path=value, as given
  std::vector<std::pair<std::string, std::string>> includes;  ///< included files: path, text
  std::vector<PluginRecord> plugins;
  std::map<std::string, std::string> variants;  ///< name -> log path relative to the index's folder
  std::string numeric_libraries_json = "[]";    ///< BLAS and OpenMP libraries loaded (loader/runtime_libraries.hpp)
};

/// Writes the index file atomically (temporary file, then rename).
void write_index(const std::string& path, const IndexInfo& info);

}  // namespace ebm::kernel
