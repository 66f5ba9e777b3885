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
  /// Drops later messages about keys under the table `path` ("'path." in the text): once a
  /// whole required table is reported missing, its missing keys are noise.
  void mute_under(const std::string& path) { muted_.push_back("'" + path + "."); }
  bool empty() const { return messages_.empty(); }
  const std::vector<std::string>& messages() const { return messages_; }
  void raise() const;  ///< throws SchemaError if any message was added

 private:
  std::vector<std::string> messages_;
  std::vector<std::string> muted_;
};

/// Answers whether `name` exists among the components of `kind` ("sampler"), and lists them.
struct References {
  std::function<bool(const std::string& kind, const std::string& name)> exists;
  std::function<std::vector<std::string>(const std::string& kind)> available;
};

/// Validates `table` (located at dotted `path`) and returns it with defaults filled in.
/// Keys in `passthrough` are accepted without checking (the caller validates them).
Table validate_table(const Value& table, const Schema& schema, const std::string& path, Diagnostics& diag,
                     const References& refs, const std::vector<std::string>& passthrough = {});

/// The closest of `candidates` to `word`, or "" when none is close.
std::string closest(const std::string& word, const std::vector<std::string>& candidates);

/// "a, b, c"
std::string join(const std::vector<std::string>& items, const std::string& sep = ", ");

}  // namespace ebm::kernel
