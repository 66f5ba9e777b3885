// HDF5 round trip: every kind of record written by the logs is read back unchanged.
#include <doctest/doctest.h>

#include <fstream>

#include "h5log.hpp"
#include "helpers.hpp"

using namespace ebm;
using namespace ebm::kernel;

TEST_CASE("h5log: curves, evaluations, status and config round-trip") {
  test::TempDir dir;
  auto path = dir.file("exp/main.h5");
  VariantLog::Layout layout{{"train/loss", "ce/batch_accuracy"}, {"val/accuracy/accuracy", "test/accuracy/accuracy"}};
  {
    VariantLog log(path, "main", "{\"a\":1}", layout);
    CHECK(read_string(path, "status") == "running");
    int loss = log.curve_id("train/loss");
    int acc = log.curve_id("ce/batch_accuracy");
    REQUIRE(loss >= 0);
    REQUIRE(acc >= 0);
    CHECK(log.curve_id("nope") == -1);
    for (int i = 0; i < 3000; ++i) log.append_curve(loss, CurveRecord{i, 1.0 / (i + 1), 0.5 * i});
    log.append_curve(acc, CurveRecord{7, 0.25, 1.0});
    log.flush();
    // A reader sees flushed records while the writer is still open (SWMR).
    CHECK(read_series(path, "curves/train/loss").size() == 3000);
    log.append_eval(log.eval_id("test/accuracy/accuracy"), CurveRecord{3000, 0.9, 2.0});
    log.set_status("completed");
  }
  auto loss = read_series(path, "curves/train/loss");
  REQUIRE(loss.size() == 3000);
  CHECK(loss[2999].step == 2999);
  CHECK(loss[2999].value == 1.0 / 3000);
  CHECK(loss[10].wall == 5.0);
  auto acc = read_series(path, "curves/ce/batch_accuracy");
  REQUIRE(acc.size() == 1);
  CHECK(acc[0].value == 0.25);
  auto test = read_series(path, "eval/test/accuracy/accuracy");
  REQUIRE(test.size() == 1);
  CHECK(test[0].value == 0.9);
  CHECK(read_series(path, "eval/val/accuracy/accuracy").empty());
  CHECK(read_string(path, "status") == "completed");
  CHECK(read_string(path, "config") == "{\"a\":1}");
  CHECK(read_string_attr(path, "/", "variant") == "main");
}

TEST_CASE("h5log: the index file holds provenance and links to the variant logs") {
  test::TempDir dir;
  { VariantLog log(dir.file("exp/v1.h5"), "v1", "{}", {{"train/loss"}, {}}); log.set_status("completed"); }
  IndexInfo info;
  info.descriptor_text = "[experiment]\nname = \"exp\"\n";
  info.resolved_json = "{\"v1\":{}}";
  info.command_line = "ebmlab run exp.toml";
  info.threads = 2;
  info.plugins.push_back({"/x/libebmlab_ce.so", std::string(64, 'a'), "{abi 1}", "gcc 12.2"});
  info.variants["v1"] = "exp/v1.h5";
  write_index(dir.file("exp.h5"), info);
  CHECK(read_string(dir.file("exp.h5"), "descriptor") == info.descriptor_text);
  CHECK(read_string(dir.file("exp.h5"), "resolved") == info.resolved_json);
  CHECK(read_string_attr(dir.file("exp.h5"), "/", "command_line") == info.command_line);
  CHECK(read_string_attr(dir.file("exp.h5"), "plugins/libebmlab_ce.so", "sha256") == std::string(64, 'a'));
  // The external link resolves relative to the index file's folder.
  CHECK(read_string(dir.file("exp.h5"), "variants/v1/status") == "completed");
  CHECK_FALSE(std::filesystem::exists(dir.file("exp.h5.tmp") + std::to_string(getpid())));
}

TEST_CASE("h5log: reading a file that is not HDF5 is a clear error") {
  test::TempDir dir;
  { std::ofstream(dir.file("x.h5")) << "plain text"; }
  auto msg = test::error_of<ConfigError>([&] { read_series(dir.file("x.h5"), "curves/train/loss"); });
  CHECK(msg == dir.file("x.h5") + ": cannot open as an HDF5 file");
}
