// Version and commit of this build (generated into version.cpp by CMake).
#pragma once

namespace ebm::kernel {
extern const char* const kVersion;
extern const char* const kGitCommit;
}  // namespace ebm::kernel
