// Reading a plugin library's dynamic section before it is loaded. A library linked to
// another LibTorch (Debian's 1.13 against a pip 2.x, or the reverse) pulls that LibTorch
// into the process when it is opened, and the two register the same operators from their
// static initializers: the process crashes inside dlopen, before ebmlab could read the
// plugin's fingerprint. So the loader compares the LibTorch libraries a plugin names
// (DT_NEEDED) with the ones this process runs on first (docs/gpu.md, "Plugins and LibTorch").
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace ebm::kernel {

/// What the dynamic section of a shared library names.
struct ElfDynamic {
  std::vector<std::string> needed;  ///< DT_NEEDED, in order
  std::string soname;               ///< DT_SONAME ("" when none)
  std::string runpath;              ///< DT_RUNPATH, else DT_RPATH ("" when none)
};

/// Reads a 64-bit little-endian ELF file's dynamic section through its program headers.
/// nullopt when the file is not such an ELF file or is truncated: dlopen then reports why.
std::optional<ElfDynamic> read_elf_dynamic(const std::string& path);

/// True for the file names (sonames) of LibTorch's own libraries: libtorch*.so*, libc10*.so*.
bool is_torch_library_name(const std::string& name);

/// A LibTorch library mapped into this process.
struct LoadedTorchLibrary {
  std::string soname;  ///< from the file's DT_SONAME (its file name when it has none)
  std::string path;    ///< as mapped (/proc/self/maps)
};
std::vector<LoadedTorchLibrary> loaded_torch_libraries();

/// "" when every LibTorch library the ELF file at `path` needs is one this process runs
/// on; otherwise the reason to refuse it, naming both LibTorch builds and what to do.
/// Files that are not ELF, and processes without LibTorch, pass (dlopen decides).
std::string foreign_torch_reason(const std::string& path);

}  // namespace ebm::kernel
