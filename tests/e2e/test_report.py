"""ebmlab report and ebmlab export: seed groups with mean and sample std as numpy computes
them from the logs, every output format parsed back, exact export round trips, crashed
writers, and clear errors for files that are not (or no longer) readable runs."""
import csv
import io
import json
import os
import socket
import subprocess
import time

import h5py
import numpy as np

from common import TOY, args, case, expect, finish, run, write

A = args()
SEEDS = (1, 2, 3)
GROUPS = {"a": "", "b": "\n[variants.b_s{s}.model.backbone]\nhidden = [8]\n"}


def make_run(d):
    """Two configurations x three seeds (variants that only change experiment.seed)."""
    text = TOY.replace("epochs = 3", "steps = 20")
    for g, extra in GROUPS.items():
        for s in SEEDS:
            text += f"\n[variants.{g}_s{s}.experiment]\nseed = {s}\n" + extra.format(s=s)
    desc = write(os.path.join(d, "rep.toml"), text)
    r = run(A.ebmlab, "run", desc, "--threads", "1", "--quiet", cwd=d)
    expect(r.returncode == 0, f"run: exit {r.returncode}: {r.stderr}")
    return os.path.join(d, "runs", "toy.h5")


def report(d, *argv):
    r = run(A.ebmlab, "report", *argv, cwd=d)
    expect(r.returncode == 0, f"report {argv}: exit {r.returncode}: {r.stderr}")
    return r.stdout


def finals(index, variant, key="accuracy/accuracy", split="test"):
    with h5py.File(index, "r") as f:
        return f[f"variants/{variant}/eval/{split}/{key}"][()]["value"][-1]


def expected(index, group, key="accuracy/accuracy"):
    v = np.array([finals(index, f"{group}_s{s}", key) for s in SEEDS])
    return v.mean(), v.std(ddof=1)


@case
def report_groups_seeds_in_every_format(d):
    index = make_run(d)
    ref = {g: expected(index, g) for g in GROUPS}
    expect(ref["a"][1] > 0 or ref["b"][1] > 0, f"seeds gave identical results, the std test is vacuous: {ref}")

    rows = list(csv.DictReader(io.StringIO(report(d, "runs/toy.h5", "--format", "csv"))))
    expect([r["label"] for r in rows] == ["a_s", "b_s"], rows)
    for r, g in zip(rows, GROUPS):
        expect(r["n"] == "3" and r["status"] == "completed" and r["accuracy/accuracy:n"] == "3", r)
        mean, std = float(r["accuracy/accuracy:mean"]), float(r["accuracy/accuracy:std"])
        expect(abs(mean - ref[g][0]) < 1e-12 and abs(std - ref[g][1]) < 1e-12, f"{g}: {mean} ± {std} vs {ref[g]}")
    expect("accuracy/n:mean" not in rows[0], "bookkeeping term n shown by default")

    data = json.loads(report(d, "runs/toy.h5", "--format", "json"))
    expect(len(data) == 2, data)
    for o, g in zip(data, GROUPS):
        expect(o["variants"] == [f"{g}_s{s}" for s in SEEDS] and o["seeds"] == list(SEEDS), o)
        m = o["metrics"]["accuracy/accuracy"]
        expect(m["n"] == 3 and abs(m["mean"] - ref[g][0]) < 1e-12 and abs(m["std"] - ref[g][1]) < 1e-12, m)
        expect(m["values"] == [finals(index, f"{g}_s{s}") for s in SEEDS], m)

    md = [l for l in report(d, "runs/toy.h5", "--format", "markdown").splitlines() if l.startswith("|")]
    expect(len(md) == 4 and all(l.endswith("|") for l in md), md)  # header, separator, 2 rows
    expect(set(md[1]) <= set("|-: "), md[1])
    text = report(d, "runs/toy.h5").splitlines()
    expect(len(text) == 4 and text[2].startswith("a_s ") and "±" in text[2], text)

    ungrouped = list(csv.DictReader(io.StringIO(report(d, "runs/toy.h5", "--format", "csv", "--no-group"))))
    expect(len(ungrouped) == 6 and all(r["n"] == "1" for r in ungrouped), ungrouped)
    expect(float(ungrouped[4]["accuracy/accuracy:mean"]) == finals(index, "b_s2"), ungrouped[4])

    every = list(csv.DictReader(io.StringIO(report(d, "runs/toy.h5", "--format", "csv", "--all-terms", "--split", "val"))))
    expect(float(every[0]["accuracy/n:mean"]) == 400.0, every[0])  # the validation split's size
    only = list(csv.DictReader(io.StringIO(report(d, "runs/toy.h5", "--format", "csv", "--all-terms", "--metrics", "*/n"))))
    expect([k for k in only[0] if k.endswith(":mean")] == ["accuracy/n:mean"], only[0].keys())

    worst_first = list(csv.DictReader(io.StringIO(report(d, "runs/toy.h5", "--format", "csv", "--sort", "accuracy/accuracy"))))
    expect([r["label"] for r in worst_first] == sorted(["a_s", "b_s"], key=lambda l: ref[l[0]][0]), worst_first)

    two = list(csv.DictReader(io.StringIO(report(d, "runs/toy.h5", "runs/toy.h5", "--format", "csv"))))
    expect([r["label"] for r in two] == ["toy/a_s", "toy/b_s"] * 2, [r["label"] for r in two])
    # --metrics takes one value (repeatable): a file after it is a file, not a pattern.
    mixed = list(csv.DictReader(io.StringIO(report(d, "runs/toy.h5", "--metrics", "accuracy", "runs/toy.h5",
                                                   "--metrics", "*/n", "--all-terms", "--format", "csv"))))
    expect([r["label"] for r in mixed] == ["toy/a_s", "toy/b_s"] * 2, [r["label"] for r in mixed])
    expect([k for k in mixed[0] if k.endswith(":mean")] == ["accuracy/accuracy:mean", "accuracy/n:mean"], mixed[0].keys())


@case
def export_round_trips_exactly(d):
    index = make_run(d)
    log = os.path.join(d, "runs", "toy", "a_s2.h5")
    with h5py.File(log, "r") as f:
        series = {}
        f.visititems(lambda name, o: series.__setitem__(name, o[()]) if isinstance(o, h5py.Dataset)
                     and o.dtype.names == ("step", "value", "wall") and name.split("/")[0] in ("curves", "eval") else None)
    expect("curves/train/loss" in series and "eval/test/accuracy/accuracy" in series, list(series))

    r = run(A.ebmlab, "export", index, "--variant", "a_s2", "--curves", "--evals", "--format", "csv", "--out", "x.csv", cwd=d)
    expect(r.returncode == 0, r.stderr)
    got = {}
    with open(os.path.join(d, "x.csv")) as f:
        reader = csv.reader(f)
        expect(next(reader) == ["series", "step", "value", "wall"], "csv header")
        for name, step, value, wall in reader:
            got.setdefault(name, []).append((int(step), float(value), float(wall)))
    expect(sorted(got) == sorted(series), f"{sorted(got)} vs {sorted(series)}")
    for name, recs in series.items():
        expect(got[name] == [(int(s), float(v), float(w)) for s, v, w in recs], f"csv {name} differs")

    r = run(A.ebmlab, "export", index, "--variant", "a_s2", "--curves", "train/loss", "--evals", "test", "--format", "json", cwd=d)
    expect(r.returncode == 0, r.stderr)
    data = json.loads(r.stdout)
    want = ["curves/train/loss"] + sorted(k for k in series if k.startswith("eval/test/"))
    expect(sorted(data) == sorted(want), list(data))
    for name in want:
        expect(data[name] == [[int(s), float(v), float(w)] for s, v, w in series[name]], f"json {name} differs")

    r = run(A.ebmlab, "export", index, "--variant", "a_s2", "--curves", "train/nope", "--format", "csv", cwd=d)
    expect(r.returncode == 2 and "train/nope" in r.stderr and "train/loss" in r.stderr, r.stderr)
    r = run(A.ebmlab, "export", index, "--curves", "--format", "csv", cwd=d)
    expect(r.returncode == 2 and "--variant" in r.stderr and "b_s3" in r.stderr, r.stderr)


@case
def a_dead_writer_shows_crashed(d):
    index = make_run(d)
    log = os.path.join(d, "runs", "toy", "b_s2.h5")
    with h5py.File(log, "r") as f:
        expect(f.attrs["writer_host"].decode() == socket.gethostname() and f.attrs["writer_pid"] > 0, dict(f.attrs))
    child = subprocess.Popen(["true"])
    child.wait()  # a pid that existed and is gone
    expect(not os.path.exists(f"/proc/{child.pid}"), "pid reused")
    with h5py.File(log, "r+") as f:
        f["status"][()] = b"running"
        f.attrs["writer_pid"] = child.pid
    rows = list(csv.DictReader(io.StringIO(report(d, "runs/toy.h5", "--format", "csv"))))
    expect(rows[1]["status"] == "crashed 1/3" and rows[0]["status"] == "completed", rows)
    data = json.loads(report(d, "runs/toy.h5", "--format", "json", "--no-group"))
    expect([o["status"] for o in data][3:] == ["completed", "crashed", "completed"], data)
    with h5py.File(log, "r+") as f:
        f.attrs["writer_pid"] = os.getpid()  # alive: still running, not crashed
    rows = list(csv.DictReader(io.StringIO(report(d, "runs/toy.h5", "--format", "csv"))))
    expect(rows[1]["status"] == "running 1/3", rows)


@case
def a_variant_that_failed_while_built_is_listed_with_its_message(d):
    # The fixture loss's factory throws (tests/fixtures/plugins/bad_plugins.cpp, _THROWING):
    # the variant's log holds only its failed status and the message.
    text = TOY.replace("epochs = 3", "steps = 5") + (
        "\n[variants.ok]\n"
        '\n[[variants.broken.stage]]\nsteps = 2\nlosses = [ { plugin = "fixture_bad" } ]\n')
    desc = write(os.path.join(d, "broken.toml"), text)
    env = {"EBMLAB_PLUGIN_PATH": os.path.join(A.fixtures, "throwing")}
    r = run(A.ebmlab, "run", desc, "--threads", "1", "--quiet", env=env, cwd=d)
    expect(r.returncode == 1, f"run: exit {r.returncode}: {r.stderr}")
    out = report(d, "runs/toy.h5", "--no-group")
    expect("broken: failed: " in out and "fixture factory refuses to build" in out, out)
    data = {o["variants"][0]: o for o in json.loads(report(d, "runs/toy.h5", "--format", "json", "--no-group"))}
    expect(data["broken"]["status"] == "failed" and "refuses to build" in data["broken"]["details"][0], data)
    expect(data["ok"]["status"] == "completed" and data["ok"]["details"] == [""], data)
    expect(data["ok"]["metrics"]["accuracy/accuracy"]["n"] == 1, data)


@case
def unreadable_files_are_clear_errors(d):
    index = make_run(d)
    foreign = os.path.join(d, "foreign.h5")
    with h5py.File(foreign, "w") as f:
        f["x"] = 1
    r = run(A.ebmlab, "report", foreign, cwd=d)
    expect(r.returncode == 2 and "foreign.h5" in r.stderr and "not an ebmlab file" in r.stderr, r.stderr)

    newer = os.path.join(d, "newer.h5")
    with open(index, "rb") as src, open(newer, "wb") as dst:
        dst.write(src.read())
    with h5py.File(newer, "r+") as f:
        f.attrs["format_version"] = 99
    for cmd in (["report", newer], ["export", newer, "--variant", "a_s1", "--curves"]):
        r = run(A.ebmlab, *cmd, cwd=d)
        expect(r.returncode == 2 and "newer.h5" in r.stderr and "format_version 99" in r.stderr, r.stderr)

    truncated = os.path.join(d, "truncated.h5")
    with open(os.path.join(d, "runs", "toy", "a_s1.h5"), "rb") as src, open(truncated, "wb") as dst:
        dst.write(src.read(1000))
    r = run(A.ebmlab, "report", truncated, cwd=d)
    expect(r.returncode != 0 and "truncated.h5" in r.stderr and "truncated file" in r.stderr, r.stderr)

    r = run(A.ebmlab, "report", index, "--metrics", "nothing*", cwd=d)
    expect(r.returncode == 2 and "--metrics" in r.stderr, r.stderr)

    os.remove(os.path.join(d, "runs", "toy", "b_s1.h5"))  # a variant the run never started
    rows = list(csv.DictReader(io.StringIO(report(d, "runs/toy.h5", "--format", "csv"))))
    expect(rows[1]["status"] == "missing 1/3" and rows[1]["accuracy/accuracy:n"] == "2", rows)
    with h5py.File(os.path.join(d, "runs", "toy", "b_s3.h5"), "r+") as f:
        del f["eval"]
    r = run(A.ebmlab, "report", index, cwd=d)
    expect(r.returncode == 2 and "b_s3.h5" in r.stderr and "'eval'" in r.stderr, r.stderr)
    r = run(A.ebmlab, "report", os.path.join(d, "absent.h5"), cwd=d)
    expect(r.returncode == 2 and "absent.h5: no such file" in r.stderr, r.stderr)


@case
def watch_follows_a_live_run_to_its_end(d):
    text = TOY.replace("epochs = 3", "steps = 30000") + "\n[log]\nflush_every = 20\n"
    desc = write(os.path.join(d, "live.toml"), text)
    env = dict(os.environ)
    env.pop("EBMLAB_PLUGIN_PATH", None)
    train = subprocess.Popen([A.ebmlab, "run", desc, "--threads", "1", "--quiet"], cwd=d, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    index = os.path.join(d, "runs", "toy.h5")
    while not os.path.exists(index) and train.poll() is None:
        time.sleep(0.05)
    w = run(A.ebmlab, "watch", index, "--interval", "0.2", "--timeout", "300", cwd=d)
    train.wait(timeout=300)
    expect(train.returncode == 0, train.stderr.read())
    expect(w.returncode == 0, w.stderr)
    looks = [b for b in w.stdout.split("\n\n") if b.strip()]
    steps = set()
    for block in looks:
        for line in block.splitlines():
            if line.strip().startswith("curves/train/loss"):
                steps.add(int(line.split("(step ")[1].split(",")[0]))
    # it saw the run in progress (several distinct steps) and stopped once it completed
    expect(len(steps) >= 2, f"watch saw steps {sorted(steps)} in {len(looks)} looks")
    expect(looks[-1].startswith("main  completed  step 29999"), looks[-1][:200])
    expect(max(steps) == 29999, sorted(steps))
    r = run(A.ebmlab, "watch", index, "--once", cwd=d)
    expect(r.returncode == 0 and "eval/test/accuracy/accuracy" in r.stdout, r.stdout)


finish()
