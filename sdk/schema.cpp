#include "ebmlab/schema.hpp"

#include <cmath>
#include <sstream>

namespace ebm {

const char* param_type_name(ParamType t) {
  switch (t) {
    case ParamType::boolean:
      return "boolean";
    case ParamType::integer:
      return "integer";
    case ParamType::real:
      return "real";
    case ParamType::string:
      return "string";
    case ParamType::enumeration:
      return "enum";
    case ParamType::list:
      return "array";
    case ParamType::table:
      return "table";
    case ParamType::reference:
      return "reference";
  }
  return "?";
}

std::string ParamSpec::describe_type() const {
  std::string s = param_type_name(type);
  if (type == ParamType::enumeration) {
    s = "one of ";
    for (size_t i = 0; i < choices.size(); ++i) s += (i ? "|" : "") + choices[i];
  } else if (type == ParamType::reference) {
    s = "name of a " + ref_kind + " in [" + ref_kind + "s]";
  } else if (type == ParamType::list && element) {
    s = "array of " + element->describe_type();
  }
  if (min && max)
    s += std::string(" in ") + (min_exclusive ? "(" : "[") + number_text(*min) + ", " + number_text(*max) +
         (max_exclusive ? ")" : "]");
  else if (min)
    s += (min_exclusive ? " > " : " >= ") + number_text(*min);
  else if (max)
    s += (max_exclusive ? " < " : " <= ") + number_text(*max);
  return s;
}

namespace param {
namespace {
ParamSpec make(std::string name, ParamType t, std::string doc) {
  ParamSpec p;
  p.name = std::move(name);
  p.type = t;
  p.doc = std::move(doc);
  return p;
}
}  // namespace
ParamSpec boolean(std::string n, std::string d) { return make(std::move(n), ParamType::boolean, std::move(d)); }
ParamSpec integer(std::string n, std::string d) { return make(std::move(n), ParamType::integer, std::move(d)); }
ParamSpec real(std::string n, std::string d) { return make(std::move(n), ParamType::real, std::move(d)); }
ParamSpec string(std::string n, std::string d) { return make(std::move(n), ParamType::string, std::move(d)); }
ParamSpec enumeration(std::string n, std::vector<std::string> choices, std::string d) {
  auto p = make(std::move(n), ParamType::enumeration, std::move(d));
  p.choices = std::move(choices);
  return p;
}
ParamSpec list(std::string n, ParamSpec element, std::string d) {
  auto p = make(std::move(n), ParamType::list, std::move(d));
  p.element = std::make_shared<ParamSpec>(std::move(element));
  return p;
}
ParamSpec table(std::string n, std::vector<ParamSpec> fields, std::string d) {
  auto p = make(std::move(n), ParamType::table, std::move(d));
  p.fields = std::move(fields);
  return p;
}
ParamSpec reference(std::string n, std::string kind, std::string d) {
  auto p = make(std::move(n), ParamType::reference, std::move(d));
  p.ref_kind = std::move(kind);
  return p;
}
ParamSpec stream(std::string n, std::string d) { return reference(std::move(n), "stream", std::move(d)).set_default("train"); }
}  // namespace param

}  // namespace ebm
