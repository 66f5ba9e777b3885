// Evaluation attacks of the SDK (attacks.hpp): PGD with restarts and APGD-CE.
#include "ebmlab/attacks.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <torch/torch.h>

#include "ebmlab/sampling.hpp"

namespace ebm::attacks {

namespace {

namespace F = torch::nn::functional;
namespace sp = ebm::sampling;

void check(const char* who, const LogitsFn& f, const at::Tensor& x, const at::Tensor& y, const Spec& s) {
  const std::string w = std::string("attacks::") + who + ": ";
  if (!f) throw RunError(w + "no logits function given");
  if (s.norm != "linf" && s.norm != "l2") throw ConfigError(w + "norm must be \"linf\" or \"l2\" (found \"" + s.norm + "\")");
  if (!(s.eps >= 0)) throw ConfigError(w + "eps must be >= 0 (found " + std::to_string(s.eps) + ")");
  if (!(s.alpha >= 0)) throw ConfigError(w + "alpha must be >= 0 (found " + std::to_string(s.alpha) + ")");
  if (s.steps < 0) throw ConfigError(w + "steps must be >= 0 (found " + std::to_string(s.steps) + ")");
  if (s.restarts < 1) throw ConfigError(w + "restarts must be >= 1 (found " + std::to_string(s.restarts) + ")");
  if (!(s.lo < s.hi)) throw ConfigError(w + "the data range needs lo < hi");
  if (!x.defined() || x.dim() < 2 || !y.defined() || y.dim() != 1 || y.size(0) != x.size(0))
    throw RunError(w + "expected x [B, ...] and y [B]");
  if (y.scalar_type() != at::kLong) throw RunError(w + "y must be int64");
  if (s.start != "torchattacks" && s.start != "ball" && s.start != "sphere" && s.start != "boundary")
    throw ConfigError(w + "start must be \"torchattacks\", \"ball\", \"sphere\" or \"boundary\" (found \"" + s.start + "\")");
  if (s.apgd_rules != "autoattack" && s.apgd_rules != "paper")
    throw ConfigError(w + "apgd_rules must be \"autoattack\" or \"paper\" (found \"" + s.apgd_rules + "\")");
}

/// U[0, 1) shaped like x, drawn on the generator's device so a CPU generator gives the
/// same numbers whatever device x lives on.
at::Tensor uniform_like(const at::Tensor& x, at::Generator* gen) {
  if (!gen) return torch::rand_like(x);
  return at::rand(x.sizes(), *gen, x.options().device(gen->device())).to(x.device());
}
at::Tensor normal_like(const at::Tensor& x, at::Generator* gen) {
  if (!gen) return torch::randn_like(x);
  return at::randn(x.sizes(), *gen, x.options().device(gen->device())).to(x.device());
}

/// P_S: onto the eps-ball around x0, then into the data range.
at::Tensor project(const Spec& s, const at::Tensor& xa, const at::Tensor& x0) {
  return attacks::project(s.norm, s.eps, xa, x0, s.lo, s.hi, true);
}
at::Tensor direction(const Spec& s, const at::Tensor& g) { return step_direction(s.norm, g); }

/// The objective at x: per-sample CE (negated when targeted, so it is always ascended),
/// whether the model is fooled, and the input gradient when asked.
struct Eval {
  at::Tensor loss, fooled, grad;  ///< [B], [B] bool, [B, ...] or undefined
};
Eval evaluate(const LogitsFn& f, const at::Tensor& x, const at::Tensor& y, const Spec& s, bool with_grad) {
  Eval e;
  auto objective = [&](const at::Tensor& logits) {
    at::Tensor ce = F::cross_entropy(logits, y, F::CrossEntropyFuncOptions().reduction(torch::kNone));
    return s.targeted ? -ce : ce;
  };
  at::Tensor logits;
  if (with_grad) {
    torch::AutoGradMode enable(true);  // callers may evaluate under NoGradGuard
    at::Tensor xg = x.detach().requires_grad_(true);
    logits = f(xg);
    at::Tensor obj = objective(logits);
    e.grad = sp::input_grad(obj, xg);  // parameters' .grad stay untouched
    e.loss = obj.detach();
    logits = logits.detach();
  } else {
    torch::NoGradGuard no_grad;
    logits = f(x);
    e.loss = objective(logits);
  }
  at::Tensor pred = logits.argmax(1);
  e.fooled = s.targeted ? pred.eq(y) : pred.ne(y);
  return e;
}

}  // namespace

at::Tensor random_delta(const std::string& norm, double eps, const at::Tensor& x, const std::string& start, at::Generator* gen) {
  if (norm == "linf") {
    at::Tensor t = uniform_like(x, gen) * 2 - 1;
    if (start != "boundary") return t * eps;  // torchattacks pgd.py:54-59
    return t / sp::per_sample(t.flatten(1).abs().amax(1), x) * eps;
  }
  at::Tensor dir = sp::normalize_l2(normal_like(x, gen));
  if (start == "sphere" || start == "boundary") return dir * eps;
  at::Tensor u = uniform_like(x.new_empty({x.size(0)}), gen);  // pgdl2.py:65-72: radius eps·u
  if (start == "ball") u = u.pow(1.0 / static_cast<double>(x[0].numel()));
  return dir * sp::per_sample(u * eps, x);
}

at::Tensor step_direction(const std::string& norm, const at::Tensor& grad) {
  return norm == "linf" ? grad.sign() : sp::normalize_l2(grad);
}

at::Tensor project(const std::string& norm, double eps, const at::Tensor& x, const at::Tensor& center, double lo, double hi,
                   bool clamp) {
  at::Tensor out = x;
  if (norm == "linf")
    out = center + (x - center).clamp(-eps, eps);
  else if (norm == "l2")
    out = center + sp::project_l2(x - center, eps);
  return clamp ? out.clamp(lo, hi) : out;
}

namespace {

at::Tensor pick(const at::Tensor& mask, const at::Tensor& a, const at::Tensor& b) {
  return torch::where(sp::per_sample(mask, a), a, b);
}

/// One PGD run from a (random) start; the last iterate.
at::Tensor pgd_run(const LogitsFn& f, const at::Tensor& x0, const at::Tensor& y, const Spec& s, at::Generator* gen) {
  const double alpha = s.alpha > 0 ? s.alpha : 2.5 * s.eps / static_cast<double>(std::max<std::int64_t>(s.steps, 1));
  at::Tensor x = s.random_start ? project(s, x0 + random_delta(s.norm, s.eps, x0, s.start, gen), x0) : x0;
  for (std::int64_t t = 0; t < s.steps; ++t) {
    at::Tensor g = evaluate(f, x, y, s, true).grad;
    x = project(s, x + alpha * direction(s, g), x0);
  }
  return x;
}

/// One APGD run (Croce & Hein 2020, Algorithm 1) on every sample of x0.
struct ApgdRun {
  at::Tensor best_x, best_loss;  ///< highest-objective iterate per sample
  at::Tensor adv_x, fooled;      ///< last fooling iterate (valid where fooled)
};
ApgdRun apgd_run(const LogitsFn& f, const at::Tensor& x0, const at::Tensor& y, const Spec& s, at::Generator* gen) {
  constexpr double kMomentum = 0.75;  // the paper's alpha
  constexpr double kRho = 0.75;       // condition 1's threshold
  const std::int64_t n_iter = s.steps;
  const bool aa = s.apgd_rules == "autoattack";
  const std::vector<std::int64_t> w = apgd_checkpoints(n_iter, s.apgd_rules);

  // x^(0): the input, or a random point on the ball's boundary (AutoAttack) or in it
  // (paper); eta^(0) = 2·eps per sample.
  at::Tensor x = s.random_start ? project(s, x0 + random_delta(s.norm, s.eps, x0, aa ? "boundary" : "ball", gen), x0) : x0;
  at::Tensor eta = torch::full({x0.size(0)}, 2.0 * s.eps, x0.options());
  Eval e = evaluate(f, x, y, s, n_iter > 0);
  at::Tensor loss = e.loss, grad = e.grad;
  ApgdRun r{x, loss, x, e.fooled};
  at::Tensor best_grad = grad;
  at::Tensor x_prev = x;
  at::Tensor increases = torch::zeros({x0.size(0)}, x0.options().dtype(torch::kLong));  // since the last checkpoint
  // AutoAttack starts with reduced_last_check = 1, so condition 2 is off at the first checkpoint.
  at::Tensor best_at_check = loss, halved_last = torch::full({x0.size(0)}, aa, x0.options().dtype(torch::kBool));
  std::size_t j = 1;  // next checkpoint (w[0] = 0)

  for (std::int64_t k = 0; k < n_iter; ++k) {
    // z^(k+1) = P_S(x^(k) + eta·step(grad)); x^(k+1) = P_S(x^(k) + a(z − x^(k)) + (1−a)(x^(k) − x^(k−1))),
    // with a = 1 for the first step (no previous point).
    at::Tensor z = project(s, x + sp::per_sample(eta, x) * direction(s, grad), x0);
    at::Tensor xn = k == 0 ? z : project(s, x + kMomentum * (z - x) + (1 - kMomentum) * (x - x_prev), x0);
    Eval en = evaluate(f, xn, y, s, k + 1 < n_iter);  // the last iterate needs no gradient

    // AutoAttack compares the first step with loss_steps[-1], a row still 0, not with f(x^(0)).
    increases += en.loss.gt(aa && k == 0 ? torch::zeros_like(loss) : loss).to(torch::kInt64);
    // f_max, x_max: the best point so far (and its gradient, to restart from it).
    at::Tensor better = en.loss.gt(r.best_loss);
    r.best_x = pick(better, xn, r.best_x);
    r.best_loss = torch::where(better, en.loss, r.best_loss);
    if (en.grad.defined()) best_grad = pick(better, en.grad, best_grad);
    r.adv_x = pick(en.fooled, xn, r.adv_x);
    r.fooled = r.fooled.logical_or(en.fooled);
    x_prev = x, x = xn, loss = en.loss, grad = en.grad;

    if (j < w.size() && k + 1 == w[j]) {
      if (k + 1 < n_iter) {
        // Condition 1: fewer than rho·(w_j − w_{j−1}) of the steps since the last
        // checkpoint increased the objective. Condition 2: the step size was not halved at
        // the last checkpoint and f_max has not improved since.
        const double span = static_cast<double>(w[j] - w[j - 1]);
        at::Tensor cond1 = aa ? increases.to(torch::kDouble).le(kRho * span) : increases.to(torch::kDouble).lt(kRho * span);
        at::Tensor cond2 = halved_last.logical_not().logical_and(r.best_loss.le(best_at_check));
        at::Tensor halve = cond1.logical_or(cond2);
        // Halve eta and restart from x_max. AutoAttack keeps x^(k) as the previous point (the
        // momentum becomes x_max - x^(k)) and the replaced iterate's loss for the next
        // increase test; the paper restarts both at x_max.
        eta = torch::where(halve, eta * 0.5, eta);
        x = pick(halve, r.best_x, x);
        if (!aa) {
          x_prev = pick(halve, r.best_x, x_prev);
          loss = torch::where(halve, r.best_loss, loss);
        }
        grad = pick(halve, best_grad, grad);
        halved_last = halve;
        best_at_check = r.best_loss;
        increases.zero_();
      }
      ++j;
    }
  }
  return r;
}

/// Runs `run` on the samples not yet fooled, restart after restart; `merge` folds one
/// run's result for the `active` indices into the output.
template <class Run, class Merge>
void restart_loop(const at::Tensor& x0, const at::Tensor& y, std::int64_t restarts, Run run, Merge merge) {
  at::Tensor active = torch::arange(x0.size(0), torch::TensorOptions().dtype(torch::kLong).device(x0.device()));
  for (std::int64_t r = 0; r < restarts && active.numel() > 0; ++r) {
    at::Tensor fooled = merge(active, run(x0.index_select(0, active), y.index_select(0, active)), r + 1 == restarts);
    active = active.masked_select(fooled.logical_not());
  }
}

}  // namespace

std::vector<std::int64_t> apgd_checkpoints(std::int64_t n_iter, const std::string& rules) {
  std::vector<std::int64_t> w = {0};
  if (rules == "autoattack") {
    // Python's int() truncates, as the casts do (0.22·100 = 22.000000000000004 -> 22).
    auto part = [n_iter](double p) {
      return std::max<std::int64_t>(static_cast<std::int64_t>(p * static_cast<double>(n_iter)), 1);
    };
    const std::int64_t k_min = part(0.06), decrease = part(0.03);
    for (std::int64_t k = part(0.22), at = k; n_iter > 0 && at <= n_iter; k = std::max(k - decrease, k_min), at += k)
      w.push_back(at);
    return w;
  }
  // 1e-9 keeps ceil(0.22·100) at 22 despite 0.22·100 = 22.000000000000004 in doubles.
  for (double p_prev = 0.0, p = 0.22; p <= 1.0 + 1e-12;) {
    auto wj = static_cast<std::int64_t>(std::ceil(p * static_cast<double>(n_iter) - 1e-9));
    if (wj > w.back()) w.push_back(std::min(wj, n_iter));
    double next = p + std::max(p - p_prev - 0.03, 0.06);
    p_prev = p, p = next;
  }
  return w;
}

at::Tensor pgd(const LogitsFn& f, const at::Tensor& x, const at::Tensor& y, const Spec& s, at::Generator* gen) {
  check("pgd", f, x, y, s);
  at::Tensor x0 = x.detach();
  at::Tensor out = x0.clone();
  if (s.eps == 0 || x.size(0) == 0) return out;
  // Later restarts only see the samples no run has fooled, so a sample keeps the first
  // fooling run, else the last run.
  auto run = [&](const at::Tensor& xs, const at::Tensor& ys) { return std::make_pair(pgd_run(f, xs, ys, s, gen), ys); };
  auto merge = [&](const at::Tensor& active, const std::pair<at::Tensor, at::Tensor>& r, bool last) {
    out.index_copy_(0, active, r.first);
    if (last) return torch::zeros({active.size(0)}, active.options().dtype(torch::kBool));  // no verdict needed
    return evaluate(f, r.first, r.second, s, false).fooled;
  };
  restart_loop(x0, y, s.restarts, run, merge);
  return out;
}

at::Tensor apgd_ce(const LogitsFn& f, const at::Tensor& x, const at::Tensor& y, const Spec& s, at::Generator* gen) {
  check("apgd_ce", f, x, y, s);
  at::Tensor x0 = x.detach();
  at::Tensor out = x0.clone();
  if (s.eps == 0 || x.size(0) == 0) return out;
  at::Tensor out_loss = torch::full({x.size(0)}, -std::numeric_limits<double>::infinity(), x0.options());
  restart_loop(
      x0, y, s.restarts, [&](const at::Tensor& xs, const at::Tensor& ys) { return apgd_run(f, xs, ys, s, gen); },
      [&](const at::Tensor& active, const ApgdRun& run, bool) {
        // A fooling iterate wins; otherwise the highest objective over all runs.
        at::Tensor prev_loss = out_loss.index_select(0, active);
        at::Tensor take = run.fooled.logical_or(run.best_loss.gt(prev_loss));
        at::Tensor point = pick(run.fooled, run.adv_x, run.best_x);
        out.index_copy_(0, active, pick(take, point, out.index_select(0, active)));
        out_loss.index_copy_(0, active, torch::where(take, run.best_loss, prev_loss));
        return run.fooled;
      });
  return out;
}

}  // namespace ebm::attacks
