// ebmlab SDK: evaluation attacks — PGD with restarts and APGD-CE (Croce & Hein 2020).
// Not part of ebmlab.hpp: include "ebmlab/attacks.hpp" where an attack is needed.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "ebmlab/error.hpp"

namespace ebm::attacks {

/// Threat model and budget of one attack. METHODS.md §6: record eps, steps, restarts and
/// the norm with every robust number.
struct Spec {
  std::string norm = "linf";  ///< "linf" (sign steps) or "l2" (normalized steps)
  double eps = 0.1;           ///< radius of the ball in data units; 0 returns x unchanged
  double alpha = 0;           ///< PGD step length; 0 means 2.5 * eps / steps. Ignored by APGD.
  std::int64_t steps = 10;    ///< gradient steps per restart (APGD: N_iter)
  std::int64_t restarts = 1;  ///< independent runs; later runs only attack samples not yet fooled
  bool random_start = true;   ///< start at a uniform random point of the ball
  double lo = 0, hi = 1;      ///< data range; every iterate is clamped to it
  bool targeted = false;      ///< y holds target classes: descend CE(f(x), y) instead of ascending
};

/// x [B, ...] -> logits [B, K], differentiable in x (e.g. StepContext::logits).
using LogitsFn = std::function<at::Tensor(const at::Tensor&)>;

/// Projected gradient descent on the cross-entropy, torchattacks convention: uniform random
/// start in the ball (L2: direction uniform on the sphere, radius eps * u^(1/d)), step
/// alpha * sign(g) (Linf) or alpha * g / (‖g‖ + 1e-10) (L2), projection onto the ball and
/// clamp to [lo, hi] after every step; the last iterate of each run is returned. With
/// restarts, each sample keeps the first run that fools the model (untargeted: argmax != y;
/// targeted: argmax == y), otherwise the last run.
///   x: [B, ...] float in [lo, hi]; y: [B] int64 labels (targets when targeted).
///   gen: random start generator (nullptr: the global one); draws happen on gen's device.
/// Returns x_adv [B, ...], detached, same dtype and device as x. Parameter .grad and the
/// model's train/eval mode are left as they were (the caller chooses the mode).
EBMLAB_API at::Tensor pgd(const LogitsFn& f, const at::Tensor& x, const at::Tensor& y, const Spec& s,
                          at::Generator* gen = nullptr);

/// APGD-CE (Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble
/// of diverse parameter-free attacks", ICML 2020, Algorithm 1): step size 2·eps halved per
/// sample at checkpoints where progress stalled, momentum 0.75, restart from the best point.
/// spec.alpha is ignored. Same tensor contract as pgd(). Per sample it returns an iterate
/// that fools the model if any iterate of any run did (the last such one, as AutoAttack),
/// otherwise the iterate with the highest objective over all runs.
EBMLAB_API at::Tensor apgd_ce(const LogitsFn& f, const at::Tensor& x, const at::Tensor& y, const Spec& s,
                              at::Generator* gen = nullptr);

/// APGD's checkpoints w_j = ceil(p_j · n_iter), p_0 = 0, p_1 = 0.22,
/// p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06), deduplicated, all in [0, n_iter].
EBMLAB_API std::vector<std::int64_t> apgd_checkpoints(std::int64_t n_iter);

}  // namespace ebm::attacks
