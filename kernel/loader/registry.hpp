// The plugin loader and registry: finds plugin libraries, checks their ABI and
// fingerprint, and creates components that keep their library alive.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "ebmlab/plugin.hpp"

namespace boost::dll {
class shared_library;
}

namespace ebm::kernel {

struct LoadedLibrary {
  std::string path;
  std::string sha256;
  std::string fingerprint;
  std::string compiler;
  std::shared_ptr<boost::dll::shared_library> handle;
};

struct LoadedEntry {
  Entry entry;
  const LoadedLibrary* library;
};

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  /// Loads one library; throws PluginLoadError naming the file, expected and found values.
  /// Refuses (PluginLoadError, saying why) a file writable by its group or other users,
  /// owned by someone other than the user or root, or in a folder others can write
  /// without the sticky bit: plugins are code.
  void load_file(const std::string& path);
  /// Loads every lib*.so in `dir` (sorted). Missing directories are skipped.
  void load_dir(const std::string& dir);
  /// A file (load_file) or folder (load_dir); a path loaded before is skipped.
  void load_path(const std::string& path);
  /// The build's plugin folder (next to the binary), the installed one, then EBMLAB_PLUGIN_PATH.
  void load_default_path();

  const LoadedEntry* find(Kind kind, const std::string& name) const;
  std::vector<const LoadedEntry*> entries(Kind kind) const;
  std::vector<std::string> names(Kind kind) const;
  const std::vector<std::unique_ptr<LoadedLibrary>>& libraries() const { return libraries_; }
  const std::vector<std::string>& warnings() const { return warnings_; }

  /// Creates a component and casts it to T. The returned pointer also owns the library
  /// handle, so the object outlives this registry safely.
  template <class T>
  std::shared_ptr<T> create(Kind kind, const std::string& name, const Params& params, const BuildContext& ctx) const {
    auto [object, entry] = create_component(kind, name, params, ctx);
    T* typed = dynamic_cast<T*>(object.get());
    if (!typed)
      throw PluginLoadError(entry->library->path + ": entry '" + name + "' declared kind " + kind_name(kind) +
                            " but its object does not implement that interface");
    return std::shared_ptr<T>(object, typed);
  }

 private:
  std::pair<std::shared_ptr<Component>, const LoadedEntry*> create_component(Kind kind, const std::string& name,
                                                                             const Params& params, const BuildContext& ctx) const;

  std::vector<std::unique_ptr<LoadedLibrary>> libraries_;
  std::vector<LoadedEntry> entries_;
  std::vector<std::string> warnings_;
  std::set<std::string> seen_;  ///< canonical paths given to load_path
};

/// Directory holding the running executable.
std::string executable_dir();

}  // namespace ebm::kernel
