// ebmlab SDK: parameter schemas. Each plugin entry declares what it accepts; the kernel
// validates every descriptor against it before anything runs and hands the factory a
// checked `Params` (defaults filled in, types exact).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ebmlab/value.hpp"

namespace ebm {

enum class ParamType { boolean, integer, real, string, enumeration, list, table, reference };
EBMLAB_API const char* param_type_name(ParamType t);

/// One declared parameter. Build them with the helpers below, e.g.
/// `param::real("eps", "L-inf radius in pixel units").set_default(0.1).range(0, 1)`.
struct EBMLAB_API ParamSpec {
  std::string name;
  ParamType type = ParamType::real;
  std::string doc;
  bool required = false;
  std::optional<Value> default_value;  ///< absent + !required means "optional, no value"
  std::optional<double> min, max;      ///< bounds for integer/real (and list length)
  bool min_exclusive = false;          ///< min itself is out of range (greater_than)
  bool max_exclusive = false;          ///< max itself is out of range (less_than)
  std::vector<std::string> choices;    ///< enumeration values
  std::string ref_kind;                ///< reference: the component table it points into ("sampler")
  std::shared_ptr<ParamSpec> element;  ///< list: the spec every element must satisfy
  std::vector<ParamSpec> fields;       ///< table: nested parameters

  ParamSpec& set_default(Value v) {
    default_value = std::move(v);
    required = false;
    return *this;
  }
  ParamSpec& require() {
    required = true;
    default_value.reset();
    return *this;
  }
  ParamSpec& range(double lo, double hi) {
    min = lo;
    max = hi;
    min_exclusive = max_exclusive = false;
    return *this;
  }
  ParamSpec& at_least(double lo) {
    min = lo;
    min_exclusive = false;
    return *this;
  }
  /// Exclusive bounds: `param::real("step_size", "...").greater_than(0)`.
  ParamSpec& greater_than(double lo) {
    min = lo;
    min_exclusive = true;
    return *this;
  }
  ParamSpec& less_than(double hi) {
    max = hi;
    max_exclusive = true;
    return *this;
  }
  /// Whether x lies within the bounds.
  bool in_bounds(double x) const {
    if (min && (min_exclusive ? !(x > *min) : x < *min)) return false;
    if (max && (max_exclusive ? !(x < *max) : x > *max)) return false;
    return true;
  }
  /// Human-readable type, e.g. "real in [0, 1]", "real in (0, 1]", "real > 0" or "one of linf|l2".
  std::string describe_type() const;
};

using Schema = std::vector<ParamSpec>;

namespace param {
EBMLAB_API ParamSpec boolean(std::string name, std::string doc);
EBMLAB_API ParamSpec integer(std::string name, std::string doc);
EBMLAB_API ParamSpec real(std::string name, std::string doc);
EBMLAB_API ParamSpec string(std::string name, std::string doc);
EBMLAB_API ParamSpec enumeration(std::string name, std::vector<std::string> choices, std::string doc);
EBMLAB_API ParamSpec list(std::string name, ParamSpec element, std::string doc);
EBMLAB_API ParamSpec table(std::string name, std::vector<ParamSpec> fields, std::string doc);
/// A reference to a named component of `kind` in the descriptor (e.g. "sampler").
EBMLAB_API ParamSpec reference(std::string name, std::string kind, std::string doc);
/// A reference to a data stream: "train" (the default) or a [data.streams.<name>] entry.
/// The kernel checks that a loss and the samplers it references read the same stream.
EBMLAB_API ParamSpec stream(std::string name, std::string doc);
}  // namespace param

/// Checked parameters handed to a factory. Accessors throw SchemaError on a wrong name,
/// which is a plugin bug: validation has already guaranteed types and presence.
class EBMLAB_API Params {
 public:
  Params() = default;
  explicit Params(Table values, std::string owner = {}) : values_(std::move(values)), owner_(std::move(owner)) {}

  bool has(const std::string& key) const;
  bool boolean(const std::string& key) const;
  std::int64_t integer(const std::string& key) const;
  double real(const std::string& key) const;
  const std::string& string(const std::string& key) const;  ///< also enumerations, references
  const List& list(const std::string& key) const;
  Params table(const std::string& key) const;
  std::vector<double> reals(const std::string& key) const;
  std::vector<std::int64_t> integers(const std::string& key) const;

  const Table& values() const { return values_; }
  const std::string& owner() const { return owner_; }

 private:
  const Value& at(const std::string& key) const;
  Table values_;
  std::string owner_;  ///< e.g. "samplers.attack (pgd)", for messages
};

}  // namespace ebm
