#include "ebmlab/schema.hpp"

namespace ebm {

const Value& Params::at(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end() || it->second.is_null())
    throw SchemaError(owner_ + ": parameter '" + key + "' was read but has no value (not declared, or optional and unset)");
  return it->second;
}

bool Params::has(const std::string& key) const {
  auto it = values_.find(key);
  return it != values_.end() && !it->second.is_null();
}
bool Params::boolean(const std::string& key) const { return at(key).as_bool(); }
std::int64_t Params::integer(const std::string& key) const { return at(key).as_int(); }
double Params::real(const std::string& key) const { return at(key).as_real(); }
const std::string& Params::string(const std::string& key) const { return at(key).as_string(); }
const List& Params::list(const std::string& key) const { return at(key).as_list(); }
Params Params::table(const std::string& key) const { return Params(at(key).as_table(), owner_ + "." + key); }

std::vector<double> Params::reals(const std::string& key) const {
  std::vector<double> out;
  for (auto& v : list(key)) out.push_back(v.as_real());
  return out;
}
std::vector<std::int64_t> Params::integers(const std::string& key) const {
  std::vector<std::int64_t> out;
  for (auto& v : list(key)) out.push_back(v.as_int());
  return out;
}

}  // namespace ebm
