"""Fault injection: a plugin that throws, returns NaN or returns a wrongly shaped tensor, or
a sampler whose samples leave the data range it declares, fails its variant with the plugin named while the other variants go on; a full disk
(RLIMIT_FSIZE, as `ulimit -f`) or an unwritable output folder gives a clear error and a
non-zero exit and leaves earlier results byte-for-byte intact. (SIGINT and SIGTERM are
covered by test_cli_toy2d.sigint_stops_cleanly and test_jobs_resume.)"""
import hashlib
import json
import os
import resource
import shutil
import signal
import stat
import subprocess

import h5py

from common import TOY, Skip, args, case, expect, finish, run, write

A = args()
FAULTY = os.path.join(A.fixtures, "faulty")

# toy2d, 6 steps per variant; `ok` comes last so "the others go on" is visible.
FAULTS = TOY.replace('name = "toy"', 'name = "faults"').replace("epochs = 3", "steps = 6").replace(
    'losses = [ { plugin = "ce" } ]', 'losses = [ { plugin = "faulty_loss", name = "fragile" } ]') + """
[samplers.noise]
plugin = "faulty_sampler"

[variants.loss_throws]
stage = [ { name = "fit", steps = 6, losses = [ { plugin = "faulty_loss", name = "fragile", fault = "throw" } ] } ]
[variants.loss_nan]
stage = [ { name = "fit", steps = 6, losses = [ { plugin = "faulty_loss", name = "fragile", fault = "nan" } ] } ]
[variants.loss_shape]
stage = [ { name = "fit", steps = 6, losses = [ { plugin = "faulty_loss", name = "fragile", fault = "shape" } ] } ]
[variants.sampler_throws]
samplers = { noise = { plugin = "faulty_sampler", fault = "throw" } }
stage = [ { name = "fit", steps = 6, losses = [ { plugin = "faulty_loss", name = "fragile", sampler = "noise" } ] } ]
[variants.sampler_shape]
samplers = { noise = { plugin = "faulty_sampler", fault = "shape" } }
stage = [ { name = "fit", steps = 6, losses = [ { plugin = "faulty_loss", name = "fragile", sampler = "noise" } ] } ]
[variants.sampler_range]
samplers = { noise = { plugin = "faulty_sampler", fault = "range" } }
stage = [ { name = "fit", steps = 6, losses = [ { plugin = "faulty_loss", name = "fragile", sampler = "noise" } ] } ]
[variants.ok]
"""


def status(path):
    with h5py.File(path, "r") as f:
        return f["status"][()].rstrip(b"\0").decode(), f["status_detail"][()].rstrip(b"\0").decode()


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def tree_hashes(root):
    out = {}
    for base, _, files in os.walk(root):
        for f in files:
            p = os.path.join(base, f)
            out[os.path.relpath(p, root)] = sha(p)
    return out


def faulty_run(d, *extra):
    desc = write(os.path.join(d, "faults.toml"), FAULTS)
    return run(A.ebmlab, "run", desc, "--threads", "1", "--quiet", *extra, env={"EBMLAB_PLUGIN_PATH": FAULTY}, cwd=d)


def check_fault_outcomes(d, r):
    expect(r.returncode == 1, f"exit {r.returncode}, expected 1 (a variant failed): {r.stderr}")
    logs = os.path.join(d, "runs", "faults")
    want = {
        "loss_throws": ("failed", "loss 'fragile' (plugin faulty_loss) failed at step 2: fixture loss gives up at step 2"),
        "loss_shape": ("failed", "loss 'fragile' (plugin faulty_loss) returned a tensor of shape [3] at step 2; expected a scalar"),
        "loss_nan": ("diverged", "fragile/loss = nan is not finite (loss plugin faulty_loss) at step 3"),
        "sampler_throws": ("failed", "sampler 'noise' (plugin faulty_sampler) failed at step 2: fixture sampler gives up"),
        "sampler_shape": ("failed", "sampler 'noise' (plugin faulty_sampler) returned a tensor of shape [32, 1, 2] at step 2; "
                                    "expected [n, 2] like the data"),
        # The declared range is checked with the step's terms: the step is not applied.
        "sampler_range": ("failed", "sampler 'noise' (plugin faulty_sampler) declares its samples in the data range "
                                    "[0, 1] (sample_range() = in_range) but returned values from 1.5"),
    }
    for variant, (st, message) in want.items():
        s, detail = status(os.path.join(logs, variant + ".h5"))
        expect(s == st, f"{variant}: status {s}, expected {st}")
        expect(message in text(detail), f"{variant}: detail {detail!r} lacks {message!r}")
        if st == "failed":
            expect(f"variant '{variant}' failed: " in r.stderr and message in r.stderr, f"{variant}: {r.stderr}")
        with h5py.File(os.path.join(logs, variant + ".h5"), "r") as f:
            # The steps before the fault were kept (2 steps, from_step = 2).
            expect(len(f["curves/train/loss"]) == 2, f"{variant}: {len(f['curves/train/loss'])} steps kept")
    s, _ = status(os.path.join(logs, "ok.h5"))
    expect(s == "completed", f"the variant after the failures did not go on: {s}")
    with h5py.File(os.path.join(logs, "ok.h5"), "r") as f:
        expect(len(f["curves/train/loss"]) == 6, "ok: not all steps")


@case
def faulty_plugins_fail_their_variant_and_the_others_go_on(d):
    check_fault_outcomes(d, faulty_run(d))


@case
def faulty_plugins_in_worker_processes(d):
    check_fault_outcomes(d, faulty_run(d, "--jobs", "2"))


@case
def a_metric_breaking_its_contract_fails_before_training(d):
    # Each way fails the variant before its first step (no curve rows), naming the metric;
    # the unbroken metric trains to the end, so the check itself leaves training alone.
    base = TOY.replace('name = "toy"', 'name = "metrics"').replace("epochs = 3", "steps = 4") + \
        '\n[[metric]]\nplugin = "faulty_metric"\nname = "judge"\n'
    desc = write(os.path.join(d, "metrics.toml"), base + """
[variants.missing]
metric = [ { plugin = "accuracy" }, { plugin = "faulty_metric", name = "judge", fault = "missing" } ]
[variants.undeclared]
metric = [ { plugin = "accuracy" }, { plugin = "faulty_metric", name = "judge", fault = "undeclared" } ]
[variants.ok]
""")
    r = run(A.ebmlab, "run", desc, "--threads", "1", "--quiet", env={"EBMLAB_PLUGIN_PATH": FAULTY}, cwd=d)
    expect(r.returncode == 1, f"exit {r.returncode}, expected 1: {r.stderr}")
    want = {
        "missing": "before training, on 4 evaluation images: metric 'judge' (plugin faulty_metric): declares result "
                   "'max_logit' in outputs() but its result() did not return it",
        "undeclared": "before training, on 4 evaluation images: metric 'judge' (plugin faulty_metric): returned "
                      "undeclared result 'min_logit'",
    }
    logs = os.path.join(d, "runs", "metrics")
    for variant, message in want.items():
        s, detail = status(os.path.join(logs, variant + ".h5"))
        expect(s == "failed" and message in text(detail), f"{variant}: {s} {detail!r} lacks {message!r}")
        with h5py.File(os.path.join(logs, variant + ".h5"), "r") as f:
            expect(len(f["curves/train/loss"]) == 0, f"{variant}: {len(f['curves/train/loss'])} steps trained")
    s, _ = status(os.path.join(logs, "ok.h5"))
    expect(s == "completed", f"ok: {s}")
    with h5py.File(os.path.join(logs, "ok.h5"), "r") as f:
        expect(len(f["eval/test/judge/max_logit"]) == 1, "ok: the judge's test result is missing")


def completed_run(d, ebmlab=None):
    """A finished run that later faults must not touch."""
    desc = write(os.path.join(d, "toy.toml"), TOY)
    r = run(ebmlab or A.ebmlab, "run", desc, "--threads", "1", "--quiet", cwd=d)
    expect(r.returncode == 0, r.stderr)
    return tree_hashes(os.path.join(d, "runs"))


def limit_file_size(nbytes):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # as a shell would leave it
    return apply


@case
def disk_full_is_a_clear_error_and_keeps_earlier_results(d):
    before = completed_run(d)
    # A second experiment in the same folder whose files outgrow the limit mid-run.
    big = TOY.replace('name = "toy"', 'name = "big"').replace("epochs = 3", "epochs = 200") + \
        "\n[log]\nflush_every = 1\n\n[checkpoint]\nevery = 50\n"
    desc = write(os.path.join(d, "big.toml"), big)
    import subprocess
    env = dict(os.environ)
    env.pop("EBMLAB_PLUGIN_PATH", None)
    p = subprocess.run([A.ebmlab, "run", desc, "--threads", "1", "--quiet"], cwd=d, env=env, capture_output=True,
                       text=True, timeout=300, preexec_fn=limit_file_size(256 * 1024))
    expect(p.returncode == 1, f"exit {p.returncode}, expected 1 (SIGXFSZ must not kill it): {p.stderr[-2000:]}")
    log = os.path.join("runs", "big", "main.h5")
    expect(f"variant 'main' failed: {log}: HDF5 error while " in p.stderr and "File too large" in p.stderr and
           "then continue with --resume" in p.stderr, p.stderr[-2000:])
    expect("HDF5-DIAG" not in p.stderr, "HDF5's own error stack was printed")
    after = tree_hashes(os.path.join(d, "runs"))
    for name, h in before.items():
        expect(after.get(name) == h, f"{name} changed by the failed run")
    # What the failed run left is not passed off as a result: report lists it, not as completed.
    r = run(A.ebmlab, "report", os.path.join(d, "runs", "big.h5"), "--format", "json")
    expect(r.returncode == 0, r.stderr)
    rows = json.loads(r.stdout)
    rows = rows.get("rows", rows) if isinstance(rows, dict) else rows
    expect(len(rows) == 1 and rows[0]["status"] in ("unreadable", "failed", "crashed"), r.stdout)
    r = run(A.ebmlab, "report", os.path.join(d, "runs", "toy.h5"))
    expect(r.returncode == 0 and "completed" in r.stdout, r.stderr)
    # With space again, --resume continues from the last checkpoint written before the failure.
    r = run(A.ebmlab, "run", desc, "--threads", "1", "--quiet", "--resume", cwd=d)
    expect(r.returncode == 0, f"--resume after the failure: exit {r.returncode}: {r.stderr}")
    r = run(A.ebmlab, "report", os.path.join(d, "runs", "big.h5"), "--format", "json")
    expect(json.loads(r.stdout)[0]["status"] == "completed", r.stdout)


def as_other_user(cmd):
    """Root ignores folder permissions: drop the capabilities that let it (setpriv, util-linux).

    Root stays root, so the build it runs from may live anywhere, /root (0700) included; only
    CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH leave the bounding set, so the 0555/0444 modes below
    apply to it as to their owner. (Running as nobody failed when the clone was under /root:
    nobody cannot reach the binary there.)"""
    if os.geteuid() == 0:
        drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
        probe = subprocess.run([*drop, "true"], capture_output=True, text=True)
        if probe.returncode != 0:
            raise Skip("root cannot drop CAP_DAC_OVERRIDE here, so folder permissions cannot be tested: "
                       + (probe.stderr.strip() or f"setpriv exit {probe.returncode}"))
        return [*drop, *cmd]
    return cmd


def unwritable_output_folder(d, ebmlab):
    before = completed_run(d, ebmlab)
    os.chmod(d, 0o755)
    ro = os.path.join(d, "runs")
    for base, dirs, files in os.walk(ro):
        os.chmod(base, 0o555)
        for f in files:
            os.chmod(os.path.join(base, f), 0o444)
    desc = write(os.path.join(d, "toy.toml"), TOY)
    os.chmod(desc, 0o644)
    env = dict(os.environ)
    env.pop("EBMLAB_PLUGIN_PATH", None)
    try:
        for extra, want in (([], "output exists"), (["--overwrite"], "Permission denied"),
                            (["experiment.output=runs/other.h5"], "Permission denied")):
            p = subprocess.run(as_other_user([ebmlab, "run", desc, "--threads", "1", "--quiet", *extra]), cwd=d, env=env,
                               capture_output=True, text=True, timeout=120)
            expect(p.returncode != 0, f"{extra}: exit 0")
            expect(want in p.stderr and "runs" in p.stderr, f"{extra}: {p.stderr}")
            expect(tree_hashes(ro) == before, f"{extra}: earlier results changed")
    finally:
        for base, dirs, files in os.walk(ro):
            os.chmod(base, 0o755)


@case
def unwritable_output_folder_is_a_clear_error(d):
    unwritable_output_folder(d, A.ebmlab)


@case
def permission_case_runs_from_a_private_folder(d):
    """The same case with ebmlab installed under a 0700 folder, as a clone in /root is
    (issue 20): nothing may depend on other users reaching the build tree."""
    private = os.path.join(d, "home")
    os.makedirs(private, mode=0o700)
    os.chmod(private, 0o700)
    prefix = os.path.join(private, "ebmlab")
    build = os.path.dirname(os.path.abspath(A.ebmlab))
    r = subprocess.run(["cmake", "--install", build, "--prefix", prefix], capture_output=True, text=True)
    expect(r.returncode == 0, r.stdout + r.stderr)
    work = os.path.join(d, "work")
    os.makedirs(work)
    unwritable_output_folder(work, os.path.join(prefix, "bin", "ebmlab"))


finish()
