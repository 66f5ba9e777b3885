"""Data-parallel training over c10d Gloo on loopback, through the real binary: 2 ranks
(--nproc 2, or launched by hand with RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT) match one
process with the same global batch within float tolerance, only rank 0 writes, and a rank
that never arrives or dies makes the others stop with a clear error instead of hanging."""
import os
import re
import signal
import socket
import subprocess
import time

import h5py
import numpy as np

from common import TOY, args, case, expect, finish, run, write

A = args()

DIST_VARS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK")
for var in DIST_VARS:
    os.environ.pop(var, None)  # the reference runs are single-process

# Norm none (an mlp), SGD with momentum: the update is linear in the gradient, so the
# averaged half-batch gradients reproduce the full-batch run up to summation order.
TOY_DDP = (TOY.replace("epochs = 3", "steps = 20")
           .replace('optimizer = { name = "adam", lr = 0.01 }', 'optimizer = { name = "sgd", lr = 0.1, momentum = 0.9 }')
           + '\n[model.norm]\nplugin = "none"\n')

# A small convnet with GroupNorm on a Fashion-MNIST subset.
FMNIST_GROUP = """[experiment]
name = "fm"
seed = 3

[data]
dataset = "fashion_mnist"
subset = 256
test_subset = 200
validation = 100
eval_batch_size = 100
batch_size = 32

[model]
backbone = { plugin = "convnet", channels = [8, 16], hidden = 32 }
norm = { plugin = "group", groups = 4 }

[[stage]]
name = "fit"
steps = 6
optimizer = { name = "sgd", lr = 0.05, momentum = 0.9 }
losses = [ { plugin = "ce" } ]

[[metric]]
plugin = "accuracy"
"""


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rank_env(rank, world, port):
    env = dict(os.environ)
    env.pop("EBMLAB_PLUGIN_PATH", None)
    env.update(RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    return env


def start_rank(desc, rank, world, port, *argv, cwd):
    return subprocess.Popen([A.ebmlab, "run", desc, *argv], cwd=cwd, env=rank_env(rank, world, port),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def subdir(d, name):
    p = os.path.join(d, name)
    os.makedirs(p)
    return p


def files_under(folder):
    out = set()
    for root, _, files in os.walk(folder):
        for f in files:
            out.add(os.path.relpath(os.path.join(root, f), folder))
    return out


def final_params(folder):
    ckpts = [f for f in os.listdir(folder) if re.fullmatch(r"ckpt-\d+\.h5", f)]
    expect(ckpts, f"no checkpoint in {folder}")
    last = max(ckpts, key=lambda f: int(f[5:-3]))
    with h5py.File(os.path.join(folder, last), "r") as f:
        return last, {k: f["model"][k][()] for k in f["model"]}


def status(log):
    return log["status"][()].rstrip(b"\0").decode()


def compare(dist_dir, ref_dir, experiment, steps):
    """Final parameters within 1e-5 relative, loss curves close, same steps."""
    folder, ref_folder = (os.path.join(x, "runs", experiment, "main") for x in (dist_dir, ref_dir))
    last, params = final_params(folder)
    ref_last, ref_params = final_params(ref_folder)
    expect(last == ref_last == f"ckpt-{steps}.h5", (last, ref_last))
    expect(sorted(params) == sorted(ref_params), "parameter names differ")
    moved = False
    for k, ref in ref_params.items():
        got = params[k]
        expect(got.shape == ref.shape, (k, got.shape, ref.shape))
        if got.dtype.kind == "f":
            expect(np.allclose(got, ref, rtol=1e-5, atol=1e-6),
                   f"{k}: max |diff| {np.abs(got - ref).max()} (max |ref| {np.abs(ref).max()})")
        else:
            expect(np.array_equal(got, ref), k)
    with h5py.File(os.path.join(dist_dir, "runs", experiment, "main.h5"), "r") as f, \
            h5py.File(os.path.join(ref_dir, "runs", experiment, "main.h5"), "r") as g:
        expect(status(f) == "completed", status(f))
        for name in ("train/loss", "ce/loss", "ce/batch_accuracy", "train/lr"):
            a, b = f["curves/" + name][()], g["curves/" + name][()]
            expect(list(a["step"]) == list(range(steps)) and list(b["step"]) == list(range(steps)), (name, len(a), len(b)))
            expect(np.allclose(a["value"], b["value"], rtol=1e-4, atol=1e-6),
                   f"{name}: {a['value'][:5]} vs {b['value'][:5]} (max |diff| {np.abs(a['value'] - b['value']).max()})")
        ta, tb = f["eval/test/accuracy/accuracy"][()], g["eval/test/accuracy/accuracy"][()]
        expect(len(ta) == 1 and abs(ta["value"][0] - tb["value"][0]) <= 0.011, (ta, tb))
        expect(f["eval/test/accuracy/n"][()]["value"][0] == g["eval/test/accuracy/n"][()]["value"][0], "test split size")
        loss = g["curves/train/loss"][()]["value"]
        expect(loss[-1] != loss[0], "the reference did not train")


def single(d, desc):
    ref = subdir(d, "single")
    r = run(A.ebmlab, "run", desc, "--threads", "1", "--quiet", cwd=ref)
    expect(r.returncode == 0, f"1 process: exit {r.returncode}: {r.stderr}")
    return ref


@case
def nproc_2_matches_one_process_toy(d):
    desc = write(os.path.join(d, "t.toml"), TOY_DDP)
    ref = single(d, desc)
    dist = subdir(d, "dist")
    r = run(A.ebmlab, "run", desc, "--nproc", "2", "--threads", "2", "--quiet", cwd=dist, timeout=300)
    expect(r.returncode == 0, f"--nproc 2: exit {r.returncode}: {r.stderr}")
    compare(dist, ref, "toy", 20)
    # Only rank 0 wrote: one index, one log, the checkpoint; nothing per rank.
    expect(files_under(dist) == {"runs/toy.h5", "runs/toy/main.h5", "runs/toy/main/ckpt-20.h5"},
           f"files written: {sorted(files_under(dist))}")
    with h5py.File(os.path.join(dist, "runs", "toy.h5"), "r") as f:
        expect(list(f["variants"]) == ["main"], list(f["variants"]))
        expect(int(f.attrs["world_size"]) == 2, f"world_size attribute: {dict(f.attrs)}")


@case
def nproc_2_matches_one_process_group_norm_convnet(d):
    desc = write(os.path.join(d, "fm.toml"), FMNIST_GROUP)
    ref = single(d, desc)
    dist = subdir(d, "dist")
    r = run(A.ebmlab, "run", desc, "--nproc", "2", "--threads", "2", "--quiet", cwd=dist, timeout=300)
    expect(r.returncode == 0, f"--nproc 2: exit {r.returncode}: {r.stderr}")
    compare(dist, ref, "fm", 6)


@case
def batch_must_divide_among_the_ranks(d):
    desc = write(os.path.join(d, "t.toml"), TOY_DDP.replace("batch_size = 32", "batch_size = 33"))
    r = run(A.ebmlab, "run", desc, "--nproc", "2", "--quiet", cwd=d, timeout=120)
    expect(r.returncode == 2, f"exit {r.returncode}: {r.stderr}")
    expect("batch_size" in r.stderr and "33" in r.stderr, r.stderr)
    expect(not os.path.exists(os.path.join(d, "runs", "toy", "main.h5")), "a log was written")


@case
def ranks_launched_by_hand_and_only_rank_0_writes(d):
    desc = write(os.path.join(d, "t.toml"), TOY_DDP)
    ref = single(d, desc)
    r0, r1 = subdir(d, "rank0"), subdir(d, "rank1")  # separate folders: what each rank writes is visible
    port = free_port()
    p1 = start_rank(desc, 1, 2, port, "--threads", "1", "--quiet", cwd=r1)
    p0 = start_rank(desc, 0, 2, port, "--threads", "1", "--quiet", cwd=r0)
    try:
        _, err0 = p0.communicate(timeout=180)
        _, err1 = p1.communicate(timeout=60)
    finally:
        for p in (p0, p1):
            if p.poll() is None:
                p.kill()
                p.communicate()
    expect(p0.returncode == 0, f"rank 0: exit {p0.returncode}: {err0}")
    expect(p1.returncode == 0, f"rank 1: exit {p1.returncode}: {err1}")
    expect(files_under(r1) == set(), f"rank 1 wrote {sorted(files_under(r1))}")
    expect("runs/toy/main.h5" in files_under(r0), sorted(files_under(r0)))
    compare(r0, ref, "toy", 20)


MESSAGE = re.compile(r"time ?out|timed out|within \d+|--dist-timeout|did not arrive|never arrived|missing", re.I)


@case
def a_rank_that_never_arrives_times_out(d):
    desc = write(os.path.join(d, "t.toml"), TOY_DDP)
    for rank in (0, 1):
        cwd = subdir(d, f"alone{rank}")
        t0 = time.time()
        p = start_rank(desc, rank, 2, free_port(), "--threads", "1", "--quiet", "--dist-timeout", "5", cwd=cwd)
        try:
            _, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            raise AssertionError(f"rank {rank} alone still running after 60 s with --dist-timeout 5")
        elapsed = time.time() - t0
        expect(p.returncode > 0, f"rank {rank} alone: exit {p.returncode}: {err}")
        expect(elapsed < 30, f"rank {rank} alone took {elapsed:.1f} s to fail with --dist-timeout 5")
        if rank == 0:  # the store's server waits the whole timeout for the others
            expect(elapsed >= 4, f"rank 0 alone gave up after {elapsed:.1f} s, before the 5 s timeout")
        expect("rank" in err.lower() and MESSAGE.search(err), f"rank {rank} alone: unclear message: {err}")
        with_log = os.path.join(cwd, "runs", "toy", "main.h5")
        if os.path.exists(with_log):
            with h5py.File(with_log, "r") as f:
                expect(status(f) != "completed", "a lone rank trained")


@case
def a_rank_that_dies_stops_the_others(d):
    desc = write(os.path.join(d, "t.toml"), TOY_DDP.replace("steps = 20", "steps = 1000000"))
    r0, r1 = subdir(d, "rank0"), subdir(d, "rank1")
    port = free_port()
    p1 = start_rank(desc, 1, 2, port, "--threads", "1", "--quiet", "--dist-timeout", "10", cwd=r1)
    p0 = start_rank(desc, 0, 2, port, "--threads", "1", "--quiet", "--dist-timeout", "10", cwd=r0)
    log = os.path.join(r0, "runs", "toy", "main.h5")
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not os.path.exists(log) and p0.poll() is None:
            time.sleep(0.05)
        expect(os.path.exists(log), f"rank 0 never started training (exit {p0.poll()})")
        time.sleep(1.5)
        expect(p0.poll() is None and p1.poll() is None, "a rank ended early")
        p1.send_signal(signal.SIGKILL)
        p1.communicate(timeout=30)
        t0 = time.time()
        try:
            _, err = p0.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError("rank 0 still running 60 s after rank 1 was killed")
        elapsed = time.time() - t0
    finally:
        for p in (p0, p1):
            if p.poll() is None:
                p.kill()
                p.communicate()
    expect(p0.returncode > 0, f"rank 0: exit {p0.returncode}: {err}")
    expect(elapsed < 30, f"rank 0 took {elapsed:.1f} s to notice")
    expect("rank" in err.lower(), f"unclear message: {err}")
    with h5py.File(log, "r") as f:
        expect(status(f) == "failed", status(f))
        expect(len(f["status_detail"][()].rstrip(b"\0")) > 0, "no reason recorded")


finish()
