#include "loader/runtime_libraries.hpp"

#include <cstdio>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace ebm::kernel {

std::string first_line_of(const std::string& command) {
  std::string out;
  if (FILE* p = popen(command.c_str(), "r")) {
    char buf[1024];
    if (fgets(buf, sizeof buf, p)) out = buf;
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

namespace {

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

/// The dpkg package owning `path` (also tried without a leading /usr: merged /usr).
std::pair<std::string, std::string> owner(const std::string& path) {
  for (const std::string& p : {path, path.rfind("/usr/", 0) == 0 ? path.substr(4) : std::string()}) {
    if (p.empty()) continue;
    std::string line = first_line_of("dpkg-query -S " + shell_quote(p) + " 2>/dev/null");
    auto colon = line.find(": ");
    if (colon == std::string::npos) continue;
    std::string package = line.substr(0, colon);
    if (package.find(',') != std::string::npos) package = package.substr(0, package.find(','));
    return {package, first_line_of("dpkg-query -W -f='${Version}' " + shell_quote(package) + " 2>/dev/null")};
  }
  return {"", ""};
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::set<std::string> mapped_shared_objects() {
  std::set<std::string> paths;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    std::string path = line.substr(slash);
    if (path.find(".so") != std::string::npos) paths.insert(path);
  }
  return paths;
}

std::vector<RuntimeLibrary> loaded_numeric_libraries() {
  static const std::regex kBlas(R"((^|/)lib(open)?blas|(^|/)liblapack|(^|/)libmkl|(^|/)libblis|(^|/)libflexiblas|(^|/)libatlas)",
                                std::regex::icase);
  static const std::regex kOpenmp(R"((^|/)lib(g|i)?omp[0-9]*\.so)", std::regex::icase);
  std::vector<RuntimeLibrary> out;
  for (auto& path : mapped_shared_objects()) {
    const std::string name = path.substr(path.rfind('/') + 1);
    std::string kind = std::regex_search(name, kBlas) ? "blas" : std::regex_search(name, kOpenmp) ? "openmp" : "";
    if (kind.empty()) continue;
    auto [package, version] = owner(path);
    out.push_back(RuntimeLibrary{kind, path, package, version});
  }
  return out;
}

std::string numeric_libraries_json() {
  std::ostringstream o;
  o << "[";
  bool first = true;
  for (auto& l : loaded_numeric_libraries()) {
    o << (first ? "" : ", ") << "{\"kind\": " << json_string(l.kind) << ", \"path\": " << json_string(l.path)
      << ", \"package\": " << json_string(l.package) << ", \"version\": " << json_string(l.version) << "}";
    first = false;
  }
  o << "]";
  return o.str();
}

}  // namespace ebm::kernel
