#include "loader/registry.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>

#include "loader/elf_check.hpp"
#include "loader/sha256.hpp"
#include "loader/version.hpp"

namespace fs = std::filesystem;

namespace ebm::kernel {

namespace {

using InfoFn = const PluginInfo*();

// Plugin code may still be referenced by autograd nodes or static destructors until
// the process ends, so handles are parked here and never released.
std::vector<std::shared_ptr<boost::dll::shared_library>>& never_unloaded() {
  static auto* keep = new std::vector<std::shared_ptr<boost::dll::shared_library>>();
  return *keep;
}

// Keeps the library alive for as long as the object: the object is released first.
struct Holder {
  std::shared_ptr<boost::dll::shared_library> library;
  std::shared_ptr<Component> object;
  ~Holder() { object.reset(); }
};

}  // namespace

Registry::Registry() = default;
Registry::~Registry() = default;

std::string executable_dir() { return boost::dll::program_location().parent_path().string(); }

namespace {

std::string octal_mode(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

std::string writers(mode_t m) {
  if ((m & S_IWGRP) && (m & S_IWOTH)) return "its group and all other users";
  return (m & S_IWGRP) ? "its group" : "all other users";
}

/// Plugins are code: whoever can write a plugin file, or replace it in its folder, can
/// run code as the user running ebmlab. Such files and folders are refused (a folder with
/// the sticky bit, such as /tmp, only lets owners replace their own files: allowed).
void check_safe_to_load(const std::string& path) {
  auto refuse = [&](const std::string& what) { throw PluginLoadError(path + ": refusing to load: " + what); };
  const uid_t me = geteuid();
  auto owned_ok = [&](const struct stat& st) { return st.st_uid == me || st.st_uid == 0; };
  std::error_code ec;
  const fs::path real = fs::canonical(path, ec);
  if (ec) refuse("cannot resolve the path: " + ec.message());
  struct stat st {};
  if (stat(real.c_str(), &st) != 0) refuse(std::string("cannot stat it: ") + std::strerror(errno));
  if (st.st_mode & (S_IWGRP | S_IWOTH))
    refuse("the file " + real.string() + " is writable by " + writers(st.st_mode) + " (mode " + octal_mode(st.st_mode) +
           "), so they could make ebmlab run their code; fix it with: chmod go-w " + real.string());
  if (!owned_ok(st))
    refuse("the file " + real.string() + " belongs to user id " + std::to_string(st.st_uid) +
           ", neither you nor root, so its owner could change the code ebmlab runs; copy it to a folder of yours");
  std::vector<fs::path> folders{real.parent_path()};
  const fs::path given = fs::absolute(path, ec).parent_path();
  if (!ec && given != real.parent_path()) folders.push_back(given);  // a symbolic link's own folder
  for (const auto& dir : folders) {
    struct stat ds {};
    if (stat(dir.c_str(), &ds) != 0) continue;
    if ((ds.st_mode & (S_IWGRP | S_IWOTH)) && !(ds.st_mode & S_ISVTX))
      refuse("its folder " + dir.string() + " is writable by " + writers(ds.st_mode) + " (mode " + octal_mode(ds.st_mode) +
             ") without the sticky bit, so they could replace the library; fix it with: chmod go-w " + dir.string());
  }
}

}  // namespace

void Registry::load_file(const std::string& path) {
  auto fail = [&](const std::string& what) { throw PluginLoadError(path + ": " + what); };
  check_safe_to_load(path);
  if (auto why = foreign_torch_reason(path); !why.empty()) throw PluginLoadError(path + ": refusing to load: " + why);
  auto handle = std::make_shared<boost::dll::shared_library>();
  try {
    handle->load(path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    fail(std::string("cannot load the library: ") + e.what() +
         " (rebuild it against this ebmlab, or remove it from the plugin path)");
  }
  if (!handle->has("ebmlab_plugin_info"))
    fail("no entry symbol 'ebmlab_plugin_info': expected an ebmlab plugin exporting it through EBMLAB_PLUGIN(...), found none");
  never_unloaded().push_back(handle);
  const PluginInfo* info = handle->get<InfoFn>("ebmlab_plugin_info")();
  if (!info) fail("ebmlab_plugin_info() returned null: expected a PluginInfo");
  if (info->abi_version != kAbiVersion)
    fail("plugin ABI version mismatch: expected " + std::to_string(kAbiVersion) + ", found " + std::to_string(info->abi_version) +
         "; rebuild the plugin against this ebmlab SDK");
  const Fingerprint mine = this_build_fingerprint();
  if (info->fingerprint != mine)
    fail("fingerprint mismatch: expected " + mine.str() + ", found " + info->fingerprint.str() +
         "; rebuild the plugin with this ebmlab, LibTorch and build flavour");
  std::string compiler = info->compiler ? info->compiler : "unknown";
  if (compiler != EBMLAB_COMPILER_ID)
    warnings_.push_back(path + ": built with " + compiler + ", kernel built with " EBMLAB_COMPILER_ID);

  auto lib = std::make_unique<LoadedLibrary>();
  lib->path = fs::absolute(path).string();
  lib->sha256 = sha256_file(path);
  lib->fingerprint = info->fingerprint.str();
  lib->compiler = compiler;
  lib->handle = handle;

  std::vector<LoadedEntry> fresh;
  for (size_t i = 0; i < info->entry_count; ++i) {
    const Entry& e = info->entries[i];
    std::string label = "entry " + std::to_string(i) + (e.name ? std::string(" '") + e.name + "'" : "");
    if (!e.name || !*e.name) fail(label + ": expected a name, found none");
    if (static_cast<std::uint32_t>(e.kind) >= kKindCount)
      fail(label + ": unknown kind " + std::to_string(static_cast<std::uint32_t>(e.kind)));
    if (!e.create) fail(label + ": expected a factory, found null");
    if (!e.schema) fail(label + ": expected a schema function, found null");
    for (auto* other : {&entries_, &fresh})
      for (auto& o : *other)
        if (o.entry.kind == e.kind && std::string(o.entry.name) == e.name)
          fail(std::string("duplicate ") + kind_name(e.kind) + " '" + e.name + "': already provided by " +
               (o.library ? o.library->path : path) + "; expected unique (kind, name) pairs");
    fresh.push_back(LoadedEntry{e, lib.get()});
  }
  entries_.insert(entries_.end(), fresh.begin(), fresh.end());
  libraries_.push_back(std::move(lib));
}

void Registry::load_dir(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  std::vector<std::string> files;
  for (auto& f : fs::directory_iterator(dir)) {
    auto name = f.path().filename().string();
    if (f.is_regular_file() && name.rfind("lib", 0) == 0 && f.path().extension() == ".so") files.push_back(f.path().string());
  }
  std::sort(files.begin(), files.end());
  for (auto& f : files) load_file(f);
}

void Registry::load_path(const std::string& p) {
  std::error_code ec;
  auto canon = fs::weakly_canonical(p, ec).string();
  if (!seen_.insert(canon).second) return;
  if (fs::is_regular_file(p, ec))
    load_file(p);
  else
    load_dir(p);
}

void Registry::load_default_path() {
  fs::path exe = executable_dir();
  load_path((exe / "plugins").string());
  load_path((exe.parent_path() / kInstalledPluginDir).string());
  if (const char* env = std::getenv("EBMLAB_PLUGIN_PATH")) {
    std::string s = env;
    size_t start = 0;
    while (start <= s.size()) {
      size_t end = s.find(':', start);
      if (end == std::string::npos) end = s.size();
      if (end > start) load_path(s.substr(start, end - start));
      start = end + 1;
    }
  }
}

const LoadedEntry* Registry::find(Kind kind, const std::string& name) const {
  for (auto& e : entries_)
    if (e.entry.kind == kind && name == e.entry.name) return &e;
  return nullptr;
}

std::vector<const LoadedEntry*> Registry::entries(Kind kind) const {
  std::vector<const LoadedEntry*> out;
  for (auto& e : entries_)
    if (e.entry.kind == kind) out.push_back(&e);
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return std::string(a->entry.name) < b->entry.name; });
  return out;
}

std::vector<std::string> Registry::names(Kind kind) const {
  std::vector<std::string> out;
  for (auto* e : entries(kind)) out.emplace_back(e->entry.name);
  return out;
}

std::pair<std::shared_ptr<Component>, const LoadedEntry*> Registry::create_component(Kind kind, const std::string& name,
                                                                                     const Params& params,
                                                                                     const BuildContext& ctx) const {
  const LoadedEntry* e = find(kind, name);
  if (!e) throw ConfigError(std::string("no ") + kind_name(kind) + " plugin named '" + name + "'");
  std::shared_ptr<Component> object;
  try {
    object = e->entry.create(params, ctx);
  } catch (const ConfigError& ex) {
    // A rule of the plugin's own: the message names the instance and plugin (Params::owner()
    // starts with the instance; a plugin that does not use it gets the prefix here).
    const std::string what = ex.what();
    if (what.rfind(ctx.instance, 0) == 0 && !ctx.instance.empty()) throw;
    throw ConfigError("'" + ctx.instance + "' (plugin " + name + "): " + what);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& ex) {
    throw RunError(ctx.instance + " (" + name + " from " + e->library->path + "): the plugin's factory threw: " + ex.what());
  }
  if (!object) throw PluginLoadError(e->library->path + ": factory of '" + name + "' returned null");
  auto holder = std::make_shared<Holder>(Holder{e->library->handle, object});
  return {std::shared_ptr<Component>(holder, holder->object.get()), e};
}

}  // namespace ebm::kernel
