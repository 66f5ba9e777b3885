// Built-in data sets, held whole as tensors in [0,1]; batches are taken by index.
#pragma once

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

#include "ebmlab/context.hpp"
#include "ebmlab/schema.hpp"

namespace ebm::kernel {

struct Dataset {
  DataInfo info;
  at::Tensor train_x, train_y;  ///< x float32 [N, ...shape] in [lo, hi]; y int64 [N]
  at::Tensor val_x, val_y;      ///< held out from the training file (never trained on)
  at::Tensor test_x, test_y;
};

/// Reads a gzip-compressed IDX file (uint8 data) and checks its header against the
/// decompressed length before allocating. Throws DataError naming the file on any problem.
/// Returns a uint8 tensor with the header's dimensions.
at::Tensor read_idx_gz(const std::string& path);

/// Builds the data set of a validated [data] table. `seed` fixes toy data.
Dataset load_dataset(const Params& data, std::uint64_t seed);

}  // namespace ebm::kernel
