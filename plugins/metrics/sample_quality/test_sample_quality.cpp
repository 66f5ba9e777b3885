// The sample_quality plugin's own tests (registered by this folder's CMakeLists.txt; the
// conformance suites in tests/unit cover the contracts every plugin shares).
#include <cmath>
#include <filesystem>

#include <doctest/doctest.h>
#include <torch/torch.h>

#include "data/data.hpp"
#include "fixtures.hpp"
#include "stats.hpp"

using namespace ebm;
using namespace ebm::test;

namespace q = ebm::quality;

namespace {

/// n rows with sample mean exactly mu [D] and unbiased covariance exactly l l^T: whitened
/// Gaussian noise, so FID's closed form applies to the sets themselves, not in expectation.
at::Tensor with_moments(std::int64_t n, const at::Tensor& mu, const at::Tensor& l) {
  at::Tensor z = torch::randn({n, mu.size(0)}, torch::kDouble);
  z = z - z.mean(0, true);
  at::Tensor c = z.t().matmul(z) / static_cast<double>(n - 1);
  at::Tensor w = torch::linalg_cholesky(c);  // c = w w^T
  z = torch::linalg_solve_triangular(w, z.t(), /*upper=*/false).t();
  return z.matmul(l.t()) + mu;
}

double trace_sqrt_2x2(const at::Tensor& a, const at::Tensor& b) {
  // A 2x2 matrix with positive eigenvalues: tr M^{1/2} = sqrt(tr M + 2 sqrt(det M)).
  at::Tensor m = a.matmul(b);
  return std::sqrt(m.trace().item<double>() + 2.0 * std::sqrt(m.det().item<double>()));
}

}  // namespace

TEST_CASE("sample_quality FID: zero for identical sets, closed forms for Gaussians, symmetric") {
  torch::manual_seed(0);
  at::Tensor a = torch::randn({400, 16}, torch::kDouble) * 3.0 + 2.0;
  at::Tensor centred = a - a.mean(0, true);
  const double scale = 2.0 * centred.pow(2).sum().item<double>() / 399.0;  // tr(S1) + tr(S2), about 288
  CHECK(std::abs(q::fid(a, a)) <= 1e-6 * scale);
  CHECK(std::abs(q::fid(a.to(torch::kFloat), a)) <= 1e-4 * scale);  // inputs of any dtype

  // Diagonal covariances: FID = ||mu1 - mu2||^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2.
  at::Tensor va = torch::tensor({1.0, 4.0, 0.25, 9.0}, torch::kDouble), vb = torch::tensor({4.0, 1.0, 1.0, 9.0}, torch::kDouble);
  at::Tensor ma = torch::tensor({0.0, 1.0, -1.0, 2.0}, torch::kDouble), mb = torch::tensor({1.0, 1.0, 1.0, 0.0}, torch::kDouble);
  double closed = (ma - mb).pow(2).sum().item<double>() + (va.sqrt() - vb.sqrt()).pow(2).sum().item<double>();
  CHECK(closed == doctest::Approx(1.0 + 4.0 + 4.0 + 1.0 + 1.0 + 0.25));  // the formula itself
  CHECK(q::frechet_distance(ma, torch::diag(va), mb, torch::diag(vb)) == doctest::Approx(closed).epsilon(1e-10));
  at::Tensor x = with_moments(300, ma, torch::diag(va.sqrt())), y = with_moments(200, mb, torch::diag(vb.sqrt()));
  CHECK(q::fid(x, y) == doctest::Approx(closed).epsilon(1e-8));

  // Non-commuting covariances, where tr (S1 S2)^{1/2} != sum sqrt(eig S1 * eig S2).
  at::Tensor s1 = torch::tensor({{2.0, 0.9}, {0.9, 1.0}}, torch::kDouble);
  at::Tensor s2 = torch::tensor({{0.5, -0.3}, {-0.3, 3.0}}, torch::kDouble);
  at::Tensor m1 = torch::tensor({0.5, -0.5}, torch::kDouble), m2 = torch::zeros({2}, torch::kDouble);
  double expected = 0.5 + s1.trace().item<double>() + s2.trace().item<double>() - 2.0 * trace_sqrt_2x2(s1, s2);
  CHECK(q::frechet_distance(m1, s1, m2, s2) == doctest::Approx(expected).epsilon(1e-10));
  at::Tensor u = with_moments(100, m1, torch::linalg_cholesky(s1)), v = with_moments(100, m2, torch::linalg_cholesky(s2));
  CHECK(q::fid(u, v) == doctest::Approx(expected).epsilon(1e-8));
  CHECK(q::fid(v, u) == doctest::Approx(expected).epsilon(1e-8));  // the S1^{1/2} S2 S1^{1/2} route is not symmetric

  CHECK_THROWS_AS(q::fid(a, torch::randn({10, 3})), RunError);
  CHECK_THROWS_AS(q::fid(a.narrow(0, 0, 1), a), RunError);
}

TEST_CASE("sample_quality KID: unbiased MMD^2 by brute force, ~0 for one distribution, > 0 for a shift") {
  torch::manual_seed(1);
  at::Tensor x = torch::randn({5, 3}, torch::kDouble), y = torch::randn({4, 3}, torch::kDouble) + 0.5;
  auto k = [](const at::Tensor& a, const at::Tensor& b) { return std::pow(a.dot(b).item<double>() / 3.0 + 1.0, 3); };
  double xx = 0, yy = 0, xy = 0;
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) xx += i == j ? 0.0 : k(x[i], x[j]);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) yy += i == j ? 0.0 : k(y[i], y[j]);
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 4; ++j) xy += k(x[i], y[j]);
  CHECK(q::mmd2_unbiased(x, y) == doctest::Approx(xx / 20.0 + yy / 12.0 - 2.0 * xy / 20.0).epsilon(1e-12));

  at::Tensor a = torch::randn({600, 16}, torch::kDouble), b = torch::randn({600, 16}, torch::kDouble);
  auto same = q::kid(a, b, 10, 200, 0);
  auto shifted = q::kid(a, b + 0.5, 10, 200, 0);
  auto self = q::kid(a, a, 10, 200, 0);
  MESSAGE("KID same " << same.mean << " +- " << same.std << ", self " << self.mean << ", shifted " << shifted.mean);
  CHECK(std::abs(same.mean) < 0.02);
  // A set against itself is not exactly 0: independently drawn subsets share rows, and a
  // shared row adds k(x,x) > E k(x,y) to the cross term, a bias of about -2/N (E k(x,x) - E k(x,y)).
  CHECK(self.mean < 0.0);
  CHECK(std::abs(self.mean) < 0.05 * shifted.mean);
  CHECK(shifted.mean > 0.3);
  CHECK(shifted.mean > 10.0 * (std::abs(same.mean) + same.std));
  CHECK(same.std > 0.0);
  auto again = q::kid(a, b, 10, 200, 0);
  CHECK(again.mean == same.mean);  // seeded subsets
  CHECK(q::kid(a, b, 10, 200, 1).mean != same.mean);
  CHECK(q::kid(a, b, 1, 5000, 0).std == 0.0);  // one subset of the whole (capped) sets
  CHECK(q::kid(a, b, 1, 5000, 7).mean == doctest::Approx(q::mmd2_unbiased(a, b)).epsilon(1e-12));
}

TEST_CASE("sample_quality IS analogue, per-class diversity and class coverage: known answers") {
  const std::int64_t k = 10;
  at::Tensor same = torch::tensor({3.0, 1.0, 0.0, -1.0, 2.0, 0.5, 0.0, 0.0, 0.0, 1.0}).repeat({50, 1});
  CHECK(q::inception_score(same) == doctest::Approx(1.0).epsilon(1e-12));
  // Confident one-hot predictions spread evenly over K classes: p(y) uniform, KL = log K.
  at::Tensor onehot = torch::one_hot(torch::arange(100) % k, k).to(torch::kDouble) * 80.0;
  CHECK(q::inception_score(onehot) == doctest::Approx(static_cast<double>(k)).epsilon(1e-9));
  at::Tensor two = torch::one_hot(torch::arange(60) % 2, k).to(torch::kDouble) * 80.0;
  CHECK(q::inception_score(two) == doctest::Approx(2.0).epsilon(1e-9));
  double mixed = q::inception_score(torch::randn({200, k}, torch::kDouble) * 2.0);
  CHECK(mixed > 1.0);
  CHECK(mixed < static_cast<double>(k));

  // Class 0: one pair at distance 5. Class 1: (0,0), (1,0), (0,1): mean (1 + 1 + sqrt 2)/3.
  // Class 2: a single point, left out.
  at::Tensor f = torch::tensor({{0.0, 0.0}, {3.0, 4.0}, {10.0, 10.0}, {11.0, 10.0}, {10.0, 11.0}, {50.0, 50.0}}, torch::kDouble);
  at::Tensor c = torch::tensor({0, 0, 1, 1, 1, 2}, torch::kInt64);
  CHECK(q::class_diversity(f, c, 3) == doctest::Approx((5.0 + (2.0 + std::sqrt(2.0)) / 3.0) / 2.0).epsilon(1e-12));
  CHECK(std::isnan(q::class_diversity(f.narrow(0, 0, 1), c.narrow(0, 0, 1), 3)));

  // 100 labels: 50 of class 0, 49 of class 1, one (= 1 %) of class 2, none of the rest.
  at::Tensor labels =
      torch::cat({torch::zeros({50}, torch::kInt64), torch::ones({49}, torch::kInt64), torch::full({1}, 2, torch::kInt64)});
  CHECK(q::class_coverage(labels, k) == doctest::Approx(0.3));
  CHECK(q::class_coverage(labels, k, 0.02) == doctest::Approx(0.2));
  CHECK(q::class_coverage(torch::arange(100) % k, k) == doctest::Approx(1.0));
}

TEST_CASE("sample_quality on Fashion-MNIST pixels: two real halves are close, real vs noise is far") {
  const std::string images = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
  if (!std::filesystem::exists(images)) {
    MESSAGE("skipped: " << images << " is not installed");
    return;
  }
  // 14x14 average-pooled pixels as a stand-in feature space (D = 196 < n).
  at::Tensor x = kernel::read_idx_gz(images).narrow(0, 0, 2000).to(torch::kFloat).div(255.0).unsqueeze(1);
  at::Tensor feats = torch::avg_pool2d(x, 2).flatten(1).to(torch::kDouble);
  at::Tensor first = feats.narrow(0, 0, 1000), second = feats.narrow(0, 1000, 1000);
  torch::manual_seed(2);
  at::Tensor noise = torch::avg_pool2d(torch::rand({1000, 1, 28, 28}), 2).flatten(1).to(torch::kDouble);
  double halves = q::fid(first, second), vs_noise = q::fid(first, noise);
  double kid_halves = q::kid(first, second, 5, 500, 0).mean, kid_noise = q::kid(first, noise, 5, 500, 0).mean;
  MESSAGE("pixel FID halves " << halves << ", vs noise " << vs_noise << "; KID " << kid_halves << " vs " << kid_noise);
  CHECK(halves > 0.0);
  CHECK(halves < 0.05 * vs_noise);
  CHECK(std::abs(kid_halves) < 0.01 * kid_noise);
}

namespace {

/// A context whose feature net is a fixed map: features = pixels, logits = 40 x the first
/// K pixels (confident predictions), so results can be recomputed from the inputs.
struct EmbedContext : Context {
  using Context::Context;
  std::vector<std::int64_t> embedded;  // rows per embed() call
  std::string checkpoint;
  Embedding embed(const std::string& ckpt, const at::Tensor& x) override {
    checkpoint = ckpt;
    embedded.push_back(x.size(0));
    at::Tensor f = x.flatten(1);
    return {f, f.narrow(1, 0, 4) * 40.0};
  }
};

/// EmbedContext's map, recomputed in the same float32 arithmetic.
Embedding fake_embed(const at::Tensor& x) {
  at::Tensor f = x.flatten(1);
  return {f.to(torch::kDouble), (f.narrow(1, 0, 4) * 40.0).to(torch::kDouble)};
}

DataInfo small_info() {
  DataInfo d = toy_info(4);
  d.shape = {6};
  return d;
}

}  // namespace

TEST_CASE("sample_quality plugin: real-vs-real halves, sampler sets, max_images, parameter errors") {
  DataInfo info = small_info();
  torch::manual_seed(3);
  at::Tensor data = torch::rand({100, 6});

  SUBCASE("without a sampler: the first max_images images against the next max_images") {
    auto m = make_plugin<Metric>(
        Kind::metric, "plugin = \"sample_quality\"\nfeature_net = \"net.h5\"\nmax_images = 30\nkid_subset_size = 20", info);
    EmbedContext ctx(nullptr, info);
    m->reset();
    for (int i = 0; i < 5; ++i) {  // batches of 20: 30 + 30 images are used, the last batches none
      at::Tensor x = data.narrow(0, std::int64_t{20} * i, 20);
      m->update(EvalBatch{x, torch::zeros({20}, torch::kInt64), torch::zeros({20, 4})}, ctx);
    }
    CHECK(ctx.checkpoint == "net.h5");
    CHECK(ctx.embedded == std::vector<std::int64_t>{20, 20, 20});
    auto r = m->result();
    for (auto& o : m->outputs()) CHECK_MESSAGE(r.count(o.name) == 1, o.name);
    CHECK(r.size() == m->outputs().size());
    for (auto& kv : r) CHECK_MESSAGE(std::isfinite(kv.second), kv.first);
    Embedding a = fake_embed(data.narrow(0, 0, 30)), b = fake_embed(data.narrow(0, 30, 30));
    CHECK(r.at("n") == 30.0);
    CHECK(r.at("fid") == doctest::Approx(q::fid(a.features, b.features)).epsilon(1e-9));
    CHECK(r.at("kid") == doctest::Approx(q::kid(a.features, b.features, 10, 20, 0).mean).epsilon(1e-9));
    CHECK(r.at("is") == doctest::Approx(q::inception_score(b.logits)).epsilon(1e-9));
    CHECK(r.at("is_real") == doctest::Approx(q::inception_score(a.logits)).epsilon(1e-9));
    CHECK(r.at("diversity_real") == doctest::Approx(q::class_diversity(a.features, a.logits.argmax(1), 4)).epsilon(1e-9));

    m->reset();  // a new evaluation starts from empty sets
    m->update(EvalBatch{data.narrow(0, 0, 1), torch::zeros({1}, torch::kInt64), torch::zeros({1, 4})}, ctx);
    CHECK(error_of<RunError>([&] { m->result(); }).find("at least 2 images") != std::string::npos);
  }

  SUBCASE("with a sampler: real images against the sampler's images of the same batches") {
    auto m = make_plugin<Metric>(
        Kind::metric, "plugin = \"sample_quality\"\nfeature_net = \"net.h5\"\nsampler = \"gen\"\nmax_images = 25", info);
    EmbedContext ctx(nullptr, info);
    m->reset();
    std::vector<at::Tensor> made;
    for (int i = 0; i < 3; ++i) {
      at::Tensor x = data.narrow(0, std::int64_t{20} * i, 20);
      ctx.memo["gen"] = (x * 0.5 + 0.4).clamp(0, 1);  // what ctx.samples("gen") returns for this batch
      made.push_back(ctx.memo["gen"]);
      m->update(EvalBatch{x, torch::zeros({20}, torch::kInt64), torch::zeros({20, 4})}, ctx);
      ctx.memo.clear();
    }
    CHECK(ctx.embedded == std::vector<std::int64_t>{20, 20, 5, 5});  // nothing after 25 of each
    auto r = m->result();
    Embedding a = fake_embed(data.narrow(0, 0, 25)), s = fake_embed(torch::cat(made).narrow(0, 0, 25));
    CHECK(r.at("n") == 25.0);
    CHECK(r.at("fid") == doctest::Approx(q::fid(a.features, s.features)).epsilon(1e-9));
    CHECK(r.at("fid") > 0.1);
    CHECK(r.at("diversity_samples") == doctest::Approx(q::class_diversity(s.features, s.logits.argmax(1), 4)).epsilon(1e-9));
    // The samples are the real images scaled by 0.5 (argmax, hence classes, unchanged),
    // up to float32 rounding of the samples.
    CHECK(r.at("diversity_samples") == doctest::Approx(0.5 * r.at("diversity_real")).epsilon(1e-6));
    CHECK(r.at("class_coverage") == doctest::Approx(q::class_coverage(s.logits.argmax(1), 4)));
  }

  SUBCASE("parameter errors name the parameter") {
    auto err = [&](const std::string& body) {
      return error_of<ConfigError>([&] { make_plugin<Metric>(Kind::metric, "plugin = \"sample_quality\"\n" + body, info); });
    };
    CHECK(err("max_images = 10").find("feature_net") != std::string::npos);  // required
    CHECK(err("feature_net = \"\"").find("feature_net") != std::string::npos);
    CHECK(err("feature_net = \"f.h5\"\nmax_images = 1").find("max_images") != std::string::npos);
    CHECK(err("feature_net = \"f.h5\"\nkid_subset_size = 1").find("kid_subset_size") != std::string::npos);
    CHECK(err("feature_net = \"f.h5\"\nkid_subsets = 0").find("kid_subsets") != std::string::npos);
    CHECK(err("feature_net = 3").find("feature_net") != std::string::npos);
  }
}
