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
  bool random_start = true;   ///< start at a random point of the ball (law: `start`)
  double lo = 0, hi = 1;      ///< data range; every iterate is clamped to it
  bool targeted = false;      ///< y holds target classes: descend CE(f(x), y) instead of ascending
  /// PGD's random start law (random_delta): "torchattacks" (default), "ball" (uniform in the
  /// ball: SDK 3 and earlier), "sphere", "boundary". APGD under AutoAttack's rules always
  /// starts on the boundary, as AutoAttack.
  std::string start = "torchattacks";
  /// APGD-CE's rules: "autoattack" (fra31/auto-attack's code, the default) or "paper"
  /// (Algorithm 1 as written; SDK 3 and earlier). apgd_ce() says what differs.
  std::string apgd_rules = "autoattack";
};

/// The pieces of one projected gradient step, shared by pgd() here and the `pgd` sampler
/// plugin, so the two cannot drift apart. norm is "linf", "l2", or "l2_unbounded"
/// (normalized L2 steps without a ball). Checked against torchattacks 3.5.1
/// (torchattacks/attacks/pgd.py:54-59,76-78; pgdl2.py:65-72,88-101).
///
/// A random start delta for each sample of x [B, ...]:
///   linf: uniform in [-eps, eps]^d (every law but "boundary");
///   l2 "torchattacks": a direction uniform on the sphere times eps·u, u ~ U[0, 1) per sample
///     (pgdl2.py:65-72; not uniform in the ball: the mean radius is eps / 2);
///   l2 "ball": uniform in the ball, radius eps·u^(1/d);
///   l2 "sphere": eps times a uniform direction (the robustness library's start);
///   "boundary": AutoAttack's start (autopgd_base.py:206-213): L2 eps·n/‖n‖ with n Gaussian,
///     L-inf eps·t/‖t‖∞ with t ~ U(-1, 1)^d.
/// gen: nullptr draws from the global generator; otherwise draws on gen's device.
EBMLAB_API at::Tensor random_delta(const std::string& norm, double eps, const at::Tensor& x, const std::string& start,
                                   at::Generator* gen = nullptr);
/// The step direction: sign(g) (linf) or g / (‖g‖₂ + 1e-10) per sample (l2, l2_unbounded).
EBMLAB_API at::Tensor step_direction(const std::string& norm, const at::Tensor& grad);
/// Onto the eps-ball around center (no ball for l2_unbounded), then, when clamp, into
/// [lo, hi]. Clamping after projecting cannot leave the ball: center lies in the box.
EBMLAB_API at::Tensor project(const std::string& norm, double eps, const at::Tensor& x, const at::Tensor& center, double lo,
                              double hi, bool clamp = true);

/// x [B, ...] -> logits [B, K], differentiable in x (e.g. StepContext::logits).
using LogitsFn = std::function<at::Tensor(const at::Tensor&)>;

/// Projected gradient descent on the cross-entropy, torchattacks convention: random start
/// in the ball (spec.start, default torchattacks' law), step
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
/// spec.apgd_rules = "autoattack" follows fra31/auto-attack's autopgd_base.py, which the
/// field compares against: integer checkpoint windows (:153-155, see apgd_checkpoints),
/// condition 1 as t <= 0.75·window (:171), condition 2 off at the first checkpoint
/// (:314-315), the first window's first step counted against 0 (the unset loss_steps[-1]),
/// the random start on the ball's boundary (:206-213), and after a halving the momentum and
/// the increase count continue from the replaced iterate (:322-324). "paper" is Algorithm 1
/// as written: ceil checkpoints, t < 0.75·window, condition 2 from the first checkpoint,
/// a uniform start in the ball (spec.start), momentum and loss restarting at x_max.
EBMLAB_API at::Tensor apgd_ce(const LogitsFn& f, const at::Tensor& x, const at::Tensor& y, const Spec& s,
                              at::Generator* gen = nullptr);

/// APGD's checkpoints, starting with 0. "autoattack": windows of k_0 = max(int(0.22·N), 1)
/// steps, each next one max(k − max(int(0.03·N), 1), max(int(0.06·N), 1)), cumulated while
/// <= N (autopgd_base.py:153-155, 403-424). "paper": w_j = ceil(p_j · N), p_0 = 0,
/// p_1 = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06), deduplicated, in [0, N].
/// The two agree at N = 100 (22, 41, 57, 70, 80, 87, 93, 99), not at N = 20.
EBMLAB_API std::vector<std::int64_t> apgd_checkpoints(std::int64_t n_iter, const std::string& rules = "autoattack");

}  // namespace ebm::attacks
