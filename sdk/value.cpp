#include "ebmlab/value.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace ebm {

std::string SourceLoc::str() const {
  if (line <= 0) return file.empty() ? "<unknown>" : file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

const char* type_name(Value::Type t) {
  switch (t) {
    case Value::Type::null:
      return "nothing";
    case Value::Type::boolean:
      return "boolean";
    case Value::Type::integer:
      return "integer";
    case Value::Type::real:
      return "real";
    case Value::Type::string:
      return "string";
    case Value::Type::list:
      return "array";
    case Value::Type::table:
      return "table";
  }
  return "?";
}

namespace {
[[noreturn]] void wrong_type(const Value& v, const char* wanted) {
  throw SchemaError(v.loc().str() + ": expected " + wanted + ", found " + type_name(v.type()) + " " + v.to_string());
}
}  // namespace

bool Value::as_bool() const {
  if (auto* b = std::get_if<bool>(&data_)) return *b;
  wrong_type(*this, "a boolean");
}
std::int64_t Value::as_int() const {
  if (auto* i = std::get_if<std::int64_t>(&data_)) return *i;
  wrong_type(*this, "an integer");
}
double Value::as_real() const {
  if (auto* d = std::get_if<double>(&data_)) return *d;
  if (auto* i = std::get_if<std::int64_t>(&data_)) return static_cast<double>(*i);
  wrong_type(*this, "a number");
}
const std::string& Value::as_string() const {
  if (auto* s = std::get_if<std::string>(&data_)) return *s;
  wrong_type(*this, "a string");
}
const List& Value::as_list() const {
  if (auto* l = std::get_if<List>(&data_)) return *l;
  wrong_type(*this, "an array");
}
const Table& Value::as_table() const {
  if (auto* t = std::get_if<Table>(&data_)) return *t;
  wrong_type(*this, "a table");
}
List& Value::as_list() { return const_cast<List&>(static_cast<const Value*>(this)->as_list()); }
Table& Value::as_table() { return const_cast<Table&>(static_cast<const Value*>(this)->as_table()); }

const Value* Value::find(const std::string& key) const {
  auto* t = std::get_if<Table>(&data_);
  if (!t) return nullptr;
  auto it = t->find(key);
  return it == t->end() ? nullptr : &it->second;
}

std::string number_text(double d) {
  if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 1e15) return std::to_string(static_cast<long long>(d));
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  return buf;
}

std::string Value::to_string() const {
  std::ostringstream os;
  switch (type()) {
    case Type::null:
      os << "(none)";
      break;
    case Type::boolean:
      os << (as_bool() ? "true" : "false");
      break;
    case Type::integer:
      os << as_int();
      break;
    case Type::real: {
      double d = std::get<double>(data_);
      os << number_text(d);
      if (std::isfinite(d) && d == std::floor(d) && std::abs(d) < 1e15) os << ".0";
      break;
    }
    case Type::string:
      os << '"' << as_string() << '"';
      break;
    case Type::list: {
      os << '[';
      bool first = true;
      for (auto& v : as_list()) {
        os << (first ? "" : ", ") << v.to_string();
        first = false;
      }
      os << ']';
      break;
    }
    case Type::table: {
      os << '{';
      bool first = true;
      for (auto& [k, v] : as_table()) {
        os << (first ? " " : ", ") << k << " = " << v.to_string();
        first = false;
      }
      os << (first ? "}" : " }");
      break;
    }
  }
  return os.str();
}

}  // namespace ebm
