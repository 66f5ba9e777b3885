// HDF5 round trip: every kind of record written by the logs is read back unchanged.
#include <fstream>

#include <doctest/doctest.h>
#include <hdf5.h>

#include "helpers.hpp"
#include "store/h5log.hpp"
#include "store/run_files.hpp"
#include "store/run_index.hpp"

using namespace ebm;
using namespace ebm::kernel;

TEST_CASE("h5log: curves, evaluations, status and config round-trip") {
  test::TempDir dir;
  auto path = dir.file("exp/main.h5");
  VariantLog::Layout layout{{"train/loss", "ce/batch_accuracy"}, {"val/accuracy/accuracy", "test/accuracy/accuracy"}, {}, {}};
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
  {
    VariantLog log(dir.file("exp/v1.h5"), "v1", "{}", {{"train/loss"}, {}, {}, {}});
    log.set_status("completed");
  }
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
  // The file, what went wrong, and HDF5's own reason (its signature is missing).
  CHECK(msg.rfind(dir.file("x.h5") + ": cannot open as an HDF5 file (HDF5: ", 0) == 0);
  CHECK(msg.find("signature") != std::string::npos);
  auto missing = test::error_of<ConfigError>([&] { read_series(dir.file("absent.h5"), "curves/train/loss"); });
  CHECK(missing == dir.file("absent.h5") + ": no such file");
}

TEST_CASE("h5log: tensor series keep one record per append; a failed layout leaves the path reusable") {
  test::TempDir dir;
  auto path = dir.file("exp/main.h5");
  {
    VariantLog::Layout layout{
        {"train/loss"}, {}, {{"eval/test/ece/reliability", {3, 2}}}, {{"eval/test/ece", {{"plugin", "ece"}}}}};
    VariantLog log(path, "main", "{}", layout);
    int id = log.tensor_id("eval/test/ece/reliability");
    REQUIRE(id >= 0);
    CHECK(log.tensor_id("eval/test/nope") == -1);
    CHECK(log.tensor_shape_is(id, {3, 2}));
    CHECK_FALSE(log.tensor_shape_is(id, {2, 3}));
    std::vector<float> a = {1, 2, 3, 4, 5, 6}, b = {6, 5, 4, 3, 2, 1};
    log.append_tensor(id, 10, a.data(), a.size());
    log.append_tensor(id, 20, b.data(), b.size());
    CHECK_THROWS_AS(log.append_tensor(id, 30, a.data(), 5), RunError);
    log.close();
  }
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  REQUIRE(f >= 0);
  hid_t ds = H5Dopen2(f, "eval/test/ece/reliability", H5P_DEFAULT);
  hid_t space = H5Dget_space(ds);
  hsize_t dims[3];
  REQUIRE(H5Sget_simple_extent_ndims(space) == 3);
  H5Sget_simple_extent_dims(space, dims, nullptr);
  CHECK(dims[0] == 2);
  CHECK(dims[1] == 3);
  CHECK(dims[2] == 2);
  std::vector<float> all(12);
  H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, all.data());
  CHECK(all[0] == 1);
  CHECK(all[6] == 6);
  CHECK(all[11] == 1);
  hid_t steps = H5Dopen2(f, "eval/test/ece/reliability_step", H5P_DEFAULT);
  std::int64_t st[2] = {0, 0};
  H5Dread(steps, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, st);
  CHECK(st[0] == 10);
  CHECK(st[1] == 20);
  CHECK(read_string_attr(path, "eval/test/ece", "plugin") == "ece");
  H5Dclose(steps);
  H5Sclose(space);
  H5Dclose(ds);
  H5Fclose(f);

  // Two series at one path cannot be laid out: the constructor throws and releases the file.
  auto bad = dir.file("exp/bad.h5");
  CHECK_THROWS(VariantLog(bad, "main", "{}", VariantLog::Layout{{"a/b", "a/b"}, {}, {}, {}}));
  VariantLog again(bad, "main", "{}", VariantLog::Layout{});
  again.set_status("failed", "layout");
  again.close();
  CHECK(read_string(bad, "status") == "failed");
}
