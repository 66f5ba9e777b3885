"""tools/convert_state_dict.py end to end: a PyTorch model's state_dict becomes an ebmlab
checkpoint that a stage's `init` loads, and ebmlab then classifies the toy2d test split
exactly as the PyTorch model does (the split is regenerated here bit for bit)."""
import atexit
import contextlib
import hashlib
import importlib.util
import io
import math
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import torch
from torch import nn

from common import args, case, expect, finish, run, workdir, write

A = args()
TOOL = os.path.join(A.source, "tools", "convert_state_dict.py")
SEED = 3
torch.set_num_threads(1)

DESCRIPTOR = """[experiment]
name = "{name}"
seed = {seed}

[data]
dataset = "toy2d"
toy = "moons"
toy_samples = 2000
validation = 400
batch_size = 32

[model]
backbone = {{ plugin = "mlp", hidden = {hidden} }}
norm = {{ plugin = "{norm}" }}

[[stage]]
name = "fit"
steps = 1
init = "{init}"
norm_mode = "{norm_mode}"
optimizer = {{ name = "adam", lr = {lr} }}
losses = [ {{ plugin = "ce" }} ]

[[metric]]
plugin = "accuracy"
"""


def ebmlab_run(d, name, norm="none", init="", lr=0.01, hidden=(16,)):
    """One step; with lr = 0 (and frozen norms, whose running statistics a train-mode step
    would otherwise move) the weights stay those of `init`. Returns the variant log path."""
    norm_mode = "frozen" if lr == 0 else "train"
    text = DESCRIPTOR.format(name=name, seed=SEED, norm=norm, init=init, lr=lr, norm_mode=norm_mode, hidden=list(hidden))
    r = run(A.ebmlab, "run", write(os.path.join(d, name + ".toml"), text), "--quiet", "--threads", "1", cwd=d)
    expect(r.returncode == 0, f"ebmlab run {name}: exit {r.returncode}: {r.stderr}")
    return os.path.join(d, "runs", name, "main.h5")


def convert(*argv):
    """The tool as a user runs it (a fresh interpreter: ~2 s of `import torch`)."""
    return subprocess.run([sys.executable, TOOL, *argv], capture_output=True, text=True, timeout=120)


sys.dont_write_bytecode = True  # no __pycache__ next to the tool in the source tree
_spec = importlib.util.spec_from_file_location("convert_state_dict", TOOL)
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)


def convert_here(*argv):
    """The same entry point in this process, for the cases that run it several times."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = tool.main(list(argv))
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def layout(path):
    """What the kernel's reader sees of /model: per dataset the shape, element type,
    dataspace class (scalar or simple) and the torch_dtype attribute with its string type."""
    out = {}
    with h5py.File(path, "r") as f:
        for name, ds in f["model"].items():
            t = ds.attrs.get_id("torch_dtype").get_type()
            out[name] = (ds.shape, ds.dtype.str, ds.id.get_space().get_simple_extent_type(),
                         ds.attrs["torch_dtype"], t.get_size(), t.get_strpad(), t.get_cset())
    return out


# The reference checkpoints (one per norm) are shared by the cases: one 1-step run each.
SHARED = workdir()
atexit.register(shutil.rmtree, SHARED, True)
_refs = {}


def reference(norm="none", hidden=(16,)):
    if norm not in _refs:
        ebmlab_run(SHARED, "ref_" + norm, norm=norm, hidden=hidden)
        _refs[norm] = os.path.join(SHARED, "runs", "ref_" + norm, "main", "ckpt-1.h5")
    return _refs[norm]


def toy_moons(n, noise, gen):
    """kernel/data/data.cpp make_toy("moons") with the same generator calls, in the same order."""
    labels = torch.randint(0, 2, (n,), generator=gen, dtype=torch.int64)
    t = torch.rand(n, generator=gen, dtype=torch.float32) * math.pi
    upper = labels.eq(0)
    x = torch.where(upper, torch.cos(t), 1 - torch.cos(t))
    y = torch.where(upper, torch.sin(t), 0.5 - torch.sin(t))
    pts = torch.stack([x - 0.5, y - 0.25], 1) * 1.5
    pts = pts + torch.randn(n, 2, generator=gen, dtype=torch.float32) * noise
    return ((pts + 3.0) / 6.0).clamp(0.0, 1.0), labels


def toy_data():
    gen = torch.Generator().manual_seed(SEED + 7919)
    train = toy_moons(2000, 0.05, gen)
    test = toy_moons(500, 0.05, gen)
    return (train[0][:1600], train[1][:1600]), test  # validation: the last 400


class Published(nn.Module):
    """The ebmlab mlp (linear -> norm -> relu per hidden layer, then the head) under names
    of its own."""

    def __init__(self, hidden=(16,), batch_norm=False):
        super().__init__()
        layers, width = [], 2
        for h in hidden:
            layers += [nn.Linear(width, h)] + ([nn.BatchNorm1d(h)] if batch_norm else []) + [nn.ReLU()]
            width = h
        self.body = nn.Sequential(*layers)
        self.classifier = nn.Linear(width, 2)

    def forward(self, x):
        return self.classifier(self.body(x))


MAPS = ["--map", r"^body\.0\.=backbone.fc0.fc.", "--map", r"^classifier\.=backbone.head.fc."]
# The published model expects inputs standardized like this (exact in float32).
MEAN, STD = 0.5, 0.25


def trained_model(hidden=(16,), batch_norm=False, steps=12):
    """Known weights with a test accuracy well away from both chance and 1, so that the
    accuracy ebmlab reports identifies these weights."""
    torch.manual_seed(11)
    net = Published(hidden, batch_norm)
    (x, y), _ = toy_data()
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(net((x - MEAN) / STD), y).backward()
        opt.step()
    return net.eval()


def bits(a):
    a = np.ascontiguousarray(a)
    return a.view(np.uint8).tobytes()


@case
def converted_model_classifies_like_pytorch_in_ebmlab(d):
    ref = reference()
    (train_x, _), (test_x, test_y) = toy_data()
    with h5py.File(ref, "r") as f:  # the regenerated split is the kernel's: same statistics
        mean = f["model/input_mean"][()].ravel()
        inv_std = f["model/input_inv_std"][()].ravel()
    expect(np.allclose(mean, train_x.mean(0).numpy(), atol=1e-6), f"toy2d not reproduced: {mean} vs {train_x.mean(0)}")
    expect(np.allclose(1 / inv_std, train_x.std(0).numpy(), atol=1e-6), "toy2d spread not reproduced")

    net = trained_model()
    with torch.no_grad():
        acc = (net((test_x - MEAN) * (1 / STD)).argmax(1) == test_y).double().mean().item()
    expect(0.6 < acc < 0.98, f"fixture accuracy {acc} does not identify the weights")
    pt = os.path.join(d, "published.pt")
    torch.save(net.state_dict(), pt)
    out = os.path.join(d, "converted.h5")
    r = convert(pt, out, "--like", ref, *MAPS, "--input-mean", str(MEAN), "--input-std", str(STD))
    expect(r.returncode == 0, f"exit {r.returncode}: {r.stderr}")

    log = ebmlab_run(d, "converted", init=out, lr=0.0)
    with h5py.File(log, "r") as f:
        got = f["eval/test/accuracy/accuracy"][()]["value"][-1]
        n = f["eval/test/accuracy/n"][()]["value"][-1]
    expect(n == 500, f"test split size {n}")
    expect(abs(got - acc) < 1e-12, f"ebmlab accuracy {got} != PyTorch accuracy {acc} ({round((got - acc) * 500)} points)")


@case
def round_trip_is_bitwise_and_the_layout_is_the_kernels(d):
    ref = reference()
    net = trained_model()
    sd = net.state_dict()
    # Nested under "model", with DataParallel's prefix and a non-tensor entry next to it.
    pt = os.path.join(d, "wrapped.pt")
    torch.save({"model": {"module." + k: v for k, v in sd.items()}, "epoch": 7}, pt)
    out = os.path.join(d, "sub", "converted.h5")
    r = convert_here(pt, out, "--like", ref, *MAPS, "--variant", "robust")
    expect(r.returncode == 0, f"exit {r.returncode}: {r.stderr}")
    expect("reference's statistics" in r.stderr, "no note that input statistics came from the reference: " + r.stderr)
    expect(os.listdir(os.path.dirname(out)) == ["converted.h5"], os.listdir(os.path.dirname(out)))
    pairs = {"backbone.fc0.fc.weight": "body.0.weight", "backbone.fc0.fc.bias": "body.0.bias",
             "backbone.head.fc.weight": "classifier.weight", "backbone.head.fc.bias": "classifier.bias"}
    with h5py.File(out, "r") as f, h5py.File(ref, "r") as g:
        expect(sorted(f["model"]) == sorted(g["model"]), f"{list(f['model'])} vs {list(g['model'])}")
        expect(list(f) == ["model"], f"a converted model has no optimizer/ema/rng state: {list(f)}")
        for target, source in pairs.items():
            a = f["model/" + target]
            expect(a.dtype == np.float32 and bits(a[()]) == bits(sd[source].numpy()), f"{target} differs from {source}")
            expect(a.attrs["torch_dtype"] == b"Float", dict(a.attrs))
        for buf in ("input_mean", "input_inv_std"):  # kept from the reference
            expect(bits(f["model/" + buf][()]) == bits(g["model/" + buf][()]), buf)
        attrs = f.attrs
        expect(attrs["format_version"] == 1 and attrs["step"] == 0 and attrs["stage"] == 0, dict(attrs))
        expect(attrs["kind"] == b"ebmlab checkpoint" and attrs["variant"] == b"robust", dict(attrs))
        expect(attrs["converted_from"] == b"wrapped.pt", attrs["converted_from"])
        sha = hashlib.sha256(open(pt, "rb").read()).hexdigest()
        expect(attrs["converted_from_sha256"].decode() == sha, "source sha256")
        for key in attrs:  # the kernel's strings: fixed length = byte count, NUL-terminated type, UTF-8
            t = attrs.get_id(key).get_type()
            if t.get_class() == h5py.h5t.STRING:
                expect(not t.is_variable_str() and t.get_strpad() == h5py.h5t.STR_NULLTERM
                       and t.get_cset() == h5py.h5t.CSET_UTF8 and t.get_size() == max(len(attrs[key]), 1), key)
    expect(layout(out) == layout(ref), f"/model differs from the kernel's:\n{layout(out)}\n{layout(ref)}")
    # The output is itself a valid reference (creation order preserved for --by-order).
    r = convert_here(pt, os.path.join(d, "again.h5"), "--like", out, "--by-order")
    expect(r.returncode == 0, r.stderr)
    with h5py.File(out, "r") as f, h5py.File(os.path.join(d, "again.h5"), "r") as g:
        for name in f["model"]:
            expect(bits(f["model/" + name][()]) == bits(g["model/" + name][()]), name)


@case
def missing_and_misshapen_tensors_exit_2_naming_them(d):
    ref = reference()
    sd = trained_model().state_dict()
    del sd["classifier.bias"]
    sd["extra.weight"] = torch.zeros(3)
    pt = os.path.join(d, "partial.pt")
    torch.save(sd, pt)
    out = os.path.join(d, "out.h5")
    r = convert_here(pt, out, "--like", ref, *MAPS)
    expect(r.returncode == 2, f"exit {r.returncode}: {r.stderr}")
    expect("missing backbone.head.fc.bias [2]" in r.stderr, r.stderr)
    expect("extra.weight" in r.stderr and "not used" in r.stderr, "unused tensors not listed: " + r.stderr)
    expect(not os.path.exists(out) and os.listdir(d) == ["partial.pt"], os.listdir(d))

    torch.save(Published(hidden=(8,)).state_dict(), pt)
    r = convert_here(pt, out, "--like", ref, *MAPS)
    expect(r.returncode == 2, f"exit {r.returncode}: {r.stderr}")
    expect("backbone.fc0.fc.weight: source 'body.0.weight' has shape [8, 2], the model expects [16, 2]" in r.stderr,
           r.stderr)
    r = convert_here(pt, out, "--like", ref)  # no --map: nothing matches by name
    expect(r.returncode == 2 and "missing backbone.fc0.fc.weight [16, 2]" in r.stderr, r.stderr)


@case
def by_order_follows_state_dict_order_with_batch_norm(d):
    # With batch norm, LibTorch lists all parameters before all buffers while a state_dict
    # interleaves them per module: running_mean must still land on running_mean. Three
    # layers of 64 are enough for HDF5 to place some datasets out of creation order, so the
    # order has to be read from the file's structure (the group's name heap).
    hidden = (64, 64, 64)
    ref = reference("batch", hidden)
    net = trained_model(hidden, batch_norm=True)
    sd = net.state_dict()
    renamed = {f"t{i}": v for i, v in enumerate(sd.values())}  # names carry no information
    pt = os.path.join(d, "anonymous.pt")
    torch.save(renamed, pt)
    out = os.path.join(d, "converted.h5")
    stats = ["--input-mean", str(MEAN), "--input-std", str(STD)]
    r = convert_here(pt, out, "--like", ref, "--by-order", *stats, "--dry-run")
    expect(r.returncode == 0 and "backbone.norm2.bn.running_var" in r.stdout and not os.path.exists(out),
           r.stdout + r.stderr)
    r = convert_here(pt, out, "--like", ref, "--by-order", *stats)
    expect(r.returncode == 0, f"exit {r.returncode}: {r.stderr}")
    pairs = {"backbone.head.fc.weight": "classifier.weight", "backbone.head.fc.bias": "classifier.bias"}
    for i in range(len(hidden)):  # body: Linear, BatchNorm1d, ReLU per layer
        pairs.update({f"backbone.fc{i}.fc.{k}": f"body.{3 * i}.{k}" for k in ("weight", "bias")})
        pairs.update({f"backbone.norm{i}.bn.{k}": f"body.{3 * i + 1}.{k}"
                      for k in ("weight", "bias", "running_mean", "running_var")})
    with h5py.File(out, "r") as f:
        for target, source in pairs.items():
            expect(bits(f["model/" + target][()]) == bits(sd[source].numpy()), f"{target} != {source}")
    expect(layout(out) == layout(ref), f"/model differs from the kernel's (scalar num_batches_tracked?):\n"
                                       f"{layout(out)}\n{layout(ref)}")
    # ebmlab evaluates in eval mode with the running statistics: same accuracy as PyTorch.
    _, (test_x, test_y) = toy_data()
    with torch.no_grad():
        acc = (net((test_x - MEAN) * (1 / STD)).argmax(1) == test_y).double().mean().item()
    with h5py.File(ebmlab_run(d, "bn", norm="batch", init=out, lr=0.0, hidden=hidden), "r") as f:
        got = f["eval/test/accuracy/accuracy"][()]["value"][-1]
    expect(abs(got - acc) < 1e-12, f"ebmlab accuracy {got} != PyTorch accuracy {acc}")
    # One tensor too few: exit 2 naming the counts.
    torch.save(dict(list(renamed.items())[:-1]), pt)
    r = convert_here(pt, out + "2", "--like", ref, "--by-order")
    expect(r.returncode == 2 and "the state_dict has 19 floating tensors to place, the model expects 20" in r.stderr,
           r.stderr)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@case
def arbitrary_pickles_are_refused_not_run(d):
    ref = reference()
    marker = os.path.join(d, "pwned")
    pt = os.path.join(d, "evil.pt")
    sd = trained_model().state_dict()
    sd["payload"] = _Payload(marker)
    torch.save(sd, pt)
    r = convert(pt, os.path.join(d, "out.h5"), "--like", ref, *MAPS)
    expect(r.returncode == 2 and "--trust-pickle" in r.stderr, f"exit {r.returncode}: {r.stderr}")
    expect(not os.path.exists(marker), "the pickle's code ran")
    r = convert_here(os.path.join(d, "nope.pt"), os.path.join(d, "out.h5"), "--like", ref)
    expect(r.returncode == 2 and "nope.pt: no such file" in r.stderr, r.stderr)


finish()
