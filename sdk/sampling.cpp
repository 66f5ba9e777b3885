// Sampler building blocks of the SDK (sampling.hpp).
#include "ebmlab/sampling.hpp"

#include <torch/torch.h>

namespace ebm::sampling {

at::Tensor input_grad(const at::Tensor& objective, const at::Tensor& x) {
  return torch::autograd::grad({objective.sum()}, {x}, /*grad_outputs=*/{}, /*retain_graph=*/false,
                               /*create_graph=*/false)[0];
}

at::Tensor per_sample(const at::Tensor& v, const at::Tensor& like) {
  std::vector<std::int64_t> view(static_cast<std::size_t>(like.dim()), 1);
  view[0] = like.size(0);
  return v.view(view);
}

at::Tensor l2_norm(const at::Tensor& v) { return per_sample(v.reshape({v.size(0), -1}).norm(2, 1), v); }

at::Tensor normalize_l2(const at::Tensor& g) { return g / (l2_norm(g) + 1e-10); }

at::Tensor project_l2(const at::Tensor& delta, double eps) { return delta * (eps / (l2_norm(delta) + 1e-12)).clamp_max(1.0); }

namespace {

std::vector<std::int64_t> sample_shape(const at::Tensor& x) {
  auto s = x.sizes().vec();
  s.erase(s.begin());
  return s;
}

/// Rows of class c, at most `per_class`, flattened to [n, D] in double precision.
at::Tensor class_rows(const at::Tensor& x, const at::Tensor& y, std::int64_t c, std::int64_t per_class) {
  auto idx = y.eq(c).nonzero().squeeze(1);
  if (per_class > 0 && idx.size(0) > per_class) idx = idx.slice(0, 0, per_class);
  if (idx.size(0) < 2)
    throw RunError("fitting class " + std::to_string(c) + ": needs at least 2 training samples of the class, found " +
                   std::to_string(idx.size(0)));
  return x.index_select(0, idx).reshape({idx.size(0), -1}).to(torch::kFloat64);
}

at::Tensor output_shape(const at::Tensor& flat, const std::vector<std::int64_t>& shape) {
  std::vector<std::int64_t> s{flat.size(0)};
  s.insert(s.end(), shape.begin(), shape.end());
  return flat.to(torch::kFloat32).view(s);
}

}  // namespace

ClassGaussians fit_class_gaussians(const at::Tensor& x, const at::Tensor& y, std::int64_t classes, double ridge,
                                   std::int64_t per_class) {
  torch::NoGradGuard no_grad;
  ClassGaussians g;
  g.shape = sample_shape(x);
  std::vector<at::Tensor> means, chols;
  for (std::int64_t c = 0; c < classes; ++c) {
    auto rows = class_rows(x, y, c, per_class);
    auto mu = rows.mean(0);
    auto centered = rows - mu;
    auto cov = centered.t().mm(centered) / static_cast<double>(rows.size(0) - 1);
    cov += torch::eye(cov.size(0), cov.options()) * ridge;
    means.push_back(mu);
    chols.push_back(torch::linalg_cholesky(cov));
  }
  g.mean = torch::stack(means);
  g.chol = torch::stack(chols);
  return g;
}

at::Tensor draw(const ClassGaussians& g, const at::Tensor& y) {
  torch::NoGradGuard no_grad;
  // Class by class (never a [n, D, D] gather): x = mu_c + z L_c^T.
  auto z = torch::randn({y.size(0), g.mean.size(1)}, g.mean.options());
  auto out = torch::empty_like(z);
  for (std::int64_t c = 0; c < g.mean.size(0); ++c) {
    auto idx = y.eq(c).nonzero().squeeze(1);
    if (idx.numel() == 0) continue;
    out.index_copy_(0, idx, g.mean[c] + z.index_select(0, idx).mm(g.chol[c].t()));
  }
  return output_shape(out, g.shape);
}

ClassPCA fit_class_pca(const at::Tensor& x, const at::Tensor& y, std::int64_t classes, double variance, std::int64_t per_class) {
  torch::NoGradGuard no_grad;
  ClassPCA p;
  p.shape = sample_shape(x);
  std::vector<at::Tensor> means;
  for (std::int64_t c = 0; c < classes; ++c) {
    auto rows = class_rows(x, y, c, per_class);
    auto mu = rows.mean(0);
    auto centered = rows - mu;
    auto cov = centered.t().mm(centered) / static_cast<double>(rows.size(0) - 1);
    auto [evals, evecs] = torch::linalg_eigh(cov);  // ascending
    evals = evals.flip(0).clamp_min(0.0);
    evecs = evecs.flip(1);
    auto frac = evals.cumsum(0) / evals.sum().clamp_min(1e-30);
    std::int64_t k = frac.lt(variance).sum().item<std::int64_t>() + 1;
    k = std::min<std::int64_t>(k, evals.size(0));
    means.push_back(mu);
    p.basis.push_back(evecs.slice(1, 0, k) * evals.slice(0, 0, k).sqrt());
  }
  p.mean = torch::stack(means);
  return p;
}

at::Tensor draw(const ClassPCA& p, const at::Tensor& y, double noise) {
  torch::NoGradGuard no_grad;
  auto out = p.mean.index_select(0, y).clone();
  const at::Tensor y_host = y.to(torch::kCPU);  // read element by element
  auto ya = y_host.accessor<std::int64_t, 1>();
  for (std::int64_t i = 0; i < y.size(0); ++i) {
    const auto& B = p.basis[static_cast<std::size_t>(ya[i])];
    out[i] += B.mv(torch::randn({B.size(1)}, B.options()));
  }
  if (noise > 0) out += torch::randn_like(out) * noise;
  return output_shape(out, p.shape);
}

double auc(const at::Tensor& pos, const at::Tensor& neg) {
  torch::NoGradGuard no_grad;
  auto p = pos.reshape({-1}).to(torch::kCPU, torch::kFloat64), n = neg.reshape({-1}).to(torch::kCPU, torch::kFloat64);
  if (p.numel() == 0 || n.numel() == 0) return 0.5;
  // Rank-sum with average ranks for ties.
  auto all = torch::cat({p, n});
  auto order = all.argsort();
  auto sorted = all.index_select(0, order);
  const std::int64_t N = all.numel();
  std::vector<double> ranks(static_cast<std::size_t>(N));
  auto s = sorted.accessor<double, 1>();
  auto o = order.accessor<std::int64_t, 1>();
  for (std::int64_t i = 0; i < N;) {
    std::int64_t j = i;
    while (j + 1 < N && s[j + 1] == s[i]) ++j;
    double r = 0.5 * static_cast<double>(i + j) + 1.0;
    for (std::int64_t k = i; k <= j; ++k) ranks[static_cast<std::size_t>(o[k])] = r;
    i = j + 1;
  }
  double sum = 0.0;
  for (std::int64_t i = 0; i < p.numel(); ++i) sum += ranks[static_cast<std::size_t>(i)];
  double np = static_cast<double>(p.numel()), nn = static_cast<double>(n.numel());
  return (sum - np * (np + 1) / 2) / (np * nn);
}

}  // namespace ebm::sampling

namespace ebm::sampling {

Initializer::Initializer(const Params& p, const DataInfo& info)
    : kind_(p.string("init")),
      stream_(p.string("init_stream")),
      std_(p.real("init_std")),
      noise_(p.real("init_noise")),
      variance_(p.real("pca_variance")),
      per_class_(p.integer("fit_per_class")),
      info_(info) {
  if (kind_ == "stream" && stream_.empty())
    throw ConfigError(p.owner() + ": init = \"stream\" needs init_stream = \"<name of a [data.streams] entry>\"");
}

void Initializer::add_params(Schema& s, const std::string& default_init) {
  namespace pa = ebm::param;
  s.push_back(pa::enumeration("init", {"batch", "uniform", "gaussian", "class_gaussian", "class_pca", "stream"},
                              "where chains start: the real batch, U[lo,hi], N(mid, init_std^2), per-class Gaussian "
                              "(JEM++), class-wise PCA (seed 003), or a batch of init_stream")
                  .set_default(default_init));
  s.push_back(pa::real("init_std", "gaussian init: standard deviation in pixel units").set_default(0.25).range(0, 10));
  s.push_back(pa::real("init_noise", "class_pca init: Gaussian noise added to each draw").set_default(0.01).range(0, 10));
  s.push_back(pa::string("init_stream", "stream init: the data stream to seed from").set_default(""));
  s.push_back(pa::real("pca_variance", "class_pca init: fraction of each class's variance kept").set_default(0.9).range(0.01, 1));
  s.push_back(pa::integer("fit_per_class", "class inits: training images per class used for the fit (0 = all)")
                  .set_default(2000)
                  .at_least(0));
}

at::Tensor Initializer::draw(StepContext& ctx, std::int64_t n, const at::Tensor& y, const std::string& stream) {
  torch::NoGradGuard no_grad;
  std::vector<std::int64_t> shape{n};
  shape.insert(shape.end(), info_.shape.begin(), info_.shape.end());
  const double lo = info_.lo, hi = info_.hi;
  if (kind_ == "batch" || kind_ == "stream") {
    const Batch& b = ctx.batch(kind_ == "batch" ? stream : stream_);
    if (b.x.size(0) < n)
      throw RunError("init = \"" + kind_ + "\": stream '" + (kind_ == "batch" ? stream : stream_) + "' gives batches of " +
                     std::to_string(b.x.size(0)) + ", fewer than the " + std::to_string(n) +
                     " chains needed (a replay buffer cannot be filled from a stream: use buffer_size = 0 or another init)");
    return b.x.slice(0, 0, n).clone();
  }
  // Noise inits on the device of the chains' labels (the batch's), from its default generator.
  const auto on = torch::TensorOptions().device(y.defined() ? y.device() : c10::Device(c10::kCPU));
  if (kind_ == "uniform") return torch::rand(shape, on) * (hi - lo) + lo;
  if (kind_ == "gaussian") return (torch::randn(shape, on) * std_ + 0.5 * (lo + hi)).clamp(lo, hi);
  const Batch& all = ctx.train_set();
  if (kind_ == "class_gaussian") {
    // JEM++'s ridge 1e-4 on [-1,1] pixels is 2.5e-5 on [0,1].
    if (!gaussians_.fitted()) gaussians_ = fit_class_gaussians(all.x, all.y, info_.num_classes, 2.5e-5, per_class_);
    return sampling::draw(gaussians_, y).clamp(lo, hi);
  }
  if (!pca_.fitted()) pca_ = fit_class_pca(all.x, all.y, info_.num_classes, variance_, per_class_);
  return sampling::draw(pca_, y, noise_).clamp(lo, hi);
}

}  // namespace ebm::sampling
