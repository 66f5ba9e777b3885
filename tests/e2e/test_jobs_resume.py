"""Parallel variants and resuming, through the real binary on the toy data: --jobs gives
the same per-variant results as a sequential run at one thread per variant, a failing
variant does not stop the others, and a run killed (SIGKILL) or stopped (SIGTERM) in the
middle of a variant continues with --resume to exactly the results of an uninterrupted
run, skipping the variants that had completed."""
import glob
import hashlib
import json
import os
import re
import signal
import subprocess
import time

import h5py
import numpy as np

from common import TOY, args, case, expect, finish, run, write

A = args()

for var in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
    os.environ.pop(var, None)  # these runs are single-process


def status(log):
    return log["status"][()].rstrip(b"\0").decode()


def checkpoints(folder):
    """{step: path} of the periodic/stage checkpoints in a variant's folder."""
    out = {}
    for p in glob.glob(os.path.join(folder, "ckpt-*.h5")):
        m = re.fullmatch(r"ckpt-(\d+)\.h5", os.path.basename(p))
        if m:
            out[int(m.group(1))] = p
    return out


def final_params(folder):
    ck = checkpoints(folder)
    expect(ck, f"no checkpoint in {folder}")
    with h5py.File(ck[max(ck)], "r") as f:
        return max(ck), {k: f["model"][k][()] for k in f["model"]}


def series(log_path):
    """Every curve and evaluation series of a variant log: {path: (steps, values)}."""
    out = {}

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and obj.dtype.names and "step" in obj.dtype.names and "value" in obj.dtype.names:
            data = obj[()]
            out[name] = (data["step"].copy(), data["value"].copy())

    with h5py.File(log_path, "r") as f:
        for top in ("curves", "eval"):
            if top in f:
                f[top].visititems(lambda n, o, top=top: visit(f"{top}/{n}", o))
    return out


def same_results(run_dir, ref_dir, variant, experiment="toy"):
    """Final parameters and every series equal, bit for bit."""
    folder = os.path.join(run_dir, "runs", experiment, variant)
    ref_folder = os.path.join(ref_dir, "runs", experiment, variant)
    step, params = final_params(folder)
    ref_step, ref_params = final_params(ref_folder)
    expect(step == ref_step, f"{variant}: final checkpoint at step {step}, reference {ref_step}")
    expect(sorted(params) == sorted(ref_params), f"{variant}: parameter names differ")
    for k in params:
        expect(params[k].shape == ref_params[k].shape and np.array_equal(params[k], ref_params[k]),
               f"{variant}: parameter {k} differs (max |diff| {np.abs(params[k] - ref_params[k]).max()})")
    got, ref = series(folder + ".h5"), series(ref_folder + ".h5")
    expect(sorted(got) == sorted(ref), f"{variant}: series {sorted(got)} vs {sorted(ref)}")
    for name, (steps, values) in ref.items():
        s, v = got[name]
        expect(np.array_equal(s, steps), f"{variant}: {name} steps differ ({len(s)} vs {len(steps)} records)")
        expect(np.array_equal(v, values), f"{variant}: {name} values differ")


def start(desc, *argv, cwd):
    env = dict(os.environ)
    env.pop("EBMLAB_PLUGIN_PATH", None)
    return subprocess.Popen([A.ebmlab, "run", desc, *argv], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(cond, p, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        if p.poll() is not None:
            out, err = p.communicate()
            raise AssertionError(f"the run ended (exit {p.returncode}) before {what}: {err}")
        time.sleep(0.01)
    p.kill()
    p.communicate()
    raise AssertionError(f"timed out waiting for {what}")


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def sweep_names(desc):
    r = run(A.ebmlab, "run", desc, "--dry-run")
    expect(r.returncode == 0, r.stderr)
    return [line.strip() for line in r.stdout.splitlines() if line.strip()]


def subdir(d, name):
    p = os.path.join(d, name)
    os.makedirs(p)
    return p


# ---------------------------------------------------------------- --jobs

JOBS = TOY.replace("epochs = 3", "steps = 80").replace("hidden = [32, 32]", "hidden = [16, 16]") + """
[sweep]
"stage.0.optimizer.lr" = [0.01, 0.03]
seeds = [0, 1]
"""


@case
def jobs_match_sequential_runs(d):
    desc = write(os.path.join(d, "jobs.toml"), JOBS)
    names = sweep_names(desc)
    expect(len(names) == 4, names)
    par, seq = subdir(d, "par"), subdir(d, "seq")
    p = start(desc, "--jobs", "2", "--threads", "2", "--quiet", cwd=par)
    _, err = p.communicate(timeout=300)
    expect(p.returncode == 0, f"--jobs 2: exit {p.returncode}: {err}")
    r = run(A.ebmlab, "run", desc, "--threads", "1", "--quiet", cwd=seq)
    expect(r.returncode == 0, f"sequential: exit {r.returncode}: {r.stderr}")
    pids = set()
    with h5py.File(os.path.join(par, "runs", "toy.h5"), "r") as f:
        expect(sorted(f["variants"]) == sorted(names), list(f["variants"]))
        for v in names:
            log = f[f"variants/{v}"]
            expect(status(log) == "completed", (v, status(log)))
            expect(len(log["curves/train/loss"]) == 80, (v, len(log["curves/train/loss"])))
            pids.add(int(log.attrs["writer_pid"]))
    expect(p.pid not in pids and len(pids) >= 2, f"logs not written by 2 worker processes: writer pids {pids}, parent {p.pid}")
    for v in names:
        same_results(par, seq, v)
    # Different learning rates and seeds really give different results (the comparison is not vacuous).
    finals = {v: final_params(os.path.join(seq, "runs", "toy", v))[1]["backbone.head.fc.weight"] for v in names}
    expect(len({f.tobytes() for f in finals.values()}) == 4, "two variants ended with the same weights")


@case
def a_failing_variant_does_not_stop_the_others(d):
    # A checkpoint of another shape: loading it as the stage's init fails only at run time.
    other = write(os.path.join(d, "other.toml"), TOY.replace("epochs = 3", "steps = 1").replace('name = "toy"', 'name = "other"')
                  .replace("hidden = [32, 32]", "hidden = [8]"))
    r = run(A.ebmlab, "run", other, "--quiet", "--threads", "1", cwd=d)
    expect(r.returncode == 0, r.stderr)
    init = os.path.join(d, "runs", "other", "main", "ckpt-1.h5")
    expect(os.path.exists(init), os.listdir(os.path.join(d, "runs", "other", "main")))
    text = TOY.replace("epochs = 3", "steps = 40") + f"""
[variants.good.data]
batch_size = 32

[variants.bad]
stage = [ {{ name = "fit", steps = 40, init = "{init}", optimizer = {{ name = "adam", lr = 0.01 }}, losses = [ {{ plugin = "ce" }} ] }} ]

[sweep]
seeds = [0, 1]
"""
    desc = write(os.path.join(d, "f.toml"), text)
    names = sweep_names(desc)
    expect(sorted(names) == ["bad-seed=0", "bad-seed=1", "good-seed=0", "good-seed=1"], names)
    r = run(A.ebmlab, "run", desc, "--jobs", "2", "--threads", "2", "--quiet", cwd=d)
    expect(r.returncode == 1, f"exit {r.returncode}, expected 1: {r.stderr}")
    expect("bad-seed=0" in r.stderr and "bad-seed=1" in r.stderr, f"failed variants not named: {r.stderr}")
    with h5py.File(os.path.join(d, "runs", "toy.h5"), "r") as f:
        for v in names:
            log = f[f"variants/{v}"]
            if v.startswith("good"):
                expect(status(log) == "completed", (v, status(log)))
                expect(len(log["curves/train/loss"]) == 40, (v, len(log["curves/train/loss"])))
                expect(len(log["eval/test/accuracy/accuracy"]) == 1, (v, "no test evaluation"))
            else:
                expect(status(log) == "failed", (v, status(log)))
                detail = log["status_detail"][()].rstrip(b"\0").decode()
                expect("ckpt-1.h5" in detail, (v, detail))


# ---------------------------------------------------------------- --resume

STEPS = 6000
RESUME = TOY.replace("epochs = 3", "steps = 100") + f"""
[checkpoint]
every = 1000

[log]
flush_every = 10

[variants.short.data]
batch_size = 32

[variants.long]
stage = [ {{ name = "fit", steps = {STEPS}, optimizer = {{ name = "adam", lr = 0.01 }}, losses = [ {{ plugin = "ce" }} ] }} ]
"""


def logged_steps(log_path):
    """Records of train/loss in a log that may be open for writing (0 when not readable yet)."""
    try:
        with h5py.File(log_path, "r", libver="latest", swmr=True) as f:
            return len(f["curves/train/loss"])
    except (OSError, KeyError):
        return 0


def reference(d, desc):
    ref = subdir(d, "ref")
    r = run(A.ebmlab, "run", desc, "--threads", "1", "--quiet", cwd=ref)
    expect(r.returncode == 0, f"uninterrupted run: exit {r.returncode}: {r.stderr}")
    return ref


def check_resumed_log(path):
    with h5py.File(path, "r") as f:
        expect(status(f) == "completed", status(f))
        loss = f["curves/train/loss"][()]
        expect(list(loss["step"]) == list(range(STEPS)), f"train/loss steps are not 0..{STEPS - 1} once each "
               f"({len(loss)} records, {len(loss) - len(set(loss['step']))} duplicated)")
        expect(np.all(np.diff(loss["wall"]) >= 0), "wall time goes backwards after the resume")
        val = f["eval/val/accuracy/accuracy"][()]
        expect(len(set(val["step"])) == len(val), f"duplicated validation records: {val['step']}")


@case
def resume_after_sigkill_matches_an_uninterrupted_run(d):
    desc = write(os.path.join(d, "r.toml"), RESUME)
    expect(sweep_names(desc) == ["short", "long"], "variants run in file order")
    ref = reference(d, desc)
    work = subdir(d, "work")
    long_dir = os.path.join(work, "runs", "toy", "long")
    long_log = os.path.join(work, "runs", "toy", "long.h5")
    p = start(desc, "--threads", "1", "--quiet", cwd=work)
    # Kill once the long variant has a checkpoint well into training (the short one is
    # done) and its log holds records past that checkpoint, which the resume must drop.
    wait_for(lambda: any(s >= 1000 for s in checkpoints(long_dir)), p, 240, "a checkpoint of 'long' at step >= 1000")
    last = max(checkpoints(long_dir))
    wait_for(lambda: logged_steps(long_log) > last + 20, p, 240, f"records flushed past step {last}")
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=60)
    ck = checkpoints(long_dir)
    expect(ck and max(ck) < STEPS, f"the kill did not land mid-variant: checkpoints {sorted(ck)}")
    expect(logged_steps(long_log) > max(ck), f"no records past the last checkpoint {max(ck)}: the test missed its point")
    short_log = os.path.join(work, "runs", "toy", "short.h5")
    with h5py.File(short_log, "r") as f:
        expect(status(f) == "completed", f"'short' should have completed before the kill: {status(f)}")
    with h5py.File(os.path.join(work, "runs", "toy", "long.h5"), "r", libver="latest", swmr=True) as f:
        expect(status(f) == "running", f"a killed variant stays 'running': {status(f)}")
    short_sha, short_mtime = sha(short_log), os.stat(short_log).st_mtime_ns
    short_ckpts = {s: sha(p) for s, p in checkpoints(os.path.join(work, "runs", "toy", "short")).items()}

    r = run(A.ebmlab, "run", desc, "--threads", "1", "--quiet", "--resume", cwd=work)
    expect(r.returncode == 0, f"--resume: exit {r.returncode}: {r.stderr}")
    expect(sha(short_log) == short_sha and os.stat(short_log).st_mtime_ns == short_mtime, "the completed variant's log was rewritten")
    expect({s: sha(p) for s, p in checkpoints(os.path.join(work, "runs", "toy", "short")).items()} == short_ckpts,
           "the completed variant's checkpoints changed")
    check_resumed_log(os.path.join(work, "runs", "toy", "long.h5"))
    with h5py.File(os.path.join(work, "runs", "toy.h5"), "r") as f:
        expect(sorted(f["variants"]) == ["long", "short"], list(f["variants"]))
        expect(status(f["variants/long"]) == "completed" and status(f["variants/short"]) == "completed", "index links")
    same_results(work, ref, "long")
    same_results(work, ref, "short")


@case
def sigterm_stops_with_a_checkpoint_and_resume_completes(d):
    desc = write(os.path.join(d, "r.toml"), RESUME)
    ref = reference(d, desc)
    work = subdir(d, "work")
    long_dir = os.path.join(work, "runs", "toy", "long")
    p = start(desc, "--threads", "1", "--quiet", cwd=work)
    wait_for(lambda: any(s >= 1000 for s in checkpoints(long_dir)), p, 240, "a checkpoint of 'long' at step >= 1000")
    time.sleep(0.17)
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    expect(p.returncode == 143, f"exit {p.returncode}, expected 143: {err}")
    with h5py.File(os.path.join(work, "runs", "toy", "long.h5"), "r") as f:
        expect(status(f) == "interrupted", status(f))
        done = len(f["curves/train/loss"])
    ck = checkpoints(long_dir)
    expect(0 < done < STEPS, f"{done} steps logged")
    expect(max(ck) == done, f"the stop writes a checkpoint at the step it stopped at ({done}); found {sorted(ck)}")
    with h5py.File(os.path.join(work, "runs", "toy.h5"), "r") as f:
        rows = f["variants/long/checkpoints"][()]
        expect(done in rows["step"], f"stop checkpoint not recorded: {rows['step']}")
    # Without --resume (or --overwrite) the interrupted output is not touched.
    r = run(A.ebmlab, "run", desc, "--threads", "1", "--quiet", cwd=work)
    expect(r.returncode == 2 and "--resume" in r.stderr, f"exit {r.returncode}: {r.stderr}")
    # The device is not part of what must match: a run begun with device "auto" resumes on
    # an explicit one (checkpoints are device-neutral), and the log names where it ran.
    r = run(A.ebmlab, "run", desc, "--threads", "1", "--quiet", "--resume", "--device", "cpu", cwd=work)
    expect(r.returncode == 0, f"--resume: exit {r.returncode}: {r.stderr}")
    check_resumed_log(os.path.join(work, "runs", "toy", "long.h5"))
    same_results(work, ref, "long")
    with h5py.File(os.path.join(work, "runs", "toy", "long.h5"), "r") as f:
        device = f.attrs["device"]
        expect((device.decode() if isinstance(device, bytes) else device) == "cpu", dict(f.attrs))


@case
def a_second_writer_of_a_variant_is_refused(d):
    desc = write(os.path.join(d, "r.toml"), RESUME)
    work = subdir(d, "work")
    long_dir = os.path.join(work, "runs", "toy", "long")
    p = start(desc, "--threads", "1", "--quiet", cwd=work)
    wait_for(lambda: len(checkpoints(long_dir)) > 0, p, 240, "a checkpoint of 'long'")
    # A second --resume while the first still writes: refused for that variant, nothing touched.
    r = run(A.ebmlab, "run", desc, "--threads", "1", "--quiet", "--resume", "--only", "long", cwd=work)
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=60)
    expect(r.returncode == 1 and "being written by another ebmlab process" in r.stderr, f"exit {r.returncode}: {r.stderr}")
    expect(p.returncode == 143, f"the first run was disturbed: exit {p.returncode}")
    r = run(A.ebmlab, "run", desc, "--threads", "1", "--quiet", "--resume", cwd=work)
    expect(r.returncode == 0, f"--resume: exit {r.returncode}: {r.stderr}")
    check_resumed_log(os.path.join(work, "runs", "toy", "long.h5"))


@case
def resume_without_a_checkpoint_restarts_the_variant(d):
    desc = write(os.path.join(d, "r.toml"), RESUME)
    ref = reference(d, desc)
    work = subdir(d, "work")
    long_dir = os.path.join(work, "runs", "toy", "long")
    p = start(desc, "--threads", "1", "--quiet", cwd=work)
    wait_for(lambda: any(s >= 1000 for s in checkpoints(long_dir)), p, 240, "a checkpoint of 'long' at step >= 1000")
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=60)
    for f in glob.glob(os.path.join(long_dir, "ckpt-*")):
        os.remove(f)  # as if killed before the first checkpoint
    r = run(A.ebmlab, "run", desc, "--threads", "1", "--quiet", "--resume", cwd=work)
    expect(r.returncode == 0, f"--resume: exit {r.returncode}: {r.stderr}")
    check_resumed_log(os.path.join(work, "runs", "toy", "long.h5"))
    same_results(work, ref, "long")


@case
def resume_of_a_completed_run_rewrites_nothing(d):
    desc = write(os.path.join(d, "j.toml"), JOBS.replace("steps = 80", "steps = 10"))
    r = run(A.ebmlab, "run", desc, "--threads", "1", "--quiet", cwd=d)
    expect(r.returncode == 0, r.stderr)
    logs = sorted(glob.glob(os.path.join(d, "runs", "toy", "*.h5")))
    expect(len(logs) == 4, logs)
    before = {p: (sha(p), os.stat(p).st_mtime_ns) for p in logs}
    time.sleep(0.05)
    for extra in ([], ["--jobs", "2", "--threads", "2"]):
        r = run(A.ebmlab, "run", desc, "--quiet", "--resume", *extra, cwd=d)
        expect(r.returncode == 0, f"--resume {extra}: exit {r.returncode}: {r.stderr}")
        after = {p: (sha(p), os.stat(p).st_mtime_ns) for p in logs}
        expect(after == before, f"--resume {extra} rewrote a completed variant's log")


finish()
