"""After training: `ebmlab eval`, `sample` and `counterfactual` on a small real Fashion-MNIST
run, sample grids during training, and the errors of bad runs, variants and checkpoints.
Every result is read back with h5py (and PNG headers with struct) as a user would."""
import json
import os
import shutil
import struct
import tempfile

import h5py
import numpy as np

from common import args, case, expect, finish, run, write

A = args()

DESC = """[experiment]
name = "fm"
seed = 0

[data]
dataset = "fashion_mnist"
subset = 3000
validation = 500
test_subset = 400
batch_size = 50

[model]
backbone = { plugin = "mlp", hidden = [64] }

[samplers.adv]
plugin = "pgd"
eps = 0.1
step_size = 0.05
steps = 2

[[stage]]
name = "fit"
epochs = 2
optimizer = { name = "adam", lr = 0.002 }
losses = [ { plugin = "ce" }, { plugin = "at_ce", attack = "adv", weight = 0.5 } ]

[[metric]]
plugin = "accuracy"

[[metric]]
plugin = "ece"

[log]
samples_every = 25
samples_count = 16
"""

ROOT = tempfile.mkdtemp(prefix="ebmlab_posthoc_")
DESC_PATH = write(os.path.join(ROOT, "fm.toml"), DESC)
TRAIN = run(A.ebmlab, "run", DESC_PATH, "--threads", "2", "--quiet", cwd=ROOT, timeout=900)
INDEX = os.path.join(ROOT, "runs", "fm.h5")
LOG = os.path.join(ROOT, "runs", "fm", "main.h5")
CKPT_DIR = os.path.join(ROOT, "runs", "fm", "main")


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    expect(head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG")
    return struct.unpack(">II", head[16:24])


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def ebmlab(*argv, timeout=600):
    return run(A.ebmlab, *argv, "--threads", "2", cwd=ROOT, timeout=timeout)


def last_record(kind):
    with h5py.File(LOG, "r") as f:
        names = sorted(f["posthoc"], key=int)
        rec = f["posthoc"][names[-1]]
        expect(text(rec.attrs["kind"]) == kind, dict(rec.attrs))
        return names[-1]


@case
def training_keeps_sample_grids_and_metric_tensors(d):
    expect(TRAIN.returncode == 0, f"run failed: {TRAIN.returncode} {TRAIN.stderr}")
    with h5py.File(LOG, "r") as f:
        expect(f.attrs["format_version"] == 3, dict(f.attrs))
        samples, steps = f["samples/adv"][()], f["samples/adv_step"][()]
        # 2 epochs x 60 steps (3000 training images / 50), a record every 25 steps
        expect(list(steps) == [24, 49, 74, 99], list(steps))
        expect(samples.shape == (4, 16, 1, 28, 28), samples.shape)
        expect(np.isfinite(samples).all() and samples.min() >= 0 and samples.max() <= 1, "samples outside [0,1]")
        rel = f["eval/test/ece/reliability"][()]
        expect(rel.shape == (1, 3, 15), rel.shape)
        expect(int(rel[0, 2].sum()) == 400, f"reliability counts {rel[0, 2].sum()} != 400 test images")
        attrs = f["eval/test/ece"].attrs
        expect(text(attrs["plugin"]) == "ece", dict(attrs))
        expect(json.loads(attrs["params"])["bins"] == 15, attrs["params"])
        expect(f["eval/test/ema_weights"][()]["value"][-1] == 0.0, "raw weights were evaluated")
    for step in (24, 49, 74, 99):
        png = os.path.join(CKPT_DIR, f"samples-adv-{step}.png")
        # 16 images in 8 columns of 28*2+1 pixels, 2 rows
        expect(png_size(png) == (8 * 57 + 1, 2 * 57 + 1), png_size(png))


@case
def eval_reproduces_the_final_test_evaluation(d):
    r = ebmlab("eval", INDEX)
    expect(r.returncode == 0, r.stderr)
    name = last_record("eval")
    with h5py.File(LOG, "r") as f:
        rec = f["posthoc"][name]
        final = f["eval/test/accuracy/accuracy"][()]["value"][-1]
        # the last checkpoint holds the final weights: the same images give the same accuracy
        expect(rec["accuracy/accuracy"][()] == final, (rec["accuracy/accuracy"][()], final))
        expect(rec["accuracy/n"][()] == 400, rec["accuracy/n"][()])
        expect(abs(rec["ece/ece"][()] - f["eval/test/ece/ece"][()]["value"][-1]) < 1e-9, "ece differs")
        expect(rec["ece/reliability"].shape == (3, 15), rec["ece/reliability"].shape)
        expect(text(rec.attrs["weights"]) == "raw", dict(rec.attrs))
        expect(rec.attrs["checkpoint_step"] == 120, dict(rec.attrs))
        ck = rec.attrs["checkpoint"]
        expect((ck.decode() if isinstance(ck, bytes) else ck).endswith("ckpt-120.h5"), ck)
    expect("accuracy/accuracy" in r.stdout and "posthoc" in r.stdout, r.stdout)


@case
def eval_json_with_plugin_metrics_writes_nothing(d):
    with h5py.File(LOG, "r") as f:
        before = len(f["posthoc"]) if "posthoc" in f else 0
    r = ebmlab("eval", INDEX, "--metrics", "accuracy,robust_accuracy", "--json")
    expect(r.returncode == 0, r.stderr)
    out = json.loads(r.stdout)
    m = out["metrics"]
    expect(set(m) == {"accuracy", "robust_accuracy"}, m)
    expect(m["robust_accuracy"]["robust_accuracy"] <= m["accuracy"]["accuracy"], m)
    expect(out["weights"] == "raw" and out["checkpoint_step"] == 120, out)
    with h5py.File(LOG, "r") as f:
        expect((len(f["posthoc"]) if "posthoc" in f else 0) == before, "--json wrote a record")


@case
def eval_metrics_file_is_validated_with_locations(d):
    bad = write(os.path.join(d, "bad.toml"), '[[metric]]\nplugin = "ece"\nbins = "many"\n')
    r = ebmlab("eval", INDEX, "--metrics-file", bad)
    expect(r.returncode == 2, f"exit {r.returncode}: {r.stderr}")
    expect("bad.toml:3" in r.stderr and "bins" in r.stderr, r.stderr)
    good = write(os.path.join(d, "good.toml"), '[[metric]]\nplugin = "ece"\nbins = 5\n')
    r = ebmlab("eval", INDEX, "--metrics-file", good)
    expect(r.returncode == 0, r.stderr)
    with h5py.File(LOG, "r") as f:
        rec = f["posthoc"][last_record("eval")]
        expect(rec["ece/reliability"].shape == (3, 5), rec["ece/reliability"].shape)
        expect(json.loads(rec["ece"].attrs["params"])["bins"] == 5, rec["ece"].attrs["params"])


@case
def reference_networks_and_other_data_sets_reach_metrics(d):
    # The run's own checkpoint serves as the feature net (sample_quality without a sampler
    # compares two real halves), and Fashion-MNIST itself as the "other" data set: the
    # same distribution, so its AUROC must be near 0.5 while uniform noise is easy.
    ckpt = os.path.join(CKPT_DIR, "ckpt-120.h5")
    extra = write(os.path.join(d, "ref.toml"), f"""
[[metric]]
plugin = "sample_quality"
feature_net = "{ckpt}"
max_images = 200
kid_subset_size = 100

[[metric]]
plugin = "ood_auroc"
sets = ["uniform"]
datasets = ["fashion_mnist"]
scores = ["logsumexp"]
max_images = 400
""")
    r = ebmlab("eval", INDEX, "--metrics-file", extra, "--json")
    expect(r.returncode == 0, r.stderr)
    out = json.loads(r.stdout)
    sq, ood = out["metrics"]["sample_quality"], out["metrics"]["ood_auroc"]
    expect(sq["n"] == 200 and 0 <= sq["fid"] < 20, sq)
    expect(abs(ood["fashion_mnist/logsumexp"] - 0.5) < 0.1, ood)
    expect(ood["uniform/logsumexp"] > 0.9, ood)
    expect(list(out["references"]) == [ckpt], out["references"])


@case
def sample_writes_tensors_and_a_grid(d):
    r = ebmlab("sample", INDEX, "--sampler", "sgld", "--set", "buffer_size=0", "--set", "steps=5", "--class", "3",
               "--n", "10")
    expect(r.returncode == 0, r.stderr)
    name = last_record("sample")
    with h5py.File(LOG, "r") as f:
        rec = f["posthoc"][name]
        x = rec["samples"][()]
        expect(x.shape == (10, 1, 28, 28), x.shape)
        expect((rec["labels"][()] == 3).all(), rec["labels"][()])
        expect(rec["energy"].shape == (10,) and np.isfinite(rec["energy"][()]).all(), "energies")
        # The sampler's logged terms are kept with its samples (docs/hdf5-layout.md).
        terms = rec["terms/sgld"]
        expect(set(terms) == {"e_sample", "grad_norm", "reinit_fraction"}, list(terms))
        expect(terms["reinit_fraction"][()] == 1.0 and np.isfinite(terms["e_sample"][()]), dict(terms))
        png = rec.attrs["png"]
        png = png.decode() if isinstance(png, bytes) else png
    expect(png_size(png) == (8 * 57 + 1, 2 * 57 + 1), png_size(png))
    # --seed decides the draws (not the checkpoint's generator state)
    draws = []
    for seed in ("1", "1", "2"):
        r = ebmlab("sample", INDEX, "--sampler", "sgld", "--set", "buffer_size=0", "--set", "steps=2", "--n", "4",
                   "--seed", seed)
        expect(r.returncode == 0, r.stderr)
        with h5py.File(LOG, "r") as f:
            draws.append(f["posthoc"][last_record("sample")]["samples"][()])
    expect(np.array_equal(draws[0], draws[1]) and not np.array_equal(draws[0], draws[2]), "--seed ignored")
    # the run's own sampler with changed parameters (its saved state no longer applies)
    r = ebmlab("sample", INDEX, "--sampler", "adv", "--set", "steps=3", "--n", "4")
    expect(r.returncode == 0, r.stderr)
    # a parameter outside its schema is refused before anything runs
    r = ebmlab("sample", INDEX, "--sampler", "sgld", "--set", "steps=-4")
    expect(r.returncode == 2 and "steps" in r.stderr, r.stderr)
    r = ebmlab("sample", INDEX, "--sampler", "nosuch")
    expect(r.returncode == 2 and "adv" in r.stderr and "sgld" in r.stderr, r.stderr)


@case
def counterfactual_moves_toward_the_target_within_budget(d):
    r = ebmlab("counterfactual", INDEX, "--input", "0", "--target", "1", "--eps", "4", "--steps", "30")
    expect(r.returncode == 0, r.stderr)
    name = last_record("counterfactual")
    with h5py.File(LOG, "r") as f:
        rec = f["posthoc"][name]
        path, p = rec["path"][()], rec["probabilities"][()]
        expect(path.shape == (11, 1, 28, 28), path.shape)
        expect(list(rec["step"][()]) == list(range(0, 31, 3)), list(rec["step"][()]))
        dist = np.sqrt(((path[-1] - path[0]) ** 2).sum())
        expect(dist <= 4 + 1e-3, f"left the L2 ball: {dist}")
        expect(p[-1, 1] > p[0, 1], f"p(target) did not grow: {p[0, 1]} -> {p[-1, 1]}")
        et = rec["joint_energy_target"][()]
        expect(et[-1] < et[0], f"E(x, target) did not fall: {et}")
        expect(np.allclose(p.sum(1), 1, atol=1e-5), "probabilities")
        png = rec.attrs["png"]
        png = png.decode() if isinstance(png, bytes) else png
    expect(png_size(png) == (11 * (28 * 3 + 1) + 1, 28 * 3 + 2), png_size(png))
    r = ebmlab("counterfactual", INDEX, "--input", "400", "--target", "1")
    expect(r.returncode == 2 and "0 to 399" in r.stderr, r.stderr)


@case
def bad_runs_variants_and_checkpoints_are_clear_errors(d):
    r = ebmlab("eval", INDEX, "--variant", "wide")
    expect(r.returncode == 2 and "no variant 'wide'" in r.stderr and "main" in r.stderr, r.stderr)
    r = ebmlab("eval", INDEX, "--checkpoint", "7")
    expect(r.returncode == 2 and "ckpt-7.h5" in r.stderr and "ckpt-120.h5" in r.stderr, r.stderr)
    r = ebmlab("eval", INDEX, "--metrics", "nosuch")
    expect(r.returncode == 2 and "nosuch" in r.stderr and "ece" in r.stderr, r.stderr)
    r = ebmlab("eval", os.path.join(d, "missing.h5"))
    expect(r.returncode == 2 and "missing.h5" in r.stderr, r.stderr)
    foreign = os.path.join(d, "foreign.h5")
    with h5py.File(foreign, "w") as f:
        f["x"] = np.zeros(3)
    r = ebmlab("eval", foreign)
    expect(r.returncode == 2 and "not an ebmlab file" in r.stderr, r.stderr)
    # a checkpoint changed after it was written fails its recorded sha256
    ckpt = os.path.join(CKPT_DIR, "ckpt-120.h5")
    saved = ckpt + ".orig"
    shutil.copy(ckpt, saved)
    try:
        with h5py.File(ckpt, "r+") as f:
            name = next(iter(f["model"]))
            f["model"][name][...] = f["model"][name][()] + 1
        r = ebmlab("eval", INDEX)
        expect(r.returncode == 2 and "sha256" in r.stderr and "ckpt-120.h5" in r.stderr, r.stderr)
    finally:
        shutil.move(saved, ckpt)


try:
    finish()
finally:
    shutil.rmtree(ROOT, ignore_errors=True)
