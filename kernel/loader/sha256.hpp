// SHA-256 (FIPS 180-4) of a file's bytes: the identity of every plugin library, checkpoint
// and reference network a run records. ebmlab's own code rather than OpenSSL's, so that the
// device check's private prefix (tools/fetch-debs.sh) needs no OpenSSL headers.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace ebm::kernel {

/// Incremental SHA-256: update() any number of times, then hex() once.
class Sha256 {
 public:
  Sha256();
  void update(const unsigned char* data, std::size_t size);
  /// The digest as 64 lowercase hex digits; the object is spent afterwards.
  std::string hex();

 private:
  void block(const unsigned char* p);
  std::array<std::uint32_t, 8> h_;
  std::array<unsigned char, 64> pending_{};
  std::size_t pending_size_ = 0;
  std::uint64_t total_ = 0;
};

/// Hex SHA-256 of a file's bytes ("" if unreadable).
std::string sha256_file(const std::string& path);

}  // namespace ebm::kernel
