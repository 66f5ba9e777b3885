#!/usr/bin/env bash
# Configures and builds ebmlab with a CMake preset (default: "default" -> build/).
#   tools/build.sh [preset]
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-default}"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
