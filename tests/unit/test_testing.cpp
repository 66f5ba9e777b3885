// The testing library (include/ebmlab/testing.hpp) against plugins that break their
// contract on purpose (tests/fixtures/plugins/faulty.cpp): each broken promise is reported,
// and the same plugins behaving conform.
#include <doctest/doctest.h>

#include "ebmlab/testing.hpp"

namespace t = ebm::testing;

namespace {
void load_faulty() { t::load_plugins(std::string(EBMLAB_FIXTURE_DIR) + "/faulty"); }

bool reports(const t::Report& r, const std::string& part) {
  for (auto& f : r.failures)
    if (f.find(part) != std::string::npos) return true;
  return false;
}
}  // namespace

TEST_CASE("testing library: a behaving plugin conforms, each fault is reported") {
  load_faulty();
  for (const char* ok : {"fault = \"none\"", "fault = \"range\"\nfrom_step = 3"}) {
    const t::Report r = t::check_sampler("faulty_sampler", ok);
    CHECK_MESSAGE(r.ok(), r.text());
  }
  const t::Report range = t::check_sampler("faulty_sampler", "fault = \"range\"\nfrom_step = 0");
  CHECK_MESSAGE(reports(range, "sample_range() promises the data range [0, 1] but samples lie in [1.5"), range.text());
  const t::Report shape = t::check_sampler("faulty_sampler", "fault = \"shape\"\nfrom_step = 0");
  CHECK_MESSAGE(reports(shape, "samples have shape [8, 1, 1, 12, 12], expected the batch's [8, 1, 12, 12]"), shape.text());
  const t::Report thrown = t::check_sampler("faulty_sampler", "fault = \"throw\"\nfrom_step = 0");
  CHECK_MESSAGE(reports(thrown, "the sampler threw: fixture sampler gives up at step 0"), thrown.text());

  CHECK(t::check_loss("faulty_loss", "").ok());
  const t::Report nan = t::check_loss("faulty_loss", "fault = \"nan\"\nfrom_step = 0");
  CHECK_MESSAGE(reports(nan, "the loss is not finite"), nan.text());

  CHECK(t::check_metric("faulty_metric", "").ok());
  const t::Report missing = t::check_metric("faulty_metric", "fault = \"missing\"");
  CHECK_MESSAGE(reports(missing, "declares 'max_logit' but did not return it"), missing.text());
  const t::Report undeclared = t::check_metric("faulty_metric", "fault = \"undeclared\"");
  CHECK_MESSAGE(reports(undeclared, "returned result 'min_logit' not declared"), undeclared.text());
}

TEST_CASE("testing library: an unknown plugin and bad settings are clear errors") {
  const t::Report r = t::check_sampler("no_such_sampler");
  CHECK_MESSAGE(reports(r, "no sampler plugin 'no_such_sampler' is loaded"), r.text());
  CHECK_MESSAGE(reports(r, "EBMLAB_PLUGIN_PATH"), r.text());
  const t::Report bad = t::check_sampler("pgd", "steps = -1");
  CHECK_MESSAGE(reports(bad, "steps"), bad.text());
}

TEST_CASE("testing library: the harness is a real step context") {
  t::Harness h(t::ToyData::images, 1);
  auto sgld = h.make<ebm::Sampler>(ebm::Kind::sampler, "sgld", "buffer_size = 16\nsteps = 2");
  REQUIRE(sgld);
  h.add_sampler("chains", sgld);
  const at::Tensor a = h.context().samples("chains");
  CHECK(a.sizes() == h.batch().x.sizes());
  CHECK(h.context().samples("chains").data_ptr() == a.data_ptr());  // once per step, as the kernel
  h.next_step(1);
  CHECK(h.context().samples("chains").data_ptr() != a.data_ptr());
  CHECK(h.logged().count("e_sample"));
  CHECK(h.logits(h.batch().x).sizes() == at::IntArrayRef({8, 10}));
}

TEST_CASE("testing library: a harness model's settings are TOML, plugin key anywhere") {
  // The plugin key is read from the parsed table, not from the line it starts: after other
  // keys, indented, or followed by a comment, and the rest of the table reaches the backbone.
  t::Harness h(t::ToyData::points, 1, "hidden = [5]\n  plugin = \"mlp\"  # the backbone", "plugin=\"none\"");
  CHECK(h.logits(h.batch().x).sizes() == at::IntArrayRef({8, 3}));
  std::int64_t weights = 0;
  for (const auto& p : h.model().parameters()) weights += p.numel();
  CHECK(weights == (2 * 5 + 5) + (5 * 3 + 3));  // hidden = [5] reached the mlp
  CHECK_THROWS_WITH_AS(t::Harness(t::ToyData::points, 1, "hidden = []"), doctest::Contains("give plugin"), ebm::ConfigError);
}
