#!/usr/bin/env bash
# The code's habits, checked (README command 2 runs it after the sanitizer build):
#   1. every C++ file is formatted as .clang-format says (clang-format 14);
#   2. the kernel's size rules hold (tools/check_sizes.py, docs/architecture.md);
#   3. clang-tidy 14 (.clang-tidy) reports nothing on kernel/, sdk/ and plugins/ (with the
#      headers of include/ebmlab/ they include). It reads the compile commands and the
#      precompiled header of a clang build, build-asan/ (the asan preset), and only
#      configures it and builds the header when that build is absent. Sources found clean
#      before, with the same headers, flags and .clang-tidy, are skipped (tools/tidy.py).
#
#   tools/lint.sh [--fix] [--no-tidy] [--no-cache] [-j N] [REGEX ...]
#     --fix       reformat the files instead of failing on them
#     --no-tidy   formatting and sizes only (seconds)
#     --no-cache  run clang-tidy on every source (about 25 min on 2 cores)
#     REGEX       run clang-tidy only on the sources matching one of these (e.g. kernel/cli/)
# Exit 0 when clean, 1 when something was found (each finding printed with file:line).
set -euo pipefail
cd "$(dirname "$0")/.."
fix=0 tidy=1 cache=1 jobs=2 filters=()
while [ $# -gt 0 ]; do
  case "$1" in
    --fix) fix=1 ;;
    --no-tidy) tidy=0 ;;
    --no-cache) cache=0 ;;
    -j) jobs="$2"; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "lint.sh: unknown option $1 (see tools/lint.sh --help)" >&2; exit 2 ;;
    *) filters+=("$1") ;;
  esac
  shift
done
status=0

mapfile -t sources < <(git ls-files '*.cpp' '*.hpp' '*.h')
if [ "$fix" = 1 ]; then
  clang-format-14 -i "${sources[@]}"
elif ! clang-format-14 --dry-run -Werror "${sources[@]}" 2>/tmp/ebmlab-format.$$; then
  grep -E '^[^ ].*: error:' /tmp/ebmlab-format.$$ | sed 's/: error: code should be clang-formatted.*/: not formatted/' | sort -u
  echo "lint.sh: files above are not formatted; run tools/lint.sh --fix" >&2
  status=1
fi
rm -f /tmp/ebmlab-format.$$

python3 tools/check_sizes.py . || status=1

if [ "$tidy" = 1 ]; then
  if [ ! -f build-asan/compile_commands.json ]; then
    cmake --preset asan >/dev/null
  fi
  # The precompiled header every target reuses (clang-tidy reads it as the compiler would).
  cmake --build build-asan --target ebmlab_pch >/dev/null
  # tools/tidy.py: clang-tidy on each source, skipping those it found clean before with the
  # same headers, flags and .clang-tidy ($EBMLAB_TIDY_CACHE, ~/.cache/ebmlab-tidy).
  tools/tidy.py -j "$jobs" $([ "$cache" = 1 ] || echo --no-cache) build-asan "${filters[@]}" || status=1
fi
[ "$status" = 0 ] && echo "lint.sh: clean"
exit "$status"
