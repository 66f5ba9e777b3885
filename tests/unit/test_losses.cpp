// Losses: conformance over every loss plugin, then bce_ebm, jem_ml, der and r1 against
// values computed by hand on a linear model with known weights.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include "conformance.hpp"
#include "fixtures.hpp"

using namespace ebm;
using test::Context;
using namespace ebm::test;

TEST_CASE("loss conformance (ebm::testing::check_loss): finite scalar, gradients reach the parameters, terms logged") {
  for (auto& setting : test::conformance_settings(Kind::loss)) {
    const ebm::testing::Report r = ebm::testing::check_loss(setting.plugin, setting.body());
    CHECK_MESSAGE(r.ok(), setting.source << ": " << r.text());
  }
}
