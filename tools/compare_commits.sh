#!/usr/bin/env bash
# Behaviour check between two commits: builds each (the ebmlab binary and its plugins, in
# git worktrees under $TMPDIR, sharing ccache), runs a shrunk quickstart and
# tools/compare/toy_methods.toml with one thread at a fixed seed, and compares the step
# and value columns of every curve and evaluation, and the final weights, bit for bit
# (tools/compare/compare_runs.py); then resumes A's toy run from its step-30 checkpoint
# with B and compares that with A's uninterrupted run. Exit 0 when identical, 1 when not.
# With --bench it also builds bench_train_step in both and prints their median
# ebmlab/libtorch step ratios, measured alternately (A, B, A, B, ...).
#   tools/compare_commits.sh [--bench] A B     e.g. tools/compare_commits.sh --bench 0b22e24 HEAD
set -euo pipefail
cd "$(dirname "$0")/.."
bench=0
if [ "${1:-}" = "--bench" ]; then bench=1; shift; fi
[ $# -eq 2 ] || { echo "usage: tools/compare_commits.sh [--bench] COMMIT_A COMMIT_B" >&2; exit 2; }
src=$(pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/ebmlab-compare.XXXXXX")
trap 'git -C "$src" worktree remove --force "$work/a" 2>/dev/null || true; git -C "$src" worktree remove --force "$work/b" 2>/dev/null || true' EXIT
for side in a b; do
  commit=$([ $side = a ] && echo "$1" || echo "$2")
  git worktree add --detach "$work/$side" "$commit" >/dev/null
  echo "compare: building $side = $(git -C "$work/$side" log --oneline -1)"
  cmake -S "$work/$side" -B "$work/$side/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DEBMLAB_BUILD_TESTS=$([ $bench = 1 ] && echo ON || echo OFF) -DEBMLAB_BUILD_BENCHMARKS=ON >/dev/null
  cmake --build "$work/$side/build" --target ebmlab $([ $bench = 1 ] && echo bench_train_step) -j2 >/dev/null
  mkdir -p "$work/out-$side"
  ( cd "$work/out-$side"
    "$work/$side/build/ebmlab" run "$src/experiments/quickstart.toml" --threads 1 --quiet \
        stage.0.epochs=1 data.subset=2000
    "$work/$side/build/ebmlab" run "$src/tools/compare/toy_methods.toml" --threads 1 --quiet )
done
same=0
/usr/bin/python3 tools/compare/compare_runs.py "$work/out-a/runs" "$work/out-b/runs" || same=$?
# A checkpoint written by A resumes under B to the same end: A's toy run, cut back to its
# step-30 checkpoint and marked interrupted, is continued by B with --resume.
mkdir -p "$work/out-resume"
cp -r "$work/out-a/runs" "$work/out-resume/runs"
/usr/bin/python3 - "$work/out-resume/runs" <<'PY'
import os, sys, h5py
runs = sys.argv[1]
os.remove(os.path.join(runs, "toy_methods", "main", "ckpt-40.h5"))
with h5py.File(os.path.join(runs, "toy_methods", "main.h5"), "r+") as f:
    f["status"][()] = b"interrupted".ljust(f["status"].dtype.itemsize, b"\0")
PY
( cd "$work/out-resume"
  "$work/b/build/ebmlab" run "$src/tools/compare/toy_methods.toml" --threads 1 --quiet --resume )
echo "compare: A's checkpoint at step 30 resumed by B"
resumed=0
/usr/bin/python3 tools/compare/compare_runs.py "$work/out-a/runs/toy_methods" "$work/out-resume/runs/toy_methods" || resumed=$?
if [ $bench = 1 ]; then
  # bench_train_step's median ebmlab/libtorch ratio, A and B alternating, three runs each.
  for round in 1 2 3; do
    for side in a b; do
      r=$("$work/$side/build/tests/bench_train_step" --threads 1 --rounds 21 --benchmark_filter=NONE 2>/dev/null |
          awk '/step ratio/ {print $4}')
      echo "$side $r" >> "$work/bench.txt"
      echo "compare: bench round $round $side ratio $r"
    done
  done
  /usr/bin/python3 - "$work/bench.txt" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
a = statistics.median(float(r) for s, r in rows if s == "a")
b = statistics.median(float(r) for s, r in rows if s == "b")
print(f"compare: bench_train_step median ratio A {a:.4f}  B {b:.4f}  difference {b - a:+.4f} (goal within 0.02)")
PY
fi
exit $(( same || resumed ))
