// Built-in data sets. Fashion-MNIST, CIFAR and toy data are held whole as tensors in
// [0,1]; image folders are decoded on demand. Batches are taken by index.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "ebmlab/context.hpp"
#include "ebmlab/schema.hpp"

namespace ebm::kernel {

/// One split: samples held whole (x defined) or read on demand through `read`.
struct Split {
  at::Tensor x;                                           ///< float32 [N, ...shape] in [lo, hi]; undefined when read on demand
  at::Tensor y;                                           ///< int64 [N], always held
  std::function<at::Tensor(const at::Tensor& idx)> read;  ///< rows idx -> [n, ...shape]

  std::int64_t size() const { return y.defined() ? y.size(0) : 0; }
  Batch take(const at::Tensor& idx) const;                 ///< rows by int64 index
  Batch rows(std::int64_t begin, std::int64_t end) const;  ///< rows [begin, end)
  Split slice(std::int64_t begin, std::int64_t end) const;
  /// Every row as one tensor (on-demand splits: at most `cap` rows, spread evenly).
  Batch whole(std::int64_t cap = 0) const;
};

struct Dataset {
  DataInfo info;
  Split train;
  Split val;  ///< held out from the training files (never trained on)
  Split test;
  std::map<std::string, Split> sources;  ///< streams drawing from another data set: its training split
};

/// The same data set with every held split on `device` (x and y moved once; a split read on
/// demand keeps reading on the host and hands its batches over). On the device it already
/// uses, the tensors are shared, not copied. Batches taken from it live on `device`.
Dataset on_device(const Dataset& d, const c10::Device& device);

/// Reads a gzip-compressed IDX file (uint8 data) and checks its header against the
/// decompressed length before allocating. Throws DataError naming the file on any problem.
/// Returns a uint8 tensor with the header's dimensions.
at::Tensor read_idx_gz(const std::string& path);

/// Reads one file of the CIFAR "binary version": records of `label_bytes` label bytes
/// then 3072 pixel bytes (R, G, B planes of 32x32). The label at `label_index` is used.
/// Returns x uint8 [N,3,32,32] and y int64 [N]. DataError names the file on any problem.
std::pair<at::Tensor, at::Tensor> read_cifar_bin(const std::string& path, int label_bytes, int label_index, std::int64_t classes);

/// Builds the data set of a validated [data] table. `seed` fixes toy data.
Dataset load_dataset(const Params& data, std::uint64_t seed);
/// What a validated [data] table's data set will look like (shape, classes, range), from the
/// parameters alone: no data file is read, so it works where the data set is absent. The
/// per-channel statistics are placeholders (mean 0.5, std 0.25); an image folder's classes
/// are its train/ sub-folders when it exists, else two. A data set added to load_dataset is
/// added here too.
DataInfo describe_dataset(const Params& data);

}  // namespace ebm::kernel
