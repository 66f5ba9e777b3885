// The rows ebmlab's variant logs are made of, as C++ values (no HDF5 here).
#pragma once

#include <cstdint>
#include <string>

namespace ebm::kernel {

/// One row of a curve or evaluation series.
struct CurveRecord {
  std::int64_t step;
  double value;
  double wall;  ///< seconds since the variant started
};

/// One row of a variant log's "checkpoints" dataset.
struct CheckpointRecord {
  std::int64_t step = 0;
  std::string file;  ///< relative to the log's folder
  std::string sha256;
};

}  // namespace ebm::kernel
