#!/usr/bin/python3
"""Plots of ebmlab runs: learning curves, final metrics, samples, toy2d energy landscapes.

Reads the index file runs/<exp>.h5 (or one variant log runs/<exp>/<variant>.h5) with
h5py; layout in docs/hdf5-layout.md. Writes PNGs with a fixed size (figsize x dpi) and,
with --summary, prints a JSON description of what was drawn (for scripts and tests).
"""
import argparse
import fnmatch
import glob
import json
import math
import os
import re
import sys

import h5py
import numpy as np

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DPI = 100
PANEL_W, PANEL_H = 4.0, 3.0

EPILOG = """\
examples:
  plot.py curves runs/toy.h5 --out curves.png
  plot.py curves runs/a.h5 runs/b.h5 --terms 'train/*,ce/*' --smooth 10 --band std
  plot.py metrics runs/toy.h5 --split test --metrics 'accuracy/*' --out acc.png
  plot.py samples runs/toy.h5 --variant main --sampler adv --record -1 --out s.png
  plot.py samples runs/toy.h5 --variant main --posthoc 0
  plot.py landscape runs/toy.h5 --variant main --out energy.png

Variants whose resolved configurations differ only in experiment.seed are drawn as one
group: curves as the mean with a min-max (or +-std) band, metrics as the mean with a
std error bar.

exit codes: 0 written, 2 not an ebmlab run, missing series or unsupported model
"""


class PlotError(Exception):
    """A user-facing error: printed and exit code 2."""


# ---------------------------------------------------------------- reading runs


def text(v):
    if isinstance(v, bytes):
        return v.rstrip(b"\0").decode()
    if isinstance(v, np.ndarray) and v.shape == ():
        return text(v[()])
    return str(v)


class Variant:
    def __init__(self, run, name, log, config):
        self.run, self.name, self.log, self.config = run, name, log, config

    @property
    def log_path(self):
        return self.log.file.filename

    def group_key(self):
        cfg = json.loads(json.dumps(self.config))
        cfg.get("experiment", {}).pop("seed", None)
        return json.dumps(cfg, sort_keys=True)


class Run:
    """An index file (all variants) or a single variant log."""

    def __init__(self, path):
        if not os.path.exists(path):
            raise PlotError(f"{path}: no such file")
        try:
            # SWMR read: works on logs still being written and on logs whose writer died
            # (they keep their "open for writing" mark; a plain open is refused).
            self.file = h5py.File(path, "r", libver="latest", swmr=True)
        except OSError:
            try:
                self.file = h5py.File(path, "r")
            except OSError as e:
                raise PlotError(f"{path}: not an HDF5 file ({e})") from None
        if "format_version" not in self.file.attrs:
            raise PlotError(f"{path}: not an ebmlab run (no format_version attribute)")
        self.path = path
        self.label = os.path.splitext(os.path.basename(path))[0]
        self.variants = {}
        if "variants" in self.file:
            resolved = json.loads(text(self.file["resolved"][()])) if "resolved" in self.file else {}
            for name in self.file["variants"]:
                try:
                    log = self.file[f"variants/{name}"]
                except KeyError:
                    raise PlotError(f"{path}: variant {name}: its log file is missing") from None
                config = resolved.get(name) or json.loads(text(log["config"][()]))
                self.variants[name] = Variant(self, name, log, config)
        elif "config" in self.file:
            name = text(self.file.attrs.get("variant", self.label))
            self.variants[name] = Variant(self, name, self.file, json.loads(text(self.file["config"][()])))
        else:
            raise PlotError(f"{path}: an ebmlab file but neither an index nor a variant log (a checkpoint?)")
        if not self.variants:
            raise PlotError(f"{path}: the run has no variants")

    def variant(self, name):
        if name is None:
            if len(self.variants) > 1:
                raise PlotError(f"{self.path}: several variants, choose one with --variant: {', '.join(self.variants)}")
            return next(iter(self.variants.values()))
        if name not in self.variants:
            raise PlotError(f"{self.path}: no variant {name!r}; variants: {', '.join(self.variants)}")
        return self.variants[name]


def open_runs(paths):
    runs = [Run(p) for p in paths]
    variants = []
    for r in runs:
        for v in r.variants.values():
            v.label = v.name if len(runs) == 1 else f"{r.label}:{v.name}"
            variants.append(v)
    return variants


def group_label(members):
    if len(members) == 1:
        return members[0].label
    prefix = os.path.commonprefix([m.label for m in members])
    prefix = re.sub(r"[_\-.:]*(seed|s)?$", "", prefix) or members[0].label
    return f"{prefix} ({len(members)} seeds)"


def seed_groups(variants):
    """[(label, [Variant])] in first-seen order; members differ only in experiment.seed."""
    groups = {}
    for v in variants:
        groups.setdefault(v.group_key(), []).append(v)
    return [(group_label(m), m) for m in groups.values()]


def patterns(arg):
    if not arg:
        return None
    return [p.strip() for a in arg for p in a.split(",") if p.strip()]


def matches(name, pats):
    return pats is None or any(fnmatch.fnmatchcase(name, p) for p in pats)


def is_series(obj):
    return isinstance(obj, h5py.Dataset) and obj.dtype.names is not None and "value" in obj.dtype.names


def curve_terms(v):
    out = []
    if "curves" not in v.log:
        return out
    for comp in v.log["curves"]:
        for term in v.log[f"curves/{comp}"]:
            if is_series(v.log[f"curves/{comp}/{term}"]):
                out.append(f"{comp}/{term}")
    return out


def read_series(ds):
    if ds.file.swmr_mode:
        ds.refresh()  # a log still being written: see the records flushed since opening
    a = ds[()]
    return a["step"].astype(np.int64), a["value"].astype(np.float64)


# ---------------------------------------------------------------- figures


def grid_figure(n):
    cols = min(3, max(1, n))
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(PANEL_W * cols, PANEL_H * rows), dpi=DPI, squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, list(axes.flat[:n])


def save(fig, out, summary):
    fig.savefig(out, dpi=DPI)
    w, h = fig.get_size_inches() * DPI
    plt.close(fig)
    summary["out"] = out
    summary["size"] = [int(round(w)), int(round(h))]
    return summary


def smooth(values, n):
    if n <= 1 or len(values) < 2:
        return values
    # Trailing mean over the last n points (fewer at the start): no look-ahead, no shift.
    c = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - n, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def cmd_curves(a):
    variants = open_runs(a.runs)
    pats = patterns(a.terms)
    terms = []
    for v in variants:
        for t in curve_terms(v):
            if matches(t, pats) and t not in terms:
                terms.append(t)
    if not terms:
        raise PlotError("no curves match" + (f" --terms {','.join(pats)}" if pats else "") +
                        "; available: " + ", ".join(sorted({t for v in variants for t in curve_terms(v)})))
    groups = seed_groups(variants)
    fig, axes = grid_figure(len(terms))
    summary = {"panels": []}
    for ax, term in zip(axes, terms):
        panel = {"term": term, "lines": []}
        for gi, (label, members) in enumerate(groups):
            series = [read_series(m.log[f"curves/{term}"]) for m in members if f"curves/{term}" in m.log]
            series = [(s, smooth(y, a.smooth)) for s, y in series if len(s)]
            if not series:
                continue
            color = f"C{gi % 10}"
            if len(series) == 1:
                ax.plot(series[0][0], series[0][1], color=color, lw=1.2, label=label)
            else:
                steps = series[0][0]
                for s, _ in series[1:]:
                    steps = np.intersect1d(steps, s)
                ys = np.stack([y[np.searchsorted(s, steps)] for s, y in series])
                mean = ys.mean(0)
                lo, hi = (mean - ys.std(0), mean + ys.std(0)) if a.band == "std" else (ys.min(0), ys.max(0))
                ax.plot(steps, mean, color=color, lw=1.2, label=label)
                ax.fill_between(steps, lo, hi, color=color, alpha=0.25, lw=0)
            panel["lines"].append({"label": label, "variants": [m.label for m in members]})
        ax.set_title(term, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if term.endswith("/lr") or a.logy:
            if all(np.all(line.get_ydata() > 0) for line in ax.get_lines()):
                ax.set_yscale("log")
        summary["panels"].append(panel)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return save(fig, a.out or "curves.png", summary)


def eval_terms(v, split):
    root = f"eval/{split}"
    out = []
    if root not in v.log:
        return out
    for metric in v.log[root]:
        g = v.log[f"{root}/{metric}"]
        if isinstance(g, h5py.Group):
            out += [f"{metric}/{t}" for t in g if is_series(g[t])]
    return out


def cmd_metrics(a):
    variants = open_runs(a.runs)
    pats = patterns(a.metrics)
    terms = []
    for v in variants:
        for t in eval_terms(v, a.split):
            if matches(t, pats) and t not in terms:
                terms.append(t)
    if not terms:
        raise PlotError(f"no eval/{a.split} results" + (f" match --metrics {','.join(pats)}" if pats else "") +
                        " (the test split is written once, at the end of a completed run)")
    groups = seed_groups(variants)
    fig, axes = grid_figure(len(terms))
    summary = {"split": a.split, "panels": []}
    for ax, term in zip(axes, terms):
        labels, means, errs = [], [], []
        for label, members in groups:
            vals = []
            for m in members:
                path = f"eval/{a.split}/{term}"
                if path in m.log and len(m.log[path]):
                    vals.append(float(m.log[path][-1]["value"]))
            if vals:
                labels.append(label)
                means.append(float(np.mean(vals)))
                errs.append(float(np.std(vals)) if len(vals) > 1 else 0.0)
        x = np.arange(len(labels))
        ax.bar(x, means, yerr=errs, capsize=3, color=[f"C{i % 10}" for i in range(len(labels))])
        ax.set_xticks(x)
        ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=7)
        ax.set_title(f"{a.split}: {term}", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(axis="y", alpha=0.3)
        summary["panels"].append({"term": term, "bars": [{"label": l, "mean": m, "std": e}
                                                         for l, m, e in zip(labels, means, errs)]})
    fig.tight_layout()
    return save(fig, a.out or "metrics.png", summary)


# ---------------------------------------------------------------- toy2d energy


def latest_checkpoint(v):
    folder = os.path.join(os.path.dirname(os.path.abspath(v.log_path)), v.name)
    found = []
    for p in glob.glob(os.path.join(folder, "ckpt-*.h5")):
        m = re.fullmatch(r"ckpt-(\d+)\.h5", os.path.basename(p))
        if m:
            found.append((int(m.group(1)), p))
    if not found:
        raise PlotError(f"variant {v.name}: no checkpoint ckpt-<step>.h5 in {folder}")
    return max(found)[1]


ACTIVATIONS = {
    "relu": lambda h: np.maximum(h, 0.0),
    "leaky_relu": lambda h: np.where(h > 0, h, 0.2 * h),  # sdk/layers.cpp: slope 0.2
    "silu": lambda h: h / (1.0 + np.exp(-h)),
}


class NumpyMlp:
    """The `mlp` backbone without normalization layers, evaluated in float64.

    Mirrors kernel/train/model.cpp (input standardization (x - input_mean) * input_inv_std) and
    plugins/backbones/mlp/mlp.cpp (fc<i> -> activation ..., then head).
    """

    def __init__(self, config, checkpoint):
        backbone = config["model"]["backbone"]
        norm = config["model"].get("norm", {}).get("plugin", "none")
        if backbone.get("plugin") != "mlp" or norm != "none":
            raise PlotError(f"landscape: only the mlp backbone with norm none is supported "
                            f"(this run: backbone {backbone.get('plugin')}, norm {norm})")
        self.activation = ACTIVATIONS[backbone.get("activation", "relu")]
        with h5py.File(checkpoint, "r") as f:
            if "model" not in f:
                raise PlotError(f"{checkpoint}: not an ebmlab checkpoint (no /model)")
            t = {k: f[f"model/{k}"][()].astype(np.float64) for k in f["model"]}
        self.mean = t["input_mean"].reshape(1, -1)
        self.inv_std = t["input_inv_std"].reshape(1, -1)
        self.layers = [(t[f"backbone.fc{i}.fc.weight"], t[f"backbone.fc{i}.fc.bias"])
                       for i in range(len(backbone.get("hidden", [])))]
        self.head = (t["backbone.head.fc.weight"], t["backbone.head.fc.bias"])

    def logits(self, x):
        h = (np.asarray(x, np.float64).reshape(len(x), -1) - self.mean) * self.inv_std
        for w, b in self.layers:
            h = self.activation(h @ w.T + b)
        return h @ self.head[0].T + self.head[1]

    def energy(self, x):
        """E(x) = -logsumexp_y f(x)[y] (JEM, Grathwohl et al. 2020)."""
        z = self.logits(x)
        m = z.max(1, keepdims=True)
        return -(m[:, 0] + np.log(np.exp(z - m).sum(1)))


def require_toy2d(v):
    ds = v.config.get("data", {}).get("dataset")
    if ds != "toy2d":
        raise PlotError(f"variant {v.name}: landscapes are for toy2d runs only (data.dataset is {ds!r})")


def point_sets(v):
    """2-D points stored in the log: the last record of each sampler, post-hoc samples and paths."""
    out = []
    if "samples" in v.log:
        for k in v.log["samples"]:
            d = v.log[f"samples/{k}"]
            if k.endswith("_step") or d.ndim != 3 or d.shape[-1] != 2 or not len(d):
                continue
            p = d[-1]
            step = int(v.log[f"samples/{k}_step"][-1]) if f"samples/{k}_step" in v.log else -1
            out.append((f"samples/{k} (step {step})", p[~np.isnan(p).any(1)], "points"))
    if "posthoc" in v.log:
        for n in sorted(v.log["posthoc"], key=int):
            r = v.log[f"posthoc/{n}"]
            kind = text(r.attrs.get("kind", ""))
            if kind == "sample" and r["samples"].ndim == 2 and r["samples"].shape[1] == 2:
                out.append((f"posthoc/{n} samples", r["samples"][()], "points"))
            elif kind == "counterfactual" and r["path"].ndim == 2 and r["path"].shape[1] == 2:
                out.append((f"posthoc/{n} path", r["path"][()], "path"))
    return out


def draw_landscape(ax, fig, v, checkpoint, n, extra=()):
    model = NumpyMlp(v.config, checkpoint)
    lo, hi = np.array([-0.1, -0.1]), np.array([1.1, 1.1])  # toy2d data lie in [0,1]^2
    for p in extra:
        if len(p):
            lo, hi = np.minimum(lo, p.min(0) - 0.05), np.maximum(hi, p.max(0) + 0.05)
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n))
    e = model.energy(np.stack([gx.ravel(), gy.ravel()], 1)).reshape(n, n)
    cf = ax.contourf(gx, gy, e, levels=20, cmap="viridis")
    ax.contour(gx, gy, e, levels=10, colors="k", linewidths=0.4, alpha=0.6)
    fig.colorbar(cf, ax=ax, label="E(x) = -logsumexp f(x)")
    ax.set_aspect("equal")
    return e, model


def cmd_landscape(a):
    v = Run(a.run).variant(a.variant)
    require_toy2d(v)
    checkpoint = a.checkpoint or latest_checkpoint(v)
    sets = point_sets(v) if not a.no_points else []
    fig, ax = plt.subplots(figsize=(6, 5), dpi=DPI)
    e, _ = draw_landscape(ax, fig, v, checkpoint, a.grid, [p for _, p, _ in sets])
    for i, (label, p, how) in enumerate(sets):
        style = dict(color=f"C{(i + 1) % 10}", label=label)
        if how == "path":
            ax.plot(p[:, 0], p[:, 1], "-o", ms=2, lw=1, **style)
        else:
            ax.scatter(p[:, 0], p[:, 1], s=6, edgecolors="none", **style)
    if sets:
        ax.legend(fontsize=6, loc="upper right")
    ax.set_title(f"{v.name}: energy landscape ({os.path.basename(checkpoint)})", fontsize=9)
    fig.tight_layout()
    summary = {"variant": v.name, "checkpoint": checkpoint, "grid": a.grid,
               "energy_min": float(e.min()), "energy_max": float(e.max()),
               "points": {label: int(len(p)) for label, p, _ in sets}}
    return save(fig, a.out or "landscape.png", summary)


# ---------------------------------------------------------------- samples


def to_image(x):
    x = np.nan_to_num(np.clip(x, 0.0, 1.0))
    if x.ndim == 3:
        x = x[0] if x.shape[0] == 1 else np.transpose(x[:3], (1, 2, 0))
    return x


def tile(images, cols):
    """[n, C, H, W] -> one [rows*H, cols*W(, 3)] image with 1-pixel gaps."""
    imgs = [to_image(x) for x in images]
    h, w = imgs[0].shape[:2]
    rows = math.ceil(len(imgs) / cols)
    canvas = np.ones((rows * (h + 1) - 1, cols * (w + 1) - 1) + imgs[0].shape[2:])
    for i, im in enumerate(imgs):
        r, c = divmod(i, cols)
        canvas[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = im
    return canvas


def cmd_samples(a):
    v = Run(a.run).variant(a.variant)
    summary = {"variant": v.name}
    if a.posthoc is not None:
        path = f"posthoc/{a.posthoc}"
        if path not in v.log:
            have = sorted(v.log["posthoc"], key=int) if "posthoc" in v.log else []
            raise PlotError(f"variant {v.name}: no {path}; records: {', '.join(have) or 'none'}")
        r = v.log[path]
        kind = text(r.attrs.get("kind", ""))
        if kind == "sample":
            x, title = r["samples"][()], f"{path}: {text(r.attrs.get('sampler', ''))} samples"
        elif kind == "counterfactual":
            x = r["path"][()]
            title = (f"{path}: counterfactual {int(r.attrs['source_class'])} -> {int(r.attrs['target_class'])}"
                     f" ({text(r.attrs['norm'])}, eps {float(r.attrs['eps']):g})")
        else:
            raise PlotError(f"variant {v.name}: {path} is a {kind!r} record; only sample and counterfactual records hold pictures")
        summary.update(source=path, kind=kind)
    else:
        names = [k for k in v.log["samples"] if not k.endswith("_step")] if "samples" in v.log else []
        if not names:
            raise PlotError(f"variant {v.name}: no samples in the log (set [log] samples_every and a sampler)")
        if a.sampler is None:
            if len(names) > 1:
                raise PlotError(f"variant {v.name}: several samplers, choose one with --sampler: {', '.join(names)}")
            a.sampler = names[0]
        if a.sampler not in names:
            raise PlotError(f"variant {v.name}: no samples/{a.sampler}; samplers: {', '.join(names)}")
        d = v.log[f"samples/{a.sampler}"]
        if not -len(d) <= a.record < len(d):
            raise PlotError(f"samples/{a.sampler} has {len(d)} records; --record {a.record} is out of range")
        x = d[a.record]
        x = x[~np.isnan(x.reshape(len(x), -1)).all(1)]
        step = int(v.log[f"samples/{a.sampler}_step"][a.record])
        kind = "sample"
        title = f"{v.name}: samples/{a.sampler}, step {step}"
        summary.update(source=f"samples/{a.sampler}", record=a.record, step=step)
    summary["count"] = int(len(x))
    if x.ndim == 2:  # toy2d: points, over the energy landscape when it can be computed
        fig, ax = plt.subplots(figsize=(6, 5), dpi=DPI)
        background = "none"
        if v.config.get("data", {}).get("dataset") == "toy2d":
            try:
                draw_landscape(ax, fig, v, latest_checkpoint(v), 100, [x])
                background = "landscape"
            except PlotError as e:
                print(f"plot.py: note: no landscape behind the points: {e}", file=sys.stderr)
        if kind == "counterfactual":
            ax.plot(x[:, 0], x[:, 1], "-o", color="C3", ms=3, lw=1)
            ax.annotate("input", x[0], fontsize=7)
        else:
            ax.scatter(x[:, 0], x[:, 1], s=10, color="C3", edgecolors="white", linewidths=0.3)
        summary["background"] = background
    else:
        cols = len(x) if kind == "counterfactual" else math.ceil(math.sqrt(len(x)))
        rows = math.ceil(len(x) / cols)
        fig, ax = plt.subplots(figsize=(max(4.0, 0.8 * cols), max(1.6, 0.8 * rows + 0.4)), dpi=DPI)
        img = tile(x, cols)
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
        ax.axis("off")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save(fig, a.out or "samples.png", summary)


# ---------------------------------------------------------------- command line


def parser():
    p = argparse.ArgumentParser(prog="plot.py", description=__doc__.split("\n")[0],
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    def common(s, many=True):
        if many:
            s.add_argument("runs", nargs="+", metavar="RUN.h5", help="index files (or variant logs)")
        else:
            s.add_argument("run", metavar="RUN.h5", help="index file (or a variant log)")
        s.add_argument("--out", help="PNG file to write")
        s.add_argument("--summary", action="store_true", help="print a JSON summary of the figure on stdout")

    s = sub.add_parser("curves", help="learning curves, one panel per term",
                       epilog="example: plot.py curves runs/toy.h5 --terms 'train/loss,ce/*' --smooth 5",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    common(s)
    s.add_argument("--terms", action="append", help="comma-separated glob patterns of component/term (default all)")
    s.add_argument("--smooth", type=int, default=1, metavar="N", help="trailing moving average over N steps")
    s.add_argument("--band", choices=["minmax", "std"], default="minmax", help="band of a seed group")
    s.add_argument("--logy", action="store_true", help="log y axis (when all values are positive)")
    s.set_defaults(fn=cmd_curves)

    s = sub.add_parser("metrics", help="final evaluation results, bars per variant",
                       epilog="example: plot.py metrics runs/toy.h5 --split test --metrics 'accuracy/accuracy'",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    common(s)
    s.add_argument("--split", default="test", help="eval split: test or val (default test)")
    s.add_argument("--metrics", action="append", help="comma-separated glob patterns of metric/term")
    s.set_defaults(fn=cmd_metrics)

    s = sub.add_parser("samples", help="a grid of logged or post-hoc samples (toy2d: points)",
                       epilog="examples:\n  plot.py samples runs/jem.h5 --sampler sgld --record -1\n"
                              "  plot.py samples runs/dat.h5 --posthoc 2   # a sample or counterfactual record",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    common(s, many=False)
    s.add_argument("--variant", help="variant (needed when the run has several)")
    s.add_argument("--sampler", help="samples/<sampler> (needed when several were logged)")
    s.add_argument("--record", type=int, default=-1, help="row of samples/<sampler> (default -1, the last)")
    s.add_argument("--posthoc", type=int, metavar="N", help="draw /posthoc/N (sample or counterfactual) instead")
    s.set_defaults(fn=cmd_samples)

    s = sub.add_parser("landscape", help="toy2d: the energy E(x) = -logsumexp f(x) over the plane",
                       epilog="Evaluates the final checkpoint's mlp (norm none) in numpy.\n"
                              "example: plot.py landscape runs/toy.h5 --variant main --grid 200",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    common(s, many=False)
    s.add_argument("--variant", help="variant (needed when the run has several)")
    s.add_argument("--checkpoint", help="checkpoint file (default: the highest-step ckpt-<step>.h5)")
    s.add_argument("--grid", type=int, default=150, help="grid points per axis")
    s.add_argument("--no-points", action="store_true", help="do not overlay logged samples and paths")
    s.set_defaults(fn=cmd_landscape)
    return p


def main(argv=None):
    a = parser().parse_args(argv)
    try:
        summary = a.fn(a)
    except PlotError as e:
        print(f"plot.py {a.command}: error: {e}", file=sys.stderr)
        return 2
    if a.summary:
        print(json.dumps(summary, indent=1))
    else:
        print(f"wrote {summary['out']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
