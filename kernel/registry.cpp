#include "registry.hpp"
#include "version.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <filesystem>
#include <fstream>
#include <set>

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

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(md, EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 16);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    EVP_DigestUpdate(md, buf.data(), static_cast<size_t>(in.gcount()));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(md, digest, &len);
  EVP_MD_CTX_free(md);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) { out += hex[digest[i] >> 4]; out += hex[digest[i] & 15]; }
  return out;
}

std::string executable_dir() { return boost::dll::program_location().parent_path().string(); }

void Registry::load_file(const std::string& path) {
  auto fail = [&](const std::string& what) { throw PluginLoadError(path + ": " + what); };
  auto handle = std::make_shared<boost::dll::shared_library>();
  try {
    handle->load(path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    fail(std::string("cannot load the library: ") + e.what() + " (rebuild it against this ebmlab, or remove it from the plugin path)");
  }
  if (!handle->has("ebmlab_plugin_info"))
    fail("no entry symbol 'ebmlab_plugin_info': expected an ebmlab plugin exporting it through EBMLAB_PLUGIN(...), found none");
  never_unloaded().push_back(handle);
  const PluginInfo* info = handle->get<InfoFn>("ebmlab_plugin_info")();
  if (!info) fail("ebmlab_plugin_info() returned null: expected a PluginInfo");
  if (info->abi_version != kAbiVersion)
    fail("plugin ABI version mismatch: expected " + std::to_string(kAbiVersion) + ", found " +
         std::to_string(info->abi_version) + "; rebuild the plugin against this ebmlab SDK");
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

void Registry::load_default_path() {
  std::set<std::string> seen;
  auto add = [&](const fs::path& p) {
    std::error_code ec;
    auto canon = fs::weakly_canonical(p, ec).string();
    if (!seen.insert(canon).second) return;
    if (fs::is_regular_file(p, ec)) load_file(p.string());
    else load_dir(p.string());
  };
  fs::path exe = executable_dir();
  add(exe / "plugins");
  add(exe.parent_path() / kInstalledPluginDir);
  if (const char* env = std::getenv("EBMLAB_PLUGIN_PATH")) {
    std::string s = env;
    size_t start = 0;
    while (start <= s.size()) {
      size_t end = s.find(':', start);
      if (end == std::string::npos) end = s.size();
      if (end > start) add(s.substr(start, end - start));
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

std::pair<std::shared_ptr<Component>, const LoadedEntry*> Registry::create_component(
    Kind kind, const std::string& name, const Params& params, const BuildContext& ctx) const {
  const LoadedEntry* e = find(kind, name);
  if (!e) throw ConfigError(std::string("no ") + kind_name(kind) + " plugin named '" + name + "'");
  std::shared_ptr<Component> object;
  try {
    object = e->entry.create(params, ctx);
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
