"""Smoke versions of the issue-8 experiments (jem_vs_atebm, der_co, two_stage): the smoke command
documented in each descriptor's header comment (its overrides, run on a fresh clone: no runs/,
cwd and every output in a temp folder, sample_quality's feature net trained here first with
experiments/feature_net.toml at a few steps). Each run exits 0; every variant of the full
descriptor is completed; every [[metric]] of the full descriptor has finite validation and test
series with its main terms; the curves the results tooling reads are there and finite; and
`ebmlab report --format json` lists every variant with the logs' final values.
(ablation_norm is smoke-tested by test_results.py.)"""
import fnmatch
import hashlib
import json
import os
import shlex
import shutil
import sys
import tempfile
from collections import Counter

import h5py
import numpy as np

from common import args, case, expect, finish, run

A = args()
EXP = os.path.join(A.source, "experiments")
THREADS = ["--threads", "1", "--quiet"]
VALUE_OPTIONS = {"--threads", "--jobs", "--only", "--nproc", "--dist-timeout"}
BOOKKEEPING = {"n", "eps", "steps", "restarts", "norm_l2", "apgd", "n_in"}  # left out of `report`
ENERGY_LOSSES = {"jem_ml", "bce_ebm"}  # results.py reads their e_data / e_sample (claim a)
# Overrides added to a documented smoke line (none today; the descriptors' headers carry them).
EXTRA = {}

# The feature net every sample_quality metric is pointed at: once per script, 4 steps.
ROOT = tempfile.mkdtemp(prefix="ebmlab_smokes_")
FEATURE_NET = os.path.join(ROOT, "feature_net", "main", "ckpt-best.h5")
r = run(A.ebmlab, "run", os.path.join(EXP, "feature_net.toml"), "stage.0.epochs=1", "data.subset=256",
        "data.validation=200", "data.test_subset=200", f"experiment.output={ROOT}/feature_net.h5", *THREADS, cwd=ROOT)
if r.returncode != 0 or not os.path.isfile(FEATURE_NET):
    print(f"FAILED setup: feature_net run exit {r.returncode}, {FEATURE_NET} exists: "
          f"{os.path.isfile(FEATURE_NET)}\n{r.stdout}{r.stderr}")
    shutil.rmtree(ROOT, ignore_errors=True)
    sys.exit(1)


def documented_smoke(desc):
    """The overrides of the smoke command line in the descriptor's header comment (options dropped)."""
    head = []
    with open(desc) as f:
        for line in f:
            if line.startswith("["):
                break
            if line.startswith("#"):
                head.append(line[1:].strip())
    at = next((i for i, l in enumerate(head) if l.lower().startswith("smoke")), None)
    expect(at is not None, f"{desc}: no 'Smoke ...' command line in the header comment")
    text = ""
    for line in head[at:]:
        text += " " + line
        if "ebmlab run" in text and not line.endswith("\\"):
            break
    expect("ebmlab run" in text, f"{desc}: the smoke paragraph has no 'ebmlab run' command")
    tokens = shlex.split(text[text.index("ebmlab run"):].replace("\\", " "))
    expect(os.path.basename(tokens[2]) == os.path.basename(desc), f"the smoke command runs {tokens[2]}")
    overrides, it = [], iter(tokens[3:])
    for t in it:
        if t.startswith("--"):
            if t in VALUE_OPTIONS:
                next(it, None)
            continue
        expect("=" in t, f"{desc}: smoke command argument {t!r} is neither an option nor an override")
        overrides.append(t)
    return overrides


def full_config(desc, d):
    """{variant: resolved configuration} of the descriptor as it is (no overrides)."""
    r = run(A.ebmlab, "validate", desc, "--json", cwd=d)
    expect(r.returncode == 0, f"validate {desc}: exit {r.returncode}: {r.stderr}")
    return json.loads(r.stdout)


def metric_name(m):
    return m.get("name") or m["plugin"]


def smoke(name, d):
    """Runs the documented smoke of experiments/<name>.toml in d; returns (index, overrides, full config)."""
    desc = os.path.join(EXP, f"{name}.toml")
    full = full_config(desc, d)
    doc = documented_smoke(desc) + EXTRA.get(name, [])
    outs = [o.split("=", 1)[1] for o in doc if o.startswith("experiment.output=")]
    expect(len(outs) == 1 and outs[0].endswith(".h5"), f"{name}: smoke command sets experiment.output {outs}")
    doc_stem, index = outs[0][:-3], os.path.join(d, f"{name}.h5")
    overrides = []
    for o in doc:
        key, value = o.split("=", 1)
        if key == "experiment.output":
            continue
        if value.startswith(doc_stem + "/"):  # a path into the documented output (two_stage's from_path init)
            value = index[:-3] + value[len(doc_stem):]
        overrides.append(f"{key}={value}")
    metrics = next(iter(full.values()))["metric"]
    for v, cfg in full.items():
        expect([metric_name(m) for m in cfg["metric"]] == [metric_name(m) for m in metrics], f"{v}: own metrics")
    overrides += [f"metric.{i}.feature_net={FEATURE_NET}" for i, m in enumerate(metrics) if m["plugin"] == "sample_quality"]
    overrides.append(f"experiment.output={index}")
    r = run(A.ebmlab, "run", desc, *overrides, *THREADS, cwd=d, timeout=900)
    expect(r.returncode == 0, f"{name} smoke: exit {r.returncode}\n{' '.join(overrides)}\n{r.stdout}{r.stderr}")
    return index, overrides, full


def h5_paths(x):
    """Every string in a configuration that names an HDF5 file."""
    if isinstance(x, dict):
        return [p for v in x.values() for p in h5_paths(v)]
    if isinstance(x, list):
        return [p for v in x for p in h5_paths(v)]
    return [x] if isinstance(x, str) and x.endswith(".h5") else []


def series_under(group, prefix=""):
    """{relative path: records} of every (step, value, wall) series under group, recursively."""
    out = {}
    for k, obj in group.items():
        if isinstance(obj, h5py.Group):
            out.update(series_under(obj, f"{prefix}{k}/"))
        elif obj.dtype.names == ("step", "value", "wall"):
            out[prefix + k] = obj[()]
    return out


def main_terms(plugin, params):
    """The terms a metric must report (what the full experiment and the results tooling read)."""
    if plugin == "accuracy":
        return ["accuracy"]
    if plugin == "robust_accuracy":
        return ["robust_accuracy", "clean_accuracy"]
    if plugin == "ece":
        return ["ece", "nll", "brier"]
    if plugin == "ood_auroc":
        return [f"{s}/{sc}" for s in params["sets"] + params["datasets"] for sc in params["scores"]]
    if plugin == "energy_stats":
        t = ["data/energy_mean", "data/joint_energy_mean"]
        t += ["samples/energy_mean"] if params.get("sampler") else []
        t += ["adv/delta_energy_mean", "adv/delta_joint_energy_mean"] if params.get("adv_eps", 0) > 0 else []
        return t
    if plugin == "sample_quality":
        return ["fid", "kid", "is"]
    return []


def check_curves(v, log, cfg, extra):
    """train/loss and train/lr one record per step, every loss's curve over the stages that use it,
    the energies of EBM losses, the experiment's extra curves (globs); all finite; wall increasing."""
    total = sum(s["steps"] for s in cfg["stage"])
    expect(total > 0, f"{v}: stages without a step count")
    curves = series_under(log["curves"])
    for k, c in curves.items():
        expect(np.isfinite(c["value"]).all(), f"{v}: curves/{k} has non-finite values")
    for k in ("train/loss", "train/lr"):
        expect(k in curves and list(curves[k]["step"]) == list(range(total)), f"{v}: curves/{k} not one record per step")
    wall = curves["train/loss"]["wall"]
    expect(np.isfinite(wall).all() and (np.diff(wall) >= 0).all(), f"{v}: wall clock not increasing: {wall}")
    sps = np.polyfit(curves["train/loss"]["step"], wall, 1)[0]
    expect(np.isfinite(sps) and sps > 0, f"{v}: seconds per step {sps}")
    uses, plugin = Counter(), {}
    for s in cfg["stage"]:
        for loss in s["losses"]:
            uses[loss["name"]] += s["steps"]
            plugin[loss["name"]] = loss["plugin"]
    for name, n in uses.items():
        terms = ["loss"] + (["e_data", "e_sample"] if plugin[name] in ENERGY_LOSSES else [])
        for t in terms:
            c = curves.get(f"{name}/{t}")
            expect(c is not None and len(c) == n, f"{v}: curves/{name}/{t}: {None if c is None else len(c)} records, want {n}")
    for pat in extra:
        hits = [k for k in curves if fnmatch.fnmatchcase(k, pat)]
        expect(hits, f"{v}: no curve matches {pat}: {sorted(curves)}")
        for k in hits:
            n = uses.get(k.split("/")[0], total)
            expect(len(curves[k]) == n, f"{v}: curves/{k} has {len(curves[k])} records, want {n}")
    return curves


def check_evals(v, log, cfg):
    """Every metric of the configuration on val (at least once; at the steps the trainer
    evaluates) and test (once, at the end): its plugin, its main terms, every series and tensor
    finite; the EMA flag as the stage says. Returns {metric/term: final test value} of the terms
    `ebmlab report` shows."""
    ends, spans, at = {}, [], 0
    for s in cfg["stage"]:
        spans.append((at, s["steps"], s["eval_every"]))
        at += s["steps"]
        ends[at] = 1.0 if s["eval_weights"] == "ema" else 0.0
    total = at
    flat = {}
    for split in ("val", "test"):
        expect(f"eval/{split}" in log, f"{v}: no eval/{split}")
        expect(len(log[f"eval/{split}/ema_weights"]) > 0,
               f"{v}: never evaluated on {split} (eval_every larger than the smoke's steps?)")
        grp = log[f"eval/{split}"]
        steps = None
        for m in cfg["metric"]:
            name = metric_name(m)
            expect(name in grp, f"{v}: metric {name} missing from eval/{split}: {sorted(grp)}")
            g = grp[name]
            expect(g.attrs["plugin"].decode() == m["plugin"], f"{v}: eval/{split}/{name} plugin {g.attrs['plugin']}")
            params = json.loads(g.attrs["params"])
            series = series_under(g)
            expect(series, f"{v}: eval/{split}/{name} has no series")
            for t in main_terms(m["plugin"], params):
                expect(t in series, f"{v}: eval/{split}/{name}/{t} missing: {sorted(series)}")
            for t, rec in series.items():
                expect(len(rec) > 0 and np.isfinite(rec["value"]).all(), f"{v}: eval/{split}/{name}/{t}: {rec}")
                s = [int(x) for x in rec["step"]]
                steps = steps or s
                expect(s == steps, f"{v}: eval/{split}/{name}/{t} at steps {s}, other series at {steps}")
                if split == "test" and "/" not in t and t not in BOOKKEEPING:
                    flat[f"{name}/{t}"] = float(rec["value"][-1])
            for t, obj in g.items():  # tensors (ece/reliability): one finite row per evaluation
                if isinstance(obj, h5py.Dataset) and obj.dtype.names is None and not t.endswith("_step"):
                    expect(np.isfinite(obj[()]).all(), f"{v}: eval/{split}/{name}/{t} has non-finite values")
                    expect(list(g[f"{t}_step"][()]) == steps, f"{v}: eval/{split}/{name}/{t}_step vs {steps}")
            if m["plugin"] == "sample_quality":
                expect(params["feature_net"] == FEATURE_NET, f"{v}: {name} used feature net {params['feature_net']}")
        if split == "test":
            expect(steps == [total], f"{v}: test evaluated at {steps}, want [{total}]")
        else:  # as the trainer: every eval_every steps of a stage, or (0) each epoch end and the stage end
            expect(steps == sorted(set(steps)), f"{v}: val steps {steps}")
            for start, n, every in spans:
                inside = {x for x in steps if start < x <= start + n}
                want = set(range(start + every, start + n + 1, every)) if every else {start + n}
                expect(inside == want if every else want <= inside, f"{v}: val at {steps}, want {sorted(want)} in stage ({start}, {start + n}]")
        ema = grp["ema_weights"][()]
        expect([int(s) for s in ema["step"]] == steps, f"{v}: eval/{split}/ema_weights at {ema['step']}")
        for s, w in zip(ema["step"], ema["value"]):
            if s in ends:
                expect(w == ends[s], f"{v}: eval/{split} at step {s}: ema_weights {w}, the stage says {ends[s]}")
    return flat


def check_run(index, overrides, full, d, extra_curves=()):
    """Everything every smoke must show; returns {variant: (config, log curves)}."""
    out, finals = {}, {}
    with h5py.File(index, "r") as f:
        expect(json.loads(f.attrs["overrides"]) == overrides, f"index overrides {f.attrs['overrides']}")
        expect(sorted(f["variants"]) == sorted(full), f"variants {sorted(f['variants'])}, full run has {sorted(full)}")
        resolved = json.loads(f["resolved"][()])
        for v, fcfg in full.items():
            cfg = resolved[v]
            expect([metric_name(m) for m in cfg["metric"]] == [metric_name(m) for m in fcfg["metric"]],
                   f"{v}: the smoke's metrics differ from the full run's")
            for p in h5_paths(cfg):
                expect(p.startswith(d + os.sep) or p == FEATURE_NET,
                       f"{v}: {p} is outside the temp folders (a fresh clone has no runs/)")
            log = f[f"variants/{v}"]
            status, detail = (log[k][()].rstrip(b"\0").decode() for k in ("status", "status_detail"))
            expect(status == "completed", f"{v}: {status}: {detail}")
            curves = check_curves(v, log, cfg, extra_curves)
            finals[v] = check_evals(v, log, cfg)
            out[v] = (cfg, curves)
    r = run(A.ebmlab, "report", index, "--format", "json", cwd=d)
    expect(r.returncode == 0, f"report: exit {r.returncode}: {r.stderr}")
    groups = json.loads(r.stdout)
    listed = [v for g in groups for v in g["variants"]]
    expect(sorted(listed) == sorted(full), f"report lists {listed}, the run has {sorted(full)}")
    for g in groups:
        expect(g["status"] == "completed", g)
        for i, v in enumerate(g["variants"]):
            for key, value in finals[v].items():
                m = g["metrics"].get(key)
                expect(m is not None and m["values"][i] == value, f"report {g['label']} {key}: {m} vs log {value}")
    return out


@case
def der_co_smoke(d):
    index, overrides, full = smoke("der_co", d)
    expect(list(full) == ["fgsm", "fgsm_der", "rsfgsm", "rsfgsm_der"], list(full))
    # results.py: the delta-energy figure and the catastrophic-overfitting rule (val robust accuracy)
    runs = check_run(index, overrides, full, d, ["*/delta_e", "*/delta_e_xy", "at_ce/adv_accuracy"])
    with h5py.File(index, "r") as f:
        for v in full:
            expect(len(f[f"variants/{v}/eval/val/pgd10/robust_accuracy"]) >= 2, f"{v}: one val robust point")
    lam = {v: [l for l in cfg["stage"][0]["losses"] if l["plugin"] == "der"][0]["lambda_x"] for v, (cfg, _) in runs.items()}
    expect(lam == {"fgsm": 0.0, "fgsm_der": 1.0, "rsfgsm": 0.0, "rsfgsm_der": 1.0}, f"DER weights {lam}")


@case
def jem_vs_atebm_smoke(d):
    index, overrides, full = smoke("jem_vs_atebm", d)
    expect(sorted(full) == ["at", "at_ebm", "ce", "dat", "jem"], list(full))
    check_run(index, overrides, full, d, ["train/loss", "*/loss"])


@case
def two_stage_smoke(d):
    index, overrides, full = smoke("two_stage", d)
    expect(list(full) == ["stage1", "two_stage", "from_path"], list(full))
    runs = check_run(index, overrides, full, d, ["train/loss", "*/loss"])
    # from_path started from stage1's last checkpoint in this run's folder, byte for byte
    n1 = sum(s["steps"] for s in runs["stage1"][0]["stage"])
    init = runs["from_path"][0]["stage"][0]["init"]
    want = os.path.join(index[:-3], "stage1", f"ckpt-{n1}.h5")
    expect(init == want and os.path.isfile(init), f"from_path init {init}, want {want}")
    with h5py.File(index, "r") as f:
        rec = f["variants/stage1/checkpoints"][()]
    last = rec[rec["step"] == n1]
    expect(len(last) == 1 and last["file"][0].decode() == f"stage1/ckpt-{n1}.h5", f"stage1 checkpoints {rec}")
    with open(init, "rb") as fh:
        expect(hashlib.sha256(fh.read()).hexdigest() == last["sha256"][0].decode(), "from_path's init is not stage1's checkpoint")
    # two_stage's stage 1 is stage1 (same seed, one thread): the same losses step for step
    a, b = runs["stage1"][1]["train/loss"], runs["two_stage"][1]["train/loss"][:n1]
    expect(np.array_equal(a["value"], b["value"]), f"stage 1 differs: {a['value']} vs {b['value']}")


try:
    finish()
finally:
    shutil.rmtree(ROOT, ignore_errors=True)
