// The wrn plugin's own tests (registered by this folder's CMakeLists.txt; the
// conformance suites in tests/unit cover the contracts every plugin shares).
#include <cmath>

#include <doctest/doctest.h>
#include <torch/torch.h>

#include "fixtures.hpp"

using namespace ebm;
using namespace ebm::test;

TEST_CASE("wrn: WRN-10-1 has the parameter count of its definition") {
  DataInfo info = image_info();
  auto model = make_model("plugin = \"wrn\"\ndepth = 10\nwidth = 1", "plugin = \"none\"", info);
  std::int64_t n = 0;
  for (auto& p : model->parameters()) n += p.numel();
  // stem 1->16 3x3; group 1: 16->16 (2 convs); group 2: 16->32 (2 convs + 1x1 shortcut);
  // group 3: 32->64 (2 convs + shortcut); head 64->10 with bias.
  const std::int64_t expected =
      16 * 9 + 2 * 16 * 16 * 9 + (16 * 32 * 9 + 32 * 32 * 9 + 16 * 32) + (32 * 64 * 9 + 64 * 64 * 9 + 32 * 64) + 64 * 10 + 10;
  CHECK(n == expected);
}

TEST_CASE("wrn rejects a depth that is not 6n+4, naming the key") {
  DataInfo info = image_info();
  auto msg = error_of<ConfigError>([&] { make_model("plugin = \"wrn\"\ndepth = 12", "plugin = \"none\"", info); });
  CHECK(msg.find("t.depth") != std::string::npos);
  CHECK(msg.find("6n+4") != std::string::npos);
}
