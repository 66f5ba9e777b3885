#!/usr/bin/env bash
# The code's habits, checked (README command 2 runs it after the sanitizer build):
#   1. every C++ file is formatted as .clang-format says (clang-format 14);
#   2. the kernel's size rules hold (tools/check_sizes.py, docs/architecture.md);
#   3. clang-tidy 14 (.clang-tidy) reports nothing on kernel/, sdk/ and plugins/ (with the
#      headers of include/ebmlab/ they include). It reads the compile commands and the
#      precompiled header of a clang build, build-asan/ (the asan preset), and only
#      configures it and builds the header when that build is absent.
#
#   tools/lint.sh [--fix] [--no-tidy] [-j N] [REGEX ...]
#     --fix       reformat the files instead of failing on them
#     --no-tidy   formatting and sizes only (seconds)
#     REGEX       run clang-tidy only on the sources matching one of these (e.g. kernel/cli/)
# Exit 0 when clean, 1 when something was found (each finding printed with file:line).
set -euo pipefail
cd "$(dirname "$0")/.."
fix=0 tidy=1 jobs=2 filters=()
while [ $# -gt 0 ]; do
  case "$1" in
    --fix) fix=1 ;;
    --no-tidy) tidy=0 ;;
    -j) jobs="$2"; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
  [ ${#filters[@]} -gt 0 ] || filters=("$PWD/(kernel|sdk|plugins)/")
  start=$(date +%s)
  if ! run-clang-tidy-14 -p build-asan -j "$jobs" -quiet "${filters[@]}" >/tmp/ebmlab-tidy.$$ 2>&1; then
    # run-clang-tidy colours its output; the findings are printed plain, once each.
    sed 's/\x1b\[[0-9;]*m//g' /tmp/ebmlab-tidy.$$ | grep -E '(warning|error): ' | sort -u || tail -40 /tmp/ebmlab-tidy.$$
    echo "lint.sh: clang-tidy found the above (fix them, or NOLINT(check) with the reason on that line)" >&2
    status=1
  fi
  rm -f /tmp/ebmlab-tidy.$$
  echo "lint.sh: clang-tidy took $(( $(date +%s) - start )) s"
fi
[ "$status" = 0 ] && echo "lint.sh: clean"
exit "$status"
