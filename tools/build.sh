#!/usr/bin/env bash
# Configures and builds ebmlab with a CMake preset (default: "default" -> build/).
#   tools/build.sh [preset [target ...]]
# With targets, only those (e.g. `ebmlab plugins`: the binary and every plugin, no tests).
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-default}"
[ $# -gt 0 ] && shift
targets=()
[ $# -gt 0 ] && targets=(--target "$@")
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" "${targets[@]}"
