// The r1 plugin's own tests (registered by this folder's CMakeLists.txt; the
// conformance suites in tests/unit cover the contracts every plugin shares).
#include <cmath>

#include <doctest/doctest.h>
#include <torch/torch.h>

#include "fixtures.hpp"

using namespace ebm;
using namespace ebm::test;

TEST_CASE("r1 matches half the mean squared input-gradient norm of logsumexp, by hand") {
  Linear m;
  auto loss = make_plugin<Loss>(Kind::loss, "plugin = \"r1\"", m.info);
  double v = loss->compute(*m.ctx).item<double>();
  // d/dx logsumexp(W (x-0.5)/0.25 + b) = (softmax(l) W) / 0.25
  auto l = m.logits(m.ctx->batch_.x);
  auto g = torch::softmax(l, 1).mm(m.W) / 0.25;
  double expected = 0.5 * g.pow(2).sum(1).mean().item<double>();
  CHECK(v == doctest::Approx(expected).epsilon(1e-5));
}

TEST_CASE("r1 with real_sampler penalizes the gradient at the sampler's points, as AT-EBM's r1_reg on indist_input") {
  Linear m;
  // The memo holds sampler "s"'s points; they differ from the batch.
  REQUIRE(!torch::equal(m.ctx->memo["s"], m.ctx->batch_.x));
  auto loss = make_plugin<Loss>(Kind::loss, "plugin = \"r1\"\nreal_sampler = \"s\"", m.info);
  double v = loss->compute(*m.ctx).item<double>();
  auto g = torch::softmax(m.logits(m.ctx->memo["s"]), 1).mm(m.W) / 0.25;
  CHECK(v == doctest::Approx(0.5 * g.pow(2).sum(1).mean().item<double>()).epsilon(1e-5));
  auto clean = make_plugin<Loss>(Kind::loss, "plugin = \"r1\"", m.info)->compute(*m.ctx).item<double>();
  CHECK(v != doctest::Approx(clean).epsilon(1e-6));
}
