// The loader against fixture plugins built to fail, and object lifetime.
#include <fstream>

#include <doctest/doctest.h>
#include <torch/torch.h>

#include "ebmlab/loss.hpp"

#include "helpers.hpp"
#include "loader/registry.hpp"

using namespace ebm;
using namespace ebm::kernel;

namespace {

std::string fixture(const std::string& defect) {
  return std::string(EBMLAB_FIXTURE_DIR) + "/" + defect + "/libebmlab_fixture_" + defect + ".so";
}
const std::string kGood = std::string(EBMLAB_FIXTURE_DIR) + "/libebmlab_fixture_good.so";

std::string load_error(const std::string& path) {
  Registry r;
  try {
    r.load_file(path);
  } catch (const PluginLoadError& e) {
    CHECK(e.exit_code() == 3);
    return e.what();
  }
  FAIL("expected PluginLoadError for " << path);
  return "";
}

}  // namespace

TEST_CASE("loader: a good plugin registers every entry with its provenance") {
  Registry r;
  r.load_file(kGood);
  REQUIRE(r.find(Kind::loss, "fixture_loss"));
  REQUIRE(r.find(Kind::sampler, "fixture_sampler"));
  CHECK(r.find(Kind::sampler, "fixture_loss") == nullptr);  // kinds are separate namespaces
  REQUIRE(r.libraries().size() == 1);
  CHECK(r.libraries()[0]->sha256.size() == 64);
  CHECK(r.libraries()[0]->fingerprint == this_build_fingerprint().str());
}

TEST_CASE("loader: the real plugin folder loads") {
  Registry r;
  r.load_dir(EBMLAB_PLUGIN_BUILD_DIR);
  for (auto* name : {"mlp", "convnet"}) CHECK(r.find(Kind::backbone, name));
  for (auto* name : {"none", "batch"}) CHECK(r.find(Kind::normalization, name));
  CHECK(r.find(Kind::loss, "ce"));
  CHECK(r.find(Kind::metric, "accuracy"));
}

TEST_CASE("loader: wrong ABI version names file, expected and found") {
  auto msg = load_error(fixture("wrong_abi"));
  CHECK(msg.find(fixture("wrong_abi")) == 0);
  const std::string want = "ABI version mismatch: expected " + std::to_string(kAbiVersion) + ", found " +
                           std::to_string(kAbiVersion + 98);  // the fixture declares kAbiVersion + 98
  CHECK(msg.find(want) != std::string::npos);
}

TEST_CASE("loader: wrong fingerprint shows both fingerprints") {
  auto msg = load_error(fixture("wrong_fingerprint"));
  CHECK(msg.find("fingerprint mismatch: expected " + this_build_fingerprint().str()) != std::string::npos);
  auto found = this_build_fingerprint();
  found.torch_major += 7;
  CHECK(msg.find("found " + found.str()) != std::string::npos);
}

TEST_CASE("loader: missing entry symbol") {
  auto msg = load_error(fixture("no_symbol"));
  CHECK(msg.find("no entry symbol 'ebmlab_plugin_info'") != std::string::npos);
}

TEST_CASE("loader: duplicate (kind, name) within one library and across libraries") {
  auto msg = load_error(fixture("duplicate"));
  CHECK(msg.find("duplicate loss 'twice'") != std::string::npos);
  Registry r;
  r.load_file(kGood);
  auto across = test::error_of<PluginLoadError>([&] { r.load_file(fixture("clashes_with_good")); });
  CHECK(across.find("duplicate loss 'fixture_loss': already provided by " + kGood) != std::string::npos);
}

TEST_CASE("loader: null factory") {
  auto msg = load_error(fixture("null_factory"));
  CHECK(msg.find("expected a factory, found null") != std::string::npos);
}

TEST_CASE("loader: a not-a-library file is rejected with the loader's reason") {
  test::TempDir dir;
  auto path = dir.file("libebmlab_garbage.so");
  { std::ofstream(path) << "not an ELF file"; }
  auto msg = load_error(path);
  CHECK(msg.find(path + ": cannot load the library") == 0);
}

TEST_CASE("loader: a throwing factory becomes a RunError naming the plugin") {
  Registry r;
  r.load_file(fixture("throwing"));
  BuildContext bc;
  bc.instance = "stage.0.losses.0";
  auto msg = test::error_of<RunError>([&] { r.create<Loss>(Kind::loss, "fixture_bad", Params{}, bc); });
  CHECK(msg.find("stage.0.losses.0 (fixture_bad from ") == 0);
  CHECK(msg.find("the plugin's factory threw: fixture factory refuses to build") != std::string::npos);
}

TEST_CASE("loader: objects outlive their registry") {
  std::shared_ptr<Loss> loss;
  {
    Registry r;
    r.load_file(kGood);
    Params p(Table{{"scale", Value(2.5)}}, "test");
    loss = r.create<Loss>(Kind::loss, "fixture_loss", p, BuildContext{});
  }
  // Virtual calls into the plugin's code after the registry is gone.
  auto state = loss->state();
  CHECK(state.at("scale").item<double>() == doctest::Approx(2.5));
  CHECK(loss->outputs().at(0).name == "memo_same");
  loss.reset();
}
