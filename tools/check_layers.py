#!/usr/bin/env python3
"""Checks that the kernel's #includes point down its layers (docs/architecture.md).

    cli -> run -> train -> {store, config} -> {data, loader} -> sdk (include/ebmlab)
    testing -> train   (the installed testing library, include/ebmlab/testing.hpp)

A file in kernel/LAYER/ may include its own layer's headers, the SDK's ("ebmlab/..."),
and the headers of the layers below LAYER; anything else is printed with its file and
line, and the exit status is 1. Usage: tools/check_layers.py [SOURCE_DIR]
"""
import os
import re
import sys

BELOW = {  # each layer's direct lower layers; what is allowed is their closure
    "loader": [],
    "data": [],
    "config": ["data", "loader"],
    "store": ["data", "loader"],
    "train": ["store", "config"],
    "run": ["train"],
    "cli": ["run"],
    "testing": ["train"],
}


def allowed(layer):
    out, todo = {layer}, list(BELOW[layer])
    while todo:
        lower = todo.pop()
        if lower not in out:
            out.add(lower)
            todo += BELOW[lower]
    return out


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    kernel = os.path.join(root, "kernel")
    include = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
    problems, checked = [], 0
    for layer in sorted(BELOW):
        ok = allowed(layer)
        folder = os.path.join(kernel, layer)
        for base, _, files in os.walk(folder):
            for name in sorted(files):
                if not name.endswith((".cpp", ".hpp", ".in")):
                    continue
                path = os.path.join(base, name)
                checked += 1
                with open(path, encoding="utf-8") as f:
                    for number, line in enumerate(f, 1):
                        m = include.match(line)
                        if not m:
                            continue
                        target = m.group(1)
                        first = target.split("/")[0]
                        if first == "ebmlab":
                            continue
                        rel = os.path.relpath(path, root)
                        if first not in BELOW:
                            problems.append(f"{rel}:{number}: #include \"{target}\": name kernel headers by layer "
                                            f"(\"{layer}/...\" or a layer below: {', '.join(sorted(ok - {layer})) or 'none'})")
                        elif first not in ok:
                            problems.append(f"{rel}:{number}: #include \"{target}\": layer '{layer}' may not use "
                                            f"layer '{first}' (allowed: {', '.join(sorted(ok))}); move the code down or "
                                            f"pass it in through an interface (docs/architecture.md)")
    stray = [n for n in os.listdir(kernel) if n.endswith((".cpp", ".hpp"))]
    for n in stray:
        problems.append(f"kernel/{n}: a source file outside the layer folders ({', '.join(sorted(BELOW))})")
    for p in problems:
        print(p)
    if problems:
        print(f"check_layers: {len(problems)} problem(s) in {checked} files")
        return 1
    print(f"check_layers: {checked} files, every include points down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
