// libFuzzer target: checkpoint loading with mutated contents. Each input is a list of
// mutations (shape, dtype, values, missing or extra entries, step counters) applied to
// a real checkpoint of a small variant (MLP, Adam, EMA, SGLD replay buffer, PGD
// curriculum, two data streams); the result is written as a well-formed checkpoint file,
// then read back (read_checkpoint), restored into a fresh trainer (Trainer::restore) and
// trained to the end of its stage. ebmlab's own errors (ebm::Error, naming the file) are
// the expected outcome; a crash, a hang, a sanitizer report or any other exception (a
// c10::Error from LibTorch included: it would not name the file) is a bug. The HDF5
// library's internals are not the target.
#include <cstring>
#include <limits>
#include <memory>

#include <torch/torch.h>

#include "ebmlab/error.hpp"

#include "config/descriptor.hpp"
#include "data/data.hpp"
#include "fuzz_common.hpp"
#include "store/checkpoint.hpp"
#include "train/components.hpp"
#include "train/progress.hpp"
#include "train/trainer.hpp"

namespace {

using namespace ebm;
using namespace ebm::kernel;

const char* kDescriptor = R"([experiment]
name = "fuzz"
seed = 3
[data]
dataset = "toy2d"
toy_samples = 128
validation = 16
batch_size = 16
[data.streams.aux]
noise = 0.1
[model]
backbone = { plugin = "mlp", hidden = [8] }
[samplers.sgld]
plugin = "sgld"
buffer_size = 16
steps = 1
[samplers.contrastive]
plugin = "pgd"
norm = "l2_unbounded"
objective = "energy"
init = "stream"
init_stream = "aux"
steps = 2
curriculum = "epochs"
start_steps = 1
[[stage]]
steps = 4
ema = 0.9
optimizer = { name = "adam", lr = 0.01 }
losses = [ { plugin = "ce" }, { plugin = "jem_ml", sampler = "sgld" }, { plugin = "bce_ebm", sampler = "contrastive" } ]
)";

/// One variant, its data and components, and a trainer; built fresh for every input.
struct Fixture {
  VariantConfig cfg;
  Dataset data;
  Components comps;
  Progress progress{false, 0.0, true};
  std::unique_ptr<Trainer> trainer;
  Fixture() {
    Descriptor d{"fuzz.toml", kDescriptor, parse_toml_text(kDescriptor, "fuzz.toml"), {}};
    cfg = resolve(expand(d).at(0), fuzz::registry());
    data = load_dataset(cfg.data.params, 3);
    torch::manual_seed(3);
    comps = build_components(cfg, fuzz::registry(), data.info);
    trainer = std::make_unique<Trainer>(cfg, comps, data, TrainerSetup{nullptr, &progress});
  }
};

/// A real checkpoint two steps into the stage.
const CheckpointData& base() {
  static const CheckpointData* d = [] {
    Fixture v;
    v.trainer->begin_stage(0);
    for (int i = 0; i < 2; ++i) v.trainer->step(v.data.train.rows(16 * i, 16 * (i + 1)));
    return new CheckpointData(v.trainer->snapshot());
  }();
  return *d;
}

/// Every tensor of a checkpoint, addressable by one index.
std::vector<at::Tensor*> tensors(CheckpointData& d) {
  std::vector<at::Tensor*> out;
  for (auto& [k, t] : d.model) out.push_back(&t);
  for (auto& [k, t] : d.optimizer) out.push_back(&t);
  for (auto& t : d.ema) out.push_back(&t);
  for (auto& [c, s] : d.components)
    for (auto& [k, t] : s) out.push_back(&t);
  for (auto& [k, t] : d.rng) out.push_back(&t);
  return out;
}

const at::ScalarType kTypes[] = {at::kByte, at::kInt, at::kLong, at::kFloat, at::kDouble, at::kBool, at::kChar};

/// A value representable in `type` (any bits for floating point, incl. NaN and infinities).
at::Scalar value(fuzz::Bytes& in, at::ScalarType type) {
  if (type == at::kBool) return static_cast<bool>(in.u8() & 1);
  if (type == at::kByte) return static_cast<std::int64_t>(in.u8());
  if (type == at::kChar) return static_cast<std::int64_t>(static_cast<std::int8_t>(in.u8()));
  if (type == at::kInt) return static_cast<std::int64_t>(static_cast<std::int32_t>(in.u32()));
  if (type == at::kLong) return in.i64();
  if (type == at::kFloat) {  // any float's bits, and the same specials as below
    if (in.u8() & 1) {
      std::uint32_t bits = in.u32();
      float f;
      std::memcpy(&f, &bits, sizeof f);
      return static_cast<double>(f);
    }
    return in.u8() & 1 ? std::numeric_limits<double>::quiet_NaN() : -std::numeric_limits<double>::infinity();
  }
  switch (in.u8() % 6) {
    case 0:
      return std::numeric_limits<double>::quiet_NaN();
    case 1:
      return std::numeric_limits<double>::infinity();
    case 2:
      return -1e300;
    case 3:
      return static_cast<double>(static_cast<std::int8_t>(in.u8()));
    default:
      return in.f64();
  }
}

std::int64_t counter(fuzz::Bytes& in) {
  switch (in.u8() % 4) {
    case 0:
      return -1 - in.u8();
    case 1:
      return in.i64();
    default:
      return in.u8();
  }
}

void mutate(CheckpointData& d, fuzz::Bytes& in) {
  auto all = tensors(d);
  at::Tensor* t = all.empty() ? nullptr : all[in.pick(all.size())];
  switch (in.u8() % 10) {
    case 0: {  // another shape (small: the point is mismatch, not size)
      if (!t) return;
      std::vector<std::int64_t> shape(in.u8() % 5);
      for (auto& s : shape) s = in.u8() % 9;
      *t = torch::zeros(shape, t->options());
      return;
    }
    case 1:  // another dtype
      if (t) *t = t->to(kTypes[in.pick(std::size(kTypes))]);
      return;
    case 2: {  // other values
      if (!t || !t->numel()) return;
      auto flat = t->view(-1);
      for (int i = in.u8() % 4; i >= 0; --i)
        flat[static_cast<std::int64_t>(in.pick(flat.numel()))].fill_(value(in, t->scalar_type()));
      return;
    }
    case 3:  // an entry missing
      if (!d.model.empty()) d.model.erase(d.model.begin() + static_cast<std::ptrdiff_t>(in.pick(d.model.size())));
      if (in.u8() & 1 && !d.ema.empty()) d.ema.pop_back();
      if (in.u8() & 1 && !d.optimizer.empty()) d.optimizer.erase(d.optimizer.begin());
      return;
    case 4: {  // an extra entry
      std::string name(1 + in.u8() % 6, 'a');
      for (auto& c : name) c = static_cast<char>('a' + in.u8() % 26);
      auto x = torch::ones({in.u8() % 4});
      switch (in.u8() % 4) {
        case 0:
          d.model.emplace_back(name, x);
          break;
        case 1:
          d.optimizer[std::to_string(in.u8() % 8) + "/" + name] = x;
          break;
        case 2:
          d.components[in.u8() & 1 ? "sgld" : "contrastive"][name] = x;
          break;
        default:
          d.ema.push_back(x);
      }
      return;
    }
    case 5:
      d.step = counter(in);
      return;
    case 6:
      d.stage = counter(in);
      return;
    case 7:
      d.step_in_stage = counter(in);
      return;
    case 8:
      if (!d.counters.empty())
        std::next(d.counters.begin(), static_cast<std::ptrdiff_t>(in.pick(d.counters.size())))->second = counter(in);
      return;
    default: {  // a component's state key renamed to another of its keys
      if (d.components.empty()) return;
      auto& s = std::next(d.components.begin(), static_cast<std::ptrdiff_t>(in.pick(d.components.size())))->second;
      if (s.size() < 2) return;
      auto a = std::next(s.begin(), static_cast<std::ptrdiff_t>(in.pick(s.size())));
      auto b = std::next(s.begin(), static_cast<std::ptrdiff_t>(in.pick(s.size())));
      std::swap(a->second, b->second);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  torch::set_num_threads(1);
  (void)base();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::Bytes in(data, size);
  CheckpointData d = base();
  // Deep copies: the mutations must not reach the shared base.
  for (auto* t : tensors(d)) *t = t->clone();
  for (int ops = 1 + in.u8() % 8; ops > 0 && !in.empty(); --ops) mutate(d, in);
  const std::string path = fuzz::scratch("ckpt.h5");
  try {
    write_checkpoint(path, d);
  } catch (const Error&) {
    return 0;  // a dtype the writer refuses is not a checkpoint file
  }
  try {
    CheckpointData r = read_checkpoint(path);
    Fixture v;
    v.trainer->restore(r, path);
    (void)v.trainer->run();
  } catch (const Error&) {
  }
  return 0;
}
