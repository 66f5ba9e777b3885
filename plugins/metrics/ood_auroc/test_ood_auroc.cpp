// The ood_auroc plugin's own tests (registered by this folder's CMakeLists.txt; the
// conformance suites in tests/unit cover the contracts every plugin shares).
#include <cmath>

#include <doctest/doctest.h>
#include <torch/torch.h>

#include "fixtures.hpp"

using namespace ebm;
using namespace ebm::test;

namespace {

/// A test context whose other_dataset() serves a fixed batch and records the request.
struct OtherContext : Context {
  using Context::Context;
  Batch other;
  std::string asked_name, asked_path;
  std::int64_t asked_n = -1;
  const Batch& other_dataset(const std::string& name, const std::string& path, std::int64_t n) override {
    asked_name = name, asked_path = path, asked_n = n;
    return other;
  }
};

/// Image model: class 0's logit is 0.01 * (sum of the normalized top half - bottom half);
/// every other logit is 0. Images with a bright top half have the highest logsumexp.
std::shared_ptr<kernel::Model> top_half_model(const DataInfo& info) {
  at::Tensor w = torch::zeros({10, 1, 12, 12});
  w[0].slice(1, 0, 6).fill_(0.01);
  w[0].slice(1, 6, 12).fill_(-0.01);
  return linear_model(info, w.view({10, 144}), torch::zeros({10}));
}

/// n images whose top half is a random grey in [0.5, 1] and bottom half black.
at::Tensor top_bright(std::int64_t n) {
  at::Tensor x = torch::zeros({n, 1, 12, 12});
  x.slice(2, 0, 6).copy_((torch::rand({n, 1, 1, 1}) * 0.5 + 0.5).expand({n, 1, 6, 12}));
  return x;
}

}  // namespace

TEST_CASE("ood_auroc: known separations on a linear toy model, ties give 0.5, max_images, own generator") {
  DataInfo info = toy_info(2);
  // logits = (s, 0) with s = 4 (x1 + x2 - 1): in-distribution images all sit at (1, 1),
  // where s is largest, so logsumexp = softplus(s) and max softmax = sigmoid(|s|) beat
  // every uniform and constant image (AUROC 1), while ||grad_x E|| = 4 sqrt(2) sigmoid(s)
  // is largest there too, so the score -||grad_x E|| ranks them last (AUROC 0).
  auto model = linear_model(info, torch::tensor({{1.0, 1.0}, {0.0, 0.0}}), torch::zeros({2}));
  Context ctx(model, info);
  auto m = metric("plugin = \"ood_auroc\"\nsets = [\"uniform\", \"constant\", \"gaussian\"]\nmax_images = 250", info);
  std::vector<std::string> names;
  for (auto& o : m->outputs()) names.push_back(o.name);
  CHECK(names == std::vector<std::string>{"uniform/logsumexp", "uniform/max_softmax", "uniform/grad_norm", "constant/logsumexp",
                                          "constant/max_softmax", "constant/grad_norm", "gaussian/logsumexp",
                                          "gaussian/max_softmax", "gaussian/grad_norm", "n_in"});
  m->reset();
  at::Tensor y = torch::zeros({100}, torch::kInt64);
  for (int i = 0; i < 3; ++i) m->update(eval_batch(torch::ones({100, 2}), y, *model), ctx);
  auto r = m->result();
  CHECK(r.at("n_in") == 250);
  for (const char* set : {"uniform", "constant"}) {
    CAPTURE(set);
    CHECK(r.at(std::string(set) + "/logsumexp") == 1.0);
    CHECK(r.at(std::string(set) + "/max_softmax") == 1.0);
    CHECK(r.at(std::string(set) + "/grad_norm") == 0.0);
  }
  // The clamped gaussian set puts a few images exactly at (1, 1): ties count one half.
  CHECK(r.at("gaussian/logsumexp") > 0.99);

  // A model with constant logits scores everything alike: every AUROC is 0.5.
  auto flat = linear_model(info, torch::zeros({2, 2}), torch::tensor({0.3, -0.2}));
  Context flat_ctx(flat, info);
  m->reset();
  torch::manual_seed(0);
  m->update(eval_batch(torch::rand({64, 2}), torch::zeros({64}, torch::kInt64), *flat), flat_ctx);
  for (auto& kv : m->result())
    if (kv.first != "n_in") CHECK_MESSAGE(kv.second == 0.5, kv.first);

  // The synthetic sets come from the metric's own generator: the global RNG is neither
  // read (other global seeds, same result) nor advanced; another `seed` changes them.
  auto random = linear_model(info, torch::tensor({{1.0, -2.0}, {0.5, 0.25}}), torch::zeros({2}));
  Context rctx(random, info);
  at::Tensor x = torch::rand({200, 2});
  auto once = [&](const std::string& body, std::uint64_t global_seed) {
    auto mm = metric(body, info);
    mm->reset();
    torch::manual_seed(global_seed);
    mm->update(eval_batch(x, torch::zeros({200}, torch::kInt64), *random), rctx);
    return std::make_pair(mm->result(), torch::rand({1}).item<double>());
  };
  const std::string body = "plugin = \"ood_auroc\"\nsets = [\"uniform\", \"gaussian\", \"constant\"]";
  auto [a, next_a] = once(body, 1);
  auto [b, next_b] = once(body, 2);
  auto [c, next_c] = once(body + "\nseed = 5", 1);
  CHECK(a == b);
  torch::manual_seed(1);
  CHECK(next_a == torch::rand({1}).item<double>());
  CHECK(a.at("uniform/logsumexp") != c.at("uniform/logsumexp"));
  // reset() re-seeds: a second evaluation by the same object sees the same sets.
  auto twice = metric(body, info);
  std::map<std::string, double> first;
  for (int i = 0; i < 2; ++i) {
    twice->reset();
    twice->update(eval_batch(x, torch::zeros({200}, torch::kInt64), *random), rctx);
    if (i == 0) first = twice->result();
  }
  CHECK(twice->result() == first);
  CHECK(first == a);
}

TEST_CASE("ood_auroc: image transforms and other data sets; clear errors for impossible sets") {
  DataInfo info = image_info();
  auto model = top_half_model(info);
  OtherContext ctx(model, info);
  torch::manual_seed(2);
  at::Tensor x = top_bright(40);
  // The other data set: the same images upside down, 30 of them (fewer than the split).
  ctx.other = {x.slice(0, 0, 30).flip({-2}), torch::zeros({30}, torch::kInt64)};
  auto m = metric(
      "plugin = \"ood_auroc\"\nsets = [\"flip_h\", \"flip_v\", \"rotate90\"]\ndatasets = [\"cifar10\"]\nmax_images = 500", info);
  m->reset();
  at::Tensor y = torch::zeros({20}, torch::kInt64);
  m->update(eval_batch(x.slice(0, 0, 20), y, *model), ctx);
  m->update(eval_batch(x.slice(0, 20, 40), y, *model), ctx);
  CHECK(ctx.asked_name == "cifar10");
  CHECK(ctx.asked_path == "");
  CHECK(ctx.asked_n == 500);
  auto r = m->result();
  CHECK(r.at("n_in") == 40);
  // Mirroring left-right leaves these images unchanged: identical scores.
  for (const char* s : {"logsumexp", "max_softmax", "grad_norm"}) CHECK(r.at(std::string("flip_h/") + s) == 0.5);
  // Upside down, the bright half meets the negative weights; turned 90 degrees, the two
  // halves cancel. Both lower class 0's logit below every in-distribution image's, and
  // with it the softmax of class 0 that scales ||grad_x E||.
  for (const char* set : {"flip_v/", "rotate90/", "cifar10/"}) {
    CAPTURE(set);
    CHECK(r.at(std::string(set) + "logsumexp") == 1.0);
    CHECK(r.at(std::string(set) + "max_softmax") == 1.0);
    CHECK(r.at(std::string(set) + "grad_norm") == 0.0);
  }

  DataInfo toy = toy_info(2);
  for (const char* set : {"flip_h", "flip_v", "rotate90"}) {
    auto msg = error_of<ConfigError>([&] { metric(std::string("plugin = \"ood_auroc\"\nsets = [\"") + set + "\"]", toy); });
    CHECK(msg.find("'sets'") != std::string::npos);
    CHECK(msg.find(set) != std::string::npos);
  }
  CHECK(error_of<ConfigError>([&] { metric("plugin = \"ood_auroc\"", toy); }).find("flip_v") != std::string::npos);
  CHECK(error_of<ConfigError>([&] {
          metric("plugin = \"ood_auroc\"\nsets = [\"uniform\"]\ndatasets = [\"cifar10\"]", toy);
        }).find("'datasets'") != std::string::npos);
  DataInfo wide = info;
  wide.shape = {1, 12, 10};
  CHECK(error_of<ConfigError>([&] { metric("plugin = \"ood_auroc\"\nsets = [\"rotate90\"]", wide); }).find("square") !=
        std::string::npos);
  CHECK(error_of<ConfigError>([&] { metric("plugin = \"ood_auroc\"\nsets = [\"uniform\", \"uniform\"]", info); }).find("twice") !=
        std::string::npos);
  CHECK(error_of<ConfigError>([&] { metric("plugin = \"ood_auroc\"\nsets = []", info); }).find("nothing") != std::string::npos);
}
