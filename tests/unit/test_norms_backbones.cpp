// Normalizations and backbones: every backbone with every normalization builds, maps
// images to finite logits and passes gradients; frozen statistics never move; spectral
// normalization bounds each weight's largest singular value; group norms normalize.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include "conformance.hpp"
#include "fixtures.hpp"

using namespace ebm;
using namespace ebm::test;

TEST_CASE("backbone x normalization: logits [B,K], finite, gradients to parameters and input") {
  const auto backbones = test::conformance_settings(Kind::backbone);
  const auto norms = test::conformance_settings(Kind::normalization);
  DataInfo info = test::image_info();
  for (auto& bb : backbones)
    for (auto& norm : norms) {
      CAPTURE(bb.source);
      CAPTURE(norm.source);
      torch::manual_seed(0);
      auto model = test::make_model(bb, norm, info);
      model->train();
      auto x = torch::rand({4, 1, 12, 12}).requires_grad_(true);
      auto logits = model->forward(x);
      CHECK(logits.sizes() == at::IntArrayRef({4, 10}));
      CHECK(torch::isfinite(logits).all().item<bool>());
      logits.pow(2).sum().backward();
      CHECK(x.grad().abs().sum().item<double>() > 0);
      for (auto& p : model->named_parameters()) CHECK_MESSAGE(p.value().grad().defined(), "no gradient: " << p.key());
    }
}

TEST_CASE("frozen norm mode never changes running statistics; train mode does") {
  DataInfo info = test::image_info();
  for (auto& norm : test::conformance_settings(Kind::normalization)) {
    CAPTURE(norm.source);
    auto n = test::make_plugin<Normalization>(Kind::normalization, norm, info);
    auto model = std::make_shared<kernel::Model>(
        test::make_plugin<Backbone>(Kind::backbone, "plugin = \"convnet\"\nchannels = [4]\nhidden = 8", info, n), info);
    model->train();
    model->set_norm_frozen(true);
    model->train();  // the trainer calls train() on the whole model: frozen layers must stay in eval
    auto before = stats(*model);
    for (int i = 0; i < 3; ++i) model->forward(torch::rand({8, 1, 12, 12}) * 0.5 + 0.5);
    auto after = stats(*model);
    for (std::size_t i = 0; i < before.size(); ++i) CHECK(torch::equal(before[i], after[i]));
    if (norm.plugin == "batch") CHECK(!before.empty());
    if (!before.empty()) {  // a norm with running statistics updates them in train mode
      model->set_norm_frozen(false);
      model->train();
      model->forward(torch::rand({8, 1, 12, 12}) * 0.5 + 0.5);
      bool moved = false;
      auto now = stats(*model);
      for (std::size_t i = 0; i < before.size(); ++i) moved = moved || !torch::equal(before[i], now[i]);
      CHECK(moved);
    }
  }
}
