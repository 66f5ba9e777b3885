// Metrics ece, ood_auroc and energy_stats: a conformance pass over every metric plugin
// that runs without the kernel's evaluation services, then known-answer cases on hand-made
// logits and on linear models with chosen weights.
#include <doctest/doctest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "context.hpp"

using namespace ebm;
using test::Context;

namespace {

/// Metrics exercised here. robust_accuracy and sample_quality are tested in
/// test_metrics_robust.cpp and test_metrics_quality.cpp (sample_quality needs ctx.embed).
const std::vector<std::string> kRunnable = {
    "plugin = \"accuracy\"",
    "plugin = \"ece\"\nbins = 15",
    "plugin = \"ece\"\nbins = 4\ntemperature = 2.0",
    "plugin = \"ood_auroc\"\nsets = [\"uniform\", \"gaussian\", \"constant\"]\nmax_images = 10",
    "plugin = \"ood_auroc\"\nscores = [\"logsumexp\"]\nsets = [\"uniform\"]",
    "plugin = \"energy_stats\"",
    "plugin = \"energy_stats\"\nsampler = \"s\"\nadv_eps = 0.1\nadv_steps = 2\nadv_norm = \"l2\"\nmax_images = 6",
};
const std::vector<std::string> kElsewhere = {"plugin = \"robust_accuracy\"", "plugin = \"sample_quality\""};

/// A linear model on toy 2-D data: logits = W ((x - 0.5) / 0.25) + b.
std::shared_ptr<kernel::Model> linear_model(const DataInfo& info, const at::Tensor& W, const at::Tensor& b) {
  auto model = test::make_model("plugin = \"mlp\"\nhidden = []", "plugin = \"none\"", info);
  torch::NoGradGuard ng;
  for (auto& p : model->named_parameters()) p.value().copy_(p.key().find("weight") != std::string::npos ? W : b);
  return model;
}

EvalBatch eval_batch(const at::Tensor& x, const at::Tensor& y, kernel::Model& model) {
  torch::NoGradGuard ng;
  return {x, y, model.forward(x)};
}

/// logits [n, K] whose softmax is exactly p on class 0 and (1 - p)/(K - 1) elsewhere.
at::Tensor logits_with_confidence(const at::Tensor& p, std::int64_t K) {
  auto rest = ((1 - p) / static_cast<double>(K - 1)).log().view({-1, 1}).expand({p.size(0), K - 1});
  return torch::cat({p.log().view({-1, 1}), rest}, 1).to(torch::kFloat32);
}

std::shared_ptr<Metric> metric(const std::string& body, const DataInfo& info) {
  return test::make_plugin<Metric>(Kind::metric, body, info);
}

double stdev(const std::vector<double>& v) {
  double m = 0, s = 0;
  for (double a : v) m += a / static_cast<double>(v.size());
  for (double a : v) s += (a - m) * (a - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

}  // namespace

TEST_CASE("metric conformance: declared outputs match results and tensors, finite, deterministic, model untouched") {
  auto all = kRunnable;
  all.insert(all.end(), kElsewhere.begin(), kElsewhere.end());
  test::check_covers_every_plugin(Kind::metric, all);
  DataInfo info = test::toy_info(3);
  for (const auto& body : kRunnable) {
    CAPTURE(body);
    torch::manual_seed(3);
    auto model = linear_model(info, torch::randn({3, 2}), torch::randn({3}));
    Context ctx(model, info);
    ctx.memo["s"] = torch::rand({8, 2});
    model->train();
    auto m = metric(body, info);
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
    auto again = metric(body, info);
    CHECK(run(*again) == r);
  }
}

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

  DataInfo info = test::toy_info(10);
  auto m = metric("plugin = \"ece\"\nbins = 15", info);
  Context ctx(linear_model(info, torch::zeros({10, 2}), torch::zeros({10})), info);
  m->reset();
  for (std::int64_t i = 0; i < y.size(0); i += 1000)  // several batches: accumulation across updates
    m->update({torch::zeros({std::min<std::int64_t>(1000, y.size(0) - i), 2}), y.slice(0, i, i + 1000), logits.slice(0, i, i + 1000)}, ctx);
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
  DataInfo info = test::toy_info(10);
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
  DataInfo info3 = test::toy_info(3);
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
  CHECK(test::error_of<ConfigError>([&] { metric("plugin = \"ece\"\ntemperature = 0.0", info3); }).find("temperature") !=
        std::string::npos);

  m3->reset();
  r = m3->result();
  CHECK(r.at("n") == 0);
  CHECK(r.at("ece") == 0);
  CHECK(m3->tensors().at("reliability").abs().sum().item<double>() == 0);
}

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
  DataInfo info = test::toy_info(2);
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
  DataInfo info = test::image_info();
  auto model = top_half_model(info);
  OtherContext ctx(model, info);
  torch::manual_seed(2);
  at::Tensor x = top_bright(40);
  // The other data set: the same images upside down, 30 of them (fewer than the split).
  ctx.other = {x.slice(0, 0, 30).flip({-2}), torch::zeros({30}, torch::kInt64)};
  auto m = metric("plugin = \"ood_auroc\"\nsets = [\"flip_h\", \"flip_v\", \"rotate90\"]\ndatasets = [\"cifar10\"]\nmax_images = 500",
                  info);
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

  DataInfo toy = test::toy_info(2);
  for (const char* set : {"flip_h", "flip_v", "rotate90"}) {
    auto msg = test::error_of<ConfigError>([&] { metric(std::string("plugin = \"ood_auroc\"\nsets = [\"") + set + "\"]", toy); });
    CHECK(msg.find("'sets'") != std::string::npos);
    CHECK(msg.find(set) != std::string::npos);
  }
  CHECK(test::error_of<ConfigError>([&] { metric("plugin = \"ood_auroc\"", toy); }).find("flip_v") != std::string::npos);
  CHECK(test::error_of<ConfigError>([&] {
          metric("plugin = \"ood_auroc\"\nsets = [\"uniform\"]\ndatasets = [\"cifar10\"]", toy);
        }).find("'datasets'") != std::string::npos);
  DataInfo wide = info;
  wide.shape = {1, 12, 10};
  CHECK(test::error_of<ConfigError>([&] { metric("plugin = \"ood_auroc\"\nsets = [\"rotate90\"]", wide); }).find("square") !=
        std::string::npos);
  CHECK(test::error_of<ConfigError>([&] { metric("plugin = \"ood_auroc\"\nsets = [\"uniform\", \"uniform\"]", info); })
            .find("twice") != std::string::npos);
  CHECK(test::error_of<ConfigError>([&] { metric("plugin = \"ood_auroc\"\nsets = []", info); }).find("nothing") !=
        std::string::npos);
}

TEST_CASE("energy_stats: data and sample energies against hand values, max_images") {
  DataInfo info = test::toy_info(2);
  at::Tensor W = torch::tensor({{1.0, -2.0}, {0.5, 0.25}}), bias = torch::tensor({0.1, -0.2});
  auto model = linear_model(info, W, bias);
  Context ctx(model, info);
  // Samples: logits = W ((s - 0.5) / 0.25) + b, by hand.
  ctx.memo["s"] = torch::tensor({{0.5, 0.5}, {0.75, 0.25}});
  //   (0.5, 0.5):  z = (0, 0),  logits (0.1, -0.2)
  //   (0.75, 0.25): z = (1, -1), logits (1 + 2 + 0.1, 0.5 - 0.25 - 0.2) = (3.1, 0.05)
  auto lse = [](double a, double b) { return std::log(std::exp(a) + std::exp(b)); };
  std::vector<double> sample_e = {-lse(0.1, -0.2), -lse(3.1, 0.05)};

  // Data: logits given directly (x unused without a sampler or attack):
  //   (0, 0) y 0: E = -log 2,  E(x,y) = 0;     (log 3, 0) y 1: E = -log 4,  E(x,y) = 0
  //   (1, 2) y 1: E = -log(e + e^2), E(x,y) = -2;  (-1, 0.5) y 0: E = -lse(-1, 0.5), E(x,y) = 1
  at::Tensor logits = torch::tensor({{0.0, 0.0}, {std::log(3.0), 0.0}, {1.0, 2.0}, {-1.0, 0.5}});
  at::Tensor y = torch::tensor({0, 1, 1, 0}, torch::kInt64);
  std::vector<double> e = {-std::log(2.0), -std::log(4.0), -lse(1, 2), -lse(-1, 0.5)}, ej = {0, 0, -2, 1};

  auto m = metric("plugin = \"energy_stats\"\nsampler = \"s\"", info);
  std::vector<std::string> names;
  for (auto& o : m->outputs()) names.push_back(o.name);
  CHECK(std::count(names.begin(), names.end(), "samples/energy_mean") == 1);
  CHECK(std::none_of(names.begin(), names.end(), [](auto& n) { return n.rfind("adv/", 0) == 0; }));
  m->reset();
  m->update({torch::zeros({2, 2}), y.slice(0, 0, 2), logits.slice(0, 0, 2)}, ctx);
  m->update({torch::zeros({2, 2}), y.slice(0, 2, 4), logits.slice(0, 2, 4)}, ctx);
  auto r = m->result();
  auto mean = [](const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size()); };
  CHECK(r.at("n") == 4);
  CHECK(r.at("data/energy_mean") == doctest::Approx(mean(e)));
  CHECK(r.at("data/energy_std") == doctest::Approx(stdev(e)));
  CHECK(r.at("data/joint_energy_mean") == doctest::Approx(mean(ej)));
  CHECK(r.at("data/joint_energy_std") == doctest::Approx(stdev(ej)));
  // The sampler ran once per batch, both times on the same memoized samples.
  std::vector<double> se = {sample_e[0], sample_e[1], sample_e[0], sample_e[1]};
  CHECK(r.at("samples/energy_mean") == doctest::Approx(mean(se)));
  CHECK(r.at("samples/energy_std") == doctest::Approx(stdev(se)));
  CHECK(!r.count("adv/delta_energy_mean"));

  auto capped = metric("plugin = \"energy_stats\"\nmax_images = 3", info);
  capped->reset();
  capped->update({torch::zeros({2, 2}), y.slice(0, 0, 2), logits.slice(0, 0, 2)}, ctx);
  capped->update({torch::zeros({2, 2}), y.slice(0, 2, 4), logits.slice(0, 2, 4)}, ctx);
  r = capped->result();
  CHECK(r.at("n") == 3);
  CHECK(r.at("data/energy_mean") == doctest::Approx(mean({e[0], e[1], e[2]})));
  CHECK(r.count("samples/energy_mean") == 0);
}

TEST_CASE("energy_stats: delta energies of the PGD-CE attack") {
  DataInfo info = test::toy_info(3);
  at::Tensor W = torch::tensor({{1.0, -2.0}, {0.5, 0.25}, {-1.0, 1.5}}), bias = torch::tensor({0.1, -0.2, 0.3});
  auto model = linear_model(info, W, bias);
  Context ctx(model, info);
  torch::manual_seed(4);
  at::Tensor x = torch::rand({32, 2}) * 0.6 + 0.2, y = torch::randint(0, 3, {32}, torch::kInt64);
  auto run = [&](const std::string& body) {
    auto m = metric(body, info);
    model->train();
    m->reset();
    m->update(eval_batch(x, y, *model), ctx);
    CHECK(model->is_training());
    for (auto& p : model->parameters()) CHECK(!p.grad().defined());
    return m->result();
  };

  // Zero steps: x_adv = x, every delta is exactly 0.
  auto r = run("plugin = \"energy_stats\"\nadv_eps = 0.1\nadv_steps = 0");
  CHECK(r.at("adv/delta_energy_mean") == 0.0);
  CHECK(r.at("adv/delta_energy_std") == 0.0);
  CHECK(r.at("adv/delta_joint_energy_mean") == 0.0);

  // One L-inf step of length eps is x + eps sign(grad_x CE), clamped: recomputed here.
  const double eps = 0.05;
  r = run("plugin = \"energy_stats\"\nadv_eps = 0.05\nadv_steps = 1\nadv_alpha = 0.05");
  at::Tensor xg = x.clone().requires_grad_(true);
  auto logits = [&](const at::Tensor& v) { return ((v - 0.5) / 0.25).mm(W.t()) + bias; };
  torch::nn::functional::cross_entropy(logits(xg), y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
      .backward();
  at::Tensor adv = (x + eps * xg.grad().sign()).clamp(0, 1);
  {
    torch::NoGradGuard ng;
    auto la = logits(adv), l0 = logits(x);
    CHECK(r.at("adv/delta_energy_mean") == doctest::Approx((energy(la) - energy(l0)).mean().item<double>()).epsilon(1e-4));
    CHECK(r.at("adv/delta_joint_energy_mean") ==
          doctest::Approx((joint_energy(la, y) - joint_energy(l0, y)).mean().item<double>()).epsilon(1e-4));
  }

  // Ascending the cross-entropy lowers f(x)[y]: the joint energy rises on average.
  for (const char* norm : {"linf", "l2"}) {
    CAPTURE(norm);
    r = run(std::string("plugin = \"energy_stats\"\nadv_eps = 0.1\nadv_norm = \"") + norm + "\"");
    CHECK(r.at("adv/delta_joint_energy_mean") > 0.05);
    CHECK(std::isfinite(r.at("adv/delta_energy_mean")));
    CHECK(r.at("adv/delta_joint_energy_std") > 0);
  }
  // adv_eps = 0 switches the attack off: no adv outputs declared or returned.
  auto off = metric("plugin = \"energy_stats\"", info);
  for (auto& o : off->outputs()) CHECK(o.name.rfind("adv/", 0) != 0);
  r = run("plugin = \"energy_stats\"");
  CHECK(!r.count("adv/delta_energy_mean"));
}
