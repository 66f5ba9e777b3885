#!/usr/bin/env bash
# README command 2: install the Debian packages, build, and run the whole test suite
# (unit + integration, about a minute once built).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh default
ctest --preset default "$@"
