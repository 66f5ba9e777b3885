#include "loader/elf_check.hpp"

#include <elf.h>

#include <fstream>
#include <regex>
#include <set>

#include <torch/version.h>

#include "loader/runtime_libraries.hpp"

namespace ebm::kernel {

namespace {

template <class T>
bool read_at(std::ifstream& in, std::uint64_t offset, std::uint64_t size, T& out) {
  if (offset > size || sizeof(T) > size - offset) return false;
  in.seekg(static_cast<std::streamoff>(offset));
  return static_cast<bool>(in.read(reinterpret_cast<char*>(&out), sizeof(T)));
}

/// The NUL-terminated string at `offset` (at most 4096 bytes; "" when out of bounds).
std::string string_at(std::ifstream& in, std::uint64_t offset, std::uint64_t size) {
  std::string s;
  if (offset >= size) return s;
  in.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  while (s.size() < 4096 && in.get(c) && c != '\0') s += c;
  return s;
}

std::string basename_of(const std::string& path) { return path.substr(path.rfind('/') + 1); }

}  // namespace

std::optional<ElfDynamic> read_elf_dynamic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  in.seekg(0, std::ios::end);
  const auto size = static_cast<std::uint64_t>(in.tellg());
  Elf64_Ehdr eh{};
  if (!read_at(in, 0, size, eh)) return std::nullopt;
  if (std::string(reinterpret_cast<const char*>(eh.e_ident), SELFMAG) != ELFMAG || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_phentsize != sizeof(Elf64_Phdr))
    return std::nullopt;
  std::vector<Elf64_Phdr> loads;
  std::optional<Elf64_Phdr> dynamic;
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph{};
    if (!read_at(in, eh.e_phoff + std::uint64_t{i} * sizeof ph, size, ph)) return std::nullopt;
    if (ph.p_type == PT_LOAD) loads.push_back(ph);
    if (ph.p_type == PT_DYNAMIC) dynamic = ph;
  }
  ElfDynamic out;
  if (!dynamic) return out;  // a static object: needs nothing
  // DT_STRTAB holds an address: the PT_LOAD segment containing it gives its file offset.
  std::vector<Elf64_Dyn> entries;
  std::uint64_t strtab = 0;
  bool have_strtab = false;
  for (std::uint64_t off = dynamic->p_offset; off + sizeof(Elf64_Dyn) <= dynamic->p_offset + dynamic->p_filesz;
       off += sizeof(Elf64_Dyn)) {
    Elf64_Dyn d{};
    if (!read_at(in, off, size, d)) return std::nullopt;
    if (d.d_tag == DT_NULL) break;
    if (d.d_tag == DT_STRTAB) {
      for (const auto& ph : loads)
        if (d.d_un.d_ptr >= ph.p_vaddr && d.d_un.d_ptr < ph.p_vaddr + ph.p_filesz) {
          strtab = ph.p_offset + (d.d_un.d_ptr - ph.p_vaddr);
          have_strtab = true;
        }
    }
    entries.push_back(d);
  }
  if (!have_strtab) return std::nullopt;
  std::string rpath;
  for (const auto& d : entries) {
    if (d.d_tag == DT_NEEDED) out.needed.push_back(string_at(in, strtab + d.d_un.d_val, size));
    if (d.d_tag == DT_SONAME) out.soname = string_at(in, strtab + d.d_un.d_val, size);
    if (d.d_tag == DT_RUNPATH) out.runpath = string_at(in, strtab + d.d_un.d_val, size);
    if (d.d_tag == DT_RPATH) rpath = string_at(in, strtab + d.d_un.d_val, size);
  }
  if (out.runpath.empty()) out.runpath = rpath;
  return out;
}

bool is_torch_library_name(const std::string& name) {
  static const std::regex kTorch(R"(^lib(torch|c10)(_[A-Za-z0-9_]+)?\.so(\..*)?$)");
  return std::regex_match(name, kTorch);
}

std::vector<LoadedTorchLibrary> loaded_torch_libraries() {
  std::vector<LoadedTorchLibrary> out;
  for (const auto& path : mapped_shared_objects()) {
    if (!is_torch_library_name(basename_of(path))) continue;
    auto dyn = read_elf_dynamic(path);
    out.push_back({dyn && !dyn->soname.empty() ? dyn->soname : basename_of(path), path});
  }
  return out;
}

std::string foreign_torch_reason(const std::string& path) {
  const auto dyn = read_elf_dynamic(path);
  if (!dyn) return "";
  // Read once per process: the LibTorch a process runs on cannot change (a library that
  // would bring another one is refused here).
  static const auto kLoaded = loaded_torch_libraries();
  if (kLoaded.empty()) return "";
  std::set<std::string> sonames;
  std::string ours;
  for (const auto& l : kLoaded) {
    sonames.insert(l.soname);
    if (l.soname.rfind("libtorch_cpu.so", 0) == 0 || ours.empty()) ours = l.soname + " (" + l.path + ")";
  }
  std::vector<std::string> foreign;
  for (const auto& n : dyn->needed)
    if (is_torch_library_name(n) && !sonames.count(n)) foreign.push_back(n);
  if (foreign.empty()) return "";
  std::string list;
  for (const auto& f : foreign) list += (list.empty() ? "" : ", ") + f;
  return "it was built against another LibTorch: it links " + list +
         (dyn->runpath.empty() ? std::string() : " (its RUNPATH: " + dyn->runpath + ")") +
         ", while this ebmlab runs on LibTorch " TORCH_VERSION " through " + ours +
         "; two LibTorch builds in one process crash while the library loads, so it was not opened. "
         "Rebuild the plugin against this ebmlab's LibTorch (the same CMake preset or Torch_DIR), "
         "or run it with the ebmlab built against its LibTorch (docs/gpu.md)";
}

}  // namespace ebm::kernel
