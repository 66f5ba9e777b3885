#include "config/json.hpp"

#include <sstream>

#include <boost/json.hpp>

namespace ebm::kernel {

namespace json = boost::json;

json::value to_json(const Value& v) {
  switch (v.type()) {
    case Value::Type::null:
      return nullptr;
    case Value::Type::boolean:
      return v.as_bool();
    case Value::Type::integer:
      return v.as_int();
    case Value::Type::real:
      return v.as_real();
    case Value::Type::string:
      return json::string(v.as_string());
    case Value::Type::list: {
      json::array a;
      for (auto& e : v.as_list()) a.push_back(to_json(e));
      return a;
    }
    case Value::Type::table: {
      json::object o;
      for (auto& [k, e] : v.as_table()) o[k] = to_json(e);
      return o;
    }
  }
  return nullptr;
}

Value from_json(const json::value& v, const SourceLoc& loc) {
  switch (v.kind()) {
    case json::kind::null:
      return Value();
    case json::kind::bool_:
      return Value(v.get_bool(), loc);
    case json::kind::int64:
      return Value(v.get_int64(), loc);
    case json::kind::uint64:
      return Value(static_cast<std::int64_t>(v.get_uint64()), loc);
    case json::kind::double_:
      return Value(v.get_double(), loc);
    case json::kind::string:
      return Value(std::string(v.get_string()), loc);
    case json::kind::array: {
      List l;
      for (auto& e : v.get_array()) l.push_back(from_json(e, loc));
      return Value(std::move(l), loc);
    }
    case json::kind::object: {
      Table t;
      for (auto& [k, e] : v.get_object()) t[std::string(k)] = from_json(e, loc);
      return Value(std::move(t), loc);
    }
  }
  return Value();
}

json::value to_json(const ParamSpec& s) {
  json::object o;
  o["name"] = s.name;
  o["type"] = param_type_name(s.type);
  o["describe"] = s.describe_type();
  o["doc"] = s.doc;
  o["required"] = s.required;
  if (s.default_value) o["default"] = to_json(*s.default_value);
  if (s.min) o["min"] = *s.min;
  if (s.max) o["max"] = *s.max;
  if (s.min && s.min_exclusive) o["min_exclusive"] = true;
  if (s.max && s.max_exclusive) o["max_exclusive"] = true;
  if (!s.choices.empty()) {
    json::array c;
    for (auto& x : s.choices) c.push_back(json::string(x));
    o["choices"] = c;
  }
  if (!s.ref_kind.empty()) o["ref_kind"] = s.ref_kind;
  if (s.element) o["element"] = to_json(*s.element);
  if (!s.fields.empty()) {
    json::array f;
    for (auto& x : s.fields) f.push_back(to_json(x));
    o["fields"] = f;
  }
  return o;
}

namespace {
void print(std::ostream& os, const json::value& v, int indent) {
  std::string pad(static_cast<size_t>(indent) * 2, ' ');
  if (v.is_object()) {
    auto& o = v.get_object();
    if (o.empty()) {
      os << "{}";
      return;
    }
    os << "{\n";
    size_t i = 0;
    for (auto& [k, e] : o) {
      os << pad << "  " << json::serialize(json::string(k)) << ": ";
      print(os, e, indent + 1);
      os << (++i < o.size() ? ",\n" : "\n");
    }
    os << pad << "}";
  } else if (v.is_array()) {
    auto& a = v.get_array();
    if (a.empty()) {
      os << "[]";
      return;
    }
    os << "[\n";
    for (size_t i = 0; i < a.size(); ++i) {
      os << pad << "  ";
      print(os, a[i], indent + 1);
      os << (i + 1 < a.size() ? ",\n" : "\n");
    }
    os << pad << "]";
  } else {
    os << json::serialize(v);
  }
}
}  // namespace

std::string pretty(const json::value& v) {
  std::ostringstream os;
  print(os, v, 0);
  return os.str();
}

}  // namespace ebm::kernel
