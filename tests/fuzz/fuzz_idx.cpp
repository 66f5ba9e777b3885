// libFuzzer target: the gzip IDX reader (Fashion-MNIST's format). The first byte chooses
// whether the rest is the file itself (mutating the gzip stream) or the decompressed
// content, compressed here (mutating the IDX header and data behind a valid gzip layer).
// DataError is the expected outcome of bad input; anything else is a bug.
#include <zlib.h>

#include <torch/torch.h>

#include "ebmlab/error.hpp"

#include "data/data.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string path = ebm::fuzz::scratch("idx.gz");
  if (data[0] & 1) {
    ebm::fuzz::write_file(path, data + 1, size - 1);
  } else {
    gzFile f = gzopen(path.c_str(), "wb1");
    if (!f) return 0;
    if (size > 1) gzwrite(f, data + 1, static_cast<unsigned>(size - 1));
    gzclose(f);
  }
  try {
    at::Tensor t = ebm::kernel::read_idx_gz(path);
    // The header's dimensions must describe exactly the tensor returned.
    if (t.scalar_type() != at::kByte) __builtin_trap();
    (void)t.sum().item<std::int64_t>();
  } catch (const ebm::Error&) {
  }
  return 0;
}
