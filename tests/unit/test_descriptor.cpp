// Whole descriptors against the real plugins: every kind of mistake gives one message
// with file:line:column, and variants expand into plain, separately validated configs.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <doctest/doctest.h>

#include "config/descriptor.hpp"
#include "helpers.hpp"
#include "loader/registry.hpp"

using namespace ebm;
using namespace ebm::kernel;

namespace {

const std::string kValid = R"([experiment]
name = "t"

[data]
dataset = "toy2d"

[model]
backbone = { plugin = "mlp", hidden = [16] }

[[stage]]
steps = 5
losses = [ { plugin = "ce" } ]

[[metric]]
plugin = "accuracy"
)";

std::string resolve_error(const std::string& text) {
  Descriptor d{"d.toml", text, parse_toml_text(text, "d.toml"), {}};
  return test::error_of<SchemaError>([&] { resolve(expand(d).at(0), test::registry()); });
}

std::string replace(std::string s, const std::string& from, const std::string& to) {
  auto at = s.find(from);
  REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("descriptor: a valid descriptor resolves with defaults filled in") {
  Descriptor d{"d.toml", kValid, parse_toml_text(kValid, "d.toml"), {}};
  auto variants = expand(d);
  REQUIRE(variants.size() == 1);
  CHECK(variants[0].name == "main");
  VariantConfig c = resolve(variants[0], test::registry());
  CHECK(c.backbone.plugin == "mlp");
  CHECK(c.norm.plugin == "none");  // the default normalization
  CHECK(c.data.batch_size == 64);
  REQUIRE(c.stages.size() == 1);
  CHECK(c.stages[0].name == "stage0");
  CHECK(c.stages[0].optimizer.name == "sgd");
  CHECK(c.stages[0].losses.at(0).weight == 1.0);
  CHECK(c.metrics.at(0).name == "accuracy");
  CHECK(c.experiment.device == "auto");  // a GPU when there is one, else the CPU
  CHECK_FALSE(c.experiment.deterministic);
}

TEST_CASE("descriptor: [experiment] device takes auto, cpu, cuda and cuda:N, located otherwise") {
  for (const char* ok : {"auto", "cpu", "cuda", "cuda:0", "cuda:7", "cuda:123"}) {
    const std::string text = replace(kValid, "name = \"t\"", std::string("name = \"t\"\ndevice = \"") + ok + "\"");
    Descriptor d{"d.toml", text, parse_toml_text(text, "d.toml"), {}};
    CHECK(resolve(expand(d).at(0), test::registry()).experiment.device == ok);
  }
  for (const char* bad : {"gpu", "cuda:", "cuda:-1", "cuda:a", "CPU", "cuda:1234", "cuda0"}) {
    const auto msg = resolve_error(replace(kValid, "name = \"t\"", std::string("name = \"t\"\ndevice = \"") + bad + "\""));
    CHECK_MESSAGE(msg.find("d.toml:3:") != std::string::npos, msg);
    CHECK_MESSAGE(msg.find("'experiment.device': expected \"auto\", \"cpu\", \"cuda\" or \"cuda:N\"") != std::string::npos, msg);
  }
}

TEST_CASE("descriptor: TOML syntax errors name line and column") {
  auto msg = test::error_of<ConfigError>([] { parse_toml_text("[data]\nbatch_size = = 3\n", "bad.toml"); });
  CHECK(msg.find("bad.toml:2:") == 0);
  CHECK(msg.find("TOML syntax error") != std::string::npos);
}

TEST_CASE("descriptor: unknown plugin names list the available ones") {
  auto msg = resolve_error(replace(kValid, "plugin = \"mlp\"", "plugin = \"mpl\""));
  CHECK(msg ==
        "d.toml:8:23: 'model.backbone.plugin': no backbone plugin named 'mpl'; did you mean 'mlp'? "
        "(available: convnet, mlp, resnet18, wrn)");
  // Nothing close: the name is most likely the user's own plugin, which the path must reach.
  auto own = resolve_error(replace(kValid, "plugin = \"mlp\"", "plugin = \"zzzz_own_backbone\""));
  CHECK(own.find("no backbone plugin named 'zzzz_own_backbone' (available: convnet, mlp, resnet18, wrn); a plugin built out "
                 "of tree is found through EBMLAB_PLUGIN_PATH=<its folder>") != std::string::npos);
}

TEST_CASE("descriptor: unknown keys in plugin tables and top level") {
  auto msg = resolve_error(replace(kValid, "hidden = [16]", "hiden = [16]") + "\n[sampler.x]\nplugin = \"pgd\"\n");
  CHECK(msg.find("d.toml:17:1: unknown top-level key 'sampler'; did you mean 'samplers'?") != std::string::npos);
  CHECK(msg.find("d.toml:8:38: unknown key 'model.backbone.hiden'; did you mean 'hidden'?") != std::string::npos);
}

TEST_CASE("descriptor: kernel sections are checked strictly too") {
  auto msg = resolve_error(replace(kValid, "steps = 5", "steps = 5\nepochs = 2\noptimizer = { name = \"adamw\" }"));
  CHECK(msg.find("d.toml:13:22: 'stage.0.optimizer.name' = \"adamw\": expected one of sgd|adam; did you mean 'adam'?") !=
        std::string::npos);
  CHECK(msg.find("d.toml:10:1: 'stage.0': expected exactly one of 'epochs' or 'steps' to be positive") != std::string::npos);
}

TEST_CASE("descriptor: a missing section is reported against the file") {
  auto msg = resolve_error(replace(kValid, "[data]\ndataset = \"toy2d\"\n", ""));
  CHECK(msg.find("d.toml:1:1: missing required table [data]") != std::string::npos);
  // The table's own required keys are not listed again, and nothing is located "<unknown>".
  CHECK(msg.find("data.dataset") == std::string::npos);
  CHECK(msg.find("<unknown>") == std::string::npos);
}

TEST_CASE("descriptor: a missing backbone is reported once") {
  auto msg = resolve_error(replace(kValid, "backbone = { plugin = \"mlp\", hidden = [16] }", "norm = { plugin = \"none\" }"));
  const std::string key = "missing required key 'model.backbone'";
  REQUIRE(msg.find(key) != std::string::npos);
  CHECK(msg.find(key, msg.find(key) + 1) == std::string::npos);
  CHECK(msg.find("{ plugin = \"convnet\" }") != std::string::npos);
}

TEST_CASE("descriptor: a metrics file given as a descriptor says what it is") {
  auto msg = resolve_error("[[metric]]\nplugin = \"accuracy\"\n");
  CHECK(msg.find("d.toml:1:1: this looks like a metrics file") != std::string::npos);
  CHECK(msg.find("--metrics-file") != std::string::npos);
  CHECK(msg.find("<unknown>") == std::string::npos);
}

TEST_CASE("descriptor: references to samplers must resolve") {
  std::string text =
      replace(kValid, "losses = [ { plugin = \"ce\" } ]",
              "losses = [ { plugin = \"fixture_loss\", label = \"l\", inner = { tag = \"t\" }, sampler = \"atk\" } ]");
  text += "\n[samplers.attack]\nplugin = \"fixture_sampler\"\n";
  auto msg = resolve_error(text);
  CHECK(msg.find("'stage.0.losses.0.sampler' refers to sampler 'atk', which is not defined: expected one of "
                 "[samplers.attack]") != std::string::npos);
}

TEST_CASE("descriptor: variants deep-merge onto the base and are validated each") {
  std::string text = kValid + R"(
[variants.wide.model.backbone]
hidden = [64, 64]

[variants.broken.data]
batch_size = "large"
)";
  Descriptor d{"d.toml", text, parse_toml_text(text, "d.toml"), {}};
  auto variants = expand(d);
  REQUIRE(variants.size() == 2);  // in file order
  CHECK(variants[0].name == "wide");
  CHECK(variants[1].name == "broken");
  VariantConfig wide = resolve(variants[0], test::registry());
  CHECK(wide.backbone.plugin == "mlp");  // kept from the base: tables merge
  CHECK(wide.backbone.params.integers("hidden") == std::vector<std::int64_t>{64, 64});
  auto msg = test::error_of<SchemaError>([&] { resolve(variants[1], test::registry()); });
  CHECK(msg == "d.toml:21:14: 'data.batch_size': expected integer in [1, 65536], found string \"large\"");
}

TEST_CASE("descriptor: a sweep crosses every variant; zipped keys move together; names are stable") {
  std::string text = kValid + R"(
[variants.a]
[variants.b.model.backbone]
hidden = [8]

[sweep]
"model.norm.plugin" = ["none", "group"]
seeds = [0, 1]

[sweep.zip]
"stage.0.steps" = [5, 7]
"stage.0.optimizer.lr" = [0.1, 0.05]
)";
  Descriptor d{"d.toml", text, parse_toml_text(text, "d.toml"), {}};
  auto variants = expand(d);
  REQUIRE(variants.size() == 16);
  CHECK(variants[0].name == "a-norm=none-seed=0-steps=5-lr=0.1");
  CHECK(variants[1].name == "a-norm=none-seed=0-steps=7-lr=0.05");
  CHECK(variants[15].name == "b-norm=group-seed=1-steps=7-lr=0.05");
  VariantConfig last = resolve(variants[15], test::registry());
  CHECK(last.norm.plugin == "group");
  CHECK(last.experiment.seed == 1);
  CHECK(last.stages[0].steps == 7);
  CHECK(last.stages[0].optimizer.lr == 0.05);
  CHECK(last.backbone.params.integers("hidden") == std::vector<std::int64_t>{8});
}

TEST_CASE("descriptor: overrides are typed like the file and errors name them") {
  Descriptor d{"d.toml", kValid, parse_toml_text(kValid, "d.toml"), {}};
  auto v =
      expand(d, {parse_override("stage.0.steps=9"), parse_override("model.norm.plugin=group"), parse_override("data.subset=32")});
  VariantConfig c = resolve(v.at(0), test::registry());
  CHECK(c.stages[0].steps == 9);
  CHECK(c.norm.plugin == "group");
  CHECK(c.data.params.integer("subset") == 32);
  // Unquoted text that TOML reads as a number or a boolean stays text where a string is expected.
  CHECK(resolve(expand(d, {parse_override("experiment.name=nan")}).at(0), test::registry()).experiment.name == "nan");
  auto textual = expand(d, {parse_override("data.augment=1e3")});
  auto enum_msg = test::error_of<SchemaError>([&] { resolve(textual.at(0), test::registry()); });
  CHECK(enum_msg.find("'data.augment' = \"1e3\": expected one of") != std::string::npos);
  auto bad = expand(d, {parse_override("data.batch_size=big")});
  auto msg = test::error_of<SchemaError>([&] { resolve(bad.at(0), test::registry()); });
  CHECK(msg == "override 'data.batch_size=big': 'data.batch_size': expected integer in [1, 65536], found string \"big\"");
  CHECK(test::error_of<ConfigError>([&] { expand(d, {parse_override("stage.2.steps=1")}); }) ==
        "override 'stage.2.steps=1': 'stage' has 1 entries; index 2 is out of range (the first is 0)");
  CHECK(test::error_of<ConfigError>([] { parse_override("stage.0.steps"); }).find("expected key.path=value") !=
        std::string::npos);
  CHECK(test::error_of<ConfigError>([&] { expand(d, {parse_override("experiment.name.x=1")}); }).find("not a table") !=
        std::string::npos);
}

TEST_CASE("descriptor: includes merge underneath, nest, and cycles are named") {
  auto dir = std::filesystem::temp_directory_path() / ("ebmlab_inc_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "sub");
  auto put = [&](const std::string& name, const std::string& text) { std::ofstream(dir / name) << text; };
  put("base.toml", kValid);
  put("sub/mid.toml", "include = [\"../base.toml\"]\n[data]\nbatch_size = 16\n");
  put("top.toml", "include = [\"sub/mid.toml\"]\n[data]\nsubset = 8\n");
  Descriptor d = load_descriptor((dir / "top.toml").string());
  CHECK(d.includes.size() == 2);
  VariantConfig c = resolve(expand(d).at(0), test::registry());
  CHECK(c.data.batch_size == 16);
  CHECK(c.data.params.integer("subset") == 8);
  CHECK(c.backbone.plugin == "mlp");
  put("a.toml", "include = [\"b.toml\"]\n");
  put("b.toml", "include = [\"a.toml\"]\n");
  auto msg = test::error_of<ConfigError>([&] { load_descriptor((dir / "a.toml").string()); });
  CHECK(msg.find("include cycle") != std::string::npos);
  CHECK(msg.find("a.toml -> ") != std::string::npos);
  CHECK(msg.find("b.toml") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("descriptor: a resolved configuration with a stream validates again (saved runs reopen)") {
  std::string text = kValid + "\n[data.streams.ebm]\naugment = \"flip_crop\"\n";
  Descriptor d{"d.toml", text, parse_toml_text(text, "d.toml"), {}};
  VariantConfig c = resolve(expand(d).at(0), test::registry());
  // The resolved tree records the stream's source as an empty table: the training split.
  VariantConfig again = resolve(Variant{"main", c.resolved}, test::registry());
  REQUIRE(again.streams.size() == 2);
  CHECK(again.streams[1].name == "ebm");
  CHECK(again.streams[1].augment == "flip_crop");
}
