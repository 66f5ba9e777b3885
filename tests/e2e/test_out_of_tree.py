"""Install ebmlab into a prefix, build the out-of-tree example plugin with
find_package(ebmlab), and train with it through the installed binary; build the sampler of
docs/writing-a-sampler.md with its test and run that with one ctest command against the
installed testing library, which passes as written and fails, naming the broken promise,
when the sampler stops clamping."""
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


def page_project(d, page, names):
    """The blocks of docs/<page> marked ```lang file=NAME, written into a folder."""
    doc = open(os.path.join(A.source, "docs", page)).read()
    files = dict((name, body) for name, body in re.findall(r"```\w+ file=(\S+)\n(.*?)```", doc, re.S))
    expect(set(files) == names, f"{page}: {sorted(files)}")
    folder = os.path.join(d, page.replace(".md", ""))
    os.makedirs(folder)
    for name, body in files.items():
        write(os.path.join(folder, name), body)
    return folder


def build_project(src, prefix):
    build = os.path.join(src, "build")
    sh("cmake", "-S", src, "-B", build, "-G", "Ninja", f"-DCMAKE_PREFIX_PATH={prefix}", "-DCMAKE_BUILD_TYPE=Release")
    sh("cmake", "--build", build)
    return build


@case
def installed_sdk_builds_and_runs_a_plugin(d):
    prefix = os.path.join(d, "prefix")
    sh("cmake", "--install", BUILD, "--prefix", prefix)
    for f in ("bin/ebmlab", "include/ebmlab/ebmlab.hpp", "lib/cmake/ebmlab/ebmlabConfig.cmake",
              "lib/ebmlab/plugins/libebmlab_convnet.so", "include/ebmlab/testing.hpp", "lib/libebmlab_testing.so"):
        expect(os.path.exists(os.path.join(prefix, f)), f"not installed: {f}")
    # docs/writing-a-plugin.md: every block with a file name, built and tested as written.
    project = page_project(d, "writing-a-plugin.md", {"schema_example.cpp", "l2_logits.cpp", "logit_margin.cpp",
                                                      "rms_norm.cpp", "tiny_cnn.cpp", "CMakeLists.txt",
                                                      "test_my_plugins.cpp"})
    build = build_project(project, prefix)
    r = sh("ctest", "--test-dir", build, "--output-on-failure")
    expect("100% tests passed" in r.stdout, r.stdout)

    ebmlab = os.path.join(prefix, "bin", "ebmlab")
    env = {"EBMLAB_PLUGIN_PATH": build}
    r = run(ebmlab, "plugins", "--describe", "l2_logits", env=env)
    expect(r.returncode == 0 and "weight of the penalty" in r.stdout, r.stdout + r.stderr)
    # The loss, the metric and the normalization in a training run (tiny_cnn needs images).
    desc = write(os.path.join(d, "t.toml"), TOY.replace("epochs = 3", "steps = 10").replace(
        'losses = [ { plugin = "ce" } ]', 'losses = [ { plugin = "ce" }, { plugin = "l2_logits", scale = 0.01 } ]').replace(
        'backbone = { plugin = "mlp", hidden = [32, 32] }',
        'backbone = { plugin = "mlp", hidden = [32, 32] }\nnorm = { plugin = "rms" }') +
        '\n[[metric]]\nplugin = "logit_margin"\nbins = 5\n')
    r = run(ebmlab, "run", desc, "--quiet", env=env, cwd=d)
    expect(r.returncode == 0, r.stderr)
    with h5py.File(os.path.join(d, "runs", "toy.h5"), "r") as f:
        log = f["variants/main"]
        expect(len(log["curves/l2_logits/mean_energy"]) == 10, list(log["curves"]))
        expect(log["eval/test/logit_margin/histogram"].shape[0] == 1, list(log["eval/test/logit_margin"]))
        expect(0 <= log["eval/test/logit_margin/correct_fraction"][-1]["value"] <= 1, "correct_fraction")
        libs = [f["plugins"][k].attrs["path"] for k in f["plugins"]]
        for name in ("l2_logits", "logit_margin", "rms_norm"):
            expect(any(name.encode() in (p if isinstance(p, bytes) else p.encode()) for p in libs), libs)

    # docs/writing-a-sampler.md: the files on that page, built exactly as written.
    src = page_project(d, "writing-a-sampler.md", {"momentum_langevin.cpp", "CMakeLists.txt",
                                                   "test_momentum_langevin.cpp"})
    sbuild = build_project(src, prefix)
    r = sh("ctest", "--test-dir", sbuild, "--output-on-failure")
    expect("100% tests passed" in r.stdout, r.stdout)
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

    # The same test on a sampler that breaks its declared range: one ctest, the promise named.
    source = os.path.join(src, "momentum_langevin.cpp")
    text = open(source).read()
    expect(".clamp(data_.lo, data_.hi)" in text, "the page's sampler no longer clamps where expected")
    write(source, text.replace(".clamp(data_.lo, data_.hi)", ""))
    sh("cmake", "--build", sbuild)
    r = subprocess.run(["ctest", "--test-dir", sbuild, "--output-on-failure"], capture_output=True, text=True)
    expect(r.returncode != 0, "ctest passed a sampler that leaves the range it promises")
    expect("sample_range() promises the data range [0, 1] but samples lie in" in r.stdout, r.stdout[-3000:])


finish()
