// Every seed the kernel derives from [experiment] seed, in one place and by name. The
// formulas are the ones earlier versions used at their call sites, so runs and checkpoints
// stay bit-identical (unsigned arithmetic: a negative index wraps as it always did).
#pragma once

#include <cstdint>

namespace ebm::kernel::seeds {

/// The generator of data stream `index` (its augmentation and input noise) on data-parallel
/// rank `rank` (rank 0 is the single-process run).
constexpr std::uint64_t stream(std::uint64_t seed, std::int64_t index, std::int64_t rank = 0) {
  return seed * 1000003 + 17 * (static_cast<std::uint64_t>(index) + 1) + 7919 * static_cast<std::uint64_t>(rank);
}

/// The order of epoch `epoch` of stream `index` (-1 - s: stage s's epochs): a function of
/// the seed only, so a restored run draws exactly the batches the original would have.
constexpr std::uint64_t epoch_order(std::uint64_t seed, std::int64_t index, std::int64_t epoch) {
  return seed * 7919 + static_cast<std::uint64_t>(index) * 104729 + static_cast<std::uint64_t>(epoch) * 1299709 + 1;
}

/// torch's global generator (weight init, samplers, replay buffers) on rank `rank` > 0.
constexpr std::uint64_t rank_global(std::uint64_t seed, std::int64_t rank) {
  return seed + 104729 * static_cast<std::uint64_t>(rank);
}

/// The toy 2-D data sets' points (training then test).
constexpr std::uint64_t toy_data(std::uint64_t seed) { return seed + 7919; }

/// The shuffle of an image folder's listing: fixed, so the validation tail mixes classes
/// and never depends on the seed.
constexpr std::uint64_t kImageFolderOrder = 20260101;

}  // namespace ebm::kernel::seeds
