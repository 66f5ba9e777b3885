"""tools/plot.py and docs/analysis.md on a real toy2d run: every subcommand writes a PNG
of the announced size that is not blank, its JSON summary matches the run (panels, seed
groups, bars), the numpy landscape reproduces the energies ebmlab records, and every
code block of the "Plots" and "Reading runs" sections of docs/analysis.md runs as written
(including SWMR reads of a running and of a killed run)."""
import contextlib
import functools
import io
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402

from common import args, case, expect, finish, run, write

A = args()
PLOT = os.path.join(A.source, "tools", "plot.py")
DOC = os.path.join(A.source, "docs", "analysis.md")
sys.path.insert(0, os.path.join(A.source, "tools"))
import plot  # noqa: E402


def sections(text, titles):
    """The text of the named `## ` sections (each up to the next `## ` heading)."""
    out = []
    for part in re.split(r"(?m)^(?=## )", text):
        if any(part.startswith(f"## {t}\n") for t in titles):
            out.append(part)
    expect(len(out) == len(titles), f"sections {titles} not all found in {DOC}")
    return "\n".join(out)


def blocks(text, lang):
    return re.findall(rf"(?ms)^```{lang}\n(.*?)^```", text)


MINE = sections(open(DOC).read(), ["Plots", "Reading runs with h5py and pandas"])
DESC = blocks(MINE, "toml")[0]
ROOT = tempfile.mkdtemp(prefix="ebmlab_plots_")
write(os.path.join(ROOT, "seeds.toml"), DESC)


def shell(line):
    argv = shlex.split(line)
    if argv[0] == "ebmlab":
        return run(A.ebmlab, *argv[1:], cwd=ROOT)
    expect(argv[0] == "tools/plot.py", f"unexpected command in the docs: {line}")
    return run(sys.executable, PLOT, *argv[1:], cwd=ROOT)


# The documented commands, in order: the run, post-hoc records, then the plots.
t0 = time.time()
for line in blocks(MINE, "sh")[0].strip().splitlines():
    r = shell(line)
    if r.returncode != 0:
        print(f"FAILED setup: {line}\n{r.stdout}{r.stderr}")
        shutil.rmtree(ROOT, ignore_errors=True)
        sys.exit(1)
print(f"setup (documented commands) {time.time() - t0:.1f} s")
INDEX = os.path.join(ROOT, "runs", "seeds.h5")


def tool(*argv, cwd=ROOT):
    return run(sys.executable, PLOT, *argv, cwd=cwd)


def summary(*argv):
    r = tool(*argv, "--summary")
    expect(r.returncode == 0, f"plot.py {argv}: exit {r.returncode}: {r.stderr}")
    return json.loads(r.stdout)


def timed(fn):
    @functools.wraps(fn)
    def wrapper(d):
        start = time.time()
        fn(d)
        print(f"       {fn.__name__}: {time.time() - start:.1f} s")
    return wrapper


def sample_steps(variant):
    with h5py.File(os.path.join(ROOT, "runs", "seeds", f"{variant}.h5"), "r") as f:
        steps = [int(s) for s in f["samples/adv_step"][()]]
    expect(len(steps) == 3, f"samples_every = 10 over 30 steps gave records at {steps}")
    return steps


def check_png(path, size):
    img = mpimg.imread(path)
    expect(img.shape[1] == size[0] and img.shape[0] == size[1], f"{path}: {img.shape}, expected {size}")
    expect(img[..., :3].std() > 0.01, f"{path} is blank")
    return img


@case
@timed
def curves_one_panel_per_term_and_one_line_per_seed_group(d):
    out = os.path.join(d, "c.png")
    s = summary("curves", INDEX, "--out", out)
    with h5py.File(INDEX, "r") as f:
        log = f["variants/relu_s1"]
        terms = sorted(f"{c}/{t}" for c in log["curves"] for t in log[f"curves/{c}"])
    expect(sorted(p["term"] for p in s["panels"]) == terms, s["panels"])
    expect(len(terms) == 9, terms)  # train/{loss,lr}, ce x2, at_ce x3, adv x2
    for p in s["panels"]:
        expect([line["label"] for line in p["lines"]] == ["relu (2 seeds)", "silu (2 seeds)"], p)
        expect(p["lines"][0]["variants"] == ["relu_s1", "relu_s2"], p)
    expect(s["size"] == [1200, 900], s["size"])  # 3 x 3 panels of 400 x 300
    check_png(out, s["size"])
    s = summary("curves", INDEX, "--terms", "train/loss,ce/*", "--smooth", "5", "--out", out)
    expect([p["term"] for p in s["panels"]] == ["ce/batch_accuracy", "ce/loss", "train/loss"], s["panels"])
    expect(s["size"] == [1200, 300], s["size"])
    check_png(out, s["size"])


@case
@timed
def curves_of_two_files_group_seeds_across_files(d):
    # The same descriptor with seed 3 only: its relu variant joins the relu group of the
    # first file (names differ by file, configurations only by the seed).
    text = DESC.split("[variants.")[0].replace("seed = 1", "seed = 3")
    text += '\n[variants.relu_s3]\nexperiment = { seed = 3 }\n'
    r = run(A.ebmlab, "run", write(os.path.join(d, "seeds.toml"), text), "--threads", "1", "--quiet", cwd=d)
    expect(r.returncode == 0, r.stderr)
    s = summary("curves", INDEX, os.path.join(d, "runs", "seeds.h5"), "--terms", "train/loss", "--out",
                os.path.join(d, "c.png"))
    lines = s["panels"][0]["lines"]
    expect(len(lines) == 2 and lines[0]["variants"] == ["seeds:relu_s1", "seeds:relu_s2", "seeds:relu_s3"], lines)
    expect(lines[0]["label"] == "seeds:relu (3 seeds)", lines)


@case
@timed
def smoothing_is_a_trailing_mean(d):
    y = np.array([1.0, 3.0, 5.0, 7.0])
    expect(np.allclose(plot.smooth(y, 2), [1.0, 2.0, 4.0, 6.0]), plot.smooth(y, 2))
    expect(np.allclose(plot.smooth(y, 1), y), "N = 1 changes nothing")


@case
@timed
def metrics_bars_are_seed_means_with_std(d):
    out = os.path.join(d, "m.png")
    s = summary("metrics", INDEX, "--metrics", "accuracy/accuracy", "--out", out)
    expect([p["term"] for p in s["panels"]] == ["accuracy/accuracy"], s)
    with h5py.File(INDEX, "r") as f:
        acc = {v: f[f"variants/{v}/eval/test/accuracy/accuracy"][-1]["value"] for v in f["variants"]}
    bars = {b["label"]: b for b in s["panels"][0]["bars"]}
    expect(sorted(bars) == ["relu (2 seeds)", "silu (2 seeds)"], bars)
    for g in ("relu", "silu"):
        vals = [acc[f"{g}_s1"], acc[f"{g}_s2"]]
        b = bars[f"{g} (2 seeds)"]
        expect(abs(b["mean"] - np.mean(vals)) < 1e-12 and abs(b["std"] - np.std(vals)) < 1e-12, (b, vals))
    check_png(out, s["size"])
    s = summary("metrics", INDEX, "--split", "val", "--out", out)
    expect(sorted(p["term"] for p in s["panels"]) == ["accuracy/accuracy", "accuracy/n"], s)


@case
@timed
def numpy_mlp_reproduces_ebmlab_energies(d):
    # `ebmlab sample` (run in the setup) records E(x) of each sample computed by LibTorch.
    with h5py.File(INDEX, "r") as f:
        config = json.loads(f["resolved"][()])["relu_s1"]
        rec = f["variants/relu_s1/posthoc/0"]
        x, energy = rec["samples"][()], rec["energy"][()]
        cf = f["variants/relu_s1/posthoc/1"]
        path, path_energy = cf["path"][()], cf["energy"][()]
    model = plot.NumpyMlp(config, os.path.join(ROOT, "runs", "seeds", "relu_s1", "ckpt-30.h5"))
    expect(np.abs(model.energy(x) - energy).max() < 1e-4, (model.energy(x)[:4], energy[:4]))
    expect(np.abs(model.energy(path) - path_energy).max() < 1e-4, (model.energy(path), path_energy))
    silu = json.loads(json.dumps(config))
    silu["model"]["backbone"]["activation"] = "silu"
    wrong = plot.NumpyMlp(silu, os.path.join(ROOT, "runs", "seeds", "relu_s1", "ckpt-30.h5"))
    expect(np.abs(wrong.energy(x) - energy).max() > 1e-3, "the activation makes no difference?")


@case
@timed
def landscape_png_and_range(d):
    out = os.path.join(d, "l.png")
    s = summary("landscape", INDEX, "--variant", "silu_s2", "--grid", "60", "--out", out)
    expect(s["checkpoint"].endswith(os.path.join("silu_s2", "ckpt-30.h5")), s)
    expect(np.isfinite(s["energy_min"]) and s["energy_max"] - s["energy_min"] > 0.1, s)
    last = sample_steps("silu_s2")[-1]
    expect(s["points"] == {f"samples/adv (step {last})": 16}, s["points"])
    check_png(out, [600, 500])
    s = summary("landscape", INDEX, "--variant", "relu_s1", "--out", out)
    last = sample_steps("relu_s1")[-1]
    expect(s["points"] == {f"samples/adv (step {last})": 16, "posthoc/0 samples": 32, "posthoc/1 path": 11}, s)
    # The documented command wrote energy.png in the run's folder.
    check_png(os.path.join(ROOT, "energy.png"), [600, 500])


@case
@timed
def samples_of_toy2d_are_points(d):
    out = os.path.join(d, "s.png")
    s = summary("samples", INDEX, "--variant", "relu_s2", "--out", out)
    steps = sample_steps("relu_s2")
    expect(s["source"] == "samples/adv" and s["step"] == steps[-1] and s["count"] == 16, s)
    expect(s["background"] == "landscape", s)
    check_png(out, [600, 500])
    s = summary("samples", INDEX, "--variant", "relu_s2", "--record", "0", "--out", out)
    expect(s["step"] == steps[0] and steps[0] != steps[-1], s)
    s = summary("samples", INDEX, "--variant", "relu_s1", "--posthoc", "1", "--out", out)
    expect(s["kind"] == "counterfactual" and s["count"] == 11, s)
    s = summary("samples", INDEX, "--variant", "relu_s1", "--posthoc", "0", "--out", out)
    expect(s["kind"] == "sample" and s["count"] == 32, s)
    for name in ("adv.png", "counterfactual.png"):
        check_png(os.path.join(ROOT, name), [600, 500])


@case
@timed
def samples_of_images_are_a_grid(d):
    # A variant log with image samples [N, count, C, H, W] (NaN-padded), written with h5py
    # into a copy of a real log: fashion_mnist runs are too slow for this test.
    log = os.path.join(d, "img.h5")
    shutil.copy(os.path.join(ROOT, "runs", "seeds", "relu_s1.h5"), log)
    rng = np.random.default_rng(0)
    with h5py.File(log, "a") as f:
        del f["samples"]
        x = rng.random((2, 12, 1, 8, 8), dtype=np.float32)
        x[1, 9:] = np.nan
        f["samples/gen"] = x
        f["samples/gen_step"] = np.array([5, 10], np.int64)
    out = os.path.join(d, "g.png")
    s = summary("samples", log, "--out", out)
    expect(s["variant"] == "relu_s1" and s["step"] == 10 and s["count"] == 9, s)
    check_png(out, s["size"])
    s = summary("samples", log, "--record", "0", "--out", out)
    expect(s["count"] == 12, s)
    r = tool("samples", log, "--record", "5")
    expect(r.returncode == 2 and "--record 5 is out of range" in r.stderr, r.stderr)


@case
@timed
def bad_inputs_exit_2_with_a_message(d):
    junk = write(os.path.join(d, "junk.h5"), "not hdf5")
    r = tool("curves", junk)
    expect(r.returncode == 2 and "not an HDF5 file" in r.stderr, r.stderr)
    plain = os.path.join(d, "plain.h5")
    with h5py.File(plain, "w") as f:
        f["x"] = 1
    r = tool("metrics", plain)
    expect(r.returncode == 2 and "not an ebmlab run (no format_version attribute)" in r.stderr, r.stderr)
    r = tool("curves", INDEX, "--terms", "nope/*")
    expect(r.returncode == 2 and "no curves match --terms nope/*" in r.stderr and "train/loss" in r.stderr, r.stderr)
    r = tool("samples", INDEX)
    expect(r.returncode == 2 and "choose one with --variant" in r.stderr, r.stderr)
    r = tool("samples", INDEX, "--variant", "relu_s1", "--posthoc", "7")
    expect(r.returncode == 2 and "no posthoc/7; records: 0, 1" in r.stderr, r.stderr)
    r = tool("samples", INDEX, "--variant", "relu_s1", "--sampler", "sgld")
    expect(r.returncode == 2 and "no samples/sgld; samplers: adv" in r.stderr, r.stderr)
    r = tool("landscape", INDEX, "--variant", "nope")
    expect(r.returncode == 2 and "no variant 'nope'" in r.stderr, r.stderr)
    r = tool("curves", os.path.join(ROOT, "runs", "seeds", "relu_s1", "ckpt-30.h5"))
    expect(r.returncode == 2 and "neither an index nor a variant log" in r.stderr, r.stderr)
    r = tool("--help")
    expect(r.returncode == 0 and "examples:" in r.stdout and "landscape" in r.stdout, r.stdout)


@case
@timed
def landscape_refuses_other_models_and_data(d):
    text = DESC.split("[variants.")[0].replace('name = "seeds"', 'name = "conv"').replace("steps = 30", "steps = 2")
    text = text.replace("[model]\n", '[model]\nnorm = { plugin = "layer" }\n')
    r = run(A.ebmlab, "run", write(os.path.join(d, "conv.toml"), text), "--threads", "1", "--quiet", cwd=d)
    expect(r.returncode == 0, r.stderr)
    r = tool("landscape", os.path.join(d, "runs", "conv.h5"))
    expect(r.returncode == 2 and "only the mlp backbone with norm none is supported" in r.stderr
           and "norm layer" in r.stderr, r.stderr)
    # A non-toy2d run: the same log with its configuration's data set changed.
    log = os.path.join(d, "fm.h5")
    shutil.copy(os.path.join(ROOT, "runs", "seeds", "relu_s1.h5"), log)
    with h5py.File(log, "a") as f:
        cfg = json.loads(f["config"][()])
        cfg["data"]["dataset"] = "fashion_mnist"
        del f["config"]
        f["config"] = json.dumps(cfg).encode()
    r = tool("landscape", log)
    expect(r.returncode == 2 and "toy2d runs only (data.dataset is 'fashion_mnist')" in r.stderr, r.stderr)


def exec_block(code, cwd):
    old = os.getcwd()
    os.chdir(cwd)
    out = io.StringIO()
    ns = {"__name__": "__doc__"}
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(code, DOC, "exec"), ns)
    finally:
        os.chdir(old)
    return ns, out.getvalue()


@case
@timed
def documented_python_runs_on_the_run(d):
    code = [b for b in blocks(MINE, "python") if not b.startswith("# while") and not b.startswith("# after")]
    expect(len(code) == 3, f"{len(code)} blocks")
    ns, out = exec_block(code[0], ROOT)
    expect(list(ns["loss"].columns) == ["step", "value", "wall"] and len(ns["loss"]) == 30, ns["loss"])
    expect(sorted(ns["curves"]["variant"].unique()) == ["relu_s1", "relu_s2", "silu_s1", "silu_s2"], out)
    ns, out = exec_block(code[1], ROOT)
    table = ns["table"]
    expect(sorted(table.index) == ["relu_s1", "relu_s2", "silu_s1", "silu_s2"], table)
    expect(list(table["seed"]) == [1, 2, 1, 2] and set(table["status"]) == {"completed"}, table)
    with h5py.File(INDEX, "r") as f:
        expect(table.loc["silu_s2", "accuracy/accuracy"] == f["variants/silu_s2/eval/test/accuracy/accuracy"][-1]["value"], table)
    expect("accuracy/n" in table.columns and "relu" in out and "silu" in out, out)
    ns, out = exec_block(code[2], ROOT)
    expect("0 sample adv (32, 2)" in out and "1 counterfactual (11, 2)" in out, out)


@case
@timed
def documented_swmr_reads_of_a_running_and_a_killed_run(d):
    code = {b.splitlines()[0]: b for b in blocks(MINE, "python") if b.startswith("# ")}
    expect(set(code) == {"# while the run is going", "# after a crash"}, list(code))
    text = DESC.split("[variants.")[0].replace('name = "seeds"', 'name = "long"').replace("steps = 30", "steps = 1000000")
    text = text.replace("eval_every = 10", "eval_every = 100000").replace("samples_every = 10", "samples_every = 0")
    text += "\n[checkpoint]\nenabled = false\n"
    text = text.replace("[log]\n", "[log]\nflush_every = 5\n")
    desc = write(os.path.join(d, "long.toml"), text)
    env = dict(os.environ)
    env.pop("EBMLAB_PLUGIN_PATH", None)
    p = subprocess.Popen([A.ebmlab, "run", desc, "--threads", "1", "--quiet"], cwd=d, env=env,
                         stderr=subprocess.PIPE, text=True)
    try:
        log = os.path.join(d, "runs", "long", "main.h5")
        deadline = time.time() + 60
        while time.time() < deadline and not os.path.exists(log):
            time.sleep(0.1)
        time.sleep(0.5)
        ns, out = exec_block(code["# while the run is going"], d)
        sizes = ns["sizes"]
        expect(sizes[0] > 0 and sizes[-1] > sizes[0], f"refresh() saw no new records: {sizes}")
        # plot.py reads the running log too.
        s = summary("curves", os.path.join(d, "runs", "long.h5"), "--terms", "train/loss", "--out",
                    os.path.join(d, "c.png"))
        expect(s["panels"][0]["lines"][0]["variants"] == ["main"], s)
    finally:
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=60)
    try:
        h5py.File(log, "r").close()
        refused = False
    except OSError:
        refused = True
    expect(refused, "a plain open of a killed writer's log was expected to fail (the docs say so)")
    ns, out = exec_block(code["# after a crash"], d)
    expect(out.startswith("running\n") and len(ns["loss"]) >= sizes[-1], out)
    r = subprocess.run(["h5clear", "-s", log], capture_output=True, text=True)
    if r.returncode == 0:  # the documented repair (hdf5-tools)
        with h5py.File(log, "r") as f:
            expect(len(f["curves/train/loss"]) == len(ns["loss"]), "records lost by h5clear")


try:
    finish()
finally:
    shutil.rmtree(ROOT, ignore_errors=True)
