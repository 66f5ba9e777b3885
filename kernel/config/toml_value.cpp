// TOML (toml++) -> ebm::Value, keeping every value's file:line:column.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <toml++/toml.h>

#include "config/descriptor.hpp"

namespace ebm::kernel {

namespace {

SourceLoc loc_of(const toml::node& n, const std::string& file) {
  auto& s = n.source();
  return SourceLoc{file, static_cast<int>(s.begin.line), static_cast<int>(s.begin.column)};
}

Value convert(const toml::node& n, const std::string& file) {
  SourceLoc loc = loc_of(n, file);
  if (auto* t = n.as_table()) {
    Table out;
    for (auto& [k, v] : *t) out.emplace(std::string(k.str()), convert(v, file));
    return Value(std::move(out), loc);
  }
  if (auto* a = n.as_array()) {
    List out;
    for (auto& v : *a) out.push_back(convert(v, file));
    return Value(std::move(out), loc);
  }
  if (auto* s = n.as_string()) return Value(s->get(), loc);
  if (auto* i = n.as_integer()) return Value(static_cast<std::int64_t>(i->get()), loc);
  if (auto* f = n.as_floating_point()) return Value(f->get(), loc);
  if (auto* b = n.as_boolean()) return Value(b->get(), loc);
  throw ConfigError(loc.str() + ": dates and times are not supported in ebmlab descriptors; write a string instead");
}

}  // namespace

Value parse_toml_text(const std::string& text, const std::string& source_name) {
  try {
    toml::table t = toml::parse(text, source_name);
    Value v = convert(t, source_name);
    v.set_loc(SourceLoc{source_name, 1, 1});
    return v;
  } catch (const toml::parse_error& e) {
    auto& s = e.source();
    throw ConfigError(source_name + ":" + std::to_string(s.begin.line) + ":" + std::to_string(s.begin.column) +
                      ": TOML syntax error: " + std::string(e.description()));
  }
}

namespace {

std::string read_text(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(what);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// The file's tree with its includes merged underneath; `chain` holds the files being read.
Value load_tree(const std::string& path, const std::string& text, std::vector<std::string>& chain, Descriptor& d) {
  Value root = parse_toml_text(text, path);
  const Value* inc = root.find("include");
  if (!inc) return root;
  if (inc->type() != Value::Type::list)
    throw ConfigError(inc->loc().str() + ": 'include' must be an array of file names, e.g. include = [\"base.toml\"]");
  Value merged(Table{}, root.loc());
  for (auto& f : inc->as_list()) {
    if (f.type() != Value::Type::string)
      throw ConfigError(f.loc().str() + ": 'include' entries must be file names (strings), found " + f.to_string());
    std::filesystem::path file = f.as_string();
    if (file.is_relative()) file = std::filesystem::path(path).parent_path() / file;
    const std::string name = file.lexically_normal().string();
    if (std::find(chain.begin(), chain.end(), name) != chain.end()) {
      std::string cycle;
      for (auto& c : chain) cycle += c + " -> ";
      throw ConfigError(f.loc().str() + ": include cycle: " + cycle + name + "; remove one of these includes");
    }
    if (chain.size() > 32) throw ConfigError(f.loc().str() + ": includes nested more than 32 deep");
    std::string sub =
        read_text(name, f.loc().str() + ": cannot open included file '" + name + "' (paths are relative to the including file)");
    d.includes.emplace_back(name, sub);
    chain.push_back(name);
    merged = deep_merge(merged, load_tree(name, sub, chain, d));
    chain.pop_back();
  }
  root.as_table().erase("include");
  return deep_merge(merged, root);
}

}  // namespace

Descriptor load_descriptor(const std::string& path) {
  Descriptor d;
  d.path = path;
  d.text = read_text(path, path + ": cannot open the descriptor (check the path)");
  std::vector<std::string> chain{std::filesystem::path(path).lexically_normal().string()};
  d.root = load_tree(path, d.text, chain, d);
  return d;
}

}  // namespace ebm::kernel
