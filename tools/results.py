#!/usr/bin/python3
"""Regenerates docs/RESULTS.md and its figures (docs/results/*.png) from the HDF5 files of
issue 8's experiments. One command, from the project root:

    python3 tools/results.py                      # runs/*.h5 -> docs/RESULTS.md + docs/results/
    python3 tools/results.py --runs /tmp/x/runs --out /tmp/x/RESULTS.md

Inputs (each optional: a missing one is reported as "not run yet", never an error):
    <runs>/ablation_norm.h5, <runs>/jem_vs_atebm.h5, <runs>/der_co.h5, <runs>/two_stage.h5
    <counterfactuals>/ (default <runs>/counterfactuals): the strips tools/counterfactuals.sh
        writes (PNG files and/or run indexes holding `ebmlab counterfactual` records)

Tables come from `ebmlab report --format markdown|json`, figures from tools/plot.py (and
matplotlib for the robust-accuracy-per-evaluation panels); the derived numbers (BCE-loss
oscillation, divergence fraction, seconds per step, ΔE jumps) and the claim verdicts are
computed here from the logs with h5py/numpy. Only reads the runs; writes the Markdown
file and PNGs under the figures folder (default: results/ next to the Markdown file).
"""
import argparse
import datetime
import fnmatch
import glob
import json
import math
import os
import re
import shutil
import subprocess
import sys

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name, title, question (the descriptor is experiments/<name>.toml)
EXPERIMENTS = [
    ("ablation_norm", "Normalization ablation",
     "DAT's normalization question: does BatchNorm in train mode make the BCE energy loss "
     "oscillate, and does freezing it after a robust first stage fix that?"),
    ("jem_vs_atebm", "JEM vs AT-EBM vs DAT",
     "The headline comparison on one backbone and budget: cross-entropy, PGD adversarial "
     "training, JEM (SGLD), AT-EBM (BCE + R1) and DAT (two-stage, AT-CE + BCE)."),
    ("der_co", "Catastrophic overfitting and DER",
     "Seed 003: single-step adversarial training at a step size that invites catastrophic "
     "overfitting, with and without the Delta Energy Regularizer (DER, ebmlab form)."),
    ("two_stage", "DAT two-stage variants",
     "DAT from a stage-1 robust classifier trained in the same run, and from a stage-1 "
     "checkpoint given by path."),
]
FIGURE_PREFIXES = [e[0] for e in EXPERIMENTS] + ["counterfactuals"]
# the columns of the headline table (`ebmlab report --metrics`); the full table follows it
HEADLINE = "accuracy/accuracy,*/robust_accuracy,ece/ece,*/fid,*/kid"
BOOKKEEPING = {"n", "eps", "steps", "restarts", "norm_l2", "apgd", "n_in"}

# Rules shared by the derived numbers (stated in RESULTS.md as well).
LAST_MAX = 100           # oscillation window: N = min(100, steps // 4), at least 2 records
DE_WINDOW_MAX = 50       # ΔE jump window: W = min(50, max(5, records // 20))
COLLAPSE = 0.5           # catastrophic overfitting: final val robust acc < 0.5 x its best


# ---------------------------------------------------------------- small helpers


def text(v):
    if isinstance(v, bytes):
        return v.rstrip(b"\0").decode(errors="replace")
    if isinstance(v, np.ndarray) and v.shape == ():
        return text(v[()])
    return str(v)


def fmt(x, digits=4):
    if x is None:
        return "–"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    return f"{x:.{digits}g}"


def pm(values, digits=4):
    """'mean ± std' (sample std, ddof 1, as ebmlab report) of the finite values."""
    v = [float(x) for x in values if x is not None and np.isfinite(x)]
    if not v:
        return "–"
    if len(v) == 1:
        return fmt(v[0], digits)
    return f"{fmt(np.mean(v), digits)} ± {fmt(np.std(v, ddof=1), digits)}"


def mean_std(values):
    v = [float(x) for x in values if x is not None and np.isfinite(x)]
    if not v:
        return None, None, 0
    return float(np.mean(v)), (float(np.std(v, ddof=1)) if len(v) > 1 else 0.0), len(v)


def slug(s):
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", s).strip("_") or "x"


def seedless(label):
    """A group label without the sweep's seed part: 'dat-seed=0' -> 'dat'."""
    out = re.sub(r"(^|[-_])seed=\d+", "", label).strip("-_")
    return out or label


def show(path):
    """A path for the text: relative to the project root when inside it."""
    path = os.path.abspath(path)
    return os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path


def open_h5(path):
    """SWMR read first: works on logs still being written or left by a dead writer."""
    try:
        return h5py.File(path, "r", libver="latest", swmr=True)
    except OSError:
        return h5py.File(path, "r")


def run_cmd(argv, cwd=ROOT, timeout=600):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=timeout)
        return r.returncode, r.stdout, r.stderr
    except (OSError, subprocess.TimeoutExpired) as e:
        return -1, "", str(e)


def losses_of(cfg):
    """[(stage index, loss dict)] of every stage."""
    return [(i, l) for i, st in enumerate(cfg.get("stage", [])) for l in st.get("losses", [])]


def loss_names(cfg, plugin):
    names = []
    for _, l in losses_of(cfg):
        if l.get("plugin") == plugin:
            n = l.get("name") or plugin
            if n not in names:
                names.append(n)
    return names


def uses_der(cfg):
    for _, l in losses_of(cfg):
        if l.get("plugin") == "der" and float(l.get("weight", 1.0)) > 0 and \
                (float(l.get("lambda_x", 1.0)) > 0 or float(l.get("lambda_xy", 1.0)) > 0):
            return True
    return False


METHODS = ("ce", "at", "jem", "at_ebm", "dat")


def method_of(key, cfg):
    """ce | at | jem | at_ebm | dat from the group's name, else from its losses."""
    k = key.lower().replace("-", "_")
    if k in METHODS:
        return k
    active = {l.get("plugin") for _, l in losses_of(cfg) if float(l.get("weight", 1.0)) > 0}
    if "jem_ml" in active:
        return "jem"
    if "bce_ebm" in active:
        return "dat" if ("at_ce" in active or "trades" in active) else "at_ebm"
    if "at_ce" in active or "trades" in active:
        return "at"
    if active == {"ce"}:
        return "ce"
    return None


NORMS = ("none", "group", "layer", "bn_train", "bn_frozen")


def norm_of(key, cfg):
    """none | group | layer | bn_train | bn_frozen | <plugin>, from the name, else the config."""
    k = key.lower().replace("-", "_")
    if k in NORMS:
        return k
    plugin = cfg.get("model", {}).get("norm", {}).get("plugin", "none")
    if plugin == "batch":
        frozen = any(st.get("norm_mode") == "frozen" for st in cfg.get("stage", []))
        return "bn_frozen" if frozen else "bn_train"
    return plugin


# ---------------------------------------------------------------- derived numbers


def window_size(total_steps):
    return max(2, min(LAST_MAX, total_steps // 4))


def oscillation(curve, total_steps):
    """std (ddof 0) and max-min of the finite values over the last N steps of the curve."""
    if curve is None or len(curve) == 0:
        return None
    n = window_size(total_steps)
    last = int(curve["step"][-1])
    v = curve["value"][curve["step"] > last - n].astype(np.float64)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return None
    return {"std": float(np.std(v)), "range": float(v.max() - v.min()), "mean": float(v.mean()),
            "n": int(n), "records": int(len(v))}


def seconds_per_step(curve):
    """Slope of wall vs step (least squares), per stretch where wall grows (a resume may
    restart the clock), weighted by the steps of each stretch."""
    if curve is None or len(curve) < 2:
        return None
    step = curve["step"].astype(np.float64)
    wall = curve["wall"].astype(np.float64)
    cut = np.where((np.diff(wall) < 0) | (np.diff(step) <= 0))[0] + 1
    total, weight = 0.0, 0.0
    for s, w in zip(np.split(step, cut), np.split(wall, cut)):
        if len(s) >= 2 and s[-1] > s[0]:
            slope = np.polyfit(s, w, 1)[0]
            total += slope * (s[-1] - s[0])
            weight += s[-1] - s[0]
    return total / weight if weight > 0 else None


def delta_e_jump(curve):
    """Largest change of the W-record mean of ΔE between two adjacent windows: (change, step)."""
    if curve is None:
        return None
    v = curve["value"].astype(np.float64)
    ok = np.isfinite(v)
    v, steps = v[ok], curve["step"][ok]
    w = min(DE_WINDOW_MAX, max(5, len(v) // 20))
    if len(v) < 2 * w:
        return None
    c = np.concatenate([[0.0], np.cumsum(v)])
    k = np.arange(w, len(v) - w + 1)
    change = (c[k + w] - c[k]) / w - (c[k] - c[k - w]) / w
    i = int(np.argmax(np.abs(change)))
    return {"change": float(change[i]), "step": int(steps[k[i]]), "window": int(w)}


# ---------------------------------------------------------------- reading a run


class Log:
    """What the results need from one variant log, read once."""

    def __init__(self, path):
        self.path, self.ok, self.error, self.created = path, False, "", ""
        self.status, self.curves, self.evals, self.metric_attrs = "missing", {}, {}, {}
        self.samples, self.posthoc = [], []
        if not os.path.exists(path):
            self.error = "log never written"
            return
        try:
            with open_h5(path) as f:
                self._read(f)
            self.ok = True
        except (OSError, KeyError, ValueError) as e:
            self.error = str(e)

    def _read(self, f):
        self.status = text(f["status"][()]) if "status" in f else "unknown"
        self.created = text(f.attrs.get("created", b""))

        def series(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.dtype.names and "value" in obj.dtype.names:
                if f.swmr_mode:
                    obj.refresh()
                if name.startswith("curves/"):
                    self.curves[name[len("curves/"):]] = obj[()]
                elif name.startswith("eval/"):
                    self.evals[name[len("eval/"):]] = obj[()]
            elif isinstance(obj, h5py.Group) and name.startswith("eval/") and "plugin" in obj.attrs:
                params = {}
                try:
                    params = json.loads(text(obj.attrs.get("params", b"{}")))
                except ValueError:
                    pass
                self.metric_attrs[name[len("eval/"):]] = (text(obj.attrs["plugin"]), params)

        for top in ("curves", "eval"):
            if top in f:
                f[top].visititems(lambda n, o, top=top: series(f"{top}/{n}", o))
        if "samples" in f:
            for k in f["samples"]:
                if k.endswith("_step"):
                    continue
                d = f[f"samples/{k}"]
                if len(d) and np.isfinite(d[-1]).any():
                    self.samples.append(k)
        if "posthoc" in f:
            for n in sorted(f["posthoc"], key=int):
                r = f[f"posthoc/{n}"]
                rec = {"n": int(n), "kind": text(r.attrs.get("kind", "")),
                       "attrs": {k: (text(v) if isinstance(v, bytes) else v) for k, v in r.attrs.items()}}
                if rec["kind"] == "counterfactual" and "probabilities" in r:
                    p = r["probabilities"][()]
                    t = int(r.attrs.get("target_class", 0))
                    s = int(r.attrs.get("source_class", 0))
                    rec["p_target"] = (float(p[0, t]), float(p[-1, t]))
                    rec["p_source"] = (float(p[0, s]), float(p[-1, s]))
                    if "energy" in r:
                        e = r["energy"][()]
                        rec["energy"] = (float(e[0]), float(e[-1]))
                elif rec["kind"] == "eval":
                    vals = {}
                    for m in r:
                        if isinstance(r[m], h5py.Group):
                            plugin = text(r[m].attrs.get("plugin", m))
                            for t in r[m]:
                                if isinstance(r[m][t], h5py.Dataset) and r[m][t].shape == ():
                                    vals[f"{m}/{t}"] = (plugin, float(r[m][t][()]))
                    rec["values"] = vals
                self.posthoc.append(rec)

    def total_steps(self):
        c = self.curves.get("train/loss")
        return int(c["step"][-1]) + 1 if c is not None and len(c) else 0

    def last(self, key, split="test"):
        s = self.evals.get(f"{split}/{key}")
        return float(s["value"][-1]) if s is not None and len(s) else None


class Group:
    def __init__(self, run, obj):
        self.run = run
        self.label = obj["label"]
        self.key = seedless(self.label)
        self.variants = list(obj["variants"])
        self.seeds = list(obj.get("seeds", []))
        self.statuses = list(obj.get("statuses", []))
        self.status = obj.get("status", "")
        self.metrics = obj.get("metrics", {})
        self.config = run.resolved.get(self.variants[0], {})
        self.method = method_of(self.key, self.config)
        self.norm = norm_of(self.key, self.config)
        self.der = uses_der(self.config)

    @property
    def logs(self):
        return [self.run.logs[v] for v in self.variants]

    def diverged(self):
        n = len(self.statuses) or len(self.variants)
        d = sum(1 for s in self.statuses if s == "diverged")
        return d, n

    def metric(self, key):
        """(mean, std, n, values) of a report column, None when absent."""
        m = self.metrics.get(key)
        if not m or m.get("mean") is None:
            return None
        return m["mean"], (m.get("std") or 0.0), m.get("n", 0), m.get("values", [])

    def metric_n(self, metric):
        """Images a metric evaluated (its `n` term), from the first log that has it."""
        for log in self.logs:
            n = log.last(f"{metric}/n")
            if n:
                return n
        return None


class Run:
    def __init__(self, index, ebmlab):
        self.index, self.name = index, os.path.splitext(os.path.basename(index))[0]
        self.error, self.groups, self.table, self.headline = "", [], "", ""
        with open_h5(index) as f:
            self.attrs = {k: (text(v) if isinstance(v, (bytes, np.ndarray)) else v) for k, v in f.attrs.items()}
            self.resolved = json.loads(text(f["resolved"][()])) if "resolved" in f else {}
            links = {}
            if "variants" in f:
                for v in f["variants"]:
                    link = f["variants"].get(v, getlink=True)
                    if isinstance(link, h5py.ExternalLink):
                        links[v] = os.path.join(os.path.dirname(index), link.filename)
        names = list(self.resolved) or list(links)
        self.logs = {v: Log(links.get(v, os.path.join(os.path.dirname(index), self.name, f"{v}.h5")))
                     for v in names}
        rc, out, err = run_cmd([ebmlab, "report", index, "--format", "markdown"])
        if rc != 0:
            self.error = f"`ebmlab report` failed (exit {rc}): {err.strip()}"
            return
        self.table = out.strip()
        rc, out, _ = run_cmd([ebmlab, "report", index, "--format", "markdown", "--metrics", HEADLINE])
        self.headline = out.strip() if rc == 0 else ""
        rc, out, err = run_cmd([ebmlab, "report", index, "--format", "json"])
        if rc != 0:
            self.error = f"`ebmlab report --format json` failed (exit {rc}): {err.strip()}"
            return
        self.groups = [Group(self, o) for o in json.loads(out)]

    def first(self, pred):
        return next((g for g in self.groups if pred(g)), None)

    def metric_info(self, split="test"):
        """{metric name: (plugin, params)} over all logs, in first-seen order."""
        out = {}
        for log in self.logs.values():
            for k, v in log.metric_attrs.items():
                sp, _, m = k.partition("/")
                if sp == split and m not in out:
                    out[m] = v
        return out

    def robust_metrics(self, split="test"):
        return [m for m, (p, _) in self.metric_info(split).items() if p == "robust_accuracy"]

    def curve_names(self):
        names = []
        for log in self.logs.values():
            for k in log.curves:
                if k not in names:
                    names.append(k)
        return names


def describe_robust(params, n=None):
    atk = params.get("attack", "pgd")
    s = (f"{'APGD-CE' if atk == 'apgd_ce' else 'PGD'} {params.get('norm', '?').replace('linf', 'L∞').replace('l2', 'L2')} "
         f"ε {fmt(params.get('eps'))}, {params.get('steps', '?')} steps, {params.get('restarts', 1)} restart(s)")
    return s + (f", n = {int(n)}" if n else "")


# ---------------------------------------------------------------- the document


class Doc:
    def __init__(self, args):
        self.args = args
        self.lines = []
        self.figdir = args.figures
        self.outdir = os.path.dirname(os.path.abspath(args.out))
        self.notes = []

    def add(self, *lines):
        self.lines.extend(lines)

    def rel(self, path):
        return os.path.relpath(path, self.outdir)

    def figure(self, name, argv, caption):
        """tools/plot.py ARGV --out <figures>/<name>.png; a Markdown image, or a note."""
        out = os.path.join(self.figdir, name + ".png")
        rc, _, err = run_cmd([sys.executable, self.args.plot, *argv, "--out", out])
        if rc != 0 or not os.path.exists(out):
            self.add(f"*(figure {name}: plot.py failed: {err.strip().splitlines()[-1] if err.strip() else rc})*", "")
            return None
        self.add(f"![{caption}]({self.rel(out)})", "", f"*{caption}*", "")
        return out


def wall_span(run):
    """Seconds from the index's `created` to the latest (variant `created` + its last wall
    time), i.e. the run's wall time with whatever --jobs it had; None when unknown."""
    def parse(t):
        try:
            return datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
        except (TypeError, ValueError):
            return None
    start = parse(run.attrs.get("created"))
    ends = []
    for log in run.logs.values():
        t0 = parse(getattr(log, "created", ""))
        walls = [float(c["wall"][-1]) for c in list(log.curves.values()) + list(log.evals.values())
                 if len(c) and "wall" in c.dtype.names]
        if t0 and walls:
            ends.append(t0 + datetime.timedelta(seconds=max(walls)))
    if not start or not ends:
        return None
    return (max(ends) - start).total_seconds()


def scale_lines(run):
    """The scale each group ran at, from the resolved configurations and the logs."""
    a = run.attrs
    out = [f"Scale (from `/resolved` of `{show(run.index)}`): "
           f"ebmlab {a.get('ebmlab_version', '?')} ({a.get('git_commit', '?')}), "
           f"{a.get('threads', '?')} thread(s), world size {a.get('world_size', 1)}, on {a.get('cpu', '?')}; "
           f"index written {a.get('created', '?')}."]
    ov = a.get("overrides", "[]")
    try:
        ov = json.loads(ov)
    except (TypeError, ValueError):
        ov = []
    if ov:
        out.append(f"Overrides: `{' '.join(ov)}`.")
    span = wall_span(run)
    if span:
        out.append(f"Wall time: {span / 60:.1f} min from the index being written to the last record of the last "
                   f"variant ({a.get('threads', '?')} thread(s) in all; the machine may have been shared with other "
                   "work, which the seconds / step below also show).")
    out += ["", "| group | seeds | data (train subset / test subset / batch) | model | stages (steps or epochs) | steps run | metric caps |",
            "|---|---|---|---|---|--:|---|"]
    for g in run.groups:
        c = g.config
        d = c.get("data", {})
        sub = d.get("subset", 0) or "all"
        tsub = d.get("test_subset", 0) or "all"
        data = f"{d.get('dataset', '?')} {sub} / {tsub} / {d.get('batch_size', '?')}"
        bb = c.get("model", {}).get("backbone", {})
        arch = bb.get("plugin", "?")
        for k in ("channels", "hidden", "depth", "width"):
            if k in bb:
                arch += f" {k}={json.dumps(bb[k]).replace(' ', '')}"
        model = f"{arch}, norm {c.get('model', {}).get('norm', {}).get('plugin', '?')}"
        stages = []
        for st in c.get("stage", []):
            n = f"{st['steps']} steps" if st.get("steps") else f"{st.get('epochs', '?')} epoch(s)"
            extra = ", BN frozen" if st.get("norm_mode") == "frozen" else ""
            stages.append(f"{st.get('name', '?')}: {n}{extra}")
        steps_run = [log.total_steps() for log in g.logs if log.ok]
        caps = []
        for m in c.get("metric", []):
            if "max_images" in m:
                caps.append(f"{m.get('name', m.get('plugin'))} {m['max_images']}")
        out.append(f"| {g.label} | {', '.join(map(str, g.seeds)) or '?'} | {data} | {model} | {'; '.join(stages)} | "
                   f"{'/'.join(map(str, sorted(set(steps_run)))) or '–'} | {', '.join(caps) or '–'} |")
    return out


def nested_table(doc, run):
    """Results whose term is nested (`ood_auroc/<set>/<score>`, `energy_stats/data/...`),
    transposed for reading: one row per result, one column per group (last test record,
    mean ± sample std over seeds, read from the logs; the same values are columns of the
    full `ebmlab report` table)."""
    keys = []
    for log in run.logs.values():
        for k in log.evals:
            parts = k.split("/")
            if parts[0] == "test" and len(parts) >= 4 and parts[-1] not in BOOKKEEPING and k[5:] not in keys:
                keys.append(k[5:])
    if not keys:
        return
    doc.add("Nested results, one row each (last test record, mean ± sample std over seeds, read from the logs; "
            "the same values as the nested columns of the full `ebmlab report` table):", "",
            "| result | " + " | ".join(g.label for g in run.groups) + " |",
            "|---|" + "--:|" * len(run.groups))
    for k in keys:
        doc.add(f"| {k} | " + " | ".join(pm([log.last(k) for log in g.logs if log.ok]) for g in run.groups) + " |")
    doc.add("")


def derived_table(doc, run):
    """Per group: divergence, seconds per step, BCE-loss oscillation, ΔE jump."""
    bce = any(loss_names(g.config, "bce_ebm") for g in run.groups)
    der = any(loss_names(g.config, "der") for g in run.groups)
    head = "| group | diverged | seconds / step |"
    sep = "|---|--:|--:|"
    if bce:
        head += " BCE-loss std, last N | BCE-loss max−min, last N | N |"
        sep += "--:|--:|--:|"
    if der:
        head += " ΔE(x) jump (step) | mean ΔE(x), last N |"
        sep += "--:|--:|"
    doc.add("Derived from the logs (mean ± sample std over seeds; per seed in brackets where it matters):", "",
            head, sep)
    for g in run.groups:
        d, n = g.diverged()
        sps = [seconds_per_step(log.curves.get("train/loss")) for log in g.logs if log.ok]
        row = f"| {g.label} | {d}/{n} ({fmt(d / n if n else 0, 3)}) | {pm(sps, 3)} |"
        if bce:
            names = loss_names(g.config, "bce_ebm")
            oscs = [oscillation(log.curves.get(f"{names[0]}/loss"), log.total_steps()) if names else None
                    for log in g.logs if log.ok]
            ok = [o for o in oscs if o]
            if ok:
                row += (f" {pm([o['std'] for o in ok])} [{', '.join(fmt(o['std']) for o in ok)}] |"
                        f" {pm([o['range'] for o in ok])} | {ok[0]['n']} |")
            else:
                row += " – | – | – |"
        if der:
            names = loss_names(g.config, "der")
            jumps, finals = [], []
            for log in g.logs:
                c = log.curves.get(f"{names[0]}/delta_e") if names else None
                jumps.append(delta_e_jump(c))
                o = oscillation(c, log.total_steps()) if c is not None else None
                finals.append(o["mean"] if o else None)
            js = [j for j in jumps if j]
            jtxt = ", ".join(f"{fmt(j['change'], 3)} ({j['step']})" for j in js) or "–"
            row += f" {jtxt} | {pm(finals, 3)} |"
        doc.add(row)
    doc.add("")


def experiment_section(doc, run):
    name = run.name
    if run.error:
        doc.add(f"**{run.error}**", "")
        return
    doc.add(*scale_lines(run), "")
    base = os.path.basename(run.index)
    columns = lambda t: t.splitlines()[0].count("|") if t else 0  # noqa: E731
    if run.headline and columns(run.headline) < columns(run.table):
        doc.add(f"Final results on the test split (`ebmlab report {base} --format markdown --metrics '{HEADLINE}'`; "
                "mean ± sample std over seeds):", "", run.headline, "",
                "<details><summary>every column of <code>ebmlab report</code></summary>", "", run.table, "",
                "</details>", "")
    else:
        doc.add(f"Final results on the test split (`ebmlab report {base} --format markdown`; "
                "mean ± sample std over seeds):", "", run.table, "")
    nested_table(doc, run)
    derived_table(doc, run)
    curves = run.curve_names()

    def terms(*pats):
        return [t for p in pats for t in curves if fnmatch.fnmatchcase(t, p)]

    idx = run.index
    if name == "ablation_norm":
        bce = next((n for g in run.groups for n in loss_names(g.config, "bce_ebm")), "bce_ebm")
        t = terms(f"{bce}/loss")
        if t:
            doc.figure(f"{name}_bce_loss", ["curves", idx, "--terms", ",".join(t)],
                       f"{bce}/loss per normalization (mean of the seeds, min-max band)")
        last_window_figure(doc, run, f"{bce}/loss", f"{name}_bce_loss_last")
        t = terms("at_ce/loss", f"{bce}/p_real", f"{bce}/e_sample")
        if t:
            doc.figure(f"{name}_terms", ["curves", idx, "--terms", ",".join(t)],
                       "AT-CE loss, the BCE's p(real) and the samples' energy per normalization")
    elif name == "der_co":
        t = terms("*/delta_e", "*/delta_e_xy", "at_ce/adv_accuracy")
        if t:
            doc.figure(f"{name}_delta_e", ["curves", idx, "--terms", ",".join(t)],
                       "ΔE(x), ΔE(x,y) (E(x) − E(x*)) and the training batches' adversarial accuracy")
        robust_per_eval(doc, run, f"{name}_robust_per_eval")
    else:
        t = terms("train/loss", "*/loss")
        if t:
            doc.figure(f"{name}_losses", ["curves", idx, "--terms", ",".join(t[:9])],
                       "loss curves (every loss's unweighted value)")
        if name == "jem_vs_atebm":
            robust_per_eval(doc, run, f"{name}_robust_per_eval")
    pats = ["accuracy/accuracy", "*/robust_accuracy", "*/fid", "*/kid", "ece/ece", "*/uniform/logsumexp"]
    have = set()
    for log in run.logs.values():
        for k in log.evals:
            if k.startswith("test/"):
                have.add(k[len("test/"):])
    sel = [p for p in pats if any(fnmatch.fnmatchcase(h, p) for h in have)]
    if sel:
        doc.figure(f"{name}_metrics", ["metrics", idx, "--split", "test", "--metrics", ",".join(sel)],
                   "final test results per group (mean, error bar = std over seeds)")
    sample_grids(doc, run)


def last_window_figure(doc, run, term, name):
    """The curve over the window the oscillation is measured on, one line per seed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8.0, 3.0), dpi=100)
    n_win, drawn = None, 0
    for gi, g in enumerate(run.groups):
        for si, v in enumerate(g.variants):
            log = run.logs[v]
            c = log.curves.get(term)
            if c is None or not len(c):
                continue
            n_win = window_size(log.total_steps())
            c = c[c["step"] > int(c["step"][-1]) - n_win]
            ax.plot(c["step"], c["value"], color=f"C{gi % 10}", lw=1.0,
                    ls=["-", "--", ":", "-."][si % 4], label=g.label if si == 0 else None)
            drawn += 1
    if not drawn:
        plt.close(fig)
        return
    ax.set_title(f"{term}, last N = {n_win} steps (one line per seed)", fontsize=9)
    ax.set_xlabel("step", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    out = os.path.join(doc.figdir, name + ".png")
    fig.savefig(out, dpi=100)
    plt.close(fig)
    doc.add(f"![{term} over the last N steps]({doc.rel(out)})", "",
            f"*{term} over the window the oscillation is measured on (seeds: solid, dashed, ...)*", "")


def generative_samplers(cfg):
    out = []
    for _, l in losses_of(cfg):
        s = l.get("sampler")
        if s and s not in out:
            out.append(s)
    for m in cfg.get("metric", []):
        s = m.get("sampler")
        if s and s not in out:
            out.append(s)
    return out


def sample_grids(doc, run):
    """One grid per group: the last logged samples of a generative sampler (else the latest
    post-hoc `ebmlab sample` record) of the group's first variant that has any."""
    made, without = 0, []
    for g in run.groups:
        before = made
        for v in g.variants:
            log = run.logs[v]
            gen = [s for s in generative_samplers(run.resolved.get(v, {})) if s in log.samples]
            if gen:
                if doc.figure(f"{run.name}_samples_{slug(g.key)}", ["samples", run.index, "--variant", v, "--sampler", gen[0]],
                              f"{g.label}: last logged samples of `{gen[0]}` ({v})"):
                    made += 1
                break
            rec = [r for r in log.posthoc if r["kind"] == "sample"]
            if rec:
                r = rec[-1]
                if doc.figure(f"{run.name}_samples_{slug(g.key)}",
                              ["samples", run.index, "--variant", v, "--posthoc", str(r["n"])],
                              f"{g.label}: `ebmlab sample` record {r['n']} ({v}, sampler {r['attrs'].get('sampler', '?')})"):
                    made += 1
                break
        if made == before:
            without.append(g.label)
    if made and without:
        doc.add(f"No sample grid for {', '.join(without)}: no samples of a generative sampler logged and no "
                "`ebmlab sample` record.", "")
    if not made:
        doc.add("No sample grids: the run logged no samples of a generative sampler ([log] samples_every = 0) "
                "and has no `ebmlab sample` records.", "")


def robust_per_eval(doc, run, name):
    """Validation robust accuracy (and clean accuracy) per evaluation, one line per variant."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    metrics = run.robust_metrics("val")
    keys = [f"{m}/robust_accuracy" for m in metrics]
    if any("val/accuracy/accuracy" in log.evals for log in run.logs.values()):
        keys.append("accuracy/accuracy")
    if not metrics:
        doc.add("No robust accuracy on the validation split, so no robust-accuracy-per-evaluation figure.", "")
        return
    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.0 * cols, 3.0 * rows), dpi=100, squeeze=False)
    for ax in axes.flat[len(keys):]:
        ax.axis("off")
    for ax, key in zip(axes.flat, keys):
        for gi, g in enumerate(run.groups):
            for si, v in enumerate(g.variants):
                s = run.logs[v].evals.get(f"val/{key}")
                if s is None or not len(s):
                    continue
                ax.plot(s["step"], s["value"], color=f"C{gi % 10}", lw=1.2, marker="o", ms=2.5,
                        ls=["-", "--", ":", "-."][si % 4], label=g.label if si == 0 else None)
        ax.set_title(f"val {key}", fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    out = os.path.join(doc.figdir, name + ".png")
    fig.savefig(out, dpi=100)
    plt.close(fig)
    doc.add(f"![robust accuracy per evaluation]({doc.rel(out)})", "",
            "*validation robust accuracy per evaluation (one line per seed: solid, dashed, ...)*", "")


# ---------------------------------------------------------------- counterfactuals


def counterfactual_section(doc, folder, runs):
    if not os.path.isdir(folder):
        doc.add(f"Not run yet: no folder `{show(folder)}` (written by `tools/counterfactuals.sh`).", "")
        return
    # every counterfactual record of the runs we know, by the PNG it wrote
    records = {}
    indexes = [r.index for r in runs.values() if r] + sorted(glob.glob(os.path.join(folder, "*.h5")))
    loaded = {}
    for idx in indexes:
        run = runs.get(idx) if idx in runs else None
        if run is None:
            try:
                run = Run(idx, doc.args.ebmlab)
            except (OSError, KeyError, ValueError):
                continue
        loaded[idx] = run
        for v, log in run.logs.items():
            for r in log.posthoc:
                if r["kind"] == "counterfactual":
                    png = r["attrs"].get("png", "")
                    r = dict(r, run=run, variant=v)
                    if png:
                        for base in (ROOT, os.path.dirname(idx), os.path.dirname(os.path.dirname(idx))):
                            records[os.path.realpath(os.path.join(base, png))] = r
                    r["key"] = (idx, v, r["n"])
                    records.setdefault(r["key"], r)
    pngs = sorted(glob.glob(os.path.join(folder, "**", "*.png"), recursive=True))
    shown = set()

    def caption(r):
        a = r["attrs"]
        s = (f"{r['variant']} ({os.path.basename(r['run'].index)}): test image {int(a.get('input', -1))}, "
             f"class {int(a.get('source_class', -1))} → {int(a.get('target_class', -1))}, "
             f"{a.get('norm', '?')} ε {fmt(a.get('eps'))}, {int(a.get('steps', 0))} steps")
        if "p_target" in r:
            s += f"; p(target) {fmt(r['p_target'][0], 3)} → {fmt(r['p_target'][1], 3)}"
        if "energy" in r:
            s += f", E(x) {fmt(r['energy'][0], 3)} → {fmt(r['energy'][1], 3)}"
        return s

    rows = []
    for p in pngs:
        r = records.get(os.path.realpath(p))
        name = "counterfactuals_" + slug(os.path.splitext(os.path.relpath(p, folder))[0])
        out = os.path.join(doc.figdir, name + ".png")
        shutil.copyfile(p, out)
        cap = caption(r) if r else os.path.relpath(p, folder)
        if r:
            shown.add(r["key"])
        rows.append((out, cap))
    for idx in sorted(glob.glob(os.path.join(folder, "*.h5"))):
        run = loaded.get(idx)
        if not run:
            continue
        for v, log in run.logs.items():
            for r in log.posthoc:
                if r["kind"] != "counterfactual" or (idx, v, r["n"]) in shown:
                    continue
                name = f"counterfactuals_{slug(run.name)}_{slug(v)}_{r['n']}"
                out = os.path.join(doc.figdir, name + ".png")
                rc, _, err = run_cmd([sys.executable, doc.args.plot, "samples", idx, "--variant", v,
                                      "--posthoc", str(r["n"]), "--out", out])
                if rc == 0:
                    rows.append((out, caption(dict(r, run=run, variant=v))))
    if not rows:
        doc.add(f"Not run yet: `{show(folder)}` holds no counterfactual strips.", "")
        return
    doc.add(f"Strips from `{show(folder)}` (frame 0 = the input; each frame a step of projected "
            "gradient descent on E(x, target)):", "")
    for out, cap in rows:
        doc.add(f"![counterfactual]({doc.rel(out)})", "", f"*{cap}*", "")


# ---------------------------------------------------------------- claims


def noise(a, b, n_a=None, n_b=None):
    """σ of a difference of two group means: the larger seed std, and for accuracies (n
    images given) at least the binomial standard error of the difference."""
    s = max(a[1] or 0.0, b[1] or 0.0)
    if n_a and n_b:
        pa, pb = min(max(a[0], 0.0), 1.0), min(max(b[0], 0.0), 1.0)
        s = max(s, math.sqrt(pa * (1 - pa) / n_a + pb * (1 - pb) / n_b))
    return s


def scale_brief(run, groups):
    parts = []
    for g in groups:
        d = g.config.get("data", {})
        steps = sorted({log.total_steps() for log in g.logs if log.ok})
        parts.append(f"{g.label}: {'/'.join(map(str, steps)) or '?'} steps, {d.get('dataset', '?')} subset "
                     f"{d.get('subset', 0) or 'all'}, test subset {d.get('test_subset', 0) or 'all'}, "
                     f"{len(g.variants)} seed(s) {g.seeds}")
    return f"Scale ({os.path.basename(run.index)}): " + "; ".join(parts) + "."


class Claims:
    def __init__(self, doc, runs):
        self.doc, self.runs = doc, runs
        self.summary = []
        self.body = []

    def add(self, *lines):
        self.body.extend(lines)

    def verdict(self, tag, title, verdict, evidence):
        self.summary.append(f"| ({tag}) {title} | **{verdict}** | {evidence} |")
        self.add(f"**Verdict: {verdict}.**", "")

    def missing(self, tag, title, what):
        self.add(f"### ({tag}) {title}", "", f"Not measured: {what}.", "")
        self.summary.append(f"| ({tag}) {title} | not measured | {what} |")

    def run(self, name):
        return self.runs.get(name)

    def need(self, tag, title, name):
        r = self.run(name)
        if r is None:
            self.missing(tag, title, f"`{name}.h5` not run yet")
            return None
        if r.error:
            self.missing(tag, title, f"`{name}.h5`: {r.error}")
            return None
        return r

    def groups_by(self, run, attr, *wanted):
        return {w: run.first(lambda g, w=w: getattr(g, attr) == w) for w in wanted}

    # (a)
    def stability(self):
        tag, title = "a", "AT-based EBM training is more stable than SGLD-based JEM"
        run = self.need(tag, title, "jem_vs_atebm")
        if not run:
            return
        g = self.groups_by(run, "method", "jem", "at_ebm", "dat")
        if not g["jem"] or not (g["at_ebm"] or g["dat"]):
            self.missing(tag, title, "jem_vs_atebm has no JEM group or no AT-based (at_ebm, dat) group")
            return
        self.add(f"### ({tag}) {title}", "",
                 "Rule: stability = the fraction of seeds whose run diverged (status `diverged`: a loss or "
                 "energy left its bound). **Reproduced** if JEM's divergence fraction is larger than that of "
                 "every AT-based group present (at_ebm, dat); otherwise **not reproduced** (in particular when "
                 "no JEM seed diverged at this scale). The energy-gap spread (std of e_data − e_sample over the "
                 "last N steps) is shown for information only: its scale differs between the losses.", "",
                 scale_brief(run, [x for x in g.values() if x]), "",
                 "| group | diverged | fraction | energy-gap std, last N | seconds / step |", "|---|--:|--:|--:|--:|")
        frac = {}
        for k, grp in g.items():
            if not grp:
                continue
            d, n = grp.diverged()
            frac[k] = d / n if n else 0.0
            comp = loss_names(grp.config, "jem_ml" if k == "jem" else "bce_ebm")
            gaps = []
            for log in grp.logs:
                if not comp:
                    break
                a, b = log.curves.get(f"{comp[0]}/e_data"), log.curves.get(f"{comp[0]}/e_sample")
                if a is not None and b is not None and len(a) == len(b) and len(a):
                    c = np.zeros(len(a), dtype=[("step", "i8"), ("value", "f8")])
                    c["step"], c["value"] = a["step"], a["value"] - b["value"]
                    o = oscillation(c, log.total_steps())
                    gaps.append(o["std"] if o else None)
            sps = [seconds_per_step(log.curves.get("train/loss")) for log in grp.logs if log.ok]
            self.add(f"| {grp.label} ({k}) | {d}/{n} | {fmt(frac[k], 3)} | {pm(gaps, 3)} | {pm(sps, 3)} |")
        self.add("")
        others = {k: v for k, v in frac.items() if k != "jem"}
        ok = all(frac["jem"] > v for v in others.values())
        ev = ", ".join(f"{k} {fmt(v, 3)}" for k, v in frac.items())
        self.verdict(tag, title, "reproduced" if ok else "not reproduced", f"divergence fraction {ev}")

    # (b)
    def sample_quality(self):
        tag, title = "b", "DAT samples are better than JEM's (FID/KID)"
        run = self.need(tag, title, "jem_vs_atebm")
        if not run:
            return
        g = self.groups_by(run, "method", "dat", "jem")
        if not g["dat"] or not g["jem"]:
            self.missing(tag, title, "jem_vs_atebm has no DAT or no JEM group")
            return
        sq = [m for m, (p, params) in run.metric_info("test").items()
              if p == "sample_quality" and params.get("sampler")]
        if not sq:
            self.missing(tag, title, "no `sample_quality` metric with a sampler on the test split of jem_vs_atebm")
            return
        m = "sample_quality" if "sample_quality" in sq else sq[0]
        params = run.metric_info("test")[m][1]
        self.add(f"### ({tag}) {title}", "",
                 f"Rule: metric `{m}` (FID and KID in the ebmlab feature net's space, sampler "
                 f"`{params.get('sampler')}`, n = {params.get('max_images', '?')} images; never comparable with "
                 "Inception FID). **Reproduced** if DAT's mean FID and mean KID are both lower than JEM's by more "
                 "than σ (the larger seed std of the two groups); otherwise **not reproduced**. A group with no "
                 "value (e.g. every seed diverged) is not measured.", "",
                 scale_brief(run, [g["dat"], g["jem"]]), "",
                 "| group | FID | KID | diverged |", "|---|--:|--:|--:|")
        vals = {}
        for k in ("dat", "jem"):
            grp = g[k]
            f, kd = grp.metric(f"{m}/fid"), grp.metric(f"{m}/kid")
            vals[k] = (f, kd)
            d, n = grp.diverged()
            self.add(f"| {grp.label} ({k}) | {pm(f[3]) if f else '–'} | {pm(kd[3]) if kd else '–'} | {d}/{n} |")
        self.add("")
        if not all(vals["dat"]) or not all(vals["jem"]):
            self.add("A group has no FID/KID value.", "")
            self.summary.append(f"| ({tag}) {title} | not measured | FID/KID missing for a group |")
            return
        (fd, kdd), (fj, kdj) = vals["dat"], vals["jem"]
        sf, sk = noise(fd, fj), noise(kdd, kdj)
        ok = fd[0] < fj[0] - sf and kdd[0] < kdj[0] - sk
        self.add(f"FID dat − jem = {fmt(fd[0] - fj[0])} (σ {fmt(sf)}), KID dat − jem = {fmt(kdd[0] - kdj[0])} (σ {fmt(sk)}).", "")
        self.verdict(tag, title, "reproduced" if ok else "not reproduced",
                     f"FID dat {fmt(fd[0])} vs jem {fmt(fj[0])}; KID {fmt(kdd[0])} vs {fmt(kdj[0])}")

    # (c)
    def robustness(self):
        tag, title = "c", "DAT keeps the robustness of adversarial training"
        run = self.need(tag, title, "jem_vs_atebm")
        if not run:
            return
        g = self.groups_by(run, "method", "dat", "at")
        if not g["dat"] or not g["at"]:
            self.missing(tag, title, "jem_vs_atebm has no DAT or no AT group")
            return
        info = run.metric_info("test")
        rob = run.robust_metrics("test")
        if not rob:
            self.missing(tag, title, "no `robust_accuracy` metric on the test split of jem_vs_atebm")
            return
        self.add(f"### ({tag}) {title}", "",
                 "Rule: for every robust-accuracy metric of the run, d = mean robust accuracy of DAT − that of AT; "
                 "σ = the larger of the two groups' seed std and the binomial standard error of the difference "
                 "(√(p₁(1−p₁)/n₁ + p₂(1−p₂)/n₂), n = images attacked). **Reproduced** if d ≥ −σ for every metric "
                 "(DAT is not worse beyond the noise); otherwise **not reproduced**.", "",
                 scale_brief(run, [g["dat"], g["at"]]), "",
                 "| metric | attack | dat | at | d | σ | holds |", "|---|---|--:|--:|--:|--:|---|")
        ok, ev = True, []
        for m in rob:
            a, b = g["dat"].metric(f"{m}/robust_accuracy"), g["at"].metric(f"{m}/robust_accuracy")
            n = g["dat"].metric_n(m) or g["at"].metric_n(m)
            if not a or not b:
                self.add(f"| {m} | {describe_robust(info[m][1], n)} | {pm(a[3]) if a else '–'} | {pm(b[3]) if b else '–'} | – | – | not measured |")
                continue
            s = noise(a, b, g["dat"].metric_n(m), g["at"].metric_n(m))
            d = a[0] - b[0]
            holds = d >= -s
            ok &= holds
            ev.append(f"{m} {fmt(a[0], 3)} vs {fmt(b[0], 3)}")
            self.add(f"| {m} | {describe_robust(info[m][1], n)} | {pm(a[3])} | {pm(b[3])} | {fmt(d, 3)} | {fmt(s, 3)} | {'yes' if holds else 'no'} |")
        self.add("")
        if not ev:
            self.summary.append(f"| ({tag}) {title} | not measured | no robust accuracy for dat or at |")
            return
        self.verdict(tag, title, "reproduced" if ok else "not reproduced", "robust acc dat vs at: " + "; ".join(ev))

    # (d)
    def batchnorm(self):
        tag, title = "d", "BatchNorm in train mode destabilizes the BCE loss and freezing it fixes that"
        run = self.need(tag, title, "ablation_norm")
        if not run:
            return
        g = {x.norm: x for x in run.groups}
        if "bn_train" not in g or "bn_frozen" not in g:
            self.missing(tag, title, "ablation_norm has no bn_train or no bn_frozen group")
            return
        osc = {}
        for k, grp in g.items():
            names = loss_names(grp.config, "bce_ebm")
            vals = [oscillation(log.curves.get(f"{names[0]}/loss"), log.total_steps()) if names else None
                    for log in grp.logs if log.ok]
            osc[k] = [o for o in vals if o]
        n_win = "/".join(str(n) for n in sorted({x["n"] for o in osc.values() for x in o})) or "–"
        self.add(f"### ({tag}) {title}", "",
                 f"Rule: oscillation = the std (population, ddof 0) of `bce_ebm/loss` over the last N = min(100, "
                 f"steps/4) steps of each run (N = {n_win} here), averaged over seeds; σ = the larger seed std "
                 "(ddof 1) of the two groups compared (0 with one seed: then any difference counts and the "
                 "verdict is only indicative). The spread is absolute; std / mean is shown for information (a loss "
                 "that stays high can have a larger spread and a smaller relative one). (d1) *train-mode BatchNorm destabilizes*: bn_train's oscillation "
                 "exceeds that of every group without BatchNorm (none, group, layer) by more than σ, or bn_train "
                 "diverged more often than all of them. (d2) *freezing fixes it*: bn_frozen's oscillation is "
                 "below bn_train's by more than σ (or bn_train diverged more often). **Reproduced** if (d1) and "
                 "(d2) hold, **partly reproduced** if only one does, else **not reproduced**.", "",
                 scale_brief(run, list(g.values())), "",
                 "| group | BCE-loss std, last N | per seed | max−min, last N | mean BCE loss, last N | std / mean | diverged |",
                 "|---|--:|---|--:|--:|--:|--:|")
        ms = {}
        for k, grp in g.items():
            o = osc[k]
            ms[k] = mean_std([x["std"] for x in o])
            d, n = grp.diverged()
            self.add(f"| {grp.label} | {pm([x['std'] for x in o])} | {', '.join(fmt(x['std']) for x in o) or '–'} | "
                     f"{pm([x['range'] for x in o])} | {pm([x['mean'] for x in o])} | "
                     f"{pm([x['std'] / x['mean'] if x['mean'] else None for x in o], 3)} | {d}/{n} |")
        self.add("")
        if ms["bn_train"][0] is None or ms["bn_frozen"][0] is None:
            self.add("bn_train or bn_frozen has no BCE-loss values.", "")
            self.summary.append(f"| ({tag}) {title} | not measured | no BCE loss for bn_train or bn_frozen |")
            return
        div = {k: (lambda dn: dn[0] / dn[1] if dn[1] else 0.0)(grp.diverged()) for k, grp in g.items()}
        plain = [k for k in ("none", "group", "layer") if k in g and ms[k][0] is not None]
        t = ms["bn_train"]
        d1_parts = []
        for k in plain:
            s = max(t[1], ms[k][1])
            d1_parts.append((k, t[0] - ms[k][0], s, t[0] - ms[k][0] > s))
        d1 = bool(plain) and (all(p[3] for p in d1_parts) or all(div["bn_train"] > div[k] for k in plain))
        s2 = max(t[1], ms["bn_frozen"][1])
        d2 = (t[0] - ms["bn_frozen"][0] > s2) or div["bn_train"] > div["bn_frozen"]
        for k, diff, s, holds in d1_parts:
            self.add(f"- bn_train − {k}: {fmt(diff)} (σ {fmt(s)}): {'exceeds' if holds else 'does not exceed'} σ")
        self.add(f"- bn_train − bn_frozen: {fmt(t[0] - ms['bn_frozen'][0])} (σ {fmt(s2)})",
                 f"- (d1) {'holds' if d1 else 'does not hold'}" + ("" if plain else " (no group without BatchNorm)"),
                 f"- (d2) {'holds' if d2 else 'does not hold'}", "")
        verdict = "reproduced" if d1 and d2 else "partly reproduced" if d1 or d2 else "not reproduced"
        ev = "BCE-loss std " + ", ".join(f"{k} {fmt(ms[k][0], 3)}" for k in g if ms[k][0] is not None)
        self.verdict(tag, title, verdict, ev)

    # (e)
    def der(self):
        tag, title = "e", "DER prevents catastrophic overfitting"
        run = self.need(tag, title, "der_co")
        if not run:
            return
        with_der = [x for x in run.groups if x.der]
        without = [x for x in run.groups if not x.der]
        if not with_der or not without:
            self.missing(tag, title, "der_co has no group with DER or none without")
            return

        def base(key):
            return "_".join(t for t in re.split(r"[-_+]", key.lower()) if t and t != "der")

        pairs = []
        for d in with_der:
            p = next((x for x in without if base(x.key) == base(d.key)), None)
            if p is None and len(without) == 1:
                p = without[0]
            if p is not None:
                pairs.append((p, d))
        if not pairs:
            self.missing(tag, title, "could not pair the DER groups with their plain counterparts")
            return
        rob_test = run.robust_metrics("test")
        rob_val = run.robust_metrics("val")
        m_val = rob_val[0] if rob_val else None
        m_test = m_val if m_val in rob_test else (rob_test[0] if rob_test else None)
        self.add(f"### ({tag}) {title}", "",
                 f"Rule: catastrophic overfitting (CO) of a run = its last validation robust accuracy "
                 f"(`{m_val or 'none logged'}`) is below {COLLAPSE} × its best one. The ΔE jump of a run = the "
                 "largest change of the mean of `der/delta_e` (ΔE(x) = E(x) − E(x*)) between two adjacent windows "
                 "of W records (W = min(50, max(5, records/20))). For each pair (plain, +DER): **reproduced** if "
                 "at least one plain seed shows CO, fewer +DER seeds show CO, the final test robust accuracy "
                 f"(`{m_test or 'none logged'}`) of +DER exceeds the plain one by more than σ (larger seed std, at "
                 "least the binomial standard error of the difference) and the plain run's largest |ΔE jump| "
                 "exceeds +DER's; **inconclusive** if no plain seed shows CO (nothing to prevent at this scale); "
                 "otherwise **not reproduced**.", "",
                 scale_brief(run, [x for p in pairs for x in p]), "",
                 "| group | DER | CO seeds | best → last val robust acc (per seed) | final test robust acc | |ΔE jump| (per seed) | diverged |",
                 "|---|---|--:|---|--:|---|--:|")

        def co(grp):
            out = []
            for log in grp.logs:
                s = log.evals.get(f"val/{m_val}/robust_accuracy") if m_val else None
                if s is None or not len(s):
                    out.append(None)
                    continue
                v = s["value"]
                out.append((float(np.max(v)), float(v[-1]), bool(v[-1] < COLLAPSE * np.max(v))))
            return out

        def jumps(grp):
            names = loss_names(grp.config, "der")
            return [delta_e_jump(log.curves.get(f"{names[0]}/delta_e")) if names else None for log in grp.logs]

        verdicts, ev = [], []
        for p, d in pairs:
            res = {}
            for grp in (p, d):
                c, j = co(grp), jumps(grp)
                rob = grp.metric(f"{m_test}/robust_accuracy") if m_test else None
                dv, n = grp.diverged()
                res[grp.label] = (c, j, rob)
                cs = [x for x in c if x]
                self.add(f"| {grp.label} | {'yes' if grp.der else 'no'} | {sum(x[2] for x in cs)}/{len(cs)} | "
                         f"{', '.join(f'{fmt(x[0], 3)} → {fmt(x[1], 3)}' for x in cs) or '–'} | "
                         f"{pm(rob[3]) if rob else '–'} | {', '.join(fmt(abs(x['change']), 3) for x in j if x) or '–'} | {dv}/{n} |")
            (cp, jp, rp), (cd, jd, rd) = res[p.label], res[d.label]
            cop = sum(1 for x in cp if x and x[2])
            cod = sum(1 for x in cd if x and x[2])
            jpm = max((abs(x["change"]) for x in jp if x), default=None)
            jdm = max((abs(x["change"]) for x in jd if x), default=None)
            if not any(cp) or rp is None or rd is None:
                verdicts.append("not measured")
                continue
            if cop == 0:
                verdicts.append("inconclusive")
                ev.append(f"{p.label}: no CO")
                continue
            s = noise(rd, rp, d.metric_n(m_test), p.metric_n(m_test))
            ok = cod < cop and rd[0] - rp[0] > s and (jpm is not None and jdm is not None and jpm > jdm)
            verdicts.append("reproduced" if ok else "not reproduced")
            ev.append(f"{p.label} vs {d.label}: CO {cop} vs {cod}, robust {fmt(rp[0], 3)} vs {fmt(rd[0], 3)} (σ {fmt(s, 2)})")
        self.add("")
        if all(v == "not measured" for v in verdicts):
            self.add("No validation robust accuracy or no final robust accuracy for a group.", "")
            self.summary.append(f"| ({tag}) {title} | not measured | no robust accuracy per evaluation |")
            return
        order = ["not reproduced", "inconclusive", "reproduced"]
        known = [v for v in verdicts if v in order]
        verdict = min(known, key=order.index)
        self.verdict(tag, title, verdict, "; ".join(ev))

    def write(self):
        for f in (self.stability, self.sample_quality, self.robustness, self.batchnorm, self.der):
            f()
        self.doc.add("## Claims", "",
                     "Each seed claim, the numbers this repository's runs measured, and a verdict by the mechanical "
                     "rule stated with it. A verdict holds for the scale it was measured at (stated with each claim), "
                     "which is far below the papers'.", "",
                     "| claim | verdict | numbers |", "|---|---|---|", *self.summary, "", *self.body)


# ---------------------------------------------------------------- main


def parse(argv):
    p = argparse.ArgumentParser(
        description="Regenerate docs/RESULTS.md and docs/results/*.png from the runs of issue 8's experiments.",
        epilog="example: python3 tools/results.py            (reads runs/, writes docs/RESULTS.md)",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default=os.path.join(ROOT, "runs"), help="folder of the index files (default runs/)")
    p.add_argument("--out", default=os.path.join(ROOT, "docs", "RESULTS.md"), help="Markdown file to write")
    p.add_argument("--figures", default=None, help="folder of the PNGs (default: results/ beside --out)")
    p.add_argument("--counterfactuals", default=None,
                   help="folder of tools/counterfactuals.sh's strips (default <runs>/counterfactuals)")
    p.add_argument("--ebmlab", default=os.path.join(ROOT, "build", "ebmlab"), help="the ebmlab binary")
    p.add_argument("--plot", default=os.path.join(ROOT, "tools", "plot.py"), help="tools/plot.py")
    a = p.parse_args(argv)
    a.runs = os.path.abspath(a.runs)
    a.out = os.path.abspath(a.out)
    a.figures = os.path.abspath(a.figures or os.path.join(os.path.dirname(a.out), "results"))
    a.counterfactuals = os.path.abspath(a.counterfactuals or os.path.join(a.runs, "counterfactuals"))
    return a


def main(argv=None):
    a = parse(argv)
    if not os.path.exists(a.ebmlab):
        print(f"results.py: no ebmlab binary at {a.ebmlab} (build it, or give --ebmlab)", file=sys.stderr)
        return 2
    os.makedirs(a.figures, exist_ok=True)
    for prefix in FIGURE_PREFIXES:  # figures of a previous generation: regenerated or gone
        for old in glob.glob(os.path.join(a.figures, f"{prefix}_*.png")):
            os.remove(old)
    doc = Doc(a)
    runs = {}
    doc.add("# Results", "",
            "<!-- generated by `python3 tools/results.py`; do not edit by hand: rerun it after the runs change -->", "",
            "Issue 8's experiments at CPU scale (2 cores, 25 minutes per experiment), from the HDF5 files under "
            f"`{show(a.runs)}`. Regenerate with:", "",
            "```sh", "python3 tools/results.py        # --runs DIR, --out FILE, --counterfactuals DIR", "```", "",
            f"Generated {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}. "
            "Tables: `ebmlab report` (last evaluation on the test split; mean ± sample std over seeds). "
            "Derived numbers: **BCE-loss oscillation** = std (ddof 0) and max − min of `bce_ebm/loss` over the "
            "last N = min(100, steps/4) steps of a run; **diverged** = seeds whose status is `diverged`; "
            "**seconds / step** = least-squares slope of `wall` against `step` of `curves/train/loss` "
            "(evaluation pauses included); **ΔE jump** = largest change of the windowed mean of `der/delta_e`.", "")
    body = Doc(a)
    body.lines = []
    for i, (name, title, question) in enumerate(EXPERIMENTS, 1):
        index = os.path.join(a.runs, f"{name}.h5")
        body.add(f"## {i}. {title} (`experiments/{name}.toml`)", "", question, "")
        if not os.path.exists(index):
            body.add(f"Not run yet: no `{name}.h5` in the runs folder "
                     f"(`build/ebmlab run experiments/{name}.toml --jobs 2`).", "")
            continue
        try:
            run = Run(index, a.ebmlab)
        except (OSError, KeyError, ValueError) as e:
            body.add(f"**Could not read `{name}.h5`: {e}**", "")
            continue
        runs[name] = run
        experiment_section(body, run)
        print(f"results.py: {name}: {len(run.groups)} group(s)", file=sys.stderr)
    body.add(f"## {len(EXPERIMENTS) + 1}. Counterfactual strips (`tools/counterfactuals.sh`)", "",
             "Counterfactuals of the DAT model versus the plain classifier: a robust (and generative) model should "
             "move the input toward images that look like the target class.", "")
    counterfactual_section(body, a.counterfactuals, {r.index: r for r in runs.values()})
    Claims(doc, runs).write()
    doc.lines += body.lines
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(doc.lines).rstrip() + "\n")
    os.replace(tmp, a.out)
    print(f"results.py: wrote {a.out} and {len(glob.glob(os.path.join(a.figures, '*.png')))} figure(s) in {a.figures}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
