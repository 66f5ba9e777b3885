// Shared helpers for the unit tests.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

#include <doctest/doctest.h>

#include "ebmlab/error.hpp"

#include "loader/registry.hpp"

namespace ebm::test {

/// A fresh empty directory under the system temp folder, removed at scope exit.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("ebmlab_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
  static int& counter() {
    static int c = 0;
    return c;
  }
};

/// Runs `f`, expects an exception of type E, and returns its message.
template <class E, class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  FAIL("expected an exception");
  return "";
}

/// The build's real plugins plus the good fixture plugin, loaded once.
inline const kernel::Registry& registry() {
  static kernel::Registry* r = [] {
    auto* reg = new kernel::Registry();
    reg->load_dir(EBMLAB_PLUGIN_BUILD_DIR);
    reg->load_file(std::string(EBMLAB_FIXTURE_DIR) + "/libebmlab_fixture_good.so");
    return reg;
  }();
  return *r;
}

}  // namespace ebm::test
