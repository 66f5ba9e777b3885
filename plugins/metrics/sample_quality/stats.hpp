// sample_quality statistics: pure functions on feature matrices, computed in double
// precision on the CPU whatever the inputs' dtype and device. Conventions: METHODS.md §6.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace ebm::quality {

/// Frechet distance between the Gaussians N(mu1, cov1) and N(mu2, cov2):
/// ||mu1 - mu2||^2 + tr(cov1 + cov2 - 2 (cov1 cov2)^{1/2}). mu: [D]; cov: [D,D] symmetric PSD.
double frechet_distance(const at::Tensor& mu1, const at::Tensor& cov1, const at::Tensor& mu2, const at::Tensor& cov2);

/// FID of two feature sets a: [N,D], b: [M,D] (N, M >= 2): the Frechet distance of Gaussians
/// fitted with the sample mean and the unbiased (n-1) covariance (Heusel et al. 2017).
double fid(const at::Tensor& a, const at::Tensor& b);

/// Unbiased MMD^2 (Gretton et al. 2012) with the cubic polynomial kernel
/// k(u,v) = (u.v/D + 1)^3 of KID. x: [m,D], y: [n,D], m, n >= 2.
double mmd2_unbiased(const at::Tensor& x, const at::Tensor& y);

struct Kid {
  double mean = 0.0;
  double std = 0.0;  ///< population standard deviation over the subsets (as torch-fidelity)
};

/// KID (Binkowski et al. 2018): mmd2_unbiased on `subsets` pairs of random subsets of
/// min(subset_size, N, M) rows drawn without replacement from a: [N,D] and b: [M,D],
/// with a generator seeded by `seed` (the same call gives the same value).
Kid kid(const at::Tensor& a, const at::Tensor& b, std::int64_t subsets, std::int64_t subset_size, std::uint64_t seed);

/// Inception-Score analogue (Salimans et al. 2016) with any classifier's logits [N,K]:
/// exp(E_x KL(p(y|x) || p(y))), p(y) the mean of p(y|x) over the set. In [1, K].
double inception_score(const at::Tensor& logits);

/// Mean pairwise L2 distance of features [N,D] within each class (classes: [N] int64 in
/// [0, num_classes)), averaged over the classes holding at least 2 rows; NaN when none does.
double class_diversity(const at::Tensor& features, const at::Tensor& classes, std::int64_t num_classes);

/// Fraction of the num_classes classes that hold at least `min_fraction` of the N labels.
double class_coverage(const at::Tensor& classes, std::int64_t num_classes, double min_fraction = 0.01);

}  // namespace ebm::quality
