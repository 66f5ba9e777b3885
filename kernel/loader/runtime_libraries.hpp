// Which numeric libraries this process actually loaded (BLAS/LAPACK and OpenMP), with the
// Debian package and version that own them: two runs that differ in their last digits can
// then be told apart by their provenance (docs/user-guide.md, "Repeatability").
#pragma once

#include <set>
#include <string>
#include <vector>

namespace ebm::kernel {

struct RuntimeLibrary {
  std::string kind;     ///< "blas" (BLAS, LAPACK, MKL, ...) or "openmp"
  std::string path;     ///< as mapped into this process
  std::string package;  ///< the dpkg package owning the file ("" when none does, e.g. a pip wheel)
  std::string version;  ///< that package's version ("" likewise)
};

/// The first line a shell command prints, without its line end ("" when it fails or prints nothing).
std::string first_line_of(const std::string& command);

/// Every file mapped into this process whose name contains ".so" (from /proc/self/maps).
std::set<std::string> mapped_shared_objects();

/// The BLAS and OpenMP libraries mapped into this process (from /proc/self/maps).
std::vector<RuntimeLibrary> loaded_numeric_libraries();

/// The same as a JSON array of {kind, path, package, version} objects.
std::string numeric_libraries_json();

}  // namespace ebm::kernel
