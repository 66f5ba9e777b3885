"""tools/results.py (docs/RESULTS.md) on a real, seconds-long ablation_norm run: the report
table is embedded verbatim, the BCE-loss oscillation, divergence and seconds-per-step numbers
match what numpy computes from the logs, the claim that the run answers gets a verdict and the
others say "not measured", missing experiments say "not run yet", and every figure linked is a
valid PNG that exists. Also: a folder without any run, and stale figures being removed."""
import json
import os
import re
import shutil
import sys
import tempfile

import h5py
import numpy as np

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402

from common import args, case, expect, finish, run  # noqa: E402

A = args()
RESULTS = os.path.join(A.source, "tools", "results.py")
DESC = os.path.join(A.source, "experiments", "ablation_norm.toml")
ONLY = "none-seed=0,bn_train-seed=0,bn_frozen-seed=0"
# every variant seconds long: 256 training images, 16 (+8) steps, short attacks, capped metrics
OVERRIDES = ["data.subset=256", "data.validation=200", "data.test_subset=200",
             "stage.0.steps=16", "stage.0.eval_every=8",
             "variants.bn_frozen.stage.1.steps=8", "variants.bn_frozen.stage.1.eval_every=4",
             "samplers.attack.steps=2", "samplers.contrastive.steps=3",
             "metric.1.max_images=20", "metric.1.steps=2", "metric.2.max_images=20",
             "log.samples_every=8", "log.samples_count=16"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

ROOT = tempfile.mkdtemp(prefix="ebmlab_results_")
RUNS = os.path.join(ROOT, "runs")
# sample_quality needs the feature net: a 4-step one here (a fresh clone has no runs/).
FEATURE_NET = os.path.join(ROOT, "feature_net", "main", "ckpt-best.h5")
r = run(A.ebmlab, "run", os.path.join(A.source, "experiments", "feature_net.toml"), "stage.0.epochs=1",
        "data.subset=256", "data.validation=200", "data.test_subset=200",
        f"experiment.output={ROOT}/feature_net.h5", "--threads", "1", "--quiet", cwd=ROOT)
if r.returncode != 0 or not os.path.exists(FEATURE_NET):
    print(f"FAILED setup: feature_net exit {r.returncode}: {r.stderr}")
    sys.exit(1)
OVERRIDES_QUALITY = [f"metric.3.feature_net={FEATURE_NET}", "metric.3.max_images=20", "metric.3.kid_subset_size=10",
                     f"metric.4.feature_net={FEATURE_NET}", "metric.4.max_images=20", "metric.4.kid_subset_size=10",
                     "samplers.gen.steps=2"]
INDEX = os.path.join(RUNS, "ablation_norm.h5")
r = run(A.ebmlab, "run", DESC, *OVERRIDES, *OVERRIDES_QUALITY, f"experiment.output={INDEX}", "--only", ONLY,
        "--threads", "1", "--quiet", cwd=ROOT)
if r.returncode != 0:
    print(f"FAILED setup: ebmlab run exit {r.returncode}\n{r.stdout}{r.stderr}")
    shutil.rmtree(ROOT, ignore_errors=True)
    sys.exit(1)


def results(out_dir, runs=RUNS, *extra):
    out = os.path.join(out_dir, "docs", "RESULTS.md")
    r = run(sys.executable, RESULTS, "--runs", runs, "--out", out, "--ebmlab", A.ebmlab, *extra, timeout=600)
    expect(r.returncode == 0, f"results.py exit {r.returncode}: {r.stdout}{r.stderr}")
    expect(os.path.exists(out), "RESULTS.md not written")
    return out, open(out).read()


def report(*argv):
    r = run(A.ebmlab, "report", INDEX, *argv)
    expect(r.returncode == 0, f"report: {r.stderr}")
    return r.stdout


def section(md, title_start):
    """The text of the `## ` or `### ` section whose heading starts with title_start."""
    m = re.search(rf"(?ms)^(#+) {re.escape(title_start)}.*?$(.*?)(?=^#{{2,3}} |\Z)", md)
    expect(m, f"no section '{title_start}' in RESULTS.md")
    return m.group(2)


def row(text, label):
    """Cells of the table row whose first cell is label."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == label:
            return cells
    raise AssertionError(f"no table row '{label}' in:\n{text}")


def close(text, want, rel=6e-4):
    """A number printed with 4 significant digits (first number of the cell) equals want."""
    got = float(re.match(r"\s*(-?[0-9.]+(?:e-?\d+)?)", text).group(1))
    return abs(got - want) <= rel * abs(want) + 1e-12


def expected():
    """Per variant, from the logs with h5py/numpy: oscillation over the last N steps,
    seconds per step, status."""
    out = {}
    with h5py.File(INDEX, "r") as f:
        for v in f["variants"]:
            log = f[f"variants/{v}"]
            loss = log["curves/train/loss"][()]
            steps = int(loss["step"][-1]) + 1
            n = max(2, min(100, steps // 4))
            bce = log["curves/bce_ebm/loss"][()]
            w = bce["value"][bce["step"] > bce["step"][-1] - n]
            out[v] = {"std": float(np.std(w)), "range": float(w.max() - w.min()), "mean": float(w.mean()),
                      "n": n, "sps": float(np.polyfit(loss["step"], loss["wall"], 1)[0]), "steps": steps,
                      "status": log["status"][()].rstrip(b"\0").decode()}
    return out


@case
def results_md_matches_the_logs(d):
    out, md = results(d)
    exp = expected()
    expect(sorted(exp) == sorted(ONLY.split(",")), list(exp))
    expect(exp["bn_frozen-seed=0"]["steps"] == 24 and exp["none-seed=0"]["steps"] == 16, exp)

    # the `ebmlab report` table, verbatim (its rows and the headline command line)
    table = [l for l in report("--format", "markdown").splitlines() if l.startswith("|")]
    expect(len(table) == 5, table)
    for line in table:
        expect(line in md.splitlines(), f"report row missing from RESULTS.md: {line}")
    groups = json.loads(report("--format", "json"))
    labels = [g["label"] for g in groups]
    expect(len(labels) == 3, labels)

    abl = section(md, "1. Normalization ablation")
    expect("256 / 200 / 64" in abl and "robust: 16 steps; generative: 8 steps, BN frozen" in abl, abl[:2000])
    expect("data.subset=256" in abl, "the overrides are not stated")
    derived = abl[abl.index("Derived from the logs"):]
    for g in groups:
        (v,) = g["variants"]
        e = exp[v]
        cells = row(derived, g["label"])
        expect(cells[1].startswith(f"{int(e['status'] == 'diverged')}/1"), cells)
        # printed with 3 significant digits: half a unit of the third digit
        tol = 0.5 * 10 ** (np.floor(np.log10(abs(e["sps"]))) - 2) if e["sps"] else 1e-12
        expect(abs(float(cells[2]) - e["sps"]) <= tol * 1.0001, f"seconds/step {cells} vs {e}")
        expect(close(cells[3], e["std"]), f"{v}: BCE std {cells[3]} vs {e['std']}")
        expect(close(cells[4], e["range"]), f"{v}: BCE max-min {cells[4]} vs {e['range']}")
        expect(cells[5] == str(e["n"]), f"{v}: N {cells[5]} vs {e['n']}")

    # claim (d) is measured on this run; the others need experiments that were not run
    claims = section(md, "Claims")
    summary = {c[0][1:2]: c for c in (row(claims, f"({t}) " + n) for t, n in [
        ("a", "AT-based EBM training is more stable than SGLD-based JEM"),
        ("b", "DAT samples are better than JEM's (FID/KID)"),
        ("c", "DAT keeps the robustness of adversarial training"),
        ("d", "BatchNorm in train mode destabilizes the BCE loss and freezing it fixes that"),
        ("e", "DER prevents catastrophic overfitting")])}
    for t in "abce":
        expect(summary[t][1] == "not measured" and "not run yet" in summary[t][2], summary[t])
    std = {v: e["std"] for v, e in exp.items()}
    d1 = std["bn_train-seed=0"] > std["none-seed=0"]   # one seed: σ = 0
    d2 = std["bn_train-seed=0"] > std["bn_frozen-seed=0"]
    want = "reproduced" if d1 and d2 else "partly reproduced" if d1 or d2 else "not reproduced"
    expect(summary["d"][1] == f"**{want}**", f"(d) {summary['d']} but numpy says d1={d1} d2={d2}: {std}")
    dsec = section(md, "(d) BatchNorm")
    expect("Rule:" in dsec and f"**Verdict: {want}.**" in dsec, dsec)
    for g in groups:
        cells = row(dsec, g["label"])
        expect(close(cells[1], exp[g["variants"][0]]["std"]), f"(d) table {cells}")
    expect("subset 256" in dsec and "1 seed(s) [0]" in dsec, "the scale of (d) is not stated")

    for name in ("2. JEM vs AT-EBM vs DAT", "3. Catastrophic overfitting", "4. DAT two-stage"):
        expect("Not run yet" in section(md, name), name)
    expect("Not run yet" in section(md, "5. Counterfactual strips"), "counterfactuals")

    # figures: every image exists, is a PNG, is small and not blank
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    names = {os.path.basename(l) for l in links}
    for want_png in ("ablation_norm_bce_loss.png", "ablation_norm_bce_loss_last.png", "ablation_norm_metrics.png",
                     "ablation_norm_samples_none.png", "ablation_norm_samples_bn_frozen.png"):
        expect(want_png in names, f"{want_png} not linked: {sorted(names)}")
    for link in links:
        path = os.path.join(os.path.dirname(out), link)
        expect(os.path.isfile(path), f"linked figure missing: {link}")
        with open(path, "rb") as f:
            expect(f.read(8) == PNG_MAGIC, f"{link} is not a PNG")
        expect(os.path.getsize(path) < 400_000, f"{link} is {os.path.getsize(path)} bytes")
        img = mpimg.imread(path)
        expect(img.ndim == 3 and img.shape[0] >= 50 and img.shape[1] >= 50 and img.std() > 0.01, f"{link}: {img.shape}")


@case
def no_runs_say_not_run_yet_and_stale_figures_go(d):
    empty = os.path.join(d, "runs")
    os.makedirs(empty)
    figs = os.path.join(d, "docs", "results")
    os.makedirs(figs)
    stale = os.path.join(figs, "ablation_norm_old.png")
    other = os.path.join(figs, "kept.txt")
    for p in (stale, other):
        open(p, "w").close()
    out, md = results(d, empty)
    expect(not os.path.exists(stale) and os.path.exists(other), os.listdir(figs))
    expect(md.count("Not run yet") == 5, md)
    claims = section(md, "Claims")
    expect(claims.count("| not measured |") == 5, claims)
    expect("![" not in md, "figures without runs")


try:
    finish()
finally:
    shutil.rmtree(ROOT, ignore_errors=True)
