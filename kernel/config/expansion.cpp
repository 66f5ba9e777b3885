// From one descriptor to many plain variants: named overlays, sweeps and command-line
// overrides. Every value keeps the place it came from, so validation errors name it.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <limits>
#include <set>

#include "config/descriptor.hpp"

namespace ebm::kernel {

Value deep_merge(const Value& base, const Value& overlay) {
  if (base.type() != Value::Type::table || overlay.type() != Value::Type::table) return overlay;
  Table out = base.as_table();
  for (auto& [k, v] : overlay.as_table()) {
    auto it = out.find(k);
    out[k] = it == out.end() ? v : deep_merge(it->second, v);
  }
  return Value(std::move(out), base.loc());
}

namespace {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    auto dot = path.find('.', start);
    out.push_back(path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return out;
}

bool is_index(const std::string& s) {
  return !s.empty() && s.size() < 10 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// Members in the order they were written (tables are kept sorted by key).
std::vector<const std::pair<const std::string, Value>*> in_file_order(const Table& t) {
  std::vector<const std::pair<const std::string, Value>*> out;
  for (auto& kv : t) out.push_back(&kv);
  // Values from overrides (no line) come after the file's own, in key order.
  auto place = [](const Value& v) {
    return std::make_pair(v.loc().line > 0 ? v.loc().line : std::numeric_limits<int>::max(), v.loc().column);
  };
  std::stable_sort(out.begin(), out.end(), [&](auto* a, auto* b) { return place(a->second) < place(b->second); });
  return out;
}

/// A short, file-name-safe rendering of a swept value.
std::string label_value(const Value& v) {
  std::string s;
  switch (v.type()) {
    case Value::Type::string:
      s = v.as_string();
      break;
    case Value::Type::integer:
      s = std::to_string(v.as_int());
      break;
    case Value::Type::boolean:
      s = v.as_bool() ? "true" : "false";
      break;
    case Value::Type::real: {
      char buf[32];
      for (int precision = 1; precision <= 17; ++precision) {
        std::snprintf(buf, sizeof buf, "%.*g", precision, v.as_real());
        if (std::strtod(buf, nullptr) == v.as_real()) break;
      }
      s = buf;
      break;
    }
    default:
      s = v.to_string();
  }
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '+' && c != '-' && c != '_') c = '_';
  return s;
}

/// One swept key: its path, label and values; keys of a zip group share `group`.
struct Axis {
  std::string path;
  std::vector<std::string> segments;
  std::string label;
  List values;
  int group = 0;
  SourceLoc loc;
};

/// Labels: the last path segment (the one before it for `plugin` and `name`), made longer
/// from the left while two axes would share one.
void assign_labels(std::vector<Axis>& axes) {
  std::vector<std::vector<std::string>> parts;
  for (auto& a : axes) {
    auto s = a.segments;
    if (a.path == "experiment.seed") s = {"seed"};
    if (s.size() >= 2 && (s.back() == "plugin" || s.back() == "name")) s.pop_back();
    parts.push_back(std::move(s));
  }
  std::vector<std::size_t> take(axes.size(), 1);
  for (int round = 0; round < 16; ++round) {
    for (std::size_t i = 0; i < axes.size(); ++i) {
      auto& s = parts[i];
      std::string out;
      for (std::size_t k = s.size() - std::min(take[i], s.size()); k < s.size(); ++k) out += (out.empty() ? "" : ".") + s[k];
      axes[i].label = out;
    }
    bool clash = false;
    for (std::size_t i = 0; i < axes.size(); ++i)
      for (std::size_t j = i + 1; j < axes.size(); ++j)
        if (axes[i].label == axes[j].label) {
          clash = true;
          take[i] = std::min(take[i] + 1, parts[i].size());
          take[j] = std::min(take[j] + 1, parts[j].size());
        }
    if (!clash) return;
  }
}

List sweep_values(const std::string& key, const Value& v) {
  if (v.type() != Value::Type::list || v.as_list().empty())
    throw SchemaError(v.loc().str() + ": 'sweep." + key + "' must be a non-empty array of values, e.g. \"" + key + "\" = [1, 2]");
  return v.as_list();
}

std::vector<Axis> sweep_axes(const Value& sweep) {
  if (sweep.type() != Value::Type::table)
    throw SchemaError(sweep.loc().str() + ": 'sweep' must be a table: [sweep] with \"dotted.path\" = [values], seeds = [...]");
  std::vector<Axis> axes;
  int group = 0;
  for (auto* kv : in_file_order(sweep.as_table())) {
    const auto& [key, v] = *kv;
    if (key == "zip") {
      if (v.type() != Value::Type::table || v.as_table().empty())
        throw SchemaError(v.loc().str() + ": 'sweep.zip' must be a table of \"dotted.path\" = [values] that move together");
      ++group;
      std::size_t n = 0;
      std::string first;
      for (auto* z : in_file_order(v.as_table())) {
        List values = sweep_values("zip." + z->first, z->second);
        if (first.empty()) {
          first = z->first;
          n = values.size();
        } else if (values.size() != n) {
          throw SchemaError(z->second.loc().str() + ": 'sweep.zip." + z->first + "' has " + std::to_string(values.size()) +
                            " values but 'sweep.zip." + first + "' has " + std::to_string(n) +
                            ": zipped keys move together, so give each the same number of values");
        }
        axes.push_back(Axis{z->first, split_path(z->first), "", std::move(values), group, z->second.loc()});
      }
      continue;
    }
    ++group;
    std::string path = key == "seeds" ? "experiment.seed" : key;
    axes.push_back(Axis{path, split_path(path), "", sweep_values(key, v), group, v.loc()});
  }
  assign_labels(axes);
  return axes;
}

}  // namespace

void set_path(Value& root, const std::vector<std::string>& path, const Value& value, const std::string& origin) {
  Value* at = &root;
  std::string walked;
  for (std::size_t i = 0; i < path.size(); ++i) {
    const std::string& seg = path[i];
    if (seg.empty()) throw ConfigError(origin + ": empty key in the path (two dots, or a leading or trailing dot)");
    const bool last = i + 1 == path.size();
    if (at->type() == Value::Type::list) {
      if (!is_index(seg))
        throw ConfigError(origin + ": '" + walked + "' is an array; expected an index 0.." +
                          std::to_string(static_cast<std::int64_t>(at->as_list().size()) - 1) + " after it, found '" + seg + "'");
      auto index = std::stoul(seg);
      if (index >= at->as_list().size())
        throw ConfigError(origin + ": '" + walked + "' has " + std::to_string(at->as_list().size()) + " entries; index " + seg +
                          " is out of range (the first is 0)");
      at = &at->as_list()[index];
    } else if (at->type() == Value::Type::table) {
      Table& t = at->as_table();
      auto it = t.find(seg);
      if (it == t.end()) {
        if (!last && is_index(path[i + 1]))
          throw ConfigError(origin + ": '" + (walked.empty() ? seg : walked + "." + seg) +
                            "' is not in the descriptor, so entry " + path[i + 1] + " of it cannot be set");
        it = t.emplace(seg, Value(Table{}, value.loc())).first;
      }
      at = &it->second;
    } else {
      throw ConfigError(origin + ": '" + walked + "' is a " + type_name(at->type()) + " (" + at->to_string() +
                        "), not a table, so it has no key '" + seg + "'");
    }
    walked += (walked.empty() ? "" : ".") + seg;
  }
  *at = value;
}

Override parse_override(const std::string& arg) {
  auto eq = arg.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError("override '" + arg +
                      "': expected key.path=value (for example stage.0.epochs=3 or model.norm.plugin=group)");
  Override o;
  o.text = arg;
  o.path = split_path(arg.substr(0, eq));
  const std::string text = arg.substr(eq + 1);
  const SourceLoc loc{"override '" + arg + "'", 0, 0};
  if (text.empty()) throw ConfigError("override '" + arg + "': the value is empty; write key=value (quote strings with spaces)");
  try {
    Value doc = parse_toml_text("v = " + text, "override");
    o.value = *doc.find("v");
  } catch (const ConfigError&) {
    o.value = Value(text);  // not a TOML value: a bare string such as group or fashion_mnist
  }
  // Every value inside takes the override's name as its place, for error messages.
  std::function<void(Value&)> relocate = [&](Value& v) {
    v.set_loc(loc);
    if (v.type() == Value::Type::list)
      for (auto& x : v.as_list()) relocate(x);
    if (v.type() == Value::Type::table)
      for (auto& [k, x] : v.as_table()) relocate(x);
  };
  relocate(o.value);
  for (auto& s : o.path)
    if (s.empty()) throw ConfigError("override '" + arg + "': empty key in the path (two dots, or a leading or trailing dot)");
  return o;
}

namespace {

/// The [variants.NAME] overlays merged onto the base document, or the base alone as "main".
std::vector<Variant> named_variants(const Value& root, const Value& base) {
  std::vector<Variant> named;
  const Value* variants = root.find("variants");
  if (!variants) {
    named.push_back(Variant{"main", base});
    return named;
  }
  if (variants->type() != Value::Type::table || variants->as_table().empty())
    throw SchemaError(variants->loc().str() + ": 'variants' must be a table of named overlays ([variants.NAME])");
  for (auto* kv : in_file_order(variants->as_table())) {
    if (kv->second.type() != Value::Type::table)
      throw SchemaError(kv->second.loc().str() + ": 'variants." + kv->first + "' must be a table");
    if (const Value* pl = kv->second.find("plugins"))
      throw SchemaError(pl->loc().str() + ": 'variants." + kv->first +
                        ".plugins': plugin paths apply to the whole descriptor; move [plugins] to the top level");
    named.push_back(Variant{kv->first, deep_merge(base, kv->second)});
  }
  return named;
}

/// Every named variant crossed with every point of the [sweep]; swept values are appended
/// to the name as label=value (a lone "main" is dropped from the name).
std::vector<Variant> sweep_variants(const Value& sweep, const std::vector<Variant>& named, bool has_variants) {
  std::vector<Axis> axes = sweep_axes(sweep);
  // Groups of axes; each group advances one index for all its axes.
  std::vector<std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < axes.size(); ++i) {
    if (i == 0 || axes[i].group != axes[i - 1].group) groups.emplace_back();
    groups.back().push_back(i);
  }
  std::size_t total = 1;
  for (auto& g : groups) {
    total *= axes[g.front()].values.size();
    if (total * named.size() > kMaxVariants)
      throw SchemaError(sweep.loc().str() + ": the sweep expands to more than " + std::to_string(kMaxVariants) +
                        " variants; split it into several descriptors or use fewer values");
  }
  std::vector<Variant> out;
  for (auto& v : named)
    for (std::size_t flat = 0; flat < total; ++flat) {
      Variant x{has_variants ? v.name : "", v.tree};
      std::size_t rest = flat;
      std::vector<std::size_t> pick(groups.size());
      for (std::size_t g = groups.size(); g-- > 0;) {
        const std::size_t n = axes[groups[g].front()].values.size();
        pick[g] = rest % n;
        rest /= n;
      }
      for (std::size_t g = 0; g < groups.size(); ++g)
        for (std::size_t a : groups[g]) {
          const Value& value = axes[a].values[pick[g]];
          set_path(x.tree, axes[a].segments, value, axes[a].loc.str() + ": sweep key '" + axes[a].path + "'");
          x.name += (x.name.empty() ? "" : "-") + axes[a].label + "=" + label_value(value);
        }
      out.push_back(std::move(x));
    }
  return out;
}

}  // namespace

std::vector<Variant> expand(const Descriptor& d, const std::vector<Override>& overrides) {
  Value root = d.root;
  // Overrides of the expansion itself apply to the document first.
  for (auto& o : overrides)
    if (o.path.front() == "variants" || o.path.front() == "sweep") set_path(root, o.path, o.value, "override '" + o.text + "'");

  for (auto& o : overrides)
    if (o.path.front() == "plugins")
      throw ConfigError("override '" + o.text +
                        "': plugin paths cannot be set from the command line; put the folder on "
                        "EBMLAB_PLUGIN_PATH instead");
  Value base = root;
  base.as_table().erase("variants");
  base.as_table().erase("sweep");
  base.as_table().erase("plugins");  // the whole file's, read by descriptor_plugin_paths()
  std::vector<Variant> named = named_variants(root, base);
  const Value* sweep = root.find("sweep");
  std::vector<Variant> out = sweep ? sweep_variants(*sweep, named, root.find("variants") != nullptr) : std::move(named);

  for (auto& v : out)
    for (auto& o : overrides)
      if (o.path.front() != "variants" && o.path.front() != "sweep") {
        try {
          set_path(v.tree, o.path, o.value, "override '" + o.text + "'");
        } catch (const ConfigError& e) {
          throw ConfigError(out.size() == 1 ? e.what() : std::string(e.what()) + " (variant '" + v.name + "')");
        }
      }

  std::set<std::string> seen;
  for (auto& v : out)
    if (!seen.insert(v.name).second)
      throw SchemaError(d.path + ": two expanded variants are both named '" + v.name +
                        "'; give the swept values distinct labels (e.g. sweep a different key)");
  return out;
}

}  // namespace ebm::kernel

namespace ebm::kernel {

std::vector<PluginPath> descriptor_plugin_paths(const Descriptor& d) {
  std::vector<PluginPath> out;
  const Value* t = d.root.find("plugins");
  if (!t) return out;
  if (t->type() != Value::Type::table)
    throw SchemaError(t->loc().str() + ": 'plugins' must be a table: [plugins] paths = [\"folder or file\", ...]");
  for (auto& [key, v] : t->as_table())
    if (key != "paths") throw SchemaError(v.loc().str() + ": unknown key 'plugins." + key + "' (expected only 'paths')");
  const Value* paths = t->find("paths");
  if (!paths) return out;
  if (paths->type() != Value::Type::list)
    throw SchemaError(paths->loc().str() + ": 'plugins.paths' must be an array of folder or file names");
  for (auto& v : paths->as_list()) {
    if (v.type() != Value::Type::string || v.as_string().empty())
      throw SchemaError(v.loc().str() + ": 'plugins.paths' entries must be non-empty strings (a plugin folder or .so file)");
    std::filesystem::path p = v.as_string();
    // Relative to the file that names it (an include's own folder for an included file).
    if (p.is_relative()) p = std::filesystem::path(v.loc().file).parent_path() / p;
    out.push_back(PluginPath{p.lexically_normal().string(), v.loc()});
  }
  return out;
}

}  // namespace ebm::kernel
