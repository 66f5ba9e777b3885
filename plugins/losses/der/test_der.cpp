// The der plugin's own tests (registered by this folder's CMakeLists.txt; the
// conformance suites in tests/unit cover the contracts every plugin shares).
#include <cmath>

#include <doctest/doctest.h>
#include <torch/torch.h>

#include "fixtures.hpp"

using namespace ebm;
using namespace ebm::test;

TEST_CASE("der matches lambda_x mean|dE(x)|^p + lambda_xy mean|dE(x,y)|^p by hand") {
  Linear m;
  auto lc = m.logits(m.ctx->batch_.x), la = m.logits(m.ctx->memo["s"]);
  auto d = Linear::energy(lc) - Linear::energy(la), dxy = m.joint(lc) - m.joint(la);
  auto l2 = make_plugin<Loss>(Kind::loss, "plugin = \"der\"\nattack = \"s\"\nlambda_x = 0.7\nlambda_xy = 0.2", m.info);
  CHECK(l2->compute(*m.ctx).item<double>() ==
        doctest::Approx((0.7 * d.pow(2).mean() + 0.2 * dxy.pow(2).mean()).item<double>()).epsilon(1e-5));
  CHECK(m.ctx->logged.at("delta_e") == doctest::Approx(d.mean().item<double>()).epsilon(1e-5));
  auto l1 = make_plugin<Loss>(Kind::loss, "plugin = \"der\"\nattack = \"s\"\np = 1\nlambda_xy = 0", m.info);
  CHECK(l1->compute(*m.ctx).item<double>() == doctest::Approx(d.abs().mean().item<double>()).epsilon(1e-5));
}
