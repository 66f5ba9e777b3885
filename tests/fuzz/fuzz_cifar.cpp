// libFuzzer target: the CIFAR binary reader, with the label layout of CIFAR-10 (1 label
// byte) or CIFAR-100 (coarse + fine) chosen by the first byte. DataError is the expected
// outcome of bad input; anything else is a bug.
#include <torch/torch.h>

#include "ebmlab/error.hpp"

#include "data/data.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string path = ebm::fuzz::scratch("cifar.bin");
  ebm::fuzz::write_file(path, data + 1, size - 1);
  const bool hundred = data[0] & 1;
  try {
    auto [x, y] = ebm::kernel::read_cifar_bin(path, hundred ? 2 : 1, hundred ? 1 : 0, hundred ? 100 : 10);
    if (x.size(0) != y.size(0)) __builtin_trap();
    if (y.numel() && (y.min().item<std::int64_t>() < 0 || y.max().item<std::int64_t>() >= (hundred ? 100 : 10)))
      __builtin_trap();  // labels must have been checked
  } catch (const ebm::Error&) {
  }
  return 0;
}
