// sample_quality statistics (formulas and sources in stats.hpp).
#include "stats.hpp"

#include <cmath>
#include <limits>
#include <string>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "ebmlab/error.hpp"

namespace ebm::quality {
namespace {

at::Tensor to_double(const at::Tensor& t) { return t.detach().to(torch::kCPU, torch::kDouble).contiguous(); }

at::Tensor feature_matrix(const at::Tensor& t, const char* what, std::int64_t min_rows = 2) {
  if (t.dim() != 2 || t.size(0) < min_rows)
    throw RunError(std::string("sample_quality: ") + what +
                   " must be a feature matrix [N,D] with N >= " + std::to_string(min_rows) + ", got " + std::to_string(t.dim()) +
                   "-d of " + (t.dim() > 0 ? std::to_string(t.size(0)) : std::string("no")) + " rows");
  return to_double(t);
}

at::Tensor covariance(const at::Tensor& x) {
  at::Tensor c = x - x.mean(0, true);
  return c.t().matmul(c) / static_cast<double>(x.size(0) - 1);
}

/// Square root of a symmetric PSD matrix through its eigendecomposition; eigenvalues that
/// rounding made slightly negative (rank-deficient covariances, N <= D) are set to 0.
at::Tensor sqrt_psd(const at::Tensor& s) {
  auto [w, v] = at::linalg_eigh(s);
  return (v * w.clamp_min(0.0).sqrt().unsqueeze(0)).matmul(v.t());
}

at::Tensor poly_kernel(const at::Tensor& x, const at::Tensor& y) {
  return (x.matmul(y.t()) / static_cast<double>(x.size(1)) + 1.0).pow(3);
}

}  // namespace

double frechet_distance(const at::Tensor& mu1, const at::Tensor& cov1, const at::Tensor& mu2, const at::Tensor& cov2) {
  at::Tensor c1 = to_double(cov1), c2 = to_double(cov2);
  // LibTorch 1.13 has no sqrtm. (C1 C2)^{1/2} is similar to the symmetric PSD matrix
  // C1^{1/2} C2 C1^{1/2} (same eigenvalues), so its trace is the sum of that matrix's
  // eigenvalue square roots; symmetric eigensolvers are stable where a general sqrtm is not.
  at::Tensor r1 = sqrt_psd(c1);
  at::Tensor m = r1.matmul(c2).matmul(r1);
  m = (m + m.t()) * 0.5;
  double tr_sqrt = at::linalg_eigvalsh(m).clamp_min(0.0).sqrt().sum().item<double>();
  double mean_term = (to_double(mu1) - to_double(mu2)).pow(2).sum().item<double>();
  return mean_term + c1.trace().item<double>() + c2.trace().item<double>() - 2.0 * tr_sqrt;
}

double fid(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor x = feature_matrix(a, "the first set"), y = feature_matrix(b, "the second set");
  if (x.size(1) != y.size(1))
    throw RunError("sample_quality: feature sets of different widths " + std::to_string(x.size(1)) + " and " +
                   std::to_string(y.size(1)));
  return frechet_distance(x.mean(0), covariance(x), y.mean(0), covariance(y));
}

double mmd2_unbiased(const at::Tensor& x_in, const at::Tensor& y_in) {
  at::Tensor x = feature_matrix(x_in, "the first set"), y = feature_matrix(y_in, "the second set");
  const double m = static_cast<double>(x.size(0)), n = static_cast<double>(y.size(0));
  at::Tensor kxx = poly_kernel(x, x), kyy = poly_kernel(y, y);
  // Unbiased: the diagonals k(x_i, x_i) are left out of the within-set means.
  double xx = (kxx.sum() - kxx.diagonal().sum()).item<double>() / (m * (m - 1.0));
  double yy = (kyy.sum() - kyy.diagonal().sum()).item<double>() / (n * (n - 1.0));
  double xy = poly_kernel(x, y).mean().item<double>();
  return xx + yy - 2.0 * xy;
}

Kid kid(const at::Tensor& a_in, const at::Tensor& b_in, std::int64_t subsets, std::int64_t subset_size, std::uint64_t seed) {
  at::Tensor a = feature_matrix(a_in, "the first set"), b = feature_matrix(b_in, "the second set");
  if (subsets < 1 || subset_size < 2) throw RunError("sample_quality: KID needs subsets >= 1 and subset_size >= 2");
  const std::int64_t m = std::min({subset_size, a.size(0), b.size(0)});
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<double> values;
  for (std::int64_t s = 0; s < subsets; ++s) {
    at::Tensor ia = at::randperm(a.size(0), gen, torch::kInt64).narrow(0, 0, m);
    at::Tensor ib = at::randperm(b.size(0), gen, torch::kInt64).narrow(0, 0, m);
    values.push_back(mmd2_unbiased(a.index_select(0, ia), b.index_select(0, ib)));
  }
  Kid k;
  for (double v : values) k.mean += v;
  k.mean /= static_cast<double>(values.size());
  for (double v : values) k.std += (v - k.mean) * (v - k.mean);
  k.std = std::sqrt(k.std / static_cast<double>(values.size()));
  return k;
}

double inception_score(const at::Tensor& logits) {
  at::Tensor logp = feature_matrix(logits, "the logits", 1).log_softmax(1);
  // log p(y) = log mean_x p(y|x), kept in log space so confident classifiers do not underflow.
  at::Tensor logpy = logp.logsumexp(0, true) - std::log(static_cast<double>(logp.size(0)));
  at::Tensor kl = (logp.exp() * (logp - logpy)).sum(1);
  return std::exp(kl.mean().item<double>());
}

double class_diversity(const at::Tensor& features, const at::Tensor& classes, std::int64_t num_classes) {
  at::Tensor f = feature_matrix(features, "the features", 1);
  at::Tensor c = classes.detach().to(torch::kCPU, torch::kInt64);
  double total = 0.0;
  std::int64_t counted = 0;
  for (std::int64_t k = 0; k < num_classes; ++k) {
    at::Tensor rows = c.eq(k).nonzero().flatten();
    const std::int64_t n = rows.size(0);
    if (n < 2) continue;
    at::Tensor g = f.index_select(0, rows);
    // Each unordered pair appears twice in the full distance matrix; the diagonal is 0.
    // compute_mode 2: exact differences, not the |a|^2+|b|^2-2ab shortcut that leaves
    // rounding noise of order sqrt(eps) on near-duplicate pairs.
    double pair_sum = at::cdist(g, g, 2.0, 2).sum().item<double>() / 2.0;
    total += pair_sum / (static_cast<double>(n) * static_cast<double>(n - 1) / 2.0);
    ++counted;
  }
  return counted ? total / static_cast<double>(counted) : std::numeric_limits<double>::quiet_NaN();
}

double class_coverage(const at::Tensor& classes, std::int64_t num_classes, double min_fraction) {
  at::Tensor c = classes.detach().to(torch::kCPU, torch::kInt64).flatten();
  if (c.numel() == 0 || num_classes < 1) return 0.0;
  at::Tensor counts = at::bincount(c, {}, num_classes).narrow(0, 0, num_classes).to(torch::kDouble);
  // The tolerance keeps "exactly 1 %" (e.g. 10 of 1000) on the covered side despite rounding.
  at::Tensor covered = counts.ge(min_fraction * static_cast<double>(c.numel()) - 1e-9);
  return covered.sum().item<double>() / static_cast<double>(num_classes);
}

}  // namespace ebm::quality
