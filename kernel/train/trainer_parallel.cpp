// The trainer as one rank of a data-parallel group (TrainerSetup::collective): joining the
// group, this rank's share of a batch, and the one all-reduce per step.
#include <torch/torch.h>

#include "data/seeds.hpp"
#include "train/distributed.hpp"
#include "train/step_context.hpp"
#include "train/trainer.hpp"

namespace ebm::kernel {

void Trainer::join(Collective* c) {
  coll_ = c && c->world() > 1 ? c : nullptr;
  if (!coll_) return;
  const std::int64_t bs = cfg_.data.batch_size;
  if (bs % coll_->world() != 0)
    throw ConfigError("[data] batch_size = " + std::to_string(bs) + " cannot be split over " + std::to_string(coll_->world()) +
                      " ranks; use a multiple of the world size");
  for (auto& st : streams_)
    if (st.spec.name != "train" && st.spec.batch_size % coll_->world() != 0)
      throw ConfigError("[data.streams." + st.spec.name + "] batch_size = " + std::to_string(st.spec.batch_size) +
                        " cannot be split over " + std::to_string(coll_->world()) + " ranks");
  const auto seed = static_cast<std::uint64_t>(cfg_.experiment.seed);
  if (coll_->rank() > 0) {
    // Own random streams per rank: augmentation, noise, samplers, replay buffers.
    for (auto& st : streams_) st.gen = at::make_generator<at::CPUGeneratorImpl>(seeds::stream(seed, st.index, coll_->rank()));
    torch::manual_seed(seeds::rank_global(seed, coll_->rank()));
  }
  std::vector<at::Tensor> state;
  for (auto& p : comps_.model->parameters()) state.push_back(p.detach());
  for (auto& b : comps_.model->buffers()) state.push_back(b.detach());
  coll_->broadcast(state);
}

at::Tensor Trainer::shard(const at::Tensor& idx) const {
  if (!coll_) return idx;
  const std::int64_t per = idx.size(0) / coll_->world();
  return idx.slice(0, coll_->rank() * per, (coll_->rank() + 1) * per);
}

bool Trainer::stop_requested() const { return coll_ ? stop_agreed_ : g_stop_signal.load() != 0; }

void Trainer::reduce_step(at::Tensor& total) {
  auto params = comps_.model->parameters();
  const auto& pending = ctx_->pending();
  std::int64_t n = 0;
  for (auto& p : params) n += p.numel();
  // One buffer: every gradient, then the logged terms, the total loss and the stop flag.
  at::Tensor flat = torch::zeros({n + static_cast<std::int64_t>(pending.size()) + 2}, torch::kFloat32);
  std::int64_t at = 0;
  for (auto& p : params) {
    if (p.grad().defined()) flat.slice(0, at, at + p.numel()).copy_(p.grad().reshape({-1}));
    at += p.numel();
  }
  auto extra = flat.accessor<float, 1>();
  for (std::size_t i = 0; i < pending.size(); ++i)
    extra[n + static_cast<std::int64_t>(i)] = static_cast<float>(pending[i].second);
  extra[flat.size(0) - 2] = static_cast<float>(total.item<double>());
  extra[flat.size(0) - 1] = g_stop_signal.load() ? 1.0f : 0.0f;
  coll_->allreduce_sum(flat);
  const bool stop = flat[flat.size(0) - 1].item<float>() > 0;
  flat.div_(static_cast<double>(coll_->world()));
  at = 0;
  for (auto& p : params) {
    if (p.grad().defined()) p.mutable_grad().copy_(flat.slice(0, at, at + p.numel()).view_as(p));
    at += p.numel();
  }
  std::vector<double> values;
  for (std::size_t i = 0; i < pending.size(); ++i) values.push_back(flat[n + static_cast<std::int64_t>(i)].item<double>());
  ctx_->commit(values);
  total = torch::tensor(flat[flat.size(0) - 2].item<double>(), torch::kFloat64);
  stop_agreed_ = stop;
}

}  // namespace ebm::kernel
