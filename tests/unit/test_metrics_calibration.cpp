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

TEST_CASE("metric conformance: declared outputs match results and tensors, finite, deterministic, model untouched") {
  DataInfo info = test::toy_info(3);
  for (const auto& setting : test::conformance_settings(Kind::metric)) {
    CAPTURE(setting.source);
    torch::manual_seed(3);
    auto model = linear_model(info, torch::randn({3, 2}), torch::randn({3}));
    Context ctx(model, info);
    ctx.memo["s"] = torch::rand({8, 2});
    model->train();
    auto m = test::make_plugin<Metric>(Kind::metric, setting, info);
    std::map<std::string, std::vector<std::int64_t>> declared;
    for (auto& o : m->outputs()) declared[o.name] = o.shape;
    auto run = [&](Metric& mm) {
      mm.reset();
      torch::manual_seed(11);
      for (int i = 0; i < 2; ++i) {
        at::Tensor x = torch::rand({8, 2});
        mm.update(eval_batch(x, torch::randint(0, 3, {8}, torch::kInt64), *model), ctx);
      }
      return mm.result();
    };
    auto r = run(*m);
    std::size_t scalars = 0;
    for (auto& [k, shape] : declared) scalars += shape.empty();
    CHECK(r.size() == scalars);
    for (auto& kv : r) {
      const std::string& k = kv.first;  // not a structured binding: clang cannot capture those
      const double v = kv.second;
      CAPTURE(k);
      REQUIRE(declared.count(k));
      CHECK(declared.at(k).empty());
      CHECK(std::isfinite(v));
    }
    for (auto& kt : m->tensors()) {
      const std::string& k = kt.first;
      const at::Tensor& t = kt.second;
      CAPTURE(k);
      REQUIRE(declared.count(k));
      CHECK(t.sizes().vec() == declared.at(k));
      CHECK(torch::isfinite(t).all().item<bool>());
    }
    CHECK(model->is_training());
    for (auto& p : model->parameters()) CHECK(!p.grad().defined());
    auto again = test::make_plugin<Metric>(Kind::metric, setting, info);
    CHECK(run(*again) == r);
  }
}
