#!/usr/bin/env python3
"""tools/tidy.py reports clang-tidy's findings, remembers clean sources only, re-checks a
source when it or a header it includes changes (and only then), and lets another clone of
the same tree reuse what one clone found clean."""
import os
import shutil
import subprocess
import sys
import tempfile

source = os.path.abspath(sys.argv[1])
tool = os.path.join(source, "tools", "tidy.py")

BASE = "#pragma once\nstruct Base {\n  virtual ~Base() = default;\n  virtual int f() const { return 0; }\n};\n"
OTHER = "#pragma once\ninline int other() { return 1; }\n"
OK = '#include "base.hpp"\n#include "other.hpp"\nint g() { return Base().f() + other(); }\n'
BAD = '#include "base.hpp"\nstruct Derived : Base {\n  virtual int f() const { return 1; }\n};\nint h() { return Derived().f(); }\n'
FIXED = BAD.replace("virtual int f() const { return 1; }", "int f() const override { return 1; }")
NINJA = """rule cxx
  command = clang++ -std=c++17 -I{root}/kernel -MD -MF $out.d -c $in -o $out
  deps = gcc
  depfile = $out.d
build ok.o: cxx {root}/kernel/ok.cpp
build bad.o: cxx {root}/kernel/bad.cpp
"""


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def build(d):
    """Compiles both sources with ninja (which records what each read) and writes compile_commands.json."""
    b = os.path.join(d, "build")
    subprocess.run(["ninja", "-C", b], check=True, capture_output=True)
    with open(os.path.join(b, "compile_commands.json"), "w") as f:
        subprocess.run(["ninja", "-C", b, "-t", "compdb", "cxx"], check=True, stdout=f)


def make_tree(d, bad=BAD):
    os.makedirs(os.path.join(d, "kernel"))
    shutil.copy(os.path.join(source, ".clang-tidy"), d)
    for name, text in (("base.hpp", BASE), ("other.hpp", OTHER), ("ok.cpp", OK), ("bad.cpp", bad)):
        write(os.path.join(d, "kernel", name), text)
    subprocess.run(["git", "init", "-q", d], check=True)
    subprocess.run(["git", "-C", d, "add", "."], check=True)
    os.makedirs(os.path.join(d, "build"))
    write(os.path.join(d, "build", "build.ninja"), NINJA.format(root=d))
    build(d)


def tidy(d, cache):
    r = subprocess.run([sys.executable, tool, os.path.join(d, "build"), "--root", d], capture_output=True,
                       text=True, env={**os.environ, "EBMLAB_TIDY_CACHE": cache})
    return r.returncode, r.stdout + r.stderr


with tempfile.TemporaryDirectory() as tmp:
    cache, a, b = (os.path.join(tmp, x) for x in ("cache", "a", "b"))
    make_tree(a)
    rc, out = tidy(a, cache)
    assert rc == 1 and "kernel/bad.cpp:3:15: error:" in out and "modernize-use-override" in out, out
    assert "2 sources, 0 clean in the cache, 2 checked" in out, out
    rc, out = tidy(a, cache)  # the clean source is remembered, the finding is not
    assert rc == 1 and "modernize-use-override" in out and "1 clean in the cache, 1 checked" in out, out
    write(os.path.join(a, "kernel", "bad.cpp"), FIXED)
    rc, out = tidy(a, cache)  # edited, not yet rebuilt: checked again all the same
    assert rc == 0 and "1 clean in the cache, 1 checked" in out and "0 findings" in out, out
    build(a)
    rc, out = tidy(a, cache)  # rebuilt: ninja's record names its headers; checked once more
    assert rc == 0 and "1 clean in the cache, 1 checked" in out, out
    rc, out = tidy(a, cache)
    assert rc == 0 and "2 clean in the cache, 0 checked" in out, out
    # Another clone of the same tree, in another folder: the same keys.
    make_tree(b, FIXED)
    rc, out = tidy(b, cache)
    assert rc == 0 and "2 clean in the cache, 0 checked" in out, out
    # A header only ok.cpp includes: ok.cpp alone is checked again.
    write(os.path.join(b, "kernel", "other.hpp"), OTHER.replace("1;", "2;"))
    build(b)
    rc, out = tidy(b, cache)
    assert rc == 0 and "1 clean in the cache, 1 checked" in out, out
    # A header both include: both are checked, and the override missing through it is found.
    write(os.path.join(b, "kernel", "base.hpp"), BASE.replace("int f()", "int f(int = 0)"))
    write(os.path.join(b, "kernel", "bad.cpp"), BAD.replace("int f() const", "int f(int = 0) const"))
    rc, out = tidy(b, cache)  # not rebuilt: no record to trust, every header counts
    assert rc == 1 and "0 clean in the cache, 2 checked" in out and "modernize-use-override" in out, out
    build(b)
    tidy(b, cache)
    rc, out = tidy(b, cache)
    assert rc == 1 and "1 clean in the cache, 1 checked" in out and "modernize-use-override" in out, out
print("tidy cache: ok")
