// The group plugin's own tests (registered by this folder's CMakeLists.txt; the
// conformance suites in tests/unit cover the contracts every plugin shares).
#include <cmath>

#include <doctest/doctest.h>
#include <torch/torch.h>

#include "fixtures.hpp"

using namespace ebm;
using namespace ebm::test;

TEST_CASE("group, layer and instance norms standardize their groups") {
  DataInfo info = image_info();
  auto x = torch::randn({3, 8, 5, 5}) * 3 + 2;
  for (const auto& [text, count] : std::vector<std::pair<std::string, int>>{
           {"plugin = \"group\"\ngroups = 4", 4}, {"plugin = \"layer\"", 1}, {"plugin = \"instance\"", 8}}) {
    // Named copies: clang (C++17) cannot capture structured bindings in CAPTURE's lambda.
    const std::string body = text;
    const int groups = count;
    CAPTURE(body);
    auto n = make_plugin<Normalization>(Kind::normalization, body, info);
    auto y = n->make(8, NormInput::spatial)->forward(x).reshape({3, groups, -1});
    CHECK(y.mean(2).abs().max().item<double>() < 1e-4);
    CHECK((y.var(2, false) - 1).abs().max().item<double>() < 1e-2);
  }
  // group count falls back to a divisor of the channel count (6 channels, 4 wanted -> 3)
  auto g = make_plugin<Normalization>(Kind::normalization, "plugin = \"group\"\ngroups = 4", info);
  auto y6 = g->make(6, NormInput::spatial)->forward(torch::randn({2, 6, 3, 3}) + 5).reshape({2, 3, -1});
  CHECK(y6.mean(2).abs().max().item<double>() < 1e-4);
}
