// The conformance suites' settings, from the plugins themselves (the checks are the testing
// library's, include/ebmlab/testing.hpp, the same an out-of-tree plugin runs): every plugin folder has a
// conformance.toml with one [[name]] table per setting of each plugin it builds (or names
// it under [own_tests] with the reason its own tests cover the contract instead). The
// suites run every plugin the registry loaded, so a new plugin without settings fails them
// and a deleted plugin folder takes its settings along.
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "ebmlab/testing.hpp"

#include "config/descriptor.hpp"
#include "context.hpp"

namespace ebm::test {

/// A value as TOML text (the conformance settings' scalars, lists and inline tables).
inline std::string toml_text(const Value& v) {
  switch (v.type()) {
    case Value::Type::boolean:
      return v.as_bool() ? "true" : "false";
    case Value::Type::integer:
      return std::to_string(v.as_int());
    case Value::Type::real: {
      std::ostringstream s;
      s.precision(17);
      s << v.as_real();
      const std::string t = s.str();
      return t.find_first_of(".eEn") == std::string::npos ? t + ".0" : t;
    }
    case Value::Type::string: {
      std::string out = "\"";
      for (char c : v.as_string()) out += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
      return out + "\"";
    }
    case Value::Type::list: {
      std::string out = "[";
      for (auto& e : v.as_list()) out += (out.size() > 1 ? ", " : "") + toml_text(e);
      return out + "]";
    }
    case Value::Type::table: {
      std::string out = "{";
      for (auto& [k, e] : v.as_table()) out += (out.size() > 1 ? ", " : " ") + k + " = " + toml_text(e);
      return out + " }";
    }
    case Value::Type::null:
      break;
  }
  return "";
}

/// One way to build a plugin for a conformance suite.
struct Setting {
  std::string plugin;
  Table values;        ///< the descriptor table, without `plugin`
  std::string source;  ///< "plugins/samplers/pgd/conformance.toml #2", for messages
  /// The table as a TOML body, as ebm::testing's checks take it.
  std::string body() const {
    std::string out;
    for (auto& [k, v] : values) out += k + " = " + toml_text(v) + "\n";
    return out;
  }
};

/// Every conformance.toml of the source tree, parsed once.
inline const std::vector<std::pair<std::string, Value>>& conformance_files() {
  static const std::vector<std::pair<std::string, Value>> files = [] {
    std::vector<std::pair<std::string, Value>> out;
    const std::filesystem::path root = std::filesystem::path(EBMLAB_SOURCE_DIR) / "plugins";
    std::vector<std::filesystem::path> found;
    for (auto& e : std::filesystem::recursive_directory_iterator(root))
      if (e.path().filename() == "conformance.toml") found.push_back(e.path());
    std::sort(found.begin(), found.end());
    for (auto& p : found) {
      std::ifstream in(p);
      std::stringstream text;
      text << in.rdbuf();
      const std::string rel = std::filesystem::relative(p, EBMLAB_SOURCE_DIR).string();
      out.emplace_back(rel, kernel::parse_toml_text(text.str(), rel));
    }
    return out;
  }();
  return files;
}

/// The settings of every loaded plugin of `kind` (the test fixtures' aside). Fails the
/// test for a loaded plugin that has neither settings nor an [own_tests] entry.
inline std::vector<Setting> conformance_settings(Kind kind) {
  std::vector<Setting> out;
  for (auto& name : registry().names(kind)) {
    if (name.rfind("fixture", 0) == 0) continue;
    bool covered = false;
    for (auto& entry : conformance_files()) {
      // Named copies, not structured bindings: clang 14 cannot capture those in doctest's macros.
      const std::string& file = entry.first;
      const Value& root = entry.second;
      if (const Value* own = root.find("own_tests"); own && own->find(name)) covered = true;
      const Value* list = root.find(name);
      if (!list) continue;
      REQUIRE_MESSAGE(list->type() == Value::Type::list, file << ": " << name << " must be [[" << name << "]] tables");
      int i = 0;
      for (auto& t : list->as_list()) {
        out.push_back(Setting{name, t.as_table(), file + " #" + std::to_string(++i)});
        covered = true;
      }
    }
    CHECK_MESSAGE(covered, kind_name(kind) << " plugin '" << name << "' has no conformance settings: add [[" << name
                                           << "]] to conformance.toml in its plugin folder");
  }
  return out;
}

/// Builds the plugin of a setting, validated as a descriptor table would be.
template <class T>
std::shared_ptr<T> make_plugin(Kind kind, const Setting& s, const DataInfo& info, std::shared_ptr<Normalization> norm = nullptr) {
  return make_plugin_from<T>(kind, s.plugin, s.values, info, std::move(norm));
}

/// A model of a backbone setting with a normalization setting.
inline std::shared_ptr<kernel::Model> make_model(const Setting& backbone, const Setting& norm, const DataInfo& info) {
  auto n = make_plugin<Normalization>(Kind::normalization, norm, info);
  auto b = make_plugin<Backbone>(Kind::backbone, backbone, info, n);
  return std::make_shared<kernel::Model>(b, info);
}

}  // namespace ebm::test
