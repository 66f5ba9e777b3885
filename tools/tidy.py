#!/usr/bin/env python3
"""clang-tidy over the compile commands of a build, with a cache of clean results.

    tools/tidy.py BUILD_DIR [-j N] [--no-cache] [--root DIR] [REGEX ...]

Runs clang-tidy-14 (the checks of .clang-tidy) on every source of BUILD_DIR's
compile_commands.json whose path matches one of the REGEXes, JOBS at a time, and prints
each finding once as file:line. A source found clean is remembered under
$EBMLAB_TIDY_CACHE (default ~/.cache/ebmlab-tidy) by a key made of: the clang-tidy
version, .clang-tidy, the source's compile command, the source, and every file of the
repository its last compile read (ninja's record in BUILD_DIR; every tracked header
where there is none), paths inside the clone taken relative to it (so that CI's fresh
clone of the same tree uses what a session found). A later run skips a source whose key
is remembered: editing a .cpp re-checks that file, editing a header re-checks the sources
that include it, like ccache for the compiler. Findings are never cached. Exit 0 when clean, 1 otherwise.
"""
import argparse
import concurrent.futures
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import time

TIDY = "clang-tidy-14"
FINDING = re.compile(r"^\S+:\d+:\d+: (warning|error): ")


def file_digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).digest()


def common_key(root):
    h = hashlib.sha256()
    h.update(subprocess.run([TIDY, "--version"], capture_output=True, text=True).stdout.encode())
    h.update(file_digest(os.path.join(root, ".clang-tidy")))
    return h


def recorded_deps(build):
    """object (relative to the build folder) -> the files its last compile read, from ninja's log."""
    r = subprocess.run(["ninja", "-C", build, "-t", "deps"], capture_output=True, text=True)
    deps, current = {}, None
    for line in r.stdout.splitlines():
        if line and not line.startswith(" "):
            current = deps.setdefault(line.split(":")[0], [])
        elif line.strip() and current is not None:
            current.append(os.path.normpath(os.path.join(build, line.strip())))
    return deps


def entry_key(base, entry, root, build, deps, all_headers):
    h = base.copy()
    # Paths inside the clone are written relative to it, so that another clone of the same
    # tree (CI's) finds what this one found clean.
    command = entry.get("command") or " ".join(entry["arguments"])
    h.update(command.replace(root + "/", "<root>/").encode())
    h.update(os.path.relpath(entry["file"], root).encode())
    h.update(file_digest(entry["file"]))
    words = shlex.split(command)
    obj = words[words.index("-o") + 1] if "-o" in words else None
    obj = obj and os.path.relpath(os.path.join(entry["directory"], obj), build)
    # The repository's files the source's last compile read (ninja's record), or every
    # tracked header where there is no record or the object is older than one of them (an
    # edit since may have added an include the record does not know).
    def ours(paths):
        return sorted({p for p in paths if p.startswith(root + "/") and not p.startswith(build + "/")})

    inputs = ours(deps.get(obj, [])) if obj else []
    if inputs:
        built = os.path.join(build, obj)
        newest = max(os.path.getmtime(p) if os.path.exists(p) else float("inf") for p in inputs + [entry["file"]])
        if not os.path.exists(built) or newest > os.path.getmtime(built):
            inputs = []
    for path in inputs or ours(all_headers):
        if os.path.isfile(path):
            h.update(os.path.relpath(path, root).encode())
            h.update(file_digest(path))
    return h.hexdigest()


def tidy(build, source):
    r = subprocess.run([TIDY, "-p", build, "--quiet", source], capture_output=True, text=True)
    findings = [line for line in r.stdout.splitlines() if FINDING.match(line)]
    if r.returncode != 0 and not findings:
        findings = [f"{source}: clang-tidy exited {r.returncode}: {(r.stderr or r.stdout)[-2000:]}"]
    return findings


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--no-cache", action="store_true", help="check every source, remember nothing")
    ap.add_argument("--root", help="the repository (default: the one holding this script)")
    ap.add_argument("filters", nargs="*", help="regexes on the sources' absolute paths")
    a = ap.parse_args()
    root = os.path.abspath(a.root or os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(a.build, "compile_commands.json")) as f:
        entries = json.load(f)
    filters = [re.compile(x) for x in (a.filters or [re.escape(root) + "/(kernel|sdk|plugins)/"])]
    entries = [e for e in entries if any(x.search(e["file"]) for x in filters)]
    cache = os.environ.get("EBMLAB_TIDY_CACHE", os.path.expanduser("~/.cache/ebmlab-tidy"))
    os.makedirs(cache, exist_ok=True)
    build = os.path.abspath(a.build)
    base = common_key(root)
    deps = recorded_deps(build)
    tracked = subprocess.run(["git", "ls-files", "*.hpp", "*.h"], cwd=root, capture_output=True,
                             text=True, check=True).stdout.split()
    all_headers = [os.path.join(root, x) for x in tracked]
    todo, cached = [], 0
    for e in entries:
        key = entry_key(base, e, root, build, deps, all_headers)
        if not a.no_cache and os.path.exists(os.path.join(cache, key)):
            cached += 1
        else:
            todo.append((e["file"], key))

    start = time.time()
    findings = set()
    with concurrent.futures.ThreadPoolExecutor(a.jobs) as pool:
        for (source, key), found in zip(todo, pool.map(lambda t: tidy(a.build, t[0]), todo)):
            findings.update(found)
            if not found and not a.no_cache:
                open(os.path.join(cache, key), "w").close()
    for line in sorted(findings):
        print(line)
    print(f"tidy.py: {len(entries)} sources, {cached} clean in the cache, {len(todo)} checked in "
          f"{time.time() - start:.0f} s, {len(findings)} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
