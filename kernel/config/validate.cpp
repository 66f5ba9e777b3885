#include "config/validate.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <sstream>

namespace ebm::kernel {

void Diagnostics::add(const SourceLoc& where, const std::string& message) { messages_.push_back(where.str() + ": " + message); }

bool Diagnostics::in_missing_table(const std::string& key) const {
  for (auto& m : missing_)
    if (key.compare(0, m.size(), m) == 0) return true;
  return false;
}

void Diagnostics::raise() const {
  if (messages_.empty()) return;
  std::string all;
  for (auto& m : messages_) all += (all.empty() ? "" : "\n") + m;
  throw SchemaError(all);
}

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string out;
  for (auto& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}

namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string hint(const std::string& word, const std::vector<std::string>& options) {
  std::string c = closest(word, options);
  return c.empty() ? "" : "; did you mean '" + c + "'?";
}

Value check(const Value& v, const ParamSpec& spec, const std::string& path, Diagnostics& diag, const References& refs);

bool in_range(const Value& v, const ParamSpec& spec, double x, const std::string& path, Diagnostics& diag) {
  if (!spec.in_bounds(x)) {
    diag.add(v.loc(), "'" + path + "' = " + v.to_string() + " is out of range: expected " + spec.describe_type());
    return false;
  }
  return true;
}

Value mismatch(const Value& v, const ParamSpec& spec, const std::string& path, Diagnostics& diag) {
  diag.add(v.loc(), "'" + path + "': expected " + spec.describe_type() + ", found " + type_name(v.type()) + " " + v.to_string());
  return Value();
}

/// The text of a command-line override that gave this scalar (parse_override locates its
/// values at "override 'key=TEXT'"), or nothing when it came from elsewhere.
std::optional<std::string> override_text(const Value& v) {
  const std::string& where = v.loc().file;
  const std::string prefix = "override '";
  const auto eq = where.find('=');
  if (where.rfind(prefix, 0) != 0 || eq == std::string::npos || where.back() != '\'') return std::nullopt;
  std::string text = where.substr(eq + 1, where.size() - eq - 2);
  if (text.empty() || text.front() == '[' || text.front() == '{') return std::nullopt;
  return text;
}

Value check(const Value& v, const ParamSpec& spec, const std::string& path, Diagnostics& diag, const References& refs) {
  using T = Value::Type;
  // An unquoted override meant as a string (mode=nan, name=1e3, tag=true): a key that takes
  // a string takes the text as written.
  const bool textual = spec.type == ParamType::string || spec.type == ParamType::enumeration || spec.type == ParamType::reference;
  if (textual && (v.type() == T::boolean || v.type() == T::integer || v.type() == T::real))
    if (auto text = override_text(v)) return check(Value(*text, v.loc()), spec, path, diag, refs);
  switch (spec.type) {
    case ParamType::boolean:
      if (v.type() != T::boolean) return mismatch(v, spec, path, diag);
      return v;
    case ParamType::integer:
      if (v.type() != T::integer) return mismatch(v, spec, path, diag);
      in_range(v, spec, static_cast<double>(v.as_int()), path, diag);
      return v;
    case ParamType::real: {
      if (v.type() != T::integer && v.type() != T::real) return mismatch(v, spec, path, diag);
      double x = v.as_real();
      if (!std::isfinite(x)) {
        diag.add(v.loc(), "'" + path + "': expected a finite number, found " + v.to_string());
        return Value();
      }
      in_range(v, spec, x, path, diag);
      return Value(x, v.loc());
    }
    case ParamType::string:
      if (v.type() != T::string) return mismatch(v, spec, path, diag);
      return v;
    case ParamType::enumeration: {
      if (v.type() != T::string) return mismatch(v, spec, path, diag);
      auto& s = v.as_string();
      if (std::find(spec.choices.begin(), spec.choices.end(), s) == spec.choices.end())
        diag.add(v.loc(), "'" + path + "' = \"" + s + "\": expected " + spec.describe_type() + hint(s, spec.choices));
      return v;
    }
    case ParamType::reference: {
      if (v.type() != T::string) return mismatch(v, spec, path, diag);
      auto& s = v.as_string();
      if (refs.exists && !refs.exists(spec.ref_kind, s)) {
        auto avail = refs.available ? refs.available(spec.ref_kind) : std::vector<std::string>{};
        // Streams live under [data.streams]; "train" needs no table.
        const bool stream = spec.ref_kind == "stream";
        const std::string table = stream ? "data.streams." : spec.ref_kind + "s.";
        std::vector<std::string> names = avail;
        if (stream) names.insert(names.begin(), "train");
        std::string expected;
        for (auto& n : names)
          expected +=
              (expected.empty() ? "" : ", ") + (stream && n == "train" ? std::string("\"train\"") : "[" + table + n + "]");
        diag.add(v.loc(), "'" + path + "' refers to " + spec.ref_kind + " '" + s + "', which is not defined: " +
                              (expected.empty() ? "define it in a [" + table + "<name>] table"
                                                : "expected one of " + expected + hint(s, names) +
                                                      (avail.empty() ? " (or define it in a [" + table + "<name>] table)" : "")));
      }
      return v;
    }
    case ParamType::list: {
      if (v.type() != T::list) return mismatch(v, spec, path, diag);
      auto n = static_cast<double>(v.as_list().size());
      if (!spec.in_bounds(n))
        diag.add(v.loc(), "'" + path + "' has " + number_text(n) + " elements: expected " + spec.describe_type() + " elements");
      List out;
      size_t i = 0;
      for (auto& e : v.as_list()) {
        out.push_back(spec.element ? check(e, *spec.element, path + "." + std::to_string(i), diag, refs) : e);
        ++i;
      }
      return Value(std::move(out), v.loc());
    }
    case ParamType::table:
      if (v.type() != T::table) return mismatch(v, spec, path, diag);
      return Value(validate_table(v, spec.fields, path, diag, refs), v.loc());
  }
  return v;
}

}  // namespace

std::string closest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::max<size_t>(2, word.size() / 3) + 1;
  for (auto& c : candidates) {
    size_t d = edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

Table validate_table(const Value& table, const Schema& schema, const std::string& path, Diagnostics& diag, const References& refs,
                     const std::vector<std::string>& passthrough) {
  Table out;
  if (table.type() != Value::Type::table) {
    diag.add(table.loc(), "'" + path + "': expected a table, found " + type_name(table.type()) + " " + table.to_string());
    return out;
  }
  std::vector<std::string> known;
  for (auto& s : schema) known.push_back(s.name);
  auto prefix = path.empty() ? std::string() : path + ".";
  for (auto& [key, v] : table.as_table()) {
    if (std::find(passthrough.begin(), passthrough.end(), key) != passthrough.end()) {
      out[key] = v;
      continue;
    }
    if (std::find(known.begin(), known.end(), key) == known.end())
      diag.add(v.loc(), "unknown key '" + prefix + key + "'" + hint(key, known) +
                            (known.empty() ? " (this table takes no keys)" : " (expected one of: " + join(known) + ")"));
  }
  for (auto& spec : schema) {
    const Value* v = table.find(spec.name);
    bool passed = std::find(passthrough.begin(), passthrough.end(), spec.name) != passthrough.end();
    if (passed && v) continue;
    if (v) {
      out[spec.name] = check(*v, spec, prefix + spec.name, diag, refs);
    } else if (spec.required) {
      if (!diag.in_missing_table(prefix + spec.name))
        diag.add(table.loc(),
                 "missing required key '" + prefix + spec.name + "' (" + spec.describe_type() + ": " + spec.doc + ")");
    } else if (spec.default_value) {
      Value d = *spec.default_value;
      d.set_loc(SourceLoc{"<default>", 0, 0});
      out[spec.name] = spec.type == ParamType::real && d.type() == Value::Type::integer ? Value(d.as_real(), d.loc()) : d;
      if (spec.type == ParamType::table && d.type() == Value::Type::table)
        out[spec.name] = Value(validate_table(d, spec.fields, prefix + spec.name, diag, refs), d.loc());
    } else if (spec.type == ParamType::table) {
      // An optional table with no default gets its fields' defaults.
      out[spec.name] =
          Value(validate_table(Value(Table{}, table.loc()), spec.fields, prefix + spec.name, diag, refs), table.loc());
    }
  }
  return out;
}

}  // namespace ebm::kernel
