// The testing library's harness (include/ebmlab/testing.hpp): a registry of ebmlab's own
// plugins plus EBMLAB_PLUGIN_PATH, a kernel Model, and a step context over a toy data set.
#include <cstdlib>
#include <filesystem>

#include <boost/dll/runtime_symbol_info.hpp>
#include <torch/torch.h>

#include "ebmlab/testing.hpp"

#include "config/descriptor.hpp"
#include "config/validate.hpp"
#include "loader/registry.hpp"
#include "testing/registry.hpp"
#include "train/model.hpp"

namespace ebm::testing {

namespace fs = std::filesystem;

std::string Report::text() const {
  std::string s = subject + (ok() ? ": conforms" : ":");
  for (auto& f : failures) s += "\n  " + f;
  return s;
}

kernel::Registry& mutable_registry() {
  static kernel::Registry* r = [] {
    auto* reg = new kernel::Registry();
    // ebmlab's own plugins: build/plugins beside build/lib, or <prefix>/lib/ebmlab/plugins.
    const fs::path here = boost::dll::this_line_location().parent_path().string();
    for (const fs::path& dir : {here.parent_path() / "plugins", here / "ebmlab" / "plugins"})
      if (fs::is_directory(dir)) reg->load_dir(dir.string());
    if (const char* env = std::getenv("EBMLAB_PLUGIN_PATH")) {
      const std::string s = env;
      for (std::size_t start = 0; start <= s.size();) {
        std::size_t end = s.find(':', start);
        if (end == std::string::npos) end = s.size();
        if (end > start) reg->load_path(s.substr(start, end - start));
        start = end + 1;
      }
    }
    return reg;
  }();
  return *r;
}

const kernel::Registry& registry() { return mutable_registry(); }
std::vector<std::string> plugin_names(Kind kind) { return registry().names(kind); }
void load_plugins(const std::string& path) { mutable_registry().load_path(path); }

namespace {

Value settings_of(const std::string& body, const std::string& plugin) {
  const Value root = kernel::parse_toml_text("[t]\n" + body + "\n", plugin + " settings");
  return *root.find("t");
}

/// Validates `settings` (a table without `plugin`) against the plugin's schema and constructs it.
std::shared_ptr<Component> build_table(Kind kind, const std::string& plugin, const Value& settings, const DataInfo& info,
                                       std::shared_ptr<Normalization> norm) {
  const kernel::LoadedEntry* e = registry().find(kind, plugin);
  if (!e) {
    std::string known;
    for (auto& n : registry().names(kind)) known += (known.empty() ? "" : ", ") + n;
    throw ConfigError(std::string("no ") + kind_name(kind) + " plugin '" + plugin + "' is loaded (loaded: " + known +
                      "); put its folder in EBMLAB_PLUGIN_PATH");
  }
  kernel::Diagnostics diag;
  // References to other components (a loss's sampler) are accepted by name: the harness
  // answers every ctx.samples(name).
  const kernel::References refs{[](const std::string&, const std::string&) { return true; },
                                [](const std::string&) { return std::vector<std::string>{}; }};
  Table checked = kernel::validate_table(settings, e->entry.schema(), "t", diag, refs);
  diag.raise();
  BuildContext bc;
  bc.instance = plugin;
  bc.data = info;
  bc.norm = std::move(norm);
  return registry().create<Component>(kind, plugin, Params(checked, plugin), bc);
}

std::shared_ptr<kernel::Model> model_of(const std::string& backbone, const Value& backbone_settings, const std::string& norm,
                                        const Value& norm_settings, const DataInfo& info) {
  auto n = std::dynamic_pointer_cast<Normalization>(build_table(Kind::normalization, norm, norm_settings, info, nullptr));
  auto b = std::dynamic_pointer_cast<Backbone>(build_table(Kind::backbone, backbone, backbone_settings, info, n));
  return std::make_shared<kernel::Model>(b, info, "backbone (plugin " + backbone + ")");
}

}  // namespace

std::shared_ptr<Component> build(Kind kind, const std::string& plugin, const std::string& body, const DataInfo& info,
                                 std::shared_ptr<Normalization> norm) {
  return build_table(kind, plugin, settings_of(body, plugin), info, std::move(norm));
}

std::shared_ptr<kernel::Model> build_model(const std::string& backbone, const std::string& backbone_body, const std::string& norm,
                                           const std::string& norm_body, const DataInfo& info) {
  return model_of(backbone, settings_of(backbone_body, backbone), norm, settings_of(norm_body, norm), info);
}

DataInfo toy_info(ToyData data) {
  DataInfo d;
  if (data == ToyData::points) {
    d.name = "points";
    d.shape = {2};
    d.num_classes = 3;
    d.mean = {0.5, 0.5};
    d.std = {0.25, 0.25};
  } else {
    d.name = "images";
    d.shape = {1, 12, 12};
    d.num_classes = 10;
    d.mean = {0.3};
    d.std = {0.3};
  }
  return d;
}

namespace {

/// "plugin = \"x\"\n..." -> ("x", the table's other keys).
std::pair<std::string, Value> split_plugin(const std::string& body) {
  Value root = kernel::parse_toml_text("[t]\n" + body + "\n", "harness model");
  Value& t = root.as_table().at("t");
  const Value* p = t.find("plugin");
  if (!p) throw ConfigError("harness model '" + body + "': give plugin = \"...\"");
  std::pair<std::string, Value> out{p->as_string(), t};
  out.second.as_table().erase("plugin");
  return out;
}

}  // namespace

struct Harness::State : StepContext {
  DataInfo info;
  std::shared_ptr<kernel::Model> net;
  Batch step_batch, train;
  std::map<std::string, std::shared_ptr<Sampler>> samplers;
  std::map<std::string, at::Tensor> memo;
  std::map<std::string, double> terms;
  std::int64_t step_ = 0;

  const Batch& batch(const std::string&) override { return step_batch; }
  const Batch& train_set() override { return train; }
  torch::nn::Module& model() override { return *net; }
  at::Tensor logits(const at::Tensor& x) override { return net->forward(x); }
  at::Tensor samples(const std::string& name) override {
    if (auto it = memo.find(name); it != memo.end()) return it->second;
    auto s = samplers.find(name);
    if (s == samplers.end()) return memo[name] = torch::rand_like(step_batch.x) * (info.hi - info.lo) + info.lo;  // a stand-in
    ModeGuard guard(*net, s->second->model_mode());
    return memo[name] = s->second->sample(*this).detach();
  }
  using StepContext::log;
  void log(const std::string& term, const at::Tensor& value) override {
    if (!value.defined() || value.dim() != 0)
      throw RunError("logged term '" + term + "' is not a 0-d tensor; log a scalar such as x.mean()");
    terms[term] = value.detach().to(torch::kFloat64).item<double>();
  }
  std::int64_t step() const override { return step_; }
  std::int64_t epoch() const override { return 0; }
  const DataInfo& data() const override { return info; }
};

Harness::Harness(ToyData data, std::uint64_t seed, const std::string& backbone, const std::string& norm)
    : s_(std::make_unique<State>()) {
  s_->info = toy_info(data);
  torch::manual_seed(seed);
  const bool points = data == ToyData::points;
  const std::string bb = !backbone.empty() ? backbone
                         : points          ? "plugin = \"mlp\"\nhidden = []"
                                           : "plugin = \"convnet\"\nchannels = [4]\nhidden = 16";
  const std::string nm = !norm.empty() ? norm : points ? "plugin = \"none\"" : "plugin = \"batch\"";
  const auto [b_plugin, b_body] = split_plugin(bb);
  const auto [n_plugin, n_body] = split_plugin(nm);
  s_->net = model_of(b_plugin, b_body, n_plugin, n_body, s_->info);
  std::vector<std::int64_t> shape = s_->info.shape;
  auto draw = [&](std::int64_t n) {
    std::vector<std::int64_t> full{n};
    full.insert(full.end(), shape.begin(), shape.end());
    return Batch{torch::rand(full), torch::arange(n, torch::kInt64) % s_->info.num_classes};
  };
  s_->step_batch = draw(8);
  s_->train = draw(60);
}

Harness::~Harness() = default;
StepContext& Harness::context() { return *s_; }
torch::nn::Module& Harness::model() { return *s_->net; }
at::Tensor Harness::logits(const at::Tensor& x) { return s_->net->forward(x); }
const DataInfo& Harness::data() const { return s_->info; }
Batch& Harness::batch() { return s_->step_batch; }
Batch& Harness::train_set() { return s_->train; }
const std::map<std::string, double>& Harness::logged() const { return s_->terms; }
void Harness::add_sampler(const std::string& name, std::shared_ptr<Sampler> sampler) { s_->samplers[name] = std::move(sampler); }
void Harness::next_step(std::int64_t step) {
  s_->step_ = step;
  s_->memo.clear();
}
std::shared_ptr<Component> Harness::make(Kind kind, const std::string& plugin, const std::string& body) const {
  std::shared_ptr<Normalization> none;
  return build(kind, plugin, body, s_->info, none);
}

}  // namespace ebm::testing
