#!/usr/bin/env python3
"""Compares two folders of ebmlab runs bit for bit: every curve's and evaluation's step and
value columns, every evaluation tensor, and every checkpoint's tensors (the final weights
among them). Wall times, provenance (paths, hashes, commits) and timestamps may differ.
Exit 0 identical, 1 not.   compare_runs.py RUNS_A RUNS_B"""
import os
import sys

import h5py
import numpy as np


def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
        f.visititems(visit)
    return out


def comparable(name, value):
    """The columns that must not change: step and value of records, numeric arrays."""
    if isinstance(value, np.ndarray) and value.dtype.names:
        # wall: seconds; sha256: of a checkpoint file, which holds provenance (commit, paths)
        return {k: value[k] for k in value.dtype.names if k not in ("wall", "sha256")}
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
        return {"": value}
    return None


def main(a_dir, b_dir):
    differences, compared = [], 0
    files = sorted(os.path.relpath(os.path.join(r, f), a_dir)
                   for r, _, fs in os.walk(a_dir) for f in fs if f.endswith(".h5"))
    for rel in files:
        a_path, b_path = os.path.join(a_dir, rel), os.path.join(b_dir, rel)
        if not os.path.exists(b_path):
            differences.append(f"{rel}: missing in {b_dir}")
            continue
        a, b = datasets(a_path), datasets(b_path)
        for name, va in a.items():
            ca = comparable(name, va)
            if ca is None:
                continue
            if name not in b:
                differences.append(f"{rel}:{name}: missing in the second run")
                continue
            cb = comparable(name, b[name])
            for col, x in ca.items():
                y = cb.get(col) if cb else None
                compared += 1
                if y is None or x.shape != y.shape or x.tobytes() != y.tobytes():
                    differences.append(f"{rel}:{name}{'.' + col if col else ''}: differs")
    for d in differences:
        print(d)
    print(f"compare_runs: {len(files)} files, {compared} columns and tensors compared, {len(differences)} differ")
    return 1 if differences or not files else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
