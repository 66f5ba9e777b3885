#include "train/evaluator.hpp"

#include <torch/torch.h>

#include "ebmlab/mode_guard.hpp"

#include "store/h5log.hpp"
#include "train/step_context.hpp"

namespace ebm::kernel {

namespace {

/// Every batch of `data` through the model, and each metric's update on it.
void update_metrics(Components& comps, StepState& state, const Split& data, const EvalSetting& when) {
  for (std::int64_t i = 0; i < data.size(); i += when.batch_size) {
    Batch b = data.rows(i, i + when.batch_size);
    EvalBatch eb{b.x, b.y, {}};
    {
      torch::NoGradGuard no_grad;
      eb.logits = comps.model->forward(b.x);
    }
    state.begin(b, when.step, when.epoch, /*evaluating=*/true);
    for (auto& m : comps.metrics) {
      ComponentContext ctx = state.context(m.name);
      try {
        m.object->update(eb, ctx);
        state.flush();
      } catch (const std::exception& e) {
        throw RunError("metric '" + m.name + "' (plugin " + m.plugin + ") failed in the " + when.split + " evaluation at step " +
                       std::to_string(when.step) + ": " + e.what());
      }
    }
  }
}

/// The contract of outputs(): every result and tensor returned is declared (tensors with
/// their shape), and every declared one is returned.
void check_outputs(const Named<Metric>& m, const std::map<std::string, double>& values,
                   const std::map<std::string, at::Tensor>& tensors) {
  const std::string who = "metric '" + m.name + "' (plugin " + m.plugin + ")";
  std::map<std::string, std::vector<std::int64_t>> declared;
  for (auto& o : m.object->outputs()) declared[o.name] = o.shape;
  for (auto& [term, value] : values) {
    auto it = declared.find(term);
    if (it == declared.end() || !it->second.empty())
      throw RunError(who + ": returned undeclared result '" + term + "'; declare it in outputs()");
  }
  for (auto& [term, t] : tensors) {
    auto it = declared.find(term);
    if (it == declared.end() || it->second.empty())
      throw RunError(who + ": returned undeclared tensor '" + term + "'; declare it in outputs() with its shape");
    if (t.sizes().vec() != it->second)
      throw RunError(who + ": tensor '" + term + "' has shape " + c10::str(t.sizes()) + ", not the shape " +
                     c10::str(at::IntArrayRef(it->second)) + " declared in outputs()");
  }
  for (auto& [term, shape] : declared)
    if (!(shape.empty() ? values.count(term) : tensors.count(term)))
      throw RunError(who + ": declares " + (shape.empty() ? "result '" : "tensor '") + term + "' in outputs() but its " +
                     (shape.empty() ? "result()" : "tensors()") + " did not return it; return it, or remove it from outputs()");
}

}  // namespace

void check_metric_contracts(Components& comps, StepState& state, const Split& data, std::int64_t step) {
  if (comps.metrics.empty() || data.size() == 0) return;
  const std::int64_t n = std::min(kContractImages, data.size());
  // Nothing the check does may reach training: no sampler runs (StepState's stand-in mode),
  // nothing is logged, and the global generator is put back.
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  const at::Tensor rng = gen.get_state();
  const Batch b = data.rows(0, n);
  ModeGuard guard(*comps.model, ModelMode::eval);
  EvalBatch eb{b.x, b.y, {}};
  {
    torch::NoGradGuard no_grad;
    eb.logits = comps.model->forward(b.x);
  }
  state.set_stand_in(true);
  state.begin(b, step, 0, /*evaluating=*/true);
  for (auto& m : comps.metrics) {
    std::map<std::string, double> values;
    std::map<std::string, at::Tensor> tensors;
    try {
      m.object->reset();
      ComponentContext ctx = state.context(m.name);
      m.object->update(eb, ctx);
      state.flush();
      values = m.object->result();
      tensors = m.object->tensors();
    } catch (const std::exception&) {
      continue;  // it cannot compute on so few images (FID needs more): its first evaluation checks it
    }
    try {
      check_outputs(m, values, tensors);
    } catch (const RunError& e) {
      state.set_stand_in(false);
      throw RunError("before training, on " + std::to_string(n) + " evaluation images: " + e.what());
    }
  }
  state.set_stand_in(false);
  gen.set_state(rng);
  for (auto& m : comps.metrics) m.object->reset();
}

EvalResults evaluate_metrics(Components& comps, StepState& state, const Split& data, const EvalSetting& when, VariantLog* log) {
  EvalResults out;
  ModeGuard guard(*comps.model, ModelMode::eval);
  for (auto& m : comps.metrics) m.object->reset();
  update_metrics(comps, state, data, when);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - when.start).count();
  if (log) {
    const int id = log->eval_id(when.split + "/ema_weights");
    if (id >= 0) log->append_eval(id, CurveRecord{when.step, when.ema ? 1.0 : 0.0, wall});
  }
  for (auto& m : comps.metrics) {
    const auto tensors = m.object->tensors();
    const auto values = m.object->result();
    check_outputs(m, values, tensors);
    for (auto& [term, t] : tensors) {
      out.tensors[m.name + "/" + term] = t;
      if (!log) continue;
      at::Tensor c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
      log->append_tensor(log->tensor_id("eval/" + when.split + "/" + m.name + "/" + term), when.step, c.data_ptr<float>(),
                         static_cast<std::size_t>(c.numel()));
    }
    for (auto& [term, value] : values) {
      out.values[m.name + "/" + term] = value;
      if (log) log->append_eval(log->eval_id(when.split + "/" + m.name + "/" + term), CurveRecord{when.step, value, wall});
    }
  }
  if (log) log->flush();
  return out;
}

}  // namespace ebm::kernel
