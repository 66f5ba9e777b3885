// Normalizations and backbones: every backbone with every normalization builds, maps
// images to finite logits and passes gradients; frozen statistics never move; spectral
// normalization bounds each weight's largest singular value; group norms normalize.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include "context.hpp"

using namespace ebm;

namespace {
const std::vector<std::string> kNorms = {"plugin = \"none\"", "plugin = \"batch\"", "plugin = \"group\"\ngroups = 2",
                                         "plugin = \"layer\"", "plugin = \"instance\"", "plugin = \"spectral\""};
const std::vector<std::string> kBackbones = {"plugin = \"mlp\"\nhidden = [16]", "plugin = \"convnet\"\nchannels = [4, 8]\nhidden = 16",
                                             "plugin = \"wrn\"\ndepth = 10\nwidth = 1\nactivation = \"leaky_relu\"",
                                             "plugin = \"resnet18\"\nwidth = 4"};

/// Running statistics only (the spectral power-iteration vector is not a statistic).
std::vector<at::Tensor> stats(torch::nn::Module& m) {
  std::vector<at::Tensor> out;
  for (auto& b : m.named_buffers())
    if (b.key().find("running") != std::string::npos) out.push_back(b.value().clone());
  return out;
}
}  // namespace

TEST_CASE("backbone x normalization: logits [B,K], finite, gradients to parameters and input") {
  test::check_covers_every_plugin(Kind::backbone, kBackbones);
  test::check_covers_every_plugin(Kind::normalization, kNorms);
  DataInfo info = test::image_info();
  for (auto& bb : kBackbones)
    for (auto& norm : kNorms) {
      CAPTURE(bb);
      CAPTURE(norm);
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
  for (auto& norm : kNorms) {
    CAPTURE(norm);
    auto model = test::make_model("plugin = \"convnet\"\nchannels = [4]\nhidden = 8", norm, info);
    model->train();
    model->set_norm_frozen(true);
    model->train();  // the trainer calls train() on the whole model: frozen layers must stay in eval
    auto before = stats(*model);
    for (int i = 0; i < 3; ++i) model->forward(torch::rand({8, 1, 12, 12}) * 0.5 + 0.5);
    auto after = stats(*model);
    for (std::size_t i = 0; i < before.size(); ++i) CHECK(torch::equal(before[i], after[i]));
    if (norm == "plugin = \"batch\"") {
      CHECK(!before.empty());
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

TEST_CASE("spectral normalization bounds the largest singular value of every weight") {
  DataInfo info = test::image_info();
  torch::manual_seed(0);
  auto model = test::make_model("plugin = \"convnet\"\nchannels = [8]\nhidden = 32", "plugin = \"spectral\"\npower_iterations = 1", info);
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
  DataInfo info = test::image_info();
  torch::manual_seed(0);
  auto model = test::make_model("plugin = \"convnet\"\nchannels = [4]\nhidden = 8", "plugin = \"spectral\"", info);
  model->train();
  auto a = model->forward(torch::rand({2, 1, 12, 12})), b = model->forward(torch::rand({2, 1, 12, 12}));
  (a.sum() + b.sum()).backward();  // a loss with data and samples, as jem_ml or bce_ebm computes
  CHECK(model->parameters().front().grad().abs().sum().item<double>() > 0);
}

TEST_CASE("wrn: WRN-10-1 has the parameter count of its definition") {
  DataInfo info = test::image_info();
  auto model = test::make_model("plugin = \"wrn\"\ndepth = 10\nwidth = 1", "plugin = \"none\"", info);
  std::int64_t n = 0;
  for (auto& p : model->parameters()) n += p.numel();
  // stem 1->16 3x3; group 1: 16->16 (2 convs); group 2: 16->32 (2 convs + 1x1 shortcut);
  // group 3: 32->64 (2 convs + shortcut); head 64->10 with bias.
  const std::int64_t expected = 16 * 9 + 2 * 16 * 16 * 9 + (16 * 32 * 9 + 32 * 32 * 9 + 16 * 32) +
                                (32 * 64 * 9 + 64 * 64 * 9 + 32 * 64) + 64 * 10 + 10;
  CHECK(n == expected);
}

TEST_CASE("group, layer and instance norms standardize their groups") {
  DataInfo info = test::image_info();
  auto x = torch::randn({3, 8, 5, 5}) * 3 + 2;
  for (const auto& [text, count] : std::vector<std::pair<std::string, int>>{
           {"plugin = \"group\"\ngroups = 4", 4}, {"plugin = \"layer\"", 1}, {"plugin = \"instance\"", 8}}) {
    // Named copies: clang (C++17) cannot capture structured bindings in CAPTURE's lambda.
    const std::string body = text;
    const int groups = count;
    CAPTURE(body);
    auto n = test::make_plugin<Normalization>(Kind::normalization, body, info);
    auto y = n->make(8, NormInput::spatial)->forward(x).reshape({3, groups, -1});
    CHECK(y.mean(2).abs().max().item<double>() < 1e-4);
    CHECK((y.var(2, false) - 1).abs().max().item<double>() < 1e-2);
  }
  // group count falls back to a divisor of the channel count (6 channels, 4 wanted -> 3)
  auto g = test::make_plugin<Normalization>(Kind::normalization, "plugin = \"group\"\ngroups = 4", info);
  auto y6 = g->make(6, NormInput::spatial)->forward(torch::randn({2, 6, 3, 3}) + 5).reshape({2, 3, -1});
  CHECK(y6.mean(2).abs().max().item<double>() < 1e-4);
}

TEST_CASE("wrn rejects a depth that is not 6n+4, naming the key") {
  DataInfo info = test::image_info();
  auto msg = test::error_of<ConfigError>([&] { test::make_model("plugin = \"wrn\"\ndepth = 12", "plugin = \"none\"", info); });
  CHECK(msg.find("t.depth") != std::string::npos);
  CHECK(msg.find("6n+4") != std::string::npos);
}
