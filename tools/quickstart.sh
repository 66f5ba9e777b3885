#!/usr/bin/env bash
# README command 1: install the Debian packages, build, and train the quickstart
# classifier on Fashion-MNIST. Writes runs/quickstart.h5 and runs/quickstart/main.h5.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
tools/build.sh default ebmlab plugins   # what the quickstart runs; tools/test.sh builds the tests
overwrite=()
[ -e runs/quickstart.h5 ] && overwrite=(--overwrite)
./build/ebmlab run experiments/quickstart.toml "${overwrite[@]}" "$@"
/usr/bin/python3 - <<'PY'
import h5py
with h5py.File("runs/quickstart.h5", "r") as f:
    log = f["variants/main"]
    acc = log["eval/test/accuracy/accuracy"][-1]["value"]
    print(f"status {log['status'][()].decode().rstrip(chr(0))}, test accuracy {acc:.4f} (read back with h5py from runs/quickstart.h5)")
PY
