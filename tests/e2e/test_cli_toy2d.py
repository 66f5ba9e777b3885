"""End to end on toy2d: ebmlab run writes an index and a variant log whose contents
(provenance, curves, evaluations, status) are checked with h5py, as a user would."""
import hashlib
import json
import os
import signal
import subprocess
import time

import h5py

from common import TOY, args, case, expect, finish, run, write

A = args()


@case
def run_writes_complete_files(d):
    desc = write(os.path.join(d, "toy.toml"), TOY)
    r = run(A.ebmlab, "run", desc, "--threads", "1", cwd=d)
    expect(r.returncode == 0, f"exit {r.returncode}: {r.stderr}")
    expect("toy" in r.stderr and "step" in r.stderr, "no progress lines: " + r.stderr)
    index = os.path.join(d, "runs", "toy.h5")
    with h5py.File(index, "r") as f:
        expect(f.attrs["format_version"] == 3, dict(f.attrs))
        expect(f.attrs["threads"] == 1, dict(f.attrs))
        expect(b"--threads 1" in f.attrs["command_line"] or "--threads 1" in str(f.attrs["command_line"]), f.attrs["command_line"])
        expect(f["descriptor"][()].decode() == TOY, "descriptor text differs")
        # The commit the binary was built from (read at build time, not at configure time).
        attr = lambda k: f.attrs[k].decode() if isinstance(f.attrs[k], bytes) else str(f.attrs[k])
        head = subprocess.run(["git", "-C", A.source, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True)
        want = head.stdout.strip() if head.returncode == 0 else "unknown"
        expect(attr("git_commit") in (want, want + "-dirty"), f"git_commit {attr('git_commit')!r}, HEAD {want!r}")
        version = subprocess.run([A.ebmlab, "--version"], capture_output=True, text=True).stdout.splitlines()
        expect(version[1].startswith("LibTorch " + attr("libtorch_version") + ", "), (version, dict(f.attrs)))
        expect(("built without CUDA" in version[1]) == (attr("cuda_version") == ""), (version, attr("cuda_version")))
        expect(f.attrs["gpus_visible"] >= 0, dict(f.attrs))
        # The numeric libraries the process loaded: what ldd resolves for the binary, with owners.
        libs = json.loads(f.attrs["numeric_libraries"])
        kinds = {lib["kind"] for lib in libs}
        expect({"blas", "openmp"} <= kinds, libs)
        for lib in libs:
            expect(os.path.exists(lib["path"]), lib)
            expect(lib["package"] and lib["version"], f"no Debian package recorded for {lib}")
        ldd = subprocess.run(["ldd", A.ebmlab], capture_output=True, text=True).stdout
        resolved_blas = {os.path.realpath(line.split("=>")[1].split("(")[0].strip())
                         for line in ldd.splitlines() if "=>" in line and "blas" in line.split("=>")[0]}
        recorded = {os.path.realpath(lib["path"]) for lib in libs}
        expect(resolved_blas and resolved_blas <= recorded, f"ldd resolves {resolved_blas}, recorded {recorded}")
        resolved = json.loads(f["resolved"][()].decode())
        expect(resolved["main"]["data"]["eval_batch_size"] == 1000, "defaults missing from resolved config")
        expect(resolved["main"]["stage"][0]["optimizer"]["name"] == "adam", resolved["main"]["stage"])
        plugins = f["plugins"]
        expect("libebmlab_mlp.so" in plugins, list(plugins))
        mlp = plugins["libebmlab_mlp.so"].attrs
        path = mlp["path"].decode() if isinstance(mlp["path"], bytes) else mlp["path"]
        sha = mlp["sha256"].decode() if isinstance(mlp["sha256"], bytes) else mlp["sha256"]
        expect(hashlib.sha256(open(path, "rb").read()).hexdigest() == sha, "plugin sha256 mismatch")

        log = f["variants/main"]  # the external link to runs/toy/main.h5
        expect(log["status"][()].rstrip(b"\0") == b"completed", log["status"][()])
        loss = log["curves/train/loss"][()]
        steps_per_epoch = (2000 - 400) // 32
        expect(len(loss) == 3 * steps_per_epoch, f"{len(loss)} loss records")
        expect(list(loss["step"]) == list(range(len(loss))), "steps not consecutive")
        expect(all(loss["wall"][1:] >= loss["wall"][:-1]), "wall time not monotone")
        expect(loss["value"][-20:].mean() < loss["value"][:20].mean() * 0.5, "loss did not fall")
        expect(len(log["curves/ce/batch_accuracy"]) == len(loss), "per-loss terms missing")
        lr = log["curves/train/lr"][()]
        expect(abs(lr["value"][0] - 0.01) < 1e-12, lr[:3])
        val = log["eval/val/accuracy/accuracy"][()]
        expect(len(val) == 3, f"{len(val)} validation evaluations, expected one per epoch")
        test = log["eval/test/accuracy/accuracy"][()]
        expect(len(test) == 1 and test["value"][0] > 0.95, test)
        expect(log["eval/test/accuracy/n"][()]["value"][0] == 500, "test split size")


@case
def validation_results_are_printed_with_and_without_eval_every(d):
    desc = write(os.path.join(d, "toy.toml"), TOY)
    r = run(A.ebmlab, "run", desc, "--threads", "1", "stage.0.epochs=1", cwd=d)
    expect(r.returncode == 0 and "main/fit epoch 0 val:  accuracy/accuracy" in r.stderr, r.stderr)
    r = run(A.ebmlab, "run", desc, "--threads", "1", "--overwrite", "stage.0.epochs=1", "stage.0.eval_every=20", cwd=d)
    expect(r.returncode == 0, r.stderr)
    for step in (20, 40):
        expect(f"main/fit step {step} val:  accuracy/accuracy" in r.stderr, f"no validation line at step {step}: {r.stderr}")


@case
def variants_get_one_log_each(d):
    text = TOY.replace("epochs = 3", "steps = 20") + """
[variants.narrow.model.backbone]
hidden = [8]

[variants.wide.model.backbone]
hidden = [64, 64]
"""
    desc = write(os.path.join(d, "v.toml"), text)
    r = run(A.ebmlab, "validate", desc)
    expect(r.returncode == 0 and "2 variants: narrow, wide" in r.stdout, r.stdout + r.stderr)
    r = run(A.ebmlab, "run", desc, "--quiet", cwd=d)
    expect(r.returncode == 0, r.stderr)
    with h5py.File(os.path.join(d, "runs", "toy.h5"), "r") as f:
        expect(sorted(f["variants"]) == ["narrow", "wide"], list(f["variants"]))
        for v in ("narrow", "wide"):
            expect(len(f[f"variants/{v}/curves/train/loss"]) == 20, v)
        narrow = json.loads(f["variants/narrow/config"][()].decode())
        expect(narrow["model"]["backbone"]["hidden"] == [8], narrow["model"])


@case
def checkpoints_are_written_recorded_and_reloadable(d):
    text = TOY.replace("epochs = 3", "steps = 60") + """
[checkpoint]
every = 20
keep = 1
best = "accuracy/accuracy"
"""
    text = text.replace('name = "fit"', 'name = "fit"\neval_every = 20')
    desc = write(os.path.join(d, "c.toml"), text)
    r = run(A.ebmlab, "run", desc, "--quiet", cwd=d)
    expect(r.returncode == 0, r.stderr)
    folder = os.path.join(d, "runs", "toy", "main")
    files = sorted(os.listdir(folder))
    expect("ckpt-60.h5" in files and "ckpt-best.h5" in files, files)
    expect("ckpt-20.h5" not in files, f"keep = 1 keeps only the newest periodic file: {files}")
    expect(not any(".tmp-" in f for f in files), files)
    with h5py.File(os.path.join(d, "runs", "toy.h5"), "r") as f:
        rows = f["variants/main/checkpoints"][()]
        expect(20 in rows["step"] and 60 in rows["step"], rows)
        latest = {row["file"].decode(): row["sha256"].decode() for row in rows}  # ckpt-best.h5 is rewritten
        expect("main/ckpt-60.h5" in latest and "main/ckpt-best.h5" in latest, latest)
        for name in ("main/ckpt-60.h5", "main/ckpt-best.h5"):
            path = os.path.join(d, "runs", "toy", name)
            expect(hashlib.sha256(open(path, "rb").read()).hexdigest() == latest[name], name)
    with h5py.File(os.path.join(folder, "ckpt-60.h5"), "r") as c:
        expect(c.attrs["kind"] == b"ebmlab checkpoint" or c.attrs["kind"] == "ebmlab checkpoint", dict(c.attrs))
        expect(c.attrs["step"] == 60, dict(c.attrs))
        w = c["model/backbone.head.fc.weight"][()]
        expect(w.shape == (2, 32), w.shape)
        expect("0" in c["optimizer"] and "exp_avg" in c["optimizer/0"], list(c["optimizer"]))
    # A second experiment starts its stage from that checkpoint: before any step its
    # accuracy is the trained one.
    init = TOY.replace("epochs = 3", "steps = 1").replace('name = "fit"', 'name = "fit"\ninit = "runs/toy/main/ckpt-60.h5"')
    init = init.replace('optimizer = { name = "adam", lr = 0.01 }', 'optimizer = { name = "adam", lr = 0.0 }')
    init = init.replace('name = "toy"', 'name = "again"')
    r = run(A.ebmlab, "run", write(os.path.join(d, "again.toml"), init), "--quiet", cwd=d)
    expect(r.returncode == 0, r.stderr)
    with h5py.File(os.path.join(d, "runs", "again.h5"), "r") as f:
        acc = f["variants/main/eval/test/accuracy/accuracy"][()]["value"][0]
        expect(acc > 0.9, f"accuracy {acc} after loading trained weights")
    bad = init.replace("ckpt-60.h5", "nope.h5").replace('name = "again"', 'name = "bad"')
    r = run(A.ebmlab, "run", write(os.path.join(d, "bad.toml"), bad), "--quiet", cwd=d)
    expect(r.returncode != 0 and "nope.h5: no such checkpoint file" in r.stderr, r.stderr)


@case
def sigint_stops_cleanly(d):
    desc = write(os.path.join(d, "long.toml"), TOY.replace("epochs = 3", "epochs = 100000"))
    env = dict(os.environ)
    env.pop("EBMLAB_PLUGIN_PATH", None)
    p = subprocess.Popen([A.ebmlab, "run", desc, "--quiet"], cwd=d, env=env, stderr=subprocess.PIPE, text=True)
    log = os.path.join(d, "runs", "toy", "main.h5")
    deadline = time.time() + 60
    while time.time() < deadline and not os.path.exists(log):
        time.sleep(0.1)
    time.sleep(1.5)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    expect(p.returncode == 130, f"exit {p.returncode}: {err}")
    with h5py.File(log, "r") as f:
        expect(f["status"][()].rstrip(b"\0") == b"interrupted", f["status"][()])
        expect(len(f["curves/train/loss"]) > 0, "no records flushed before the stop")


finish()
