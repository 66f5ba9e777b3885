// Shared by the libFuzzer targets: the plugin registry, scratch files, and a reader that
// turns fuzz bytes into structured choices.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>

#include "loader/registry.hpp"

namespace ebm::fuzz {

/// The build's real plugins, loaded once per process.
inline const kernel::Registry& registry() {
  static kernel::Registry* r = [] {
    auto* reg = new kernel::Registry();
    reg->load_dir(EBMLAB_PLUGIN_BUILD_DIR);
    return reg;
  }();
  return *r;
}

/// A per-process scratch file path (the readers under test take paths).
inline std::string scratch(const std::string& name) { return "/tmp/ebmlab_fuzz_" + std::to_string(::getpid()) + "_" + name; }

inline void write_file(const std::string& path, const std::uint8_t* data, std::size_t size) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

/// Consumes the input front to back; past the end everything reads as zero.
class Bytes {
 public:
  Bytes(const std::uint8_t* data, std::size_t size) : p_(data), n_(size) {}
  bool empty() const { return n_ == 0; }
  std::uint8_t u8() {
    if (!n_) return 0;
    --n_;
    return *p_++;
  }
  std::uint32_t u32() {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | u8();
    return v;
  }
  std::int64_t i64() {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | u8();
    std::int64_t out;
    std::memcpy(&out, &v, sizeof out);
    return out;
  }
  double f64() {
    std::uint64_t v = static_cast<std::uint64_t>(i64());
    double out;
    std::memcpy(&out, &v, sizeof out);
    return out;
  }
  /// An index below `n` (n > 0).
  std::size_t pick(std::size_t n) { return n ? u32() % n : 0; }

 private:
  const std::uint8_t* p_;
  std::size_t n_;
};

}  // namespace ebm::fuzz
