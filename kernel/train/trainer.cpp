#include "train/trainer.hpp"

#include <malloc.h>

#include <cmath>
#include <functional>
#include <sstream>

#include <torch/torch.h>

#include "ebmlab/mode_guard.hpp"

#include "data/augment.hpp"
#include "data/seeds.hpp"
#include "store/sample_record.hpp"
#include "train/distributed.hpp"
#include "train/evaluator.hpp"
#include "train/optimization.hpp"
#include "train/services.hpp"
#include "train/step_context.hpp"

namespace ebm::kernel {

std::atomic<int> g_stop_signal{0};

void configure_allocator() {
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
}

Trainer::Trainer(const VariantConfig& cfg, Components& comps, const Dataset& data, const TrainerSetup& setup)
    : cfg_(cfg),
      comps_(comps),
      device_(setup.device),
      data_(on_device(data, setup.device)),
      log_(setup.log),
      progress_(setup.progress),
      start_(std::chrono::steady_clock::now()),
      checkpoint_dir_(setup.checkpoint_dir) {
  comps_.model->to(setup.device);
  Services* services = setup.services;
  if (!services) services = (no_services_ = std::make_unique<NoServices>()).get();
  ctx_ = std::make_unique<StepState>(
      comps_, data_, log_, start_, [this](const std::string& s) { return draw(s); }, *services);
  const auto seed = static_cast<std::uint64_t>(cfg_.experiment.seed);
  for (std::size_t i = 0; i < cfg_.streams.size(); ++i) {
    Stream& st = streams_.emplace_back();
    st.spec = cfg_.streams[i];
    st.index = static_cast<std::int64_t>(i);
    st.gen = at::make_generator<at::CPUGeneratorImpl>(seeds::stream(seed, st.index));
  }
  if (log_) {
    loss_curve_ = log_->curve_id("train/loss");
    lr_curve_ = log_->curve_id("train/lr");
  }
  if (setup.resume) {
    restore(*setup.resume, setup.resume_source);
    // Wall times continue from the last one the log kept.
    start_ = std::chrono::steady_clock::now() -
             std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(setup.wall_offset));
    ctx_->set_start(start_);
  }
  join(setup.collective);
}

Trainer::~Trainer() = default;

Batch Trainer::prepare(Stream& s, Batch b) {
  b.x = augment(b.x, s.spec.augment, s.spec.crop_padding, data_.info.lo, data_.info.hi, s.gen);
  if (s.spec.noise > 0) b.x = b.x + (torch::randn(b.x.sizes(), s.gen) * s.spec.noise).to(b.x.device());
  return b;
}

Batch Trainer::draw(const std::string& name) {
  auto it = std::find_if(streams_.begin(), streams_.end(), [&](const Stream& s) { return s.spec.name == name; });
  if (it == streams_.end() || name == "train") {
    std::string names;
    for (auto& s : streams_) names += (names.empty() ? "" : ", ") + s.spec.name;
    throw RunError("no data stream named '" + name + "' (declared: " + names + "; add [data.streams." + name + "])");
  }
  auto source = data_.sources.find(name);
  const Split& from = source == data_.sources.end() ? data_.train : source->second;
  const std::int64_t n = from.size(), bs = std::min(it->spec.batch_size, n), per_epoch = n / bs;
  const std::int64_t epoch = it->batches / per_epoch, b = it->batches % per_epoch;
  if (it->perm_epoch != epoch) {
    it->perm = epoch_order(it->index, epoch);
    it->perm_epoch = epoch;
  }
  ++it->batches;
  return prepare(*it, from.take(shard(it->perm.slice(0, b * bs, (b + 1) * bs))));
}

at::Tensor Trainer::epoch_order(std::int64_t stream, std::int64_t epoch) const {
  const auto seed = static_cast<std::uint64_t>(cfg_.experiment.seed);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seeds::epoch_order(seed, stream, epoch));
  const auto& name = stream >= 0 ? streams_[static_cast<std::size_t>(stream)].spec.name : std::string("train");
  auto source = data_.sources.find(name);
  return torch::randperm(source == data_.sources.end() ? data_.train.size() : source->second.size(), gen, torch::kInt64);
}

bool Trainer::load_ema_into_model() {
  if (ema_.empty()) return false;
  load_average(ema_, *comps_.model);
  return true;
}

std::string Trainer::divergence(double loss) const {
  const StageSpec& st = cfg_.stages[stage_];
  std::ostringstream why;
  why.precision(6);
  // A non-finite term first: it names the plugin that produced it.
  for (auto& [key, v] : ctx_->terms()) {
    if (std::isfinite(v)) continue;
    why << key << " = " << v << " is not finite";
    const std::string who = key.substr(0, key.find('/'));
    for (auto& l : comps_.stage_losses[stage_])
      if (l.name == who) why << " (loss plugin " << l.plugin << ")";
    if (auto it = comps_.sampler_plugins.find(who); it != comps_.sampler_plugins.end())
      why << " (sampler plugin " << it->second << ")";
    break;
  }
  if (why.str().empty() && (!std::isfinite(loss) || std::abs(loss) > st.loss_bound))
    why << "loss " << loss << (std::isfinite(loss) ? " exceeds loss_bound " + std::to_string(st.loss_bound) : " is not finite");
  for (auto& [key, v] : ctx_->terms()) {
    if (!why.str().empty()) break;
    if (comps_.energy_terms.count(key) && std::abs(v) > st.energy_bound)
      why << key << " = " << v << " exceeds energy_bound " << st.energy_bound;
  }
  if (why.str().empty()) return "";
  why << " at step " << global_step_ + 1 << " (stage " << st.name << "); last finite loss " << last_finite_loss_;
  for (auto& [key, v] : last_finite_) why << ", " << key << " " << v;
  return why.str();
}

void Trainer::log_curve(const std::string& name, double value) {
  int id = name == "train/loss" ? loss_curve_ : lr_curve_;
  if (!log_ || id < 0) return;
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  log_->append_curve(id, CurveRecord{global_step_, value, wall});
}

void Trainer::begin_stage(std::size_t index) {
  stage_ = index;
  const StageSpec& st = cfg_.stages[index];
  optimizer_ = make_optimizer(st.optimizer, comps_.model->parameters());
  if (!st.init.empty()) load_model_weights(*comps_.model, read_checkpoint(st.init), st.init);
  comps_.model->set_norm_frozen(st.norm_mode == "frozen");
  ema_.clear();  // each stage averages from its own starting weights
  comps_.model->train();
  steps_per_epoch_ = std::max<std::int64_t>(data_.train.size() / cfg_.data.batch_size, 1);
  stage_steps_ = st.steps > 0 ? st.steps : st.epochs * steps_per_epoch_;
  step_in_stage_ = 0;
}

double Trainer::step(const Batch& batch) {
  const StageSpec& st = cfg_.stages[stage_];
  double lr = learning_rate(st.optimizer, st.schedule, step_in_stage_, stage_steps_);
  for (auto& g : optimizer_->param_groups()) g.options().set_lr(lr);
  const std::int64_t epoch = step_in_stage_ / steps_per_epoch_;
  ctx_->begin(batch, global_step_, epoch);
  if (coll_) ctx_->set_deferred(true);
  at::Tensor total;
  for (auto& l : comps_.stage_losses[stage_]) {
    ComponentContext ctx = ctx_->context(l.name);
    const std::string who = "loss '" + l.name + "' (plugin " + l.plugin + ")";
    at::Tensor v;
    try {
      v = l.object->compute(ctx);
    } catch (const std::exception& e) {
      throw RunError(who + " failed at step " + std::to_string(global_step_) + ": " + e.what());
    }
    if (!v.defined() || v.dim() != 0)
      throw RunError(who + " returned a tensor of shape " + (v.defined() ? shape_str(v.sizes()) : std::string("(undefined)")) +
                     " at step " + std::to_string(global_step_) + "; expected a scalar (0-d) loss");
    ctx.log("loss", v);
    total = total.defined() ? total + l.weight * v : l.weight * v;
  }
  ctx_->flush();
  if (coll_) {
    // Every rank must agree on divergence, so it is judged on the averaged values.
    optimizer_->zero_grad();
    total.backward();
    reduce_step(total);
    detail_ = divergence(total.item<double>());
    if (!detail_.empty()) return total.item<double>();
  } else {
    // A diverged step never reaches the weights or their average.
    detail_ = divergence(total.item<double>());
    if (!detail_.empty()) return total.item<double>();
    // Zeroed here, after the losses ran, so nothing a sampler did leaks into the update.
    optimizer_->zero_grad();
    total.backward();
  }
  if (st.grad_clip > 0) torch::nn::utils::clip_grad_norm_(comps_.model->parameters(), st.grad_clip);
  optimizer_->step();
  update_average(ema_, *comps_.model, average_decay(st.ema, st.ema_warmup, step_in_stage_));
  double loss = total.item<double>();
  log_curve("train/loss", loss);
  log_curve("train/lr", lr);
  StepStats stats{global_step_ + 1, epoch, st.name, loss, ctx_->terms(), steps_per_epoch_};
  for (auto& l : comps_.stage_losses[stage_]) l.object->on_step_end(stats);
  for (auto& [name, s] : comps_.samplers) s->on_step_end(stats);
  ++step_in_stage_;
  ++global_step_;
  const std::int64_t every = cfg_.log.samples_every;
  if (every > 0 && global_step_ % every == 0) keep_samples();
  return loss;
}

void Trainer::keep_samples() {
  // Labelled with the step that drew them, as that step's curves are.
  for (auto& [name, x] : ctx_->memo())
    record_samples(log_, checkpoint_dir_, name, x, cfg_.log.samples_count, global_step_ - 1, data_.info);
}

at::Tensor Trainer::run_sampler(const std::string& sampler, const Batch& batch, std::map<std::string, double>* terms) {
  ctx_->begin(batch, global_step_, std::max<std::int64_t>(step_in_stage_ - 1, 0) / steps_per_epoch_, /*evaluating=*/true);
  at::Tensor out = ctx_->context("sample").samples(sampler);
  ctx_->flush();
  if (terms) *terms = ctx_->terms();
  return out;
}

std::map<std::string, double> Trainer::evaluate(const std::string& split, const std::string& weights) {
  if (coll_) {
    // Rank 0 evaluates the whole split (as a single process); the others wait for it. The
    // barrier is never in a destructor: a rank that died makes it throw, and that must end
    // this rank with the error, not with std::terminate.
    Collective* c = coll_;
    std::map<std::string, double> r;
    if (c->rank() == 0) {
      coll_ = nullptr;
      struct Back {
        Collective*& slot;
        Collective* c;
        ~Back() { slot = c; }
      } back{coll_, c};
      r = evaluate(split, weights);
    }
    c->barrier();
    return r;
  }
  const std::string w = weights.empty() ? cfg_.stages[stage_].eval_weights : weights;
  if (w == "ema" && ema_.empty() && !weights.empty())
    throw ConfigError("--weights ema: this checkpoint holds no weight average (set ema in the stage to keep one)");
  if (w != "ema" || ema_.empty()) return evaluate_now(split, false);
  std::vector<at::Tensor> raw;
  for (auto& t : averaged_tensors(*comps_.model)) raw.push_back(t.detach().clone());
  load_ema_into_model();
  struct Restore {
    torch::nn::Module& m;
    std::vector<at::Tensor>& raw;
    ~Restore() { load_average(raw, m); }
  } restore{*comps_.model, raw};
  return evaluate_now(split, true);
}

std::map<std::string, double> Trainer::evaluate_now(const std::string& split, bool ema) {
  const Split& data = split == "test" ? data_.test : data_.val;
  last_tensors_.clear();
  last_used_ema_ = ema;
  if (comps_.metrics.empty() || data.size() == 0) return {};
  const std::int64_t epoch = std::max<std::int64_t>(step_in_stage_ - 1, 0) / steps_per_epoch_;
  const EvalSetting when{split, cfg_.data.eval_batch_size, global_step_, epoch, ema, start_};
  EvalResults r = evaluate_metrics(comps_, *ctx_, data, when, log_);
  last_tensors_ = std::move(r.tensors);
  return r.values;
}

namespace {
std::string summary(const std::map<std::string, double>& r) {
  std::string s;
  for (auto& [k, v] : r) s += "  " + k + " " + std::to_string(v);
  return s;
}
}  // namespace

std::string Trainer::run() {
  const std::int64_t bs = cfg_.data.batch_size, n = data_.train.size();
  if (n < bs)
    throw DataError("[data] batch_size = " + std::to_string(bs) + " exceeds the " + std::to_string(n) + " training samples");
  const std::int64_t flush_every = cfg_.log.flush_every, every = cfg_.checkpoint.every;
  const std::int64_t per_epoch = n / bs;
  check_metric_contracts(comps_, *ctx_, data_.val.size() > 0 ? data_.val : data_.test, global_step_);
  // A restored trainer continues inside the stage and epoch its checkpoint was taken in.
  const std::size_t first = resumed_ ? stage_ : 0;
  for (std::size_t si = first; si < cfg_.stages.size(); ++si) {
    if (!(resumed_ && si == first)) begin_stage(si);
    const StageSpec& st = cfg_.stages[si];
    if (step_in_stage_ >= stage_steps_) continue;  // restored at the end of this stage
    progress_->start_stage(cfg_.name, st.name, stage_steps_);
    at::Tensor perm;
    std::int64_t perm_epoch = -1;
    while (step_in_stage_ < stage_steps_) {
      const std::int64_t epoch = step_in_stage_ / per_epoch, b = step_in_stage_ % per_epoch;
      if (perm_epoch != epoch) {
        // Stage si's epochs are "stream" index -1 - si of the epoch orders.
        perm = epoch_order(-1 - static_cast<std::int64_t>(si), epoch);
        perm_epoch = epoch;
      }
      if (stop_requested()) {
        progress_->finish_stage();
        // Everything so far is kept: `ebmlab run --resume` continues from here.
        save_checkpoint("ckpt-" + std::to_string(global_step_) + ".h5");
        return "interrupted";
      }
      auto idx = shard(perm.slice(0, b * bs, (b + 1) * bs));
      double loss = step(prepare(streams_.front(), data_.train.take(idx)));
      progress_->update(step_in_stage_, loss);
      if (!detail_.empty()) {
        progress_->finish_stage();
        progress_->message(cfg_.name + ": diverged: " + detail_);
        if (log_) log_->flush();
        return "diverged";
      }
      last_finite_loss_ = loss;
      last_finite_ = ctx_->terms();
      if (log_ && global_step_ % flush_every == 0) log_->flush();
      const bool epoch_end = step_in_stage_ % per_epoch == 0 || step_in_stage_ == stage_steps_;
      if (st.eval_every > 0 ? step_in_stage_ % st.eval_every == 0 : epoch_end) {
        auto r = evaluate("val");
        after_validation(r);
        const std::string when = st.eval_every > 0 ? " step " + std::to_string(step_in_stage_)
                                                   : " epoch " + std::to_string((step_in_stage_ - 1) / per_epoch);
        if (!r.empty()) progress_->message(cfg_.name + "/" + st.name + when + " val:" + summary(r));
      }
      // Taken after the step's evaluations, so a resumed run repeats none and misses none.
      if (every > 0 && global_step_ % every == 0 && step_in_stage_ < stage_steps_)
        save_checkpoint("ckpt-" + std::to_string(global_step_) + ".h5");
    }
    save_checkpoint("ckpt-" + std::to_string(global_step_) + ".h5");
    progress_->finish_stage();
  }
  auto test = evaluate("test");
  if (!test.empty()) progress_->message(cfg_.name + " test:" + summary(test));
  return "completed";
}

}  // namespace ebm::kernel
