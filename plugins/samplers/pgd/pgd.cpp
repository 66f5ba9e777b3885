// sampler "pgd": projected gradient steps, for attacks (ascend the cross-entropy inside an
// eps-ball) and for contrastive samples (descend the energy with unbounded normalized L2
// steps, AT-EBM/DAT), with the AT-EBM/DAT step curriculum. METHODS.md §3, §4, §6.
#include <torch/torch.h>

#include "ebmlab/attacks.hpp"
#include "ebmlab/ebmlab.hpp"

namespace {

namespace F = torch::nn::functional;
namespace sp = ebm::sampling;

class Pgd : public ebm::Sampler {
 public:
  Pgd(const ebm::Params& p, const ebm::BuildContext& b)
      : norm_(p.string("norm")),
        convention_(p.string("convention")),
        keep_best_(p.string("iterate") == "best"),
        objective_(p.string("objective")),
        eps_(p.real("eps")),
        step_size_(p.real("step_size")),
        max_steps_(p.integer("steps")),
        restarts_(p.integer("restarts")),
        targeted_(p.boolean("targeted")),
        clamp_(p.boolean("clamp")),
        random_start_(p.has("random_start") ? p.boolean("random_start") : default_random_start(p)),
        mode_(p.string("model_mode") == "train" ? ebm::ModelMode::train : ebm::ModelMode::eval),
        stream_(p.string("stream")),
        curriculum_(p.string("curriculum")),
        start_steps_(p.integer("start_steps")),
        increment_(p.integer("step_increment")),
        epochs_per_increment_(p.integer("epochs_per_increment")),
        auc_threshold_(p.real("auc_threshold")),
        auc_inclusive_(p.boolean("auc_inclusive")),
        batch_mean_(p.string("auc_average") == "batch_mean"),
        level_epochs_(p.string("epoch_count") == "level"),
        auc_window_(p.integer("auc_window")),
        auc_batches_(p.integer("auc_batches")),
        auc_score_(p.string("auc_score")),
        init_(p, b.data),
        lo_(b.data.lo),
        hi_(b.data.hi),
        classes_(b.data.num_classes) {
    if (targeted_ && objective_ != "ce")
      throw ebm::ConfigError(p.owner() + ": targeted = true needs objective = \"ce\" (found \"" + objective_ + "\")");
    if (curriculum_ == "epochs" && epochs_per_increment_ == 0)
      throw ebm::ConfigError(p.owner() +
                             ": curriculum = \"epochs\" needs epochs_per_increment >= 1 (0 turns the "
                             "scheduled advance off, which only curriculum = \"auc\" can do without)");
    steps_now_ = curriculum_ == "none" ? max_steps_ : std::min(start_steps_, max_steps_);
  }

  /// torchattacks starts attacks at a random point of the ball; contrastive chains
  /// (unbounded, or not started at the batch) start where `init` puts them; TRADES' KL
  /// attack needs its small random start under either convention (the KL gradient is 0 at x).
  static bool default_random_start(const ebm::Params& p) {
    if (p.string("objective") == "kl") return true;
    return p.string("convention") == "torchattacks" && p.string("norm") != "l2_unbounded" && p.string("init") == "batch";
  }

  ebm::ModelMode model_mode() const override { return mode_; }
  ebm::SampleRange sample_range() const override { return clamp_ ? ebm::SampleRange::clamped : ebm::SampleRange::unbounded; }

  std::vector<ebm::OutputSpec> outputs() const override {
    std::vector<ebm::OutputSpec> o = {
        {"steps", {}, "PGD steps used this step (the curriculum's T)"},
        {"objective",
         {},
         "mean objective at the returned samples (with one restart and the torchattacks convention: before the last step)"}};
    if (curriculum_ == "auc") o.push_back({"auc", {}, "AUC separating real data from the samples over the window (auc_score)"});
    return o;
  }

  at::Tensor sample(ebm::StepContext& ctx) override {
    const ebm::Batch& b = ctx.batch(stream_);
    const std::int64_t n = b.x.size(0);
    at::Tensor target = b.y;
    if (targeted_) target = (b.y + torch::randint(1, classes_, {n}, b.y.options())) % classes_;
    at::Tensor clean_probs;
    if (objective_ == "kl") {
      torch::NoGradGuard no_grad;
      clean_probs = torch::softmax(ctx.logits(b.x), 1);
    }
    at::Tensor best, best_obj;
    for (std::int64_t r = 0; r < restarts_; ++r) {
      auto [x, obj] = run_chain(ctx, b, target, clean_probs);
      if (!best.defined()) {
        best = x, best_obj = obj;
        continue;
      }
      auto better = obj.gt(best_obj);
      best = torch::where(sp::per_sample(better, x), x, best);
      best_obj = torch::where(better, obj, best_obj);
    }
    used_ = true;
    ctx.log("steps", static_cast<double>(steps_now_));
    ctx.log("objective", best_obj.mean());
    if (curriculum_ == "auc") track_auc(ctx, b, best);
    return best;
  }

  /// The curriculum only moves in steps that used the sampler (DAT's contrastive sampler
  /// must not climb during stage 1, which never asks for it). As the references: DAT
  /// (xuwangyin/DAT train.py:463-473,685-706) advances T by 1 when the mean of the last
  /// ceil(1000 / batch) per-batch AUCs reaches 0.8, never on time; AT-EBM (xuwangyin/AT-EBMs
  /// train.py:283-293,408-414) when the mean of the last 100 exceeds 0.8, or after 5 full
  /// epochs at the level. Both start each level with an empty window.
  void on_step_end(const ebm::StepStats& s) override {
    const bool used = used_;
    used_ = false;
    if (curriculum_ == "none" || !used) return;
    if (s.stage != stage_) {  // a new stage counts its epochs from its first use
      stage_ = s.stage;
      last_advance_epoch_ = s.epoch;
      level_steps_ = 0;
    }
    ++level_steps_;
    bool advance = false;
    if (epochs_per_increment_ > 0)
      advance = level_epochs_ && s.steps_per_epoch > 0 ? level_steps_ >= epochs_per_increment_ * s.steps_per_epoch
                                                       : s.epoch - last_advance_epoch_ >= epochs_per_increment_;
    if (curriculum_ == "auc") advance = advance || auc_passes();
    if (advance && steps_now_ < max_steps_) {
      steps_now_ = std::min(max_steps_, steps_now_ + increment_);
      last_advance_epoch_ = s.epoch;
      level_steps_ = 0;
      real_scores_ = fake_scores_ = batch_aucs_ = at::Tensor();
    }
  }

  ebm::StateDict state() const override {
    auto empty = torch::zeros({0}, torch::kFloat32);
    return {{"steps_now", torch::tensor(steps_now_)},
            {"last_advance_epoch", torch::tensor(last_advance_epoch_)},
            {"stage", torch::tensor(std::vector<std::uint8_t>(stage_.begin(), stage_.end()), torch::kUInt8)},
            {"auc_real_scores", real_scores_.defined() ? real_scores_ : empty},
            {"auc_sample_scores", fake_scores_.defined() ? fake_scores_ : empty},
            {"auc_batch_values", batch_aucs_.defined() ? batch_aucs_ : empty},
            {"level_steps", torch::tensor(level_steps_)}};
  }
  void load_state(const ebm::StateDict& st) override {
    for (const char* k : {"steps_now", "last_advance_epoch", "stage", "auc_real_scores", "auc_sample_scores"})
      if (!st.count(k)) throw ebm::RunError(std::string("pgd: state lacks '") + k + "'");
    for (const char* k : {"steps_now", "last_advance_epoch"})
      if (st.at(k).numel() != 1) throw ebm::RunError(std::string("pgd: state '") + k + "' must hold one number");
    for (const char* k : {"auc_real_scores", "auc_sample_scores"})
      if (st.at(k).dim() != 1) throw ebm::RunError(std::string("pgd: state '") + k + "' must be a vector of scores");
    steps_now_ = st.at("steps_now").item<std::int64_t>();
    if (steps_now_ < 0 || steps_now_ > max_steps_)
      throw ebm::RunError("pgd: saved curriculum step count " + std::to_string(steps_now_) +
                          " is outside [0, steps = " + std::to_string(max_steps_) + "]");
    last_advance_epoch_ = st.at("last_advance_epoch").item<std::int64_t>();
    auto chars = st.at("stage").to(torch::kUInt8).contiguous();
    stage_.assign(reinterpret_cast<const char*>(chars.data_ptr<std::uint8_t>()), static_cast<std::size_t>(chars.numel()));
    real_scores_ = st.at("auc_real_scores").numel() ? st.at("auc_real_scores").to(torch::kFloat32) : at::Tensor();
    fake_scores_ = st.at("auc_sample_scores").numel() ? st.at("auc_sample_scores").to(torch::kFloat32) : at::Tensor();
    // pgd 1.0's checkpoints have neither: an empty batch window, a level begun at the restore.
    auto it = st.find("auc_batch_values");
    batch_aucs_ = it != st.end() && it->second.numel() ? it->second.to(torch::kFloat32).flatten() : at::Tensor();
    it = st.find("level_steps");
    level_steps_ = it != st.end() && it->second.numel() == 1 ? it->second.item<std::int64_t>() : 0;
  }

 private:
  /// Per-sample objective to ascend. logits [B,K] -> [B].
  at::Tensor objective(const at::Tensor& logits, const at::Tensor& y, const at::Tensor& target,
                       const at::Tensor& clean_probs) const {
    if (objective_ == "ce") {
      auto ce = F::cross_entropy(logits, target, F::CrossEntropyFuncOptions().reduction(torch::kNone));
      return targeted_ ? -ce : ce;
    }
    if (objective_ == "kl") return (clean_probs * (clean_probs.clamp_min(1e-12).log() - torch::log_softmax(logits, 1))).sum(1);
    if (objective_ == "energy") return -ebm::energy(logits);
    if (objective_ == "energy_up") return ebm::energy(logits);
    return -ebm::joint_energy(logits, y);  // joint_energy: ascend f(x)[y]
  }

  // The PGD core (random start, step, projection) is the SDK's (ebmlab/attacks.hpp), which
  // robust_accuracy's attacks use too.
  at::Tensor random_delta(const at::Tensor& x) const {
    if (objective_ == "kl") return torch::randn_like(x) * 0.001;  // TRADES' start
    return ebm::attacks::random_delta(norm_, eps_, x, convention_ == "torchattacks" ? "torchattacks" : "sphere");
  }
  at::Tensor project(const at::Tensor& x, const at::Tensor& center) const {
    return ebm::attacks::project(norm_, eps_, x, center, lo_, hi_, clamp_);
  }

  /// One chain from the configured start; returns the samples and their objective.
  std::pair<at::Tensor, at::Tensor> run_chain(ebm::StepContext& ctx, const ebm::Batch& b, const at::Tensor& target,
                                              const at::Tensor& clean_probs) {
    const std::int64_t n = b.x.size(0);
    at::Tensor center = init_.kind() == "batch" ? b.x.detach() : init_.draw(ctx, n, b.y, stream_);
    at::Tensor x = center;
    if (random_start_) x = project(center + random_delta(center), center);
    // DAT and AT-EBM return the last iterate (xuwangyin/DAT rebm/attacks/adv_attacks.py:54-113,
    // xuwangyin/AT-EBMs pgd_attack.py:26-57), as torchattacks does; iterate = "best" keeps
    // each sample's best objective instead (pgd 1.0's "robustness" convention).
    at::Tensor best = x, best_obj, last_obj;
    for (std::int64_t t = 0; t < steps_now_; ++t) {
      x = x.detach().requires_grad_(true);
      at::Tensor obj = objective(ctx.logits(x), b.y, target, clean_probs);
      at::Tensor g = sp::input_grad(obj, x);
      last_obj = obj.detach();
      if (keep_best_) {
        auto o = obj.detach();
        if (!best_obj.defined())
          best = x.detach(), best_obj = o;
        else {
          auto better = o.gt(best_obj);
          best = torch::where(sp::per_sample(better, x), x.detach(), best);
          best_obj = torch::where(better, o, best_obj);
        }
      }
      at::Tensor step = ebm::attacks::step_direction(norm_, g);
      x = project(x.detach() + step_size_ * step, center);
    }
    x = x.detach();
    // The objective at the returned point costs one more forward pass: only paid when a
    // choice depends on it (restarts, best iterate) or there was no step at all.
    if (restarts_ == 1 && !keep_best_ && last_obj.defined()) return {x, last_obj};
    at::Tensor final_obj;
    {
      torch::NoGradGuard no_grad;
      final_obj = objective(ctx.logits(x), b.y, target, clean_probs);
    }
    if (keep_best_ && best_obj.defined()) {
      auto better = final_obj.ge(best_obj);
      x = torch::where(sp::per_sample(better, x), x, best);
      final_obj = torch::where(better, final_obj, best_obj);
    }
    return {x, final_obj};
  }

  void track_auc(ebm::StepContext& ctx, const ebm::Batch& b, const at::Tensor& samples) {
    torch::NoGradGuard no_grad;
    auto score = [&](const at::Tensor& x) {
      auto logits = ctx.logits(x);
      return auc_score_ == "energy" ? -ebm::energy(logits) : -ebm::joint_energy(logits, b.y);
    };
    // The most recent `keep` rows of a window with `fresh` appended.
    auto window = [](const at::Tensor& pool, const at::Tensor& fresh, std::int64_t keep) {
      at::Tensor all = pool.defined() ? torch::cat({pool, fresh.to(torch::kFloat32)}) : fresh.to(torch::kFloat32);
      return all.size(0) > keep ? all.slice(0, all.size(0) - keep).clone() : all;
    };
    at::Tensor real = score(b.x), fake = score(samples);
    if (batch_mean_) {  // the references' mean of per-batch AUCs over the last auc_batches batches
      batch_aucs_ = window(batch_aucs_, torch::full({1}, sp::auc(real, fake), torch::kFloat32), auc_batches_);
      ctx.log("auc", batch_aucs_.mean());
      return;
    }
    // Scores pooled over the most recent auc_window images of each side (pgd 1.0).
    real_scores_ = window(real_scores_, real, auc_window_);
    fake_scores_ = window(fake_scores_, fake, auc_window_);
    ctx.log("auc", sp::auc(real_scores_, fake_scores_));
  }

  /// Whether the AUC window is full and its value passes the threshold.
  bool auc_passes() const {
    double v = 0;
    if (batch_mean_ && batch_aucs_.defined() && batch_aucs_.numel() >= auc_batches_)
      v = batch_aucs_.mean().item<double>();
    else if (!batch_mean_ && real_scores_.defined() && real_scores_.numel() >= auc_window_)
      v = sp::auc(real_scores_, fake_scores_);
    else
      return false;
    return auc_inclusive_ ? v >= auc_threshold_ : v > auc_threshold_;
  }

  std::string norm_, convention_;
  bool keep_best_;
  std::string objective_;
  double eps_, step_size_;
  std::int64_t max_steps_, restarts_;
  bool targeted_, clamp_, random_start_;
  ebm::ModelMode mode_;
  std::string stream_, curriculum_;
  std::int64_t start_steps_, increment_, epochs_per_increment_;
  double auc_threshold_;
  bool auc_inclusive_, batch_mean_, level_epochs_;
  std::int64_t auc_window_, auc_batches_;
  std::string auc_score_;
  sp::Initializer init_;
  double lo_, hi_;
  std::int64_t classes_;
  // Curriculum state (checkpointed).
  std::int64_t steps_now_ = 0, last_advance_epoch_ = 0, level_steps_ = 0;
  at::Tensor real_scores_, fake_scores_;  ///< the AUC window's pooled scores (auc_average = pooled)
  at::Tensor batch_aucs_;                 ///< the window's per-batch AUCs (auc_average = batch_mean)
  std::string stage_;
  bool used_ = false;
};

ebm::Schema schema() {
  namespace p = ebm::param;
  ebm::Schema s = {
      p::enumeration("norm", {"linf", "l2", "l2_unbounded"},
                     "linf: sign steps in an L-inf ball; l2: normalized steps in an L2 ball; l2_unbounded: normalized "
                     "L2 steps, no ball (AT-EBM/DAT contrastive samples)")
          .set_default("linf"),
      p::real("eps", "radius of the ball in pixel units (Fashion-MNIST L-inf 0.1 is common; CIFAR L2 0.5)")
          .set_default(0.1)
          .range(0, 100),
      p::real("step_size", "step length alpha in pixel units (L2: length of the normalized step)")
          .set_default(0.02)
          .range(0, 100),
      p::integer("steps", "gradient steps (the curriculum's maximum T when a curriculum is on)").set_default(10).range(0, 100000),
      p::integer("restarts", "independent chains; per sample the one with the highest objective is kept")
          .set_default(1)
          .range(1, 1000),
      p::boolean("random_start",
                 "start at a random point of the ball (default: true for torchattacks attacks from the batch "
                 "in a bounded ball and for objective kl; false otherwise, and for robustness)"),
      p::enumeration("convention", {"torchattacks", "robustness"},
                     "torchattacks: uniform random start in the ball; robustness (DAT/AT-EBM code): no random start "
                     "by default, random start on the sphere")
          .set_default("torchattacks"),
      p::enumeration("iterate", {"last", "best"},
                     "the point returned: the last iterate (torchattacks, and the DAT and AT-EBM code) or each "
                     "sample's best objective seen (pgd 1.0's robustness convention)")
          .set_default("last"),
      p::boolean("targeted", "descend the cross-entropy of a random other class instead of ascending the true one")
          .set_default(false),
      p::enumeration("objective", {"ce", "kl", "energy", "energy_up", "joint_energy"},
                     "what the steps increase: ce (attack), kl (TRADES attack), energy (lower E(x): contrastive samples), "
                     "energy_up (raise E(x): AT-EBM's in-distribution steps on real data), joint_energy (lower E(x,y) = "
                     "ascend f(x)[y], DAT's class-conditional samples, y from the stream's batch)")
          .set_default("ce"),
      p::enumeration("model_mode", {"train", "eval"},
                     "model mode while sampling (DAT: train for AT-CE attacks, eval for contrastive)")
          .set_default("eval"),
      p::boolean("clamp", "clamp to the data range after every step").set_default(true),
      p::stream("stream", "data stream giving the batch (and labels)"),
      p::enumeration("curriculum", {"none", "epochs", "auc"},
                     "step curriculum: T grows from start_steps by step_increment every epochs_per_increment epochs "
                     "(epochs), or also earlier when the running AUC passes auc_threshold (auc) — AT-EBM/DAT")
          .set_default("none"),
      p::integer("start_steps", "curriculum: initial T").set_default(0).at_least(0),
      p::integer("step_increment", "curriculum: T grows by this much per advance").set_default(1).at_least(1),
      p::integer("epochs_per_increment",
                 "curriculum: epochs at a level before a scheduled advance (AT-EBM: 5); 0: none, only the AUC "
                 "advances (DAT)")
          .set_default(1)
          .at_least(0),
      p::enumeration("epoch_count", {"level", "stage"},
                     "curriculum: level counts full epochs of steps since the level began (AT-EBM); stage counts the "
                     "stage's epoch boundaries since the last advance (pgd 1.0)")
          .set_default("level"),
      p::real("auc_threshold", "curriculum auc: advance when the window's AUC passes this").set_default(0.8).range(0, 1),
      p::boolean("auc_inclusive", "curriculum auc: pass at AUC >= threshold (DAT) instead of > (AT-EBM)").set_default(false),
      p::enumeration("auc_average", {"batch_mean", "pooled"},
                     "curriculum auc: the mean of per-batch AUCs over auc_batches batches (DAT, AT-EBM), or one AUC of "
                     "scores pooled over auc_window images per side (pgd 1.0)")
          .set_default("batch_mean"),
      p::integer("auc_batches", "curriculum auc, batch_mean: batches in the window (DAT: ceil(1000 / batch) = 8; AT-EBM: 100)")
          .set_default(8)
          .range(1, 1000000),
      p::integer("auc_window", "curriculum auc, pooled: images per side pooled for the AUC").set_default(1000).range(1, 10000000),
      p::enumeration("auc_score", {"energy", "joint_energy"},
                     "curriculum auc: score separating real from samples: -E(x) (logsumexp) or f(x)[y] (DAT's code)")
          .set_default("joint_energy"),
  };
  ebm::sampling::Initializer::add_params(s, "batch");
  return s;
}

}  // namespace

EBMLAB_PLUGIN(ebm::entry<Pgd>(ebm::Kind::sampler, "pgd", "2.0",
                              "projected gradient attacks and contrastive samples, with the AT-EBM/DAT curriculum", schema))
