// ebmlab SDK: the plugin ABI. A plugin library exports one extern "C" function,
// `ebmlab_plugin_info`, returning a static PluginInfo. Write it with EBMLAB_PLUGIN(...)
// at the bottom of the plugin's main source file:
//
//   EBMLAB_PLUGIN(ebm::entry<MyLoss>(ebm::Kind::loss, "my_loss", "0.1", "What it does",
//                                    my_loss_schema))
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <torch/version.h>

#include "ebmlab/component.hpp"
#include "ebmlab/context.hpp"
#include "ebmlab/schema.hpp"

namespace ebm {

class Normalization;

/// Bump when PluginInfo, Entry, BuildContext or StepContext change layout.
inline constexpr std::uint32_t kAbiVersion = 5;  ///< the SDK version: docs/writing-a-plugin.md lists what each changed
/// Per-kind interface versions: bump one when its header's virtual methods change.
inline constexpr std::uint32_t kBackboneVersion = 3;  ///< 3: features()
inline constexpr std::uint32_t kSamplerVersion = 2;
inline constexpr std::uint32_t kLossVersion = 2;
inline constexpr std::uint32_t kNormalizationVersion = 2;
inline constexpr std::uint32_t kMetricVersion = 3;  ///< 3: tensors()

enum class Kind : std::uint32_t { backbone, sampler, loss, normalization, metric };
inline constexpr int kKindCount = 5;
EBMLAB_API const char* kind_name(Kind k);

/// Everything that must be identical between the kernel and a plugin for objects to
/// cross the boundary safely. The compiler version is recorded separately and only warned on.
struct EBMLAB_API Fingerprint {
  std::uint32_t abi_version;
  std::uint32_t interface_versions[kKindCount];
  std::uint32_t torch_major, torch_minor;
  std::uint32_t cxx11_abi;  ///< _GLIBCXX_USE_CXX11_ABI
  std::uint32_t sanitizer;  ///< 1 when built with AddressSanitizer

  bool operator==(const Fingerprint& o) const;
  bool operator!=(const Fingerprint& o) const { return !(*this == o); }
  std::string str() const;
};

#if defined(_GLIBCXX_USE_CXX11_ABI) && _GLIBCXX_USE_CXX11_ABI
inline constexpr std::uint32_t kCxx11Abi = 1;
#else
inline constexpr std::uint32_t kCxx11Abi = 0;
#endif
#if defined(__SANITIZE_ADDRESS__)
inline constexpr std::uint32_t kAddressSanitizer = 1;
#else
inline constexpr std::uint32_t kAddressSanitizer = 0;
#endif

/// The fingerprint of the translation unit that includes this header.
constexpr Fingerprint this_build_fingerprint() {
  Fingerprint f{};
  f.abi_version = kAbiVersion;
  const std::uint32_t kinds[kKindCount] = {kBackboneVersion, kSamplerVersion, kLossVersion, kNormalizationVersion,
                                           kMetricVersion};
  for (int i = 0; i < kKindCount; ++i) f.interface_versions[i] = kinds[i];
  f.torch_major = TORCH_VERSION_MAJOR;
  f.torch_minor = TORCH_VERSION_MINOR;
  f.cxx11_abi = kCxx11Abi;
  f.sanitizer = kAddressSanitizer;
  return f;
}

/// What a factory receives besides its parameters.
struct BuildContext {
  std::string instance;  ///< descriptor path of the component, e.g. "samplers.attack"
  DataInfo data;
  std::shared_ptr<Normalization> norm;  ///< for backbones: the scheme to build norm layers with
};

using SchemaFn = Schema (*)();
using FactoryFn = std::shared_ptr<Component> (*)(const Params&, const BuildContext&);

struct Entry {
  Kind kind;
  const char* name;
  const char* version;
  const char* summary;
  SchemaFn schema;
  FactoryFn create;
};

struct PluginInfo {
  std::uint32_t abi_version;  ///< must stay the first member: read before anything else
  Fingerprint fingerprint;
  const char* compiler;
  const Entry* entries;
  std::size_t entry_count;
};

/// Factory for a component type T constructible as T(const Params&, const BuildContext&).
template <class T>
std::shared_ptr<Component> make_component(const Params& p, const BuildContext& b) {
  return std::make_shared<T>(p, b);
}

template <class T>
constexpr Entry entry(Kind kind, const char* name, const char* version, const char* summary, SchemaFn schema) {
  return Entry{kind, name, version, summary, schema, &make_component<T>};
}

}  // namespace ebm

#define EBMLAB_STRINGIFY_(x) #x
#define EBMLAB_STRINGIFY(x) EBMLAB_STRINGIFY_(x)
// clang defines __GNUC__ too (as 4.2), so it is asked first.
#if defined(__clang__)
#define EBMLAB_COMPILER_ID "clang " EBMLAB_STRINGIFY(__clang_major__) "." EBMLAB_STRINGIFY(__clang_minor__)
#else
#define EBMLAB_COMPILER_ID "gcc " EBMLAB_STRINGIFY(__GNUC__) "." EBMLAB_STRINGIFY(__GNUC_MINOR__)
#endif

/// Exports the plugin's entry table. Use once per library.
#define EBMLAB_PLUGIN(...)                                                                                                \
  extern "C" EBMLAB_API const ::ebm::PluginInfo* ebmlab_plugin_info() {                                                   \
    static const ::ebm::Entry entries[] = {__VA_ARGS__};                                                                  \
    static const ::ebm::PluginInfo info{::ebm::kAbiVersion, ::ebm::this_build_fingerprint(), EBMLAB_COMPILER_ID, entries, \
                                        sizeof(entries) / sizeof(entries[0])};                                            \
    return &info;                                                                                                         \
  }
