// libFuzzer target: descriptor text -> TOML parse -> [plugins] paths -> variant and sweep
// expansion (with command-line overrides) -> validation of every variant against the real
// plugins' schemas. ebmlab's own errors (ebm::Error: a clear message) are the expected
// outcome of bad input; anything else (another exception, a crash, a hang, a sanitizer
// report) is a bug.
//
// Input: the descriptor text; lines after a line "#--" are overrides (key.path=value).
#include <string>
#include <vector>

#include "ebmlab/error.hpp"

#include "config/descriptor.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ebm;
  using namespace ebm::kernel;
  const auto& reg = fuzz::registry();
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> override_lines;
  if (auto cut = text.find("\n#--\n"); cut != std::string::npos) {
    std::string rest = text.substr(cut + 5);
    text.resize(cut + 1);
    std::size_t start = 0;
    while (start < rest.size() && override_lines.size() < 16) {
      auto end = rest.find('\n', start);
      if (end == std::string::npos) end = rest.size();
      if (end > start) override_lines.push_back(rest.substr(start, end - start));
      start = end + 1;
    }
  }
  try {
    Descriptor d{"fuzz.toml", text, parse_toml_text(text, "fuzz.toml"), {}};
    (void)descriptor_plugin_paths(d);
    std::vector<Override> overrides;
    for (auto& line : override_lines) overrides.push_back(parse_override(line));
    auto variants = expand(d, overrides);
    for (auto& v : variants) (void)resolve(v, reg);
  } catch (const Error&) {
  }
  return 0;
}
