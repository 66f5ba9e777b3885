#!/usr/bin/env bash
# Steps/s of one small WRN variant trained three ways on this machine:
#   ebmlab run --threads 1                (the baseline)
#   ebmlab run --threads 2                (one process, 2 intra-op threads)
#   ebmlab run --nproc 2 --threads 2      (2 Gloo ranks x 1 thread, data parallel)
# and a table of steps/s with ratios against the 1-thread baseline of the same run.
# Steps/s is the least-squares slope of curves/train/loss (step against wall seconds)
# after the first WARMUP steps, read from each variant log with h5py.
#
#   tools/bench_scaling.sh [EBMLAB]          (default build/ebmlab)
#   STEPS=30 WARMUP=5 SUBSET=1024 BATCH=64 KEEP=1 tools/bench_scaling.sh   (KEEP: leave the temp dir)
#
# The variant: WRN-10-2 without normalization on Fashion-MNIST, cross-entropy, SGD, a
# steps-based stage; no metrics, no checkpoints. BATCH is the global batch (each of the
# 2 ranks takes BATCH/2). Needs /usr/bin/python3 with h5py and numpy.
set -euo pipefail

bin=${1:-build/ebmlab}
steps=${STEPS:-30}
warmup=${WARMUP:-5}
subset=${SUBSET:-1024}
batch=${BATCH:-64}
python=/usr/bin/python3

if [[ ! -x $bin ]]; then
  echo "bench_scaling: no ebmlab binary at '$bin' (build it first, or pass its path)" >&2
  exit 2
fi
if (( steps <= warmup + 2 )); then
  echo "bench_scaling: STEPS ($steps) must exceed WARMUP + 2 ($((warmup + 2)))" >&2
  exit 2
fi
if (( batch % 2 != 0 )); then
  echo "bench_scaling: BATCH ($batch) must be even (2 ranks)" >&2
  exit 2
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ebmlab_scaling.XXXXXX")
if [[ -n ${KEEP:-} ]]; then echo "bench_scaling: keeping $tmp" >&2; else trap 'rm -rf "$tmp"' EXIT; fi

# One descriptor per configuration so that each keeps its own output files.
descriptor() {  # NAME -> $tmp/NAME.toml
  cat >"$tmp/$1.toml" <<EOF
[experiment]
name = "$1"
seed = 0
output = "$tmp/runs/$1.h5"

[data]
dataset = "fashion_mnist"
batch_size = $batch
subset = $subset
validation = 256
test_subset = 256
eval_batch_size = 256

[model]
backbone = { plugin = "wrn", depth = 10, width = 2, activation = "leaky_relu" }
norm = { plugin = "none" }

[[stage]]
steps = $steps
optimizer = { name = "sgd", lr = 0.05, momentum = 0.9 }
losses = [ { plugin = "ce" } ]

[checkpoint]
enabled = false

[log]
flush_every = 1000
progress_every = 1000.0
EOF
}

# NAME LABEL ebmlab-options... : runs one configuration; on failure says why and goes on.
failed=()
run() {
  local name=$1 label=$2
  shift 2
  descriptor "$name"
  echo "running  $label: ebmlab run $name.toml $* --quiet" >&2
  local t0=$SECONDS rc=0
  "$bin" run "$tmp/$name.toml" "$@" --quiet >"$tmp/$name.out" 2>&1 || rc=$?
  if (( rc != 0 )); then
    failed+=("$name")
    echo "FAILED   $label (exit $rc after $((SECONDS - t0)) s): ebmlab run $* --quiet" >&2
    if grep -qE "unrecogni[sz]ed option '--nproc'" "$tmp/$name.out"; then
      echo "         this ebmlab has no --nproc option yet (data parallel, issue 6); its output:" >&2
    elif [[ $name == nproc* ]]; then
      echo "         the data-parallel run failed; its output:" >&2
    fi
    sed 's/^/         | /' "$tmp/$name.out" | head -n 15 >&2
  else
    echo "         done in $((SECONDS - t0)) s" >&2
  fi
}

run threads1 "1 process x 1 thread " --threads 1
run threads2 "1 process x 2 threads" --threads 2
run nproc2 "2 Gloo ranks x 1 thread" --nproc 2 --threads 2

# Read the logs back; a configuration that failed or wrote no curve shows as n/a.
"$python" - "$tmp" "$warmup" "$steps" "$batch" "$(nproc)" <<'EOF'
import os
import sys

import h5py
import numpy as np

tmp, warmup, steps, batch, cores = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rows = [("threads1", "1 process x 1 thread", "--threads 1"),
        ("threads2", "1 process x 2 threads", "--threads 2"),
        ("nproc2", "2 Gloo ranks x 1 thread", "--nproc 2 --threads 2")]


def steps_per_second(name):
    path = os.path.join(tmp, "runs", name, "main.h5")
    if not os.path.exists(path):
        return None, "no variant log"
    with h5py.File(path, "r") as f:
        status = f["status"][()].decode() if "status" in f else "?"
        if "curves/train/loss" not in f:
            return None, f"no curves/train/loss (status {status})"
        c = f["curves/train/loss"][()]
    c = c[c["step"] > warmup]
    if len(c) < 3:
        return None, f"only {len(c)} steps after the warm-up (status {status})"
    slope = np.polyfit(c["step"].astype(float), c["wall"], 1)[0]  # seconds per step
    return 1.0 / slope, status


print(f"\nWRN-10-2 (no norm) on Fashion-MNIST, global batch {batch}, {steps} steps, "
      f"steps/s = slope over steps > {warmup}; {cores} cores")
print(f"{'configuration':<26} {'options':<24} {'steps/s':>8} {'ms/step':>8} {'vs 1 thread':>12}  status")
base = None
for name, label, opts in rows:
    sps, status = steps_per_second(name)
    if name == "threads1":
        base = sps
    if sps is None:
        print(f"{label:<26} {opts:<24} {'n/a':>8} {'n/a':>8} {'n/a':>12}  {status}")
        continue
    ratio = f"{sps / base:.2f}x" if base else "n/a"
    print(f"{label:<26} {opts:<24} {sps:8.2f} {1e3 / sps:8.1f} {ratio:>12}  {status}")
EOF

if (( ${#failed[@]} > 0 )); then
  echo "failed: ${failed[*]} (see the messages above)" >&2
  exit 1
fi
