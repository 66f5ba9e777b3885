// The loader against fixture plugins built to fail, and object lifetime.
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>

#include <ATen/Context.h>
#include <doctest/doctest.h>
#include <torch/cuda.h>
#include <torch/torch.h>
#include <torch/version.h>

#include "ebmlab/loss.hpp"

#include "helpers.hpp"
#include "loader/elf_check.hpp"
#include "loader/registry.hpp"
#include "loader/sha256.hpp"
#include "loader/torch_runtime.hpp"

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

TEST_CASE("loader: a plugin linked to another LibTorch is refused before it is opened") {
  // The fixture aborts the process from a static constructor if dlopen ever runs on it.
  auto msg = load_error(fixture("foreign_torch"));
  CHECK(msg.find(fixture("foreign_torch") + ": refusing to load: it was built against another LibTorch: it links "
                                            "libtorch_cpu.so.0.99") == 0);
  CHECK(msg.find("this ebmlab runs on LibTorch " TORCH_VERSION " through libtorch_cpu.so") != std::string::npos);
  CHECK(msg.find("Rebuild the plugin against this ebmlab's LibTorch") != std::string::npos);
}

TEST_CASE("loader: the dynamic section of a real plugin names the LibTorch this process runs on") {
  auto dyn = read_elf_dynamic(std::string(EBMLAB_PLUGIN_BUILD_DIR) + "/libebmlab_ce.so");
  REQUIRE(dyn);
  std::set<std::string> loaded;
  for (const auto& l : loaded_torch_libraries()) loaded.insert(l.soname);
  REQUIRE(!loaded.empty());
  int torch_needed = 0;
  for (const auto& n : dyn->needed)
    if (is_torch_library_name(n)) {
      ++torch_needed;
      CHECK_MESSAGE(loaded.count(n), n);
    }
  CHECK(torch_needed >= 1);
  CHECK(std::find(dyn->needed.begin(), dyn->needed.end(), "libebmlab_core.so") != dyn->needed.end());
  CHECK(foreign_torch_reason(std::string(EBMLAB_PLUGIN_BUILD_DIR) + "/libebmlab_ce.so").empty());
  auto stub = read_elf_dynamic(std::string(EBMLAB_FIXTURE_DIR) + "/foreign_torch/lib/libtorch_cpu.so.0.99");
  REQUIRE(stub);
  CHECK(stub->soname == "libtorch_cpu.so.0.99");
  // Not an ELF file: left to dlopen, which says why.
  const std::string text = std::string(EBMLAB_FIXTURE_DIR) + "/not_elf.so";
  std::ofstream(text) << "not a library";
  CHECK_FALSE(read_elf_dynamic(text));
  CHECK(foreign_torch_reason(text).empty());
  for (const char* name : {"libtorch.so", "libtorch_cpu.so.1.13", "libc10.so", "libc10_cuda.so", "libtorch_cuda.so"})
    CHECK_MESSAGE(is_torch_library_name(name), name);
  for (const char* name : {"libtorchvision.so", "libc10x.so", "libebmlab_core.so", "libtorch_cpu.a"})
    CHECK_MESSAGE(!is_torch_library_name(name), name);
}

TEST_CASE("loader: the LibTorch runtime says its version and what it has of CUDA") {
  const TorchRuntime rt = torch_runtime();
  CHECK(rt.version == TORCH_VERSION);
  CHECK(rt.summary().rfind("LibTorch " TORCH_VERSION ", ", 0) == 0);
  CHECK(rt.cuda_built == !rt.cuda.empty());
  CHECK(rt.gpus == static_cast<int>(torch::cuda::device_count()));
#if TORCH_VERSION_MAJOR < 2
  CHECK_FALSE(rt.cuda_built);  // Debian's LibTorch 1.13 has no CUDA
  CHECK(rt.summary() == "LibTorch " TORCH_VERSION ", built without CUDA");
#endif
  if (rt.cuda_built) CHECK(rt.summary().find("CUDA " + rt.cuda + ", ") != std::string::npos);
}

TEST_CASE("loader: use_deterministic switches LibTorch's deterministic algorithms and cuDNN autotuning") {
  use_deterministic(true);
  CHECK(at::globalContext().deterministicAlgorithms());
  CHECK(at::globalContext().deterministicCuDNN());
  CHECK_FALSE(at::globalContext().benchmarkCuDNN());
  CHECK(std::string(std::getenv("CUBLAS_WORKSPACE_CONFIG")) != "");
  use_deterministic(false);
  CHECK_FALSE(at::globalContext().deterministicAlgorithms());
  CHECK_FALSE(at::globalContext().deterministicCuDNN());
  CHECK(describe_device(c10::Device(c10::kCPU)) == "cpu");
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

TEST_CASE("loader: SHA-256 gives FIPS 180-4's test vectors across block and buffer boundaries") {
  auto digest = [](const std::string& text) {
    Sha256 sha;
    sha.update(reinterpret_cast<const unsigned char*>(text.data()), text.size());
    return sha.hex();
  };
  // FIPS 180-4 examples (NIST's SHA256.pdf): one block, two blocks; and the empty message.
  CHECK(digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(digest("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // One million 'a' (NIST), through the file reader's 64 KiB buffer.
  const ebm::test::TempDir dir;
  const std::string file = dir.file("a.bin");
  std::ofstream(file, std::ios::binary) << std::string(1000000, 'a');
  CHECK(sha256_file(file) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // 55, 56 and 64 bytes: the lengths where the padding needs a second block or not.
  CHECK(digest(std::string(55, 'a')) == "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  CHECK(digest(std::string(56, 'a')) == "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  CHECK(sha256_file(file + ".missing").empty());
}
