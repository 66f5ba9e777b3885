// ebmlab SDK: building blocks for samplers — input gradients, L2 geometry, fitted
// initial distributions (per-class Gaussians, class-wise PCA) and the AUC statistic.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "ebmlab/context.hpp"
#include "ebmlab/error.hpp"
#include "ebmlab/schema.hpp"

namespace ebm::sampling {

/// d(sum of objective)/dx without touching any parameter's .grad. x must require grad.
EBMLAB_API at::Tensor input_grad(const at::Tensor& objective, const at::Tensor& x);

/// A per-sample value v [B] shaped to broadcast against `like` [B, ...]: [B, 1, ..., 1].
EBMLAB_API at::Tensor per_sample(const at::Tensor& v, const at::Tensor& like);

/// Per-sample L2 norm over every axis but the first: [B, ...] -> [B, 1, ..., 1].
EBMLAB_API at::Tensor l2_norm(const at::Tensor& v);
/// g / (‖g‖ + 1e-10) per sample.
EBMLAB_API at::Tensor normalize_l2(const at::Tensor& g);
/// Projects each delta onto the L2 ball of radius eps (renormalizes those outside).
EBMLAB_API at::Tensor project_l2(const at::Tensor& delta, double eps);

/// N(mu_c, Sigma_c + ridge I) per class on flattened samples (JEM++'s informative init).
struct EBMLAB_API ClassGaussians {
  at::Tensor mean;                  ///< [K, D]
  at::Tensor chol;                  ///< [K, D, D] lower Cholesky factors
  std::vector<std::int64_t> shape;  ///< one sample's shape
  bool fitted() const { return mean.defined(); }
};
/// Fits on at most `per_class` samples of each class (0: all). x: [N, ...], y: [N].
EBMLAB_API ClassGaussians fit_class_gaussians(const at::Tensor& x, const at::Tensor& y, std::int64_t classes, double ridge = 1e-4,
                                              std::int64_t per_class = 0);
/// One draw per label: y [B] -> [B, ...shape] (not clamped).
EBMLAB_API at::Tensor draw(const ClassGaussians& g, const at::Tensor& y);

/// Class-wise PCA keeping the leading components that explain `variance` of each class
/// (seed 003's generation init): x = mu_c + U_c diag(sqrt(lambda)) z + noise·N(0, I).
struct EBMLAB_API ClassPCA {
  at::Tensor mean;                ///< [K, D]
  std::vector<at::Tensor> basis;  ///< per class [D, k_c], columns scaled by sqrt(eigenvalue)
  std::vector<std::int64_t> shape;
  bool fitted() const { return mean.defined(); }
};
EBMLAB_API ClassPCA fit_class_pca(const at::Tensor& x, const at::Tensor& y, std::int64_t classes, double variance = 0.9,
                                  std::int64_t per_class = 0);
EBMLAB_API at::Tensor draw(const ClassPCA& p, const at::Tensor& y, double noise);

/// Area under the ROC curve of scores `pos` (should be high) against `neg`, ties count
/// one half (the Mann-Whitney statistic). 1-d tensors.
EBMLAB_API double auc(const at::Tensor& pos, const at::Tensor& neg);

/// Where chains start: the parameters `init`, `init_std`, `init_noise`, `init_stream`,
/// `pca_variance` and `fit_per_class`, shared by the built-in samplers.
///   batch           the real batch of `stream` (attacks)
///   uniform         U[lo, hi] over the data range
///   gaussian        N((lo+hi)/2, init_std²), clamped to the range
///   class_gaussian  N(mu_y, Sigma_y + 1e-4 I) fitted on the training split (JEM++)
///   class_pca       class-wise PCA keeping pca_variance, plus init_noise (seed 003)
///   stream          a batch of the data stream `init_stream` (auxiliary seeds)
class EBMLAB_API Initializer {
 public:
  Initializer() = default;
  Initializer(const Params& p, const DataInfo& info);
  /// Appends the parameters above to `schema` with `default_init` as the default.
  static void add_params(Schema& schema, const std::string& default_init);
  /// n starting points [n, ...shape]; y [n] labels for the class-wise inits.
  at::Tensor draw(StepContext& ctx, std::int64_t n, const at::Tensor& y, const std::string& stream);
  const std::string& kind() const { return kind_; }

 private:
  std::string kind_ = "uniform", stream_;
  double std_ = 0.1, noise_ = 0.01, variance_ = 0.9;
  std::int64_t per_class_ = 2000;
  DataInfo info_;
  ClassGaussians gaussians_;
  ClassPCA pca_;
};

}  // namespace ebm::sampling
