// Results added to a finished variant log after the fact (`ebmlab eval`, `sample`,
// `counterfactual`): one group /posthoc/<n> per command, never touching what the run wrote.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <ATen/core/Tensor.h>

#include "store/h5handle.hpp"

namespace ebm::kernel {

class PosthocWriter {
 public:
  /// Opens `log` for writing and creates /posthoc/<n> (n = next free number) with the
  /// attributes kind, created and command. RunError when the file is still being written
  /// (a running `ebmlab run` holds it) or is not writable.
  PosthocWriter(const std::string& log, const std::string& kind, const std::string& command);
  /// Removes the record unless close() completed: an interrupted command leaves no
  /// half-written record behind.
  ~PosthocWriter();
  /// Throws the constructor's RunError now if `log` cannot be opened for writing.
  static void check_writable(const std::string& log);
  PosthocWriter(const PosthocWriter&) = delete;
  PosthocWriter& operator=(const PosthocWriter&) = delete;

  /// Attributes on the record's group or on a subgroup `group` ("" = the record itself).
  void attr(const std::string& group, const std::string& name, const std::string& value);
  void attr(const std::string& group, const std::string& name, double value);
  /// A dataset at `path` below the record (intermediate groups created): float32/float64/int64.
  void tensor(const std::string& path, const at::Tensor& t);
  void scalar(const std::string& path, double value);
  /// Flushes and closes; the record is complete only after this returns.
  void close();
  const std::string& group() const { return group_; }  ///< e.g. "/posthoc/2"

 private:
  std::string file_name_, group_;
  h5::Handle file_, record_;  // record_ closes first (destroyed in reverse order)
};

}  // namespace ebm::kernel
