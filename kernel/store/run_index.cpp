#include "store/run_index.hpp"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <hdf5.h>

#include "ebmlab/error.hpp"

#include "loader/torch_runtime.hpp"
#include "loader/version.hpp"
#include "store/h5log.hpp"
#include "store/h5util.hpp"

namespace ebm::kernel {

using namespace h5;

namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

}  // namespace

void write_index(const std::string& path, const IndexInfo& info) {
  namespace fs = std::filesystem;
  fs::create_directories(fs::absolute(path).parent_path());
  std::string tmp = path + ".tmp" + std::to_string(getpid());
  Handle f(check(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), path, "creating the index file"));
  write_int_attr(f, "format_version", kFormatVersion);
  write_string_attr(f, "ebmlab_version", kVersion);
  write_string_attr(f, "created", now_iso());
  write_string_attr(f, "host", hostname());
  write_string_attr(f, "cpu", cpu_model());
  write_int_attr(f, "threads", info.threads);
  write_string_attr(f, "git_commit", kGitCommit);
  {
    const TorchRuntime torch = torch_runtime();
    write_string_attr(f, "libtorch_version", torch.version);
    write_string_attr(f, "cuda_version", torch.cuda);
    write_string_attr(f, "cudnn_version", torch.cudnn);
    write_int_attr(f, "gpus_visible", torch.gpus);
  }
  write_string_attr(f, "command_line", info.command_line);
  write_string_attr(f, "descriptor_path", info.descriptor_path);
  write_int_attr(f, "world_size", info.world_size);
  write_string_attr(f, "numeric_libraries", info.numeric_libraries_json);
  {
    std::string o = "[";
    for (auto& x : info.overrides) {
      o += (o.size() > 1 ? ", " : "") + std::string("\"");
      for (char c : x) o += c == '"' || c == '\\' ? std::string("\\") + c : std::string(1, c);
      o += "\"";
    }
    write_string_attr(f, "overrides", o + "]");
  }
  write_string_dataset(f, "descriptor", info.descriptor_text, path);
  for (std::size_t i = 0; i < info.includes.size(); ++i) {
    const std::string name = "includes/" + std::to_string(i);
    write_string_dataset(f, name, info.includes[i].second, path);
    write_string_attr(open_dataset(f, name), "path", info.includes[i].first);
  }
  write_string_dataset(f, "resolved", info.resolved_json, path);
  Handle plugins(check(H5Gcreate2(f, "plugins", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), path, "creating plugins"));
  for (auto& p : info.plugins) {
    std::string name = fs::path(p.path).filename().string();
    Handle g(check(H5Gcreate2(plugins, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), path, "creating plugins/" + name));
    write_string_attr(g, "path", p.path);
    write_string_attr(g, "sha256", p.sha256);
    write_string_attr(g, "fingerprint", p.fingerprint);
    write_string_attr(g, "compiler", p.compiler);
  }
  plugins.reset();
  Handle variants(check(H5Gcreate2(f, "variants", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), path, "creating variants"));
  for (auto& [name, rel] : info.variants)
    check(H5Lcreate_external(rel.c_str(), "/", variants, name.c_str(), H5P_DEFAULT, H5P_DEFAULT), path,
          "linking variant " + name);
  variants.reset();
  close_file(f, path, "writing the index file (disk full?)");
  if (std::rename(tmp.c_str(), path.c_str()) != 0) h5_fail(path, "renaming the temporary index file into place");
}

}  // namespace ebm::kernel
