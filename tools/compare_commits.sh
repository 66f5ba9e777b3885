#!/usr/bin/env bash
# Behaviour check between two commits: builds each (the ebmlab binary and its plugins, in
# git worktrees under $TMPDIR, sharing ccache), runs a shrunk quickstart and
# tools/compare/toy_methods.toml with one thread at a fixed seed, and compares the step
# and value columns of every curve and evaluation, and the final weights, bit for bit
# (tools/compare/compare_runs.py); then resumes A's toy run from its step-30 checkpoint
# with B and compares that with A's uninterrupted run. Exit 0 when identical, 1 when not.
#   tools/compare_commits.sh A B        e.g. tools/compare_commits.sh 0b22e24 HEAD
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -eq 2 ] || { echo "usage: tools/compare_commits.sh COMMIT_A COMMIT_B" >&2; exit 2; }
src=$(pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/ebmlab-compare.XXXXXX")
trap 'git -C "$src" worktree remove --force "$work/a" 2>/dev/null || true; git -C "$src" worktree remove --force "$work/b" 2>/dev/null || true' EXIT
for side in a b; do
  commit=$([ $side = a ] && echo "$1" || echo "$2")
  git worktree add --detach "$work/$side" "$commit" >/dev/null
  echo "compare: building $side = $(git -C "$work/$side" log --oneline -1)"
  cmake -S "$work/$side" -B "$work/$side/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DEBMLAB_BUILD_TESTS=OFF -DEBMLAB_BUILD_BENCHMARKS=OFF >/dev/null
  cmake --build "$work/$side/build" --target ebmlab -j2 >/dev/null
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
exit $(( same || resumed ))
