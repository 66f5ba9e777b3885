// HDF5 files of a run: the index file and one SWMR-written log per variant.
// The layout is documented in docs/hdf5-layout.md; bump kFormatVersion when it changes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "store/h5handle.hpp"
#include "store/records.hpp"

namespace ebm::kernel {

/// 2: status_detail, checkpoints as (step, file, sha256). 3: tensor series, metric
/// attributes, eval/<split>/ema_weights, posthoc/ evaluations.
inline constexpr int kFormatVersion = 3;

/// One variant's log. Every curve and evaluation series is created up front, then the
/// file switches to SWMR mode so readers (h5py swmr=True, ebmlab watch) can follow it.
class VariantLog {
 public:
  /// A tensor series: `path` [N, ...shape] float32 and `path`_step [N] int64.
  struct TensorSpec {
    std::string path;  ///< full path, e.g. "eval/test/ece/reliability", "samples/pgd"
    std::vector<std::int64_t> shape;
  };
  struct Layout {
    std::vector<std::string> curves;  ///< "component/term" -> curves/component/term
    std::vector<std::string> evals;   ///< "split/metric/term" -> eval/split/metric/term
    std::vector<TensorSpec> tensors;
    /// String attributes written on groups before SWMR starts, e.g. a metric's parameters.
    std::map<std::string, std::map<std::string, std::string>> attrs;
  };
  VariantLog(const std::string& path, const std::string& variant, const std::string& config_json, const Layout& layout);
  /// Writes what is still buffered when close() did not run (an error unwinding), then
  /// closes; a failure there is not reported (the error that unwinds is), and the file is
  /// then abandoned rather than closed (see abandon()).
  ~VariantLog();
  VariantLog(const VariantLog&) = delete;
  VariantLog& operator=(const VariantLog&) = delete;

  /// Index of a declared curve or evaluation series (-1 when undeclared).
  int curve_id(const std::string& name) const;
  int eval_id(const std::string& name) const;
  /// Buffered in memory; written at flush(). O(1), no I/O.
  void append_curve(int id, const CurveRecord& r) { curves_[static_cast<size_t>(id)].pending.push_back(r); }
  void append_eval(int id, const CurveRecord& r) { evals_[static_cast<size_t>(id)].pending.push_back(r); }
  void flush();
  /// Index of a declared tensor series (-1 when undeclared).
  int tensor_id(const std::string& path) const;
  bool tensor_shape_is(int id, const std::vector<std::int64_t>& shape) const {
    return tensors_[static_cast<size_t>(id)].spec.shape == shape;
  }
  /// Appends one record (count floats, the declared shape) and flushes it at once.
  void append_tensor(int id, std::int64_t step, const float* data, std::size_t count);
  /// Records a checkpoint file (name relative to the log's folder) and its sha256; flushed at once.
  void append_checkpoint(std::int64_t step, const std::string& file, const std::string& sha256);
  /// pending|running|completed|diverged|failed|interrupted, and why (status_detail, at
  /// most 1023 bytes); written and flushed at once.
  void set_status(const std::string& status, const std::string& detail = "");
  void close();
  const std::string& path() const { return path_; }

  /// Rows written so far per dataset path ("curves/train/loss", "samples/pgd", ...), after
  /// a flush: saved in each checkpoint so a resume keeps exactly the records before it.
  std::map<std::string, std::int64_t> rows() const;
  /// Resuming: copies the first `rows[path]` records of each series of `old_log` (an earlier
  /// log of this variant, possibly left by a crash) into this freshly laid-out log, and the
  /// checkpoint rows up to `upto_step`. Returns the latest wall time kept.
  double carry_over(const std::string& old_log, std::int64_t upto_step, const std::map<std::string, std::int64_t>& rows);

 private:
  struct Series {
    std::string name;
    h5::Handle dataset;
    std::int64_t rows = 0;
    std::vector<CurveRecord> pending;
  };
  void write_pending(Series& s);
  /// After a failed write (a full disk): lets go of every handle without closing it. Closing
  /// would write a superblock that counts data which never reached the disk, leaving a
  /// truncated file HDF5 refuses to open; unclosed, the records written before the failure
  /// stay readable, and --resume can carry them over.
  void abandon();
  void lay_out(const std::string& variant, const std::string& config_json, const Layout& layout);

  std::string path_;
  // Declared first, so destroyed last: the datasets below close before the file.
  h5::Handle file_;
  h5::Handle status_, detail_, checkpoints_, record_type_, checkpoint_type_;
  std::int64_t checkpoint_rows_ = 0;
  struct TensorSeries {
    TensorSpec spec;
    h5::Handle data, steps;
    std::int64_t rows = 0;
  };
  std::vector<Series> curves_, evals_;
  std::vector<TensorSeries> tensors_;
  std::map<std::string, int> curve_index_, eval_index_, tensor_index_;
};

}  // namespace ebm::kernel
