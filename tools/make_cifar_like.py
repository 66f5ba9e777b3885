#!/usr/bin/env python3
"""Writes files in the CIFAR-10 (or CIFAR-100) "binary version" with random pixels and labels.

    tools/make_cifar_like.py DIR [--per-file N] [--test N] [--hundred] [--seed S]

CIFAR-10: DIR/data_batch_1.bin ... data_batch_5.bin and DIR/test_batch.bin, records of
1 label byte + 3072 pixel bytes (1024 red, 1024 green, 1024 blue, row-major 32x32), as
https://www.cs.toronto.edu/~kriz/cifar.html describes them. CIFAR-100 (--hundred):
DIR/train.bin and DIR/test.bin, records of 2 label bytes (coarse, fine) + 3072 pixels.

For what needs CIFAR-shaped data where the real files are absent: the device check's
benchmarks (tools/gpu-check.sh; the numbers do not depend on the pixels) and smoke runs of
descriptors. Pure Python, no numpy: it runs on a machine that has only Python.
"""
import argparse
import os
import random
import sys


def write(path, records, label_bytes, classes, rng):
    with open(path, "wb") as f:
        for _ in range(records):
            labels = bytes(rng.randrange(classes if i == label_bytes - 1 else 20) for i in range(label_bytes))
            f.write(labels + rng.randbytes(3072))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--per-file", type=int, default=1000, help="records per training file (default 1000)")
    ap.add_argument("--test", type=int, default=1000, help="records in the test file (default 1000)")
    ap.add_argument("--hundred", action="store_true", help="CIFAR-100 layout (train.bin, test.bin, 2 label bytes)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.per_file < 1 or a.test < 1:
        sys.exit("make_cifar_like.py: --per-file and --test must be at least 1")
    rng = random.Random(a.seed)
    os.makedirs(a.dir, exist_ok=True)
    if a.hundred:
        write(os.path.join(a.dir, "train.bin"), 5 * a.per_file, 2, 100, rng)
        write(os.path.join(a.dir, "test.bin"), a.test, 2, 100, rng)
    else:
        for i in range(1, 6):
            write(os.path.join(a.dir, f"data_batch_{i}.bin"), a.per_file, 1, 10, rng)
        write(os.path.join(a.dir, "test_batch.bin"), a.test, 1, 10, rng)
    print(f"make_cifar_like.py: {a.dir}: {5 * a.per_file} training and {a.test} test records "
          f"({'CIFAR-100' if a.hundred else 'CIFAR-10'} binary layout, random)")


if __name__ == "__main__":
    main()
