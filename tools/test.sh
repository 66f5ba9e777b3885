#!/usr/bin/env bash
# README command 2: install the Debian packages, check the code's form (tools/lint.sh
# --no-tidy: formatting and the size rules, seconds), build, run the whole test suite (unit
# + integration, a few minutes once built), then build the asan preset (clang, ASan +
# UBSan, with the fuzz targets) and run the sanitizer subset `asan-ci`, then build the
# second configuration against a pip PyTorch's LibTorch 2.x (CUDA 13.0 build) and run its
# unit tests on the CPU (tools/torch2.sh --test; docs/gpu.md), and last run clang-tidy over
# the kernel, the SDK and the plugins (tools/lint.sh; docs/building.md).
#   tools/test.sh [--no-asan | --asan-full] [--no-torch2] [--no-tidy] [ctest arguments for the default suite]
set -euo pipefail
cd "$(dirname "$0")/.."
asan=subset
tidy=1
torch2=1
args=()
for a in "$@"; do
  case "$a" in
    --no-asan) asan=none ;;
    --asan-full) asan=full ;;
    --no-tidy) tidy=0 ;;
    --no-torch2) torch2=0 ;;
    *) args+=("$a") ;;
  esac
done
tools/install-deps.sh
tools/lint.sh --no-tidy
tools/build.sh default
tools/peer-env.sh   # torchattacks for e2e.test_peer_attacks
ctest --preset default "${args[@]}"
if [ "$asan" != none ]; then
  tools/build.sh asan
  ctest --preset "$([ "$asan" = full ] && echo asan || echo asan-ci)"
fi
if [ "$torch2" = 1 ]; then
  tools/torch2.sh --test
fi
if [ "$tidy" = 1 ]; then
  tools/lint.sh
fi
