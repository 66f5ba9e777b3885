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

}  // namespace

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
    for (auto& [term, t] : m.object->tensors()) {
      out.tensors[m.name + "/" + term] = t;
      if (!log) continue;
      int id = log->tensor_id("eval/" + when.split + "/" + m.name + "/" + term);
      if (id < 0) throw RunError(m.name + ": returned undeclared tensor '" + term + "'; declare it in outputs() with its shape");
      at::Tensor c = t.detach().to(torch::kFloat32).contiguous();
      if (!log->tensor_shape_is(id, c.sizes().vec()))
        throw RunError(m.name + ": tensor '" + term + "' has shape " + c10::str(c.sizes()) +
                       ", not the shape declared in outputs()");
      log->append_tensor(id, when.step, c.data_ptr<float>(), static_cast<std::size_t>(c.numel()));
    }
    for (auto& [term, value] : m.object->result()) {
      out.values[m.name + "/" + term] = value;
      if (!log) continue;
      int id = log->eval_id(when.split + "/" + m.name + "/" + term);
      if (id < 0) throw RunError(m.name + ": returned undeclared result '" + term + "'; declare it in outputs()");
      log->append_eval(id, CurveRecord{when.step, value, wall});
    }
  }
  if (log) log->flush();
  return out;
}

}  // namespace ebm::kernel
