// The bce_ebm plugin's own tests (registered by this folder's CMakeLists.txt; the
// conformance suites in tests/unit cover the contracts every plugin shares).
#include <cmath>

#include <doctest/doctest.h>
#include <torch/torch.h>

#include "fixtures.hpp"

using namespace ebm;
using namespace ebm::test;

TEST_CASE("bce_ebm matches BCE with logits on logsumexp computed by hand") {
  Linear m;
  auto loss = make_plugin<Loss>(Kind::loss, "plugin = \"bce_ebm\"\nsampler = \"s\"", m.info);
  double v = loss->compute(*m.ctx).item<double>();
  auto sr = -Linear::energy(m.logits(m.ctx->batch_.x)), sf = -Linear::energy(m.logits(m.ctx->memo["s"]));
  double expected = 0;
  for (int i = 0; i < 3; ++i) expected += (softplus(-sr[i].item<double>()) + softplus(sf[i].item<double>())) / 3.0;
  CHECK(v == doctest::Approx(expected).epsilon(1e-5));
  CHECK(m.ctx->logged.at("e_data") == doctest::Approx(-sr.mean().item<double>()).epsilon(1e-5));
}
