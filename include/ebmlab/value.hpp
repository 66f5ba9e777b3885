// ebmlab SDK: a configuration value tree that remembers where each value came from.
// The kernel converts TOML into this so no toml++ type crosses the plugin boundary.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "ebmlab/error.hpp"

namespace ebm {

/// Where a value was written: a descriptor file position, an override, or a default.
struct EBMLAB_API SourceLoc {
  std::string file;  ///< descriptor path, "<override>", or "<default>"
  int line = 0;
  int column = 0;
  std::string str() const;  ///< "file:line:column" (or just "file" when unknown)
};

class Value;
using List = std::vector<Value>;
using Table = std::map<std::string, Value>;

/// A TOML-like value: bool, integer, real, string, list or table, plus its source.
class EBMLAB_API Value {
 public:
  enum class Type { null, boolean, integer, real, string, list, table };

  Value() = default;
  Value(bool b, SourceLoc loc = {}) : data_(b), loc_(std::move(loc)) {}
  Value(std::int64_t i, SourceLoc loc = {}) : data_(i), loc_(std::move(loc)) {}
  Value(int i, SourceLoc loc = {}) : data_(std::int64_t{i}), loc_(std::move(loc)) {}
  Value(double d, SourceLoc loc = {}) : data_(d), loc_(std::move(loc)) {}
  Value(std::string s, SourceLoc loc = {}) : data_(std::move(s)), loc_(std::move(loc)) {}
  Value(const char* s, SourceLoc loc = {}) : data_(std::string(s)), loc_(std::move(loc)) {}
  Value(List l, SourceLoc loc = {}) : data_(std::move(l)), loc_(std::move(loc)) {}
  Value(Table t, SourceLoc loc = {}) : data_(std::move(t)), loc_(std::move(loc)) {}

  Type type() const { return static_cast<Type>(data_.index()); }
  bool is_null() const { return type() == Type::null; }
  const SourceLoc& loc() const { return loc_; }
  void set_loc(SourceLoc loc) { loc_ = std::move(loc); }

  bool as_bool() const;
  std::int64_t as_int() const;
  double as_real() const;  ///< integers convert to real; nothing else does
  const std::string& as_string() const;
  const List& as_list() const;
  const Table& as_table() const;
  List& as_list();
  Table& as_table();

  /// Member of a table or nullptr (no throw): `v.find("lr")`.
  const Value* find(const std::string& key) const;

  /// Compact TOML-ish rendering for messages and JSON-like dumps.
  std::string to_string() const;

 private:
  std::variant<std::monostate, bool, std::int64_t, double, std::string, List, Table> data_;
  SourceLoc loc_;
};

EBMLAB_API const char* type_name(Value::Type t);
/// A number as every message prints it: whole numbers in full ("1000000000"), others in the
/// shortest form that reads back to the same double, exponents as "1e-08" (C's %g).
EBMLAB_API std::string number_text(double d);

}  // namespace ebm
