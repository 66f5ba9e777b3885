// TOML (toml++) -> ebm::Value, keeping every value's file:line:column.
#include <toml++/toml.h>

#include <fstream>
#include <sstream>

#include "descriptor.hpp"

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

Descriptor load_descriptor(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot open the descriptor (check the path)");
  std::stringstream ss;
  ss << in.rdbuf();
  Descriptor d;
  d.path = path;
  d.text = ss.str();
  d.root = parse_toml_text(d.text, path);
  return d;
}

}  // namespace ebm::kernel
