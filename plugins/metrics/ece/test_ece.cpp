// The ece plugin's own tests (registered by this folder's CMakeLists.txt; the
// conformance suites in tests/unit cover the contracts every plugin shares).
#include <cmath>

#include <doctest/doctest.h>
#include <torch/torch.h>

#include "fixtures.hpp"

using namespace ebm;
using namespace ebm::test;

TEST_CASE("ece: a perfectly calibrated predictor has ECE ~ 0 and a reliability diagram on the diagonal") {
  // 13 confidence levels at the centres of bins 2..14 of 15, 600 images each, of which
  // exactly p * 600 are correct (class 0 is predicted; wrong images are labelled 1).
  std::vector<at::Tensor> ps, ys;
  for (int bin = 2; bin < 15; ++bin) {
    double p = (bin + 0.5) / 15.0;
    auto correct = static_cast<std::int64_t>(std::lround(p * 600));
    ps.push_back(torch::full({600}, p, torch::kFloat64));
    ys.push_back(torch::cat({torch::zeros({correct}, torch::kInt64), torch::ones({600 - correct}, torch::kInt64)}));
  }
  at::Tensor logits = logits_with_confidence(torch::cat(ps), 10), y = torch::cat(ys);
  torch::manual_seed(0);
  at::Tensor perm = torch::randperm(y.size(0));
  logits = logits.index_select(0, perm), y = y.index_select(0, perm);

  DataInfo info = toy_info(10);
  auto m = metric("plugin = \"ece\"\nbins = 15", info);
  Context ctx(linear_model(info, torch::zeros({10, 2}), torch::zeros({10})), info);
  m->reset();
  for (std::int64_t i = 0; i < y.size(0); i += 1000)  // several batches: accumulation across updates
    m->update(
        {torch::zeros({std::min<std::int64_t>(1000, y.size(0) - i), 2}), y.slice(0, i, i + 1000), logits.slice(0, i, i + 1000)},
        ctx);
  auto r = m->result();
  CHECK(r.at("n") == 7800);
  CHECK(r.at("ece") < 1e-6);
  CHECK(r.at("mce") < 1e-6);
  at::Tensor rel = m->tensors().at("reliability").to(torch::kFloat64);
  REQUIRE(rel.sizes() == torch::IntArrayRef({3, 15}));
  for (int bin = 0; bin < 15; ++bin) {
    CAPTURE(bin);
    double centre = bin < 2 ? 0.0 : (bin + 0.5) / 15.0;
    CHECK(rel[0][bin].item<double>() == doctest::Approx(centre).epsilon(1e-6));
    CHECK(rel[1][bin].item<double>() == doctest::Approx(centre).epsilon(1e-6));
    CHECK(rel[2][bin].item<double>() == (bin < 2 ? 0 : 600));
  }
}

TEST_CASE("ece: an overconfident predictor, NLL and Brier by hand, temperature, reset") {
  DataInfo info = toy_info(10);
  Context ctx(linear_model(info, torch::zeros({10, 2}), torch::zeros({10})), info);
  // 100 images at confidence 0.95 (bin 15 of 15: (14/15, 1]) with 60 correct, and 300 at
  // 0.75 (bin 12: (11/15, 12/15]) with 150 correct:
  //   ECE = 100/400 * |0.60 - 0.95| + 300/400 * |0.50 - 0.75| = 0.0875 + 0.1875 = 0.275
  //   MCE = max(0.35, 0.25) = 0.35
  at::Tensor p = torch::cat({torch::full({100}, 0.95, torch::kFloat64), torch::full({300}, 0.75, torch::kFloat64)});
  at::Tensor y = torch::cat({torch::zeros({60}, torch::kInt64), torch::ones({40}, torch::kInt64),
                             torch::zeros({150}, torch::kInt64), torch::full({150}, 3, torch::kInt64)});
  auto m = metric("plugin = \"ece\"", info);
  m->reset();
  m->update({torch::zeros({400, 2}), y, logits_with_confidence(p, 10)}, ctx);
  auto r = m->result();
  CHECK(r.at("ece") == doctest::Approx(0.275).epsilon(1e-5));
  CHECK(r.at("mce") == doctest::Approx(0.35).epsilon(1e-5));
  at::Tensor rel = m->tensors().at("reliability");
  CHECK(rel[0][14].item<double>() == doctest::Approx(0.6));
  CHECK(rel[1][14].item<double>() == doctest::Approx(0.95).epsilon(1e-5));
  CHECK(rel[2][11].item<double>() == 300);
  CHECK(rel[2].sum().item<double>() == 400);

  // NLL and Brier on two images with K = 3:
  //   logits [0, 0, 0], y = 0: p = (1/3, 1/3, 1/3), NLL = log 3, Brier = 4/9 + 2/9 = 2/3
  //   logits [log 2, 0, 0], y = 1: p = (1/2, 1/4, 1/4), NLL = log 4, Brier = 1/4 + 9/16 + 1/16 = 7/8
  DataInfo info3 = toy_info(3);
  at::Tensor l3 = torch::tensor({{0.0, 0.0, 0.0}, {std::log(2.0), 0.0, 0.0}});
  at::Tensor y3 = torch::tensor({0, 1}, torch::kInt64);
  auto m3 = metric("plugin = \"ece\"", info3);
  m3->reset();
  m3->update({torch::zeros({2, 2}), y3, l3}, ctx);
  r = m3->result();
  CHECK(r.at("nll") == doctest::Approx((std::log(3.0) + std::log(4.0)) / 2));
  CHECK(r.at("brier") == doctest::Approx((2.0 / 3 + 7.0 / 8) / 2));
  // Image 2 predicts class 0 with confidence 1/2 (bin 8 of 15), wrongly; image 1 ties at
  // 1/3 (bin 5) and argmax picks class 0, correctly: ECE = (|1 - 1/3| + |0 - 1/2|) / 2.
  CHECK(r.at("ece") == doctest::Approx((2.0 / 3 + 0.5) / 2));

  // temperature 2 halves the logits: image 2 becomes p = (sqrt 2, 1, 1) / (2 + sqrt 2).
  auto t2 = metric("plugin = \"ece\"\ntemperature = 2.0", info3);
  t2->reset();
  t2->update({torch::zeros({2, 2}), y3, l3}, ctx);
  CHECK(t2->result().at("nll") == doctest::Approx((std::log(3.0) + std::log(2 + std::sqrt(2.0))) / 2));
  CHECK(error_of<ConfigError>([&] { metric("plugin = \"ece\"\ntemperature = 0.0", info3); }).find("temperature") !=
        std::string::npos);

  m3->reset();
  r = m3->result();
  CHECK(r.at("n") == 0);
  CHECK(r.at("ece") == 0);
  CHECK(m3->tensors().at("reliability").abs().sum().item<double>() == 0);
}
