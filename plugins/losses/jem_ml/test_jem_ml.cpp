// The jem_ml plugin's own tests (registered by this folder's CMakeLists.txt; the
// conformance suites in tests/unit cover the contracts every plugin shares).
#include <cmath>

#include <doctest/doctest.h>
#include <torch/torch.h>

#include "fixtures.hpp"

using namespace ebm;
using namespace ebm::test;

TEST_CASE("jem_ml matches mean E(data) - mean E(samples) (+ the joint and L2 terms) by hand") {
  Linear m;
  auto ed = Linear::energy(m.logits(m.ctx->batch_.x)), es = Linear::energy(m.logits(m.ctx->memo["s"]));
  auto jd = m.joint(m.logits(m.ctx->batch_.x)), js = m.joint(m.logits(m.ctx->memo["s"]));
  auto plain = make_plugin<Loss>(Kind::loss, "plugin = \"jem_ml\"\nsampler = \"s\"", m.info);
  CHECK(plain->compute(*m.ctx).item<double>() == doctest::Approx((ed.mean() - es.mean()).item<double>()).epsilon(1e-5));
  auto full = make_plugin<Loss>(Kind::loss, "plugin = \"jem_ml\"\nsampler = \"s\"\njoint_weight = 0.5\nenergy_l2 = 0.1", m.info);
  double expected =
      (ed.mean() - es.mean() + 0.5 * (jd.mean() - js.mean()) + 0.1 * (ed.pow(2).mean() + es.pow(2).mean())).item<double>();
  CHECK(full->compute(*m.ctx).item<double>() == doctest::Approx(expected).epsilon(1e-5));
}
