"""Install ebmlab into a prefix, build the out-of-tree example plugin with
find_package(ebmlab), and train with it through the installed binary."""
import os
import re
import subprocess

import h5py

from common import TOY, args, case, expect, finish, run, write

A = args()
BUILD = os.path.dirname(os.path.dirname(A.fixtures))  # <build>/tests/fixture_plugins -> <build>


def sh(*cmd, cwd=None):
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    expect(r.returncode == 0, f"{' '.join(cmd)} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


@case
def installed_sdk_builds_and_runs_a_plugin(d):
    prefix = os.path.join(d, "prefix")
    sh("cmake", "--install", BUILD, "--prefix", prefix)
    for f in ("bin/ebmlab", "include/ebmlab/ebmlab.hpp", "lib/cmake/ebmlab/ebmlabConfig.cmake",
              "lib/ebmlab/plugins/libebmlab_convnet.so"):
        expect(os.path.exists(os.path.join(prefix, f)), f"not installed: {f}")
    build = os.path.join(d, "plugin-build")
    sh("cmake", "-S", os.path.join(A.source, "tests", "out_of_tree"), "-B", build, "-G", "Ninja",
       f"-DCMAKE_PREFIX_PATH={prefix}", "-DCMAKE_BUILD_TYPE=Release")
    sh("cmake", "--build", build)
    lib = os.path.join(build, "libebmlab_l2_logits.so")
    expect(os.path.exists(lib), os.listdir(build))

    ebmlab = os.path.join(prefix, "bin", "ebmlab")
    env = {"EBMLAB_PLUGIN_PATH": build}
    r = run(ebmlab, "plugins", "--describe", "l2_logits", env=env)
    expect(r.returncode == 0 and "weight of the penalty" in r.stdout, r.stdout + r.stderr)
    desc = write(os.path.join(d, "t.toml"), TOY.replace("epochs = 3", "steps = 10").replace(
        'losses = [ { plugin = "ce" } ]', 'losses = [ { plugin = "ce" }, { plugin = "l2_logits", scale = 0.01 } ]'))
    r = run(ebmlab, "run", desc, "--quiet", env=env, cwd=d)
    expect(r.returncode == 0, r.stderr)
    with h5py.File(os.path.join(d, "runs", "toy.h5"), "r") as f:
        expect(len(f["variants/main/curves/l2_logits/mean_energy"]) == 10, list(f["variants/main/curves"]))
        libs = [f["plugins"][k].attrs["path"] for k in f["plugins"]]
        expect(any(b"l2_logits" in (p if isinstance(p, bytes) else p.encode()) for p in libs), libs)

    # docs/writing-a-sampler.md: the files on that page, built exactly as written.
    doc = open(os.path.join(A.source, "docs", "writing-a-sampler.md")).read()
    files = dict((name, body) for name, body in re.findall(r"```\w+ file=(\S+)\n(.*?)```", doc, re.S))
    expect(set(files) == {"momentum_langevin.cpp", "CMakeLists.txt"}, sorted(files))
    src = os.path.join(d, "momentum_langevin")
    os.makedirs(src)
    for name, body in files.items():
        write(os.path.join(src, name), body)
    sbuild = os.path.join(src, "build")
    sh("cmake", "-S", src, "-B", sbuild, "-G", "Ninja", f"-DCMAKE_PREFIX_PATH={prefix}", "-DCMAKE_BUILD_TYPE=Release")
    sh("cmake", "--build", sbuild)
    env = {"EBMLAB_PLUGIN_PATH": sbuild}
    r = run(ebmlab, "plugins", "--describe", "momentum_langevin", env=env)
    expect(r.returncode == 0 and "heavy-ball momentum" in r.stdout, r.stdout + r.stderr)
    toml = TOY.replace("epochs = 3", "steps = 12").replace(
        'losses = [ { plugin = "ce" } ]', 'losses = [ { plugin = "ce" }, { plugin = "jem_ml", sampler = "mom" } ]')
    toml += '\n[samplers.mom]\nplugin = "momentum_langevin"\nsteps = 5\n'
    desc = write(os.path.join(d, "mom.toml"), toml.replace('name = "toy"', 'name = "mom"'))
    r = run(ebmlab, "run", desc, "--quiet", env=env, cwd=d)
    expect(r.returncode == 0, r.stderr)
    with h5py.File(os.path.join(d, "runs", "mom.h5"), "r") as f:
        log = f["variants/main"]
        expect(len(log["curves/mom/e_sample"]) == 12, list(log["curves"]))
        expect(len(log["curves/jem_ml/e_sample"]) == 12, list(log["curves"]))


finish()
