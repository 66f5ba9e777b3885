"""Shared helpers for the end-to-end CLI tests: run the real binary, check, report."""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import traceback

_results = []
_skipped = []


def args():
    p = argparse.ArgumentParser()
    p.add_argument("--ebmlab", required=True)
    p.add_argument("--fixtures", required=True)
    p.add_argument("--source", required=True)
    return p.parse_args()


def run(binary, *argv, env=None, cwd=None, timeout=300):
    full_env = dict(os.environ)
    full_env.pop("EBMLAB_PLUGIN_PATH", None)
    full_env.update(env or {})
    return subprocess.run([binary, *argv], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=timeout)


def workdir():
    return tempfile.mkdtemp(prefix="ebmlab_e2e_")


class Skip(Exception):
    """Raised by a case that cannot run on this machine; the reason is printed and counted."""


def case(fn):
    """Registers and runs a test function; failures are collected, not fatal."""
    d = workdir()
    try:
        fn(d)
        _results.append((fn.__name__, None))
        print(f"ok     {fn.__name__}")
    except Skip as why:
        _skipped.append(fn.__name__)
        print(f"SKIP   {fn.__name__}: {why}")
    except Exception:  # noqa: BLE001 - report every failure
        _results.append((fn.__name__, traceback.format_exc()))
        print(f"FAILED {fn.__name__}\n{traceback.format_exc()}")
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return fn


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def finish():
    failed = sum(1 for _, e in _results if e)
    print(f"{len(_results) - failed} passed, {failed} failed" + (f", {len(_skipped)} skipped" if _skipped else ""))
    sys.exit(1 if failed or not _results else 0)


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


TOY = """[experiment]
name = "toy"
seed = 1

[data]
dataset = "toy2d"
toy = "moons"
toy_samples = 2000
validation = 400
batch_size = 32

[model]
backbone = { plugin = "mlp", hidden = [32, 32] }

[[stage]]
name = "fit"
epochs = 3
optimizer = { name = "adam", lr = 0.01 }
losses = [ { plugin = "ce" } ]

[[metric]]
plugin = "accuracy"
"""
