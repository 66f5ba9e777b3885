// Schema validation: checks a Value table against a Schema, fills defaults, and
// collects every problem with its file:line:column.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ebmlab/schema.hpp"

namespace ebm::kernel {

/// Collected validation problems; `raise()` throws one SchemaError listing all of them.
class Diagnostics {
 public:
  void add(const SourceLoc& where, const std::string& message);
  /// Records that the table at dotted `path` is missing (and was reported so): its own
  /// required keys are then not reported one by one.
  void mark_missing(const std::string& path) { missing_.push_back(path + "."); }
  /// Whether dotted `key` lies in a table recorded by mark_missing.
  bool in_missing_table(const std::string& key) const;
  bool empty() const { return messages_.empty(); }
  const std::vector<std::string>& messages() const { return messages_; }
  void raise() const;  ///< throws SchemaError if any message was added

 private:
  std::vector<std::string> messages_;
  std::vector<std::string> missing_;
};

/// Answers whether `name` exists among the components of `kind` ("sampler"), and lists them.
struct References {
  std::function<bool(const std::string& kind, const std::string& name)> exists;
  std::function<std::vector<std::string>(const std::string& kind)> available;
};

/// Validates `table` (located at dotted `path`) and returns it with defaults filled in.
/// Keys in `passthrough` are accepted without checking (the caller validates them).
Table validate_table(const Value& table, const Schema& schema, const std::string& path, Diagnostics& diag, const References& refs,
                     const std::vector<std::string>& passthrough = {});

/// The closest of `candidates` to `word`, or "" when none is close.
std::string closest(const std::string& word, const std::vector<std::string>& candidates);

/// "a, b, c"
std::string join(const std::vector<std::string>& items, const std::string& sep = ", ");

}  // namespace ebm::kernel
