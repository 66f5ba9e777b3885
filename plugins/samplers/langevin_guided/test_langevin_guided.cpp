// The langevin_guided plugin's own tests (registered by this folder's CMakeLists.txt; the
// conformance suites in tests/unit cover the contracts every plugin shares).
#include <cmath>

#include <doctest/doctest.h>
#include <torch/torch.h>

#include "fixtures.hpp"

using namespace ebm;
using namespace ebm::test;

TEST_CASE("langevin_guided: adaptive stopping ends chains whose energy reaches the class mean") {
  SamplerSetup s;
  s.model->eval();
  auto never = make_plugin<Sampler>(Kind::sampler,
                                    "plugin = \"langevin_guided\"\nsteps = 4\nstop_threshold = 0\nstats_images = 40", s.info);
  never->sample(*s.ctx);
  CHECK(s.ctx->logged.at("mean_steps") == 4.0);
  CHECK(s.ctx->logged.at("stopped_fraction") == 0.0);
  auto always = make_plugin<Sampler>(Kind::sampler,
                                     "plugin = \"langevin_guided\"\nsteps = 4\nstop_threshold = 1e9\nstats_images = 40", s.info);
  always->sample(*s.ctx);
  CHECK(s.ctx->logged.at("mean_steps") == 0.0);
  CHECK(s.ctx->logged.at("stopped_fraction") == 1.0);
}
