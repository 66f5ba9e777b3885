#!/usr/bin/env python3
"""tools/check_layers.py passes on the tree and fails, naming file and line, on an include that points up."""
import os
import shutil
import subprocess
import sys
import tempfile

source = os.path.abspath(sys.argv[1])
tool = os.path.join(source, "tools", "check_layers.py")

ok = subprocess.run([sys.executable, tool, source], capture_output=True, text=True)
assert ok.returncode == 0, ok.stdout + ok.stderr

with tempfile.TemporaryDirectory() as d:
    shutil.copytree(os.path.join(source, "kernel"), os.path.join(d, "kernel"))
    bad = os.path.join(d, "kernel", "store", "h5log.cpp")
    with open(bad) as f:
        lines = f.readlines()
    lines.insert(1, '#include "train/trainer.hpp"\n')
    with open(bad, "w") as f:
        f.writelines(lines)
    r = subprocess.run([sys.executable, tool, d], capture_output=True, text=True)
    assert r.returncode == 1, r.stdout
    assert "kernel/store/h5log.cpp:2: #include \"train/trainer.hpp\": layer 'store' may not use layer 'train'" in r.stdout, r.stdout
    # A header named without its layer is refused as well.
    with open(bad, "w") as f:
        f.writelines(lines[:1] + ['#include "trainer.hpp"\n'] + lines[2:])
    r = subprocess.run([sys.executable, tool, d], capture_output=True, text=True)
    assert r.returncode == 1 and "name kernel headers by layer" in r.stdout, r.stdout
print("1 passed, 0 failed")
