#!/usr/bin/env python3
"""Checks the kernel's size rules (docs/architecture.md): no file in kernel/ over 400 lines,
no function over 80 lines, except the exemptions listed in docs/architecture.md under
"Exemptions from the size rules", one list item each: "- `kernel/x.cpp`: reason" or
"- `kernel/x.cpp:function`: reason".

A function is a definition that starts at column 0 and ends at the next "}" at column 0
(the kernel's style: namespaces are not indented). Usage: tools/check_sizes.py [SOURCE_DIR]
"""
import os
import re
import sys

MAX_FILE, MAX_FUNCTION = 400, 80
START = re.compile(r"^(?!namespace\b|struct\b|class\b|enum\b|using\b|extern\b|template\b|#|//|\}|static_assert)"
                   r"[A-Za-z_][^;]*\)\s*(const\s*)?(noexcept\s*)?(override\s*)?(->\s*[\w:<>]+\s*)?\{?\s*$")


def exemptions(root):
    path = os.path.join(root, "docs", "architecture.md")
    text = open(path, encoding="utf-8").read()
    m = re.search(r"## Exemptions from the size rules\n(.*?)(\n## |\Z)", text, re.S)
    return set(re.findall(r"^- `([^`]+)`", m.group(1), re.M)) if m else set()


def functions(lines):
    """(name, first line, length) of each function definition starting at column 0."""
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        if START.match(line) and "(" in line:
            # the body opens on this line or within the next few (initializer lists)
            j = i
            while j < len(lines) and "{" not in lines[j] and j - i < 6:
                j += 1
            if j < len(lines) and "{" in lines[j] and not lines[j].rstrip().endswith("};"):
                k = j
                while k < len(lines) and not lines[k].startswith("}"):
                    k += 1
                name = re.search(r"([\w:~]+)\s*\(", line)
                out.append((name.group(1) if name else line.strip(), i + 1, k - i + 1))
                i = k + 1
                continue
        i += 1
    return out


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".."))
    allowed = exemptions(root)
    problems, used = [], set()
    for base, _, files in os.walk(os.path.join(root, "kernel")):
        for name in sorted(files):
            if not name.endswith((".cpp", ".hpp")):
                continue
            path = os.path.join(base, name)
            rel = os.path.relpath(path, root)
            lines = open(path, encoding="utf-8").read().split("\n")
            n = len(lines) - (1 if lines and lines[-1] == "" else 0)
            if n > MAX_FILE:
                if rel in allowed:
                    used.add(rel)
                else:
                    problems.append(f"{rel}: {n} lines (at most {MAX_FILE}); split it by job or list it as an exemption")
            for fn, first, length in functions(lines):
                key = f"{rel}:{fn}"
                if length > MAX_FUNCTION:
                    if key in allowed:
                        used.add(key)
                    else:
                        problems.append(f"{rel}:{first}: {fn} is {length} lines (at most {MAX_FUNCTION})")
    for p in problems:
        print(p)
    stale = sorted(allowed - used)
    for s in stale:
        print(f"docs/architecture.md: exemption `{s}` is no longer needed; remove it")
    print(f"check_sizes: {len(problems)} over the limits, {len(used)} exempt, {len(stale)} stale exemptions")
    if len(allowed) > 5:
        print(f"check_sizes: {len(allowed)} exemptions listed; at most 5")
        return 1
    return 1 if problems or stale else 0


if __name__ == "__main__":
    sys.exit(main())
