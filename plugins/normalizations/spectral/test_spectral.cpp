// The spectral plugin's own tests (registered by this folder's CMakeLists.txt; the
// conformance suites in tests/unit cover the contracts every plugin shares).
#include <cmath>

#include <doctest/doctest.h>
#include <torch/torch.h>

#include "fixtures.hpp"

using namespace ebm;
using namespace ebm::test;

TEST_CASE("spectral normalization bounds the largest singular value of every weight") {
  DataInfo info = image_info();
  torch::manual_seed(0);
  auto model =
      make_model("plugin = \"convnet\"\nchannels = [8]\nhidden = 32", "plugin = \"spectral\"\npower_iterations = 1", info);
  model->train();
  for (int i = 0; i < 40; ++i) model->forward(torch::rand({2, 1, 12, 12}));
  int layers = 0;
  for (auto& m : model->modules(false))
    if (auto* layer = dynamic_cast<Layer*>(m.get()); layer && m->named_buffers(false).size() > 0) {
      torch::NoGradGuard ng;
      auto w = layer->effective_weight();
      auto raw = layer->weight();
      double s = torch::linalg_svdvals(w.reshape({w.size(0), -1}))[0].item<double>();
      double s_raw = torch::linalg_svdvals(raw.reshape({raw.size(0), -1}))[0].item<double>();
      CHECK(s == doctest::Approx(1.0).epsilon(0.02));
      CHECK(s_raw != doctest::Approx(1.0).epsilon(0.02));  // the raw weight is not already normalized
      ++layers;
    }
  CHECK(layers == 3);  // conv0, fc, head
}

TEST_CASE("spectral normalization survives two training forwards before one backward") {
  DataInfo info = image_info();
  torch::manual_seed(0);
  auto model = make_model("plugin = \"convnet\"\nchannels = [4]\nhidden = 8", "plugin = \"spectral\"", info);
  model->train();
  auto a = model->forward(torch::rand({2, 1, 12, 12})), b = model->forward(torch::rand({2, 1, 12, 12}));
  (a.sum() + b.sum()).backward();  // a loss with data and samples, as jem_ml or bce_ebm computes
  CHECK(model->parameters().front().grad().abs().sum().item<double>() > 0);
}
