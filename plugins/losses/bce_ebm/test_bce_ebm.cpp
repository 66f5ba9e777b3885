// The bce_ebm plugin's own tests (registered by this folder's CMakeLists.txt; the
// conformance suites in tests/unit cover the contracts every plugin shares).
#include <cmath>

#include <doctest/doctest.h>
#include <torch/torch.h>

#include "fixtures.hpp"

using namespace ebm;
using namespace ebm::test;

TEST_CASE("bce_ebm is one BCE-with-logits mean over real and sample scores, as DAT's and AT-EBM's code") {
  Linear m;
  auto sr = -Linear::energy(m.logits(m.ctx->batch_.x)), sf = -Linear::energy(m.logits(m.ctx->memo["s"]));
  double sum = 0;  // BCEWithLogits(reduction=sum) over the concatenation [real (target 1), samples (target 0)]
  for (int i = 0; i < 3; ++i) sum += softplus(-sr[i].item<double>()) + softplus(sf[i].item<double>());
  auto loss = make_plugin<Loss>(Kind::loss, "plugin = \"bce_ebm\"\nsampler = \"s\"", m.info);
  CHECK(loss->compute(*m.ctx).item<double>() == doctest::Approx(sum / 6.0).epsilon(1e-5));
  CHECK(m.ctx->logged.at("e_data") == doctest::Approx(-sr.mean().item<double>()).epsilon(1e-5));
  // The earlier weight stays selectable by name: each side's mean, summed (twice the above).
  auto old = make_plugin<Loss>(Kind::loss, "plugin = \"bce_ebm\"\nsampler = \"s\"\nreduction = \"sum_of_means\"", m.info);
  CHECK(old->compute(*m.ctx).item<double>() == doctest::Approx(sum / 3.0).epsilon(1e-5));
}
