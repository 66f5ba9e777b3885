// Normalizations and backbones: every backbone with every normalization builds, maps
// images to finite logits and passes gradients; frozen statistics never move; spectral
// normalization bounds each weight's largest singular value; group norms normalize.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include "conformance.hpp"
#include "fixtures.hpp"

using namespace ebm;
using namespace ebm::test;

TEST_CASE("backbone x normalization (ebm::testing::check_model): logits [B,K], finite, gradients to parameters and input") {
  const auto backbones = test::conformance_settings(Kind::backbone);
  const auto norms = test::conformance_settings(Kind::normalization);
  for (auto& bb : backbones)
    for (auto& norm : norms) {
      const ebm::testing::Report r = ebm::testing::check_model(bb.plugin, bb.body(), norm.plugin, norm.body());
      CHECK_MESSAGE(r.ok(), bb.source << " x " << norm.source << ": " << r.text());
    }
}

TEST_CASE("normalization conformance (ebm::testing::check_normalization): frozen never changes statistics; train does") {
  for (auto& norm : test::conformance_settings(Kind::normalization)) {
    const ebm::testing::Report r = ebm::testing::check_normalization(norm.plugin, norm.body());
    CHECK_MESSAGE(r.ok(), norm.source << ": " << r.text());
  }
}
