// The conformance checks of the testing library (include/ebmlab/testing.hpp), kind by kind:
// the contract docs/writing-a-plugin.md states, checked on real kernel objects. The in-tree
// suites (tests/unit/test_*.cpp) run every loaded plugin through these functions.
#include <cmath>
#include <sstream>

#include <torch/torch.h>

#include "ebmlab/testing.hpp"

#include "testing/registry.hpp"
#include "train/model.hpp"

namespace ebm::testing {

namespace {

/// A report whose subject names the plugin and its settings.
Report start(Kind kind, const std::string& plugin, const std::string& body) {
  std::string settings = body;
  for (char& c : settings)
    if (c == '\n') c = ';';
  return Report{std::string(kind_name(kind)) + " '" + plugin + "'" + (settings.empty() ? "" : " {" + settings + "}"), {}};
}

void expect(Report& r, bool ok, const std::string& what) {
  if (!ok) r.failures.push_back(what);
}

/// Runs `body`, turning an exception into a failure (the plugin threw where it must not).
template <class F>
void guarded(Report& r, const std::string& where, F&& body) {
  try {
    body();
  } catch (const std::exception& e) {
    r.failures.push_back(where + " threw: " + e.what());
  }
}

std::vector<bool> modes(torch::nn::Module& m) {
  std::vector<bool> out;
  for (auto& sub : m.modules(false)) out.push_back(sub->is_training());
  return out;
}

bool no_parameter_gradients(torch::nn::Module& m) {
  for (auto& p : m.parameters())
    if (p.grad().defined() && p.grad().abs().sum().item<double>() != 0.0) return false;
  return true;
}

void check_declared_terms_logged(Report& r, const Component& c, const Harness& h) {
  for (auto& o : c.outputs())
    if (o.shape.empty()) expect(r, h.logged().count(o.name) > 0, "declares term '" + o.name + "' but did not log it");
}

void sampler_checks(Report& r, const std::string& plugin, const std::string& body) {
  Harness h(ToyData::images, 1);
  // A frozen normalization inside a training model: the sampler must leave every flag as it was.
  auto& model = dynamic_cast<kernel::Model&>(h.model());
  model.train();
  model.set_norm_frozen(true);
  const std::vector<bool> before = modes(model);
  auto sampler = h.make<Sampler>(Kind::sampler, plugin, body);
  torch::manual_seed(5);
  const at::Tensor a = sampler->sample(h.context());
  const DataInfo& info = h.data();
  expect(r, a.sizes() == h.batch().x.sizes(),
         "samples have shape " + c10::str(a.sizes()) + ", expected the batch's " + c10::str(h.batch().x.sizes()));
  expect(r, torch::isfinite(a).all().item<bool>(), "samples are not all finite");
  expect(r, !a.requires_grad(), "samples are not detached (requires_grad)");
  if (sampler->sample_range() != SampleRange::unbounded) {
    const double lo = a.min().item<double>(), hi = a.max().item<double>();
    expect(r, lo >= info.lo && hi <= info.hi,
           "sample_range() promises the data range [" + number_text(info.lo) + ", " + number_text(info.hi) +
               "] but samples lie in [" + number_text(lo) + ", " + number_text(hi) + "]");
  }
  expect(r, no_parameter_gradients(model), "left gradients on model parameters");
  expect(r, modes(model) == before, "did not restore every module's train/eval flag");
  auto again = h.make<Sampler>(Kind::sampler, plugin, body);
  torch::manual_seed(5);
  expect(r, torch::equal(again->sample(h.context()), a), "a fresh instance at the same seed gave other samples");
  const StateDict st = sampler->state();
  auto fresh = h.make<Sampler>(Kind::sampler, plugin, body);
  fresh->load_state(st);
  const StateDict st2 = fresh->state();
  expect(r, st2.size() == st.size(), "state() after load_state(state()) has another number of entries");
  for (auto& [k, v] : st)
    expect(r, st2.count(k) && st2.at(k).sizes() == v.sizes() && torch::equal(st2.at(k), v),
           "state entry '" + k + "' differs after load_state(state())");
  check_declared_terms_logged(r, *sampler, h);
}

void loss_checks(Report& r, const std::string& plugin, const std::string& body) {
  Harness h(ToyData::points, 3);
  h.batch() = {torch::tensor({{0.2, 0.9}, {0.6, 0.4}, {0.8, 0.1}}), torch::tensor({0, 2, 1}, torch::kInt64)};
  auto loss = h.make<Loss>(Kind::loss, plugin, body);
  torch::manual_seed(7);
  at::Tensor v = loss->compute(h.context());
  expect(r, v.dim() == 0, "the loss has shape " + c10::str(v.sizes()) + ", expected a 0-d tensor");
  if (v.dim() != 0) return;
  expect(r, std::isfinite(v.item<double>()), "the loss is not finite");
  h.model().zero_grad();
  v.backward();
  double g = 0;
  for (auto& p : h.model().parameters())
    if (p.grad().defined()) g += p.grad().abs().sum().item<double>();
  expect(r, g > 0, "no gradient reaches the model's parameters");
  check_declared_terms_logged(r, *loss, h);
  torch::manual_seed(7);
  const double again = loss->compute(h.context()).item<double>();
  expect(r, std::abs(again - v.item<double>()) <= 1e-6 * (1 + std::abs(again)),
         "a second computation on the same step gave " + number_text(again) + ", not " + number_text(v.item<double>()));
}

/// reset, two batches of 8 at seed 11, result: one metric evaluation as the kernel runs it.
std::map<std::string, double> evaluate(Metric& m, Harness& h) {
  m.reset();
  torch::manual_seed(11);
  for (int i = 0; i < 2; ++i) {
    at::Tensor x = torch::rand({8, 2});
    at::Tensor y = torch::randint(0, h.data().num_classes, {8}, torch::kInt64);
    at::Tensor logits;
    {
      torch::NoGradGuard no_grad;
      logits = h.logits(x);
    }
    h.next_step(i);
    m.update({x, y, logits}, h.context());
  }
  return m.result();
}

void metric_checks(Report& r, const std::string& plugin, const std::string& body) {
  Harness h(ToyData::points, 3);
  h.model().train();
  auto m = h.make<Metric>(Kind::metric, plugin, body);
  std::map<std::string, std::vector<std::int64_t>> declared;
  for (auto& o : m->outputs()) declared[o.name] = o.shape;
  const auto results = evaluate(*m, h);
  for (auto& [k, v] : results) {
    expect(r, declared.count(k) && declared.at(k).empty(), "returned result '" + k + "' not declared as a scalar in outputs()");
    expect(r, std::isfinite(v), "result '" + k + "' = " + number_text(v) + " is not finite");
  }
  const auto tensors = m->tensors();
  for (auto& [k, t] : tensors) {
    expect(r, declared.count(k) && t.sizes().vec() == declared.at(k),
           "returned tensor '" + k + "' of shape " + c10::str(t.sizes()) + " not declared with that shape in outputs()");
    expect(r, torch::isfinite(t).all().item<bool>(), "tensor '" + k + "' is not finite");
  }
  for (auto& [k, shape] : declared)
    expect(r, shape.empty() ? results.count(k) > 0 : tensors.count(k) > 0, "declares '" + k + "' but did not return it");
  expect(r, h.model().is_training(), "left the model in eval mode");
  bool grads = false;
  for (auto& p : h.model().parameters()) grads = grads || p.grad().defined();
  expect(r, !grads, "left gradients on model parameters");
  auto again = h.make<Metric>(Kind::metric, plugin, body);
  expect(r, evaluate(*again, h) == results, "a fresh instance at the same seed gave other results");
}

/// Running statistics of a model's buffers (not, e.g., a power iteration's vector).
std::vector<at::Tensor> statistics(torch::nn::Module& m) {
  std::vector<at::Tensor> out;
  for (auto& b : m.named_buffers())
    if (b.key().find("running") != std::string::npos) out.push_back(b.value().clone());
  return out;
}

void model_checks(Report& r, const std::string& bb, const std::string& bb_body, const std::string& norm,
                  const std::string& norm_body) {
  const DataInfo info = toy_info(ToyData::images);
  torch::manual_seed(0);
  auto model = build_model(bb, bb_body, norm, norm_body, info);
  model->train();
  auto x = torch::rand({4, 1, 12, 12}).requires_grad_(true);
  auto logits = model->forward(x);
  expect(r, logits.sizes() == at::IntArrayRef({4, 10}), "logits have shape " + c10::str(logits.sizes()) + ", expected [4, 10]");
  expect(r, torch::isfinite(logits).all().item<bool>(), "logits are not finite");
  logits.pow(2).sum().backward();
  expect(r, x.grad().defined() && x.grad().abs().sum().item<double>() > 0, "no gradient reaches the input");
  for (auto& p : model->named_parameters())
    expect(r, p.value().grad().defined(), "no gradient reaches parameter '" + p.key() + "'");
}

void frozen_checks(Report& r, const std::string& norm, const std::string& norm_body) {
  const DataInfo info = toy_info(ToyData::images);
  auto model = build_model("convnet", "channels = [4]\nhidden = 8", norm, norm_body, info);
  model->train();
  model->set_norm_frozen(true);
  model->train();  // the trainer calls train() on the whole model: frozen layers stay in eval
  const auto before = statistics(*model);
  for (int i = 0; i < 3; ++i) model->forward(torch::rand({8, 1, 12, 12}) * 0.5 + 0.5);
  const auto after = statistics(*model);
  bool same = true;
  for (std::size_t i = 0; i < before.size(); ++i) same = same && torch::equal(before[i], after[i]);
  expect(r, same, "frozen, it changed its running statistics");
  if (before.empty()) return;
  model->set_norm_frozen(false);
  model->train();
  model->forward(torch::rand({8, 1, 12, 12}) * 0.5 + 0.5);
  const auto now = statistics(*model);
  bool moved = false;
  for (std::size_t i = 0; i < before.size(); ++i) moved = moved || !torch::equal(before[i], now[i]);
  expect(r, moved, "trainable, its running statistics did not move in train mode");
}

}  // namespace

Report check_sampler(const std::string& plugin, const std::string& body) {
  Report r = start(Kind::sampler, plugin, body);
  guarded(r, "the sampler", [&] { sampler_checks(r, plugin, body); });
  return r;
}

Report check_loss(const std::string& plugin, const std::string& body) {
  Report r = start(Kind::loss, plugin, body);
  guarded(r, "the loss", [&] { loss_checks(r, plugin, body); });
  return r;
}

Report check_metric(const std::string& plugin, const std::string& body) {
  Report r = start(Kind::metric, plugin, body);
  guarded(r, "the metric", [&] { metric_checks(r, plugin, body); });
  return r;
}

Report check_model(const std::string& backbone, const std::string& backbone_body, const std::string& norm,
                   const std::string& norm_body) {
  Report r = start(Kind::backbone, backbone, backbone_body);
  r.subject += " with normalization '" + norm + "'" + (norm_body.empty() ? "" : " {" + norm_body + "}");
  guarded(r, "the model", [&] { model_checks(r, backbone, backbone_body, norm, norm_body); });
  return r;
}

Report check_backbone(const std::string& plugin, const std::string& body) {
  Report r = start(Kind::backbone, plugin, body);
  for (const std::string norm : {"none", "batch"}) {
    Report one = check_model(plugin, body, norm, "");
    for (auto& f : one.failures) r.failures.push_back("with " + norm + ": " + f);
  }
  return r;
}

Report check_normalization(const std::string& plugin, const std::string& body) {
  Report r = start(Kind::normalization, plugin, body);
  Report with = check_model("convnet", "channels = [4]\nhidden = 8", plugin, body);
  r.failures = with.failures;
  guarded(r, "the normalization", [&] { frozen_checks(r, plugin, body); });
  return r;
}

Report check(Kind kind, const std::string& plugin, const std::string& body) {
  switch (kind) {
    case Kind::sampler:
      return check_sampler(plugin, body);
    case Kind::loss:
      return check_loss(plugin, body);
    case Kind::metric:
      return check_metric(plugin, body);
    case Kind::backbone:
      return check_backbone(plugin, body);
    case Kind::normalization:
      return check_normalization(plugin, body);
  }
  return start(kind, plugin, body);
}

}  // namespace ebm::testing
