// Version and commit of this build (generated into version.cpp by CMake).
#pragma once

namespace ebm::kernel {
extern const char* const kVersion;
extern const char* const kGitCommit;  ///< short commit, "-dirty" with uncommitted changes, or "unknown"
/// Plugin folder of an installed ebmlab, relative to the install prefix.
extern const char* const kInstalledPluginDir;
}  // namespace ebm::kernel
