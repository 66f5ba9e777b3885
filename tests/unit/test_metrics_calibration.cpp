// Metrics ece, ood_auroc and energy_stats: a conformance pass over every metric plugin
// that runs without the kernel's evaluation services, then known-answer cases on hand-made
// logits and on linear models with chosen weights.
#include <algorithm>
#include <cmath>
#include <numeric>

#include <doctest/doctest.h>
#include <torch/torch.h>

#include "conformance.hpp"
#include "fixtures.hpp"

using namespace ebm;
using test::Context;
using namespace ebm::test;

TEST_CASE("metric conformance (ebm::testing::check_metric): outputs as declared, finite, deterministic, model untouched") {
  for (const auto& setting : test::conformance_settings(Kind::metric)) {
    const ebm::testing::Report r = ebm::testing::check_metric(setting.plugin, setting.body());
    CHECK_MESSAGE(r.ok(), setting.source << ": " << r.text());
  }
}
