#!/usr/bin/env bash
# Runs ebmlab's libFuzzer targets (tests/fuzz) for a given time each and reports executions
# and coverage. Builds the asan preset (clang, ASan + UBSan) first.
#   tools/fuzz.sh [SECONDS] [TARGET ...]      default: 600 s each; descriptor idx cifar checkpoint
# Seeds: tests/fuzz/corpus/<target>/ (read only). Inputs found are kept in
# build-asan/fuzz/corpus/<target>/; a crash is written to build-asan/fuzz/crashes/<target>/
# and the script exits 1: minimise it (fuzz_<target> -minimize_crash=1 FILE), fix the bug,
# and add it to tests/fuzz/regressions/<target>/ so ctest runs it from then on.
# JOBS=N runs N targets at once (default 1).
set -uo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(descriptor idx cifar checkpoint)
jobs="${JOBS:-1}"
tools/build.sh asan >/dev/null || { echo "fuzz.sh: the asan build failed (tools/build.sh asan)" >&2; exit 2; }
cmake --build --preset asan --target fuzzers >/dev/null || exit 2
out=build-asan/fuzz
export ASAN_OPTIONS="detect_leaks=0:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

run_one() {
  local t="$1"
  mkdir -p "$out/corpus/$t" "$out/crashes/$t" "$out/logs"
  local log="$out/logs/$t.log"
  # -rss_limit_mb: LibTorch alone takes ~400 MB; -timeout: one input may take at most 30 s.
  "$out/fuzz_$t" "$out/corpus/$t" "tests/fuzz/corpus/$t" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$out/crashes/$t/" -timeout=30 -rss_limit_mb=4096 -max_len=65536 >"$log" 2>&1
  local rc=$?
  local execs cov ft units
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  units=$(find "$out/corpus/$t" -type f | wc -l)
  printf '%-11s %s  %8s execs in %s s  cov %s edges  ft %s features  corpus %s new inputs  log %s\n' \
    "$t" "$([ $rc -eq 0 ] && echo clean || echo "FOUND (exit $rc)")" "${execs:-?}" "$seconds" "${cov:-?}" "${ft:-?}" "$units" "$log"
  return $rc
}

status=0
pids=()
for t in "${targets[@]}"; do
  if [ ! -x "$out/fuzz_$t" ]; then echo "fuzz.sh: no target '$t' (descriptor idx cifar checkpoint)" >&2; exit 2; fi
  run_one "$t" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
[ $status -ne 0 ] && echo "fuzz.sh: a target found a problem: see $out/crashes/" >&2
exit $status
