"""ebmlab's attacks and calibration against a peer implementation (issue 19, item 10).

A small classifier is trained in PyTorch on Fashion-MNIST, converted with
tools/convert_state_dict.py, and evaluated by `ebmlab eval` on the first 500 test images.
The same model in PyTorch is attacked by torchattacks 3.5.1 (`pip install --no-deps
torchattacks==3.5.1` into a --system-site-packages virtual environment over Debian's
python3-torch: tools/peer-env.sh, which README command 2 runs; torchattacks' APGD is a
port of fra31/auto-attack's autopgd_base.py). Both sides run on the same LibTorch 1.13
CPU kernels with one thread, so the logits agree bit for bit and an attack that follows
the same rules takes the same steps:
- PGD L-inf and L2 without a random start (torchattacks pgd.py, pgdl2.py), and APGD-CE
  L-inf and L2 at 20 iterations from the same start points (ebmlab's seeded generator and
  torchattacks' torch.manual_seed(seed) draw the same tensor for the same clean-correct
  images: apgd.py perturb, attack_single_run): per-image agreement >= 99 %, where an image
  agrees when both end at the same cross-entropy (1e-4 relative) and the same verdict;
  ebmlab's APGD with the paper's step rules (apgd_rules = "paper") must disagree on most
  images, which shows that the comparison sees a changed rule;
- PGD with random starts (different draws): robust accuracies within the binomial noise;
- ECE and the OOD AUROC (against the test images turned upside down) from ebmlab's
  metrics against a textbook numpy computation on PyTorch's logits.
"""
import gzip
import importlib
import importlib.util
import math
import os
import subprocess
import sys
import types

import h5py
import numpy as np
import torch
from torch import nn

from common import args, case, expect, finish, run, workdir, write

A = args()
TOOL = os.path.join(A.source, "tools", "convert_state_dict.py")
FASHION = "/usr/share/datasets/fashion-mnist"
PEER_ENV = os.environ.get("EBMLAB_PEER_ENV", os.path.expanduser("~/.cache/ebmlab-peer"))
N = 500
MEAN, STD = 0.2860, 0.3530
torch.set_num_threads(1)
sys.dont_write_bytecode = True


def torchattacks():
    """torchattacks' Attack, PGD, PGDL2 and APGD from the peer environment. The package's
    __init__ imports every attack, TIFGSM among them, which needs scipy; Debian's
    python3-scipy cannot be installed beside Boost 1.81's -dev packages (its dependencies
    pull Boost 1.74's), so the four modules are loaded by file, each exactly as shipped."""
    site = f"{PEER_ENV}/lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
    root = os.path.join(site, "torchattacks")
    expect(os.path.isfile(os.path.join(root, "attacks", "apgd.py")),
           f"no torchattacks in {site}: run tools/peer-env.sh (README command 2 does)")
    for name, path in (("torchattacks", root), ("torchattacks.attacks", os.path.join(root, "attacks"))):
        pkg = types.ModuleType(name)
        pkg.__path__ = [path]
        sys.modules.setdefault(name, pkg)
    mods = {m: importlib.import_module("torchattacks." + m) for m in ("attack", "attacks.pgd", "attacks.pgdl2", "attacks.apgd")}
    version = open(os.path.join(site, "torchattacks-3.5.1.dist-info", "METADATA")).read()
    expect("Version: 3.5.1" in version, "the peer environment does not hold torchattacks 3.5.1")
    return mods["attacks.pgd"].PGD, mods["attacks.pgdl2"].PGDL2, mods["attacks.apgd"].APGD


def idx(name):
    with gzip.open(os.path.join(FASHION, name)) as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def images(prefix):
    x = torch.from_numpy(idx(f"{prefix}-images-idx3-ubyte.gz").copy()).to(torch.float32).div_(255.0).unsqueeze(1)
    y = torch.from_numpy(idx(f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64))
    return x, y


class ConvNet(nn.Module):
    """ebmlab's convnet backbone (channels = [16, 32], hidden = 64, norm none, ReLU) under
    names of its own: a network whose attacks do not saturate in a few steps, so that the
    step-size rules of APGD change which images survive."""

    def __init__(self):
        super().__init__()
        self.c0 = nn.Conv2d(1, 16, 3, padding=1)
        self.c1 = nn.Conv2d(16, 32, 3, padding=1)
        self.hidden = nn.Linear(32 * 7 * 7, 64)
        self.out = nn.Linear(64, 10)

    def forward(self, x):
        h = nn.functional.max_pool2d(torch.relu(self.c0(x)), 2)
        h = nn.functional.max_pool2d(torch.relu(self.c1(h)), 2)
        return self.out(torch.relu(self.hidden(h.flatten(1))))


class Standardized(nn.Module):
    """What ebmlab's Model computes: (x - input_mean) * input_inv_std, then the backbone,
    with the converted checkpoint's own float32 buffers."""

    def __init__(self, net, mean, inv_std):
        super().__init__()
        self.net, self.mean, self.inv_std = net, mean, inv_std

    def forward(self, x):
        return self.net((x - self.mean) * self.inv_std)


DESCRIPTOR = """[experiment]
name = "{name}"
seed = 0

[data]
dataset = "fashion_mnist"
batch_size = 64
test_subset = {n}
eval_batch_size = 1000

[model]
backbone = {{ plugin = "convnet", channels = [16, 32], hidden = 64 }}
norm = {{ plugin = "none" }}

[[stage]]
name = "fit"
steps = 1
init = "{init}"
optimizer = {{ name = "sgd", lr = {lr} }}
losses = [ {{ plugin = "ce" }} ]

[[metric]]
plugin = "accuracy"
"""

LINF, L2, STEPS = 0.05, 1.0, 5  # mid-range robust accuracy: many images near the boundary


def metric(name, **params):
    """A [[metric]] table of robust_accuracy for the first N images, per image."""
    params = {"plugin": "robust_accuracy", "max_images": N, "per_image": True, **params}
    text = lambda v: str(v).lower() if isinstance(v, bool) else f'"{v}"' if isinstance(v, str) else repr(v)
    return f'[[metric]]\nname = "{name}"\n' + "".join(f"{k} = {text(v)}\n" for k, v in params.items()) + "\n"


PGD_LINF = dict(norm="linf", eps=LINF, alpha=LINF / 4, steps=STEPS)
PGD_L2 = dict(norm="l2", eps=L2, alpha=L2 / 4, steps=STEPS)
APGD_CE = dict(attack="apgd_ce", steps=20, seed=0)
METRICS = (metric("pgd_linf", random_start=False, **PGD_LINF) + metric("pgd_l2", random_start=False, **PGD_L2)
           + metric("apgd_linf", norm="linf", eps=LINF, **APGD_CE) + metric("apgd_l2", norm="l2", eps=L2, **APGD_CE)
           # The control: the paper's step-size rules instead of AutoAttack's code. The
           # comparison must see the difference, or it could not see a deviation either.
           + metric("apgd_linf_paper", norm="linf", eps=LINF, apgd_rules="paper", **APGD_CE)
           + metric("pgd_linf_random", seed=5, per_image=False, **PGD_LINF)
           + metric("pgd_l2_random", seed=5, per_image=False, **PGD_L2)
           + '[[metric]]\nplugin = "ece"\nbins = 15\n\n'
           + f'[[metric]]\nplugin = "ood_auroc"\nscores = ["logsumexp", "max_softmax"]\nsets = ["flip_v"]\nmax_images = {N}\n')


def ebmlab_run(d, name, init="", lr=0.01):
    r = run(A.ebmlab, "run", write(os.path.join(d, name + ".toml"), DESCRIPTOR.format(name=name, init=init, lr=lr, n=N)),
            "--quiet", "--threads", "1", cwd=d)
    expect(r.returncode == 0, f"ebmlab run {name}: exit {r.returncode}: {r.stderr}")
    return os.path.join(d, "runs", name + ".h5"), os.path.join(d, "runs", name, "main.h5")


def trained_model():
    """A classifier well away from chance and from 1 (0.8 to 0.9 on the test images)."""
    torch.manual_seed(0)
    net = ConvNet()
    x, y = images("train")
    x, y = x[:10000], y[:10000]
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for epoch in range(2):
        for i in range(0, len(y), 64):
            opt.zero_grad()
            nn.functional.cross_entropy(net((x[i:i + 64] - MEAN) / STD), y[i:i + 64]).backward()
            opt.step()
    return net.eval()


def textbook_ece(logits, y, bins=15):
    """Guo et al. 2017, eq. 3: sum over equal-width confidence bins of |B|/n |acc(B) - conf(B)|;
    bin m holds confidences in ((m-1)/M, m/M]."""
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    conf, pred = p.max(1), p.argmax(1)
    total = 0.0
    for m in range(bins):
        inside = (conf > m / bins) & (conf <= (m + 1) / bins)
        if inside.any():
            total += inside.sum() / len(y) * abs((pred[inside] == y[inside]).mean() - conf[inside].mean())
    return total


def textbook_auroc(pos, neg):
    """P(score of an in-distribution image > score of an OOD image), ties counted one half."""
    pos, neg = np.asarray(pos, np.float64)[:, None], np.asarray(neg, np.float64)[None, :]
    return float(((pos > neg).sum() + 0.5 * (pos == neg).sum()) / (pos.size * neg.size))


@case
def attacks_and_calibration_agree_with_torchattacks_and_numpy(d):
    PGD, PGDL2, APGD = torchattacks()
    # The reference layout, the converted weights, and a run that keeps them (lr = 0).
    _, ref_log = ebmlab_run(d, "ref")
    ref = os.path.join(os.path.dirname(ref_log), "main", "ckpt-1.h5")
    net = trained_model()
    pt = os.path.join(d, "mlp.pt")
    torch.save(net.state_dict(), pt)
    converted = os.path.join(d, "mlp.h5")
    r = subprocess.run([sys.executable, TOOL, pt, converted, "--like", ref, "--map", r"^c(\d)\.=backbone.conv\1.conv.",
                        "--map", r"^hidden\.=backbone.fc.fc.", "--map", r"^out\.=backbone.head.fc.", "--input-mean", str(MEAN), "--input-std", str(STD)],
                       capture_output=True, text=True, timeout=120)
    expect(r.returncode == 0, f"convert_state_dict.py: {r.stderr}")
    index, log = ebmlab_run(d, "peer", init=converted, lr=0.0)
    with h5py.File(converted, "r") as f:
        mean = torch.from_numpy(f["model/input_mean"][()]).reshape(1, -1, 1, 1)
        inv_std = torch.from_numpy(f["model/input_inv_std"][()]).reshape(1, -1, 1, 1)
    model = Standardized(net, mean, inv_std).eval()

    metrics = write(os.path.join(d, "peer_metrics.toml"), METRICS)
    r = run(A.ebmlab, "eval", index, "--metrics-file", metrics, "--threads", "1", "--device", "cpu", cwd=d, timeout=600)
    expect(r.returncode == 0, f"ebmlab eval: exit {r.returncode}: {r.stderr}")
    with h5py.File(log, "r") as f:
        rec = f["posthoc/0"]
        got = {}
        for m in rec:  # terms below a metric may be nested (ood_auroc: <source>/<score>)
            got[m] = {}
            rec[m].visititems(lambda k, v, out=got[m]: out.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None)

    x, y = images("t10k")
    x, y = x[:N], y[:N]
    with torch.no_grad():
        logits = model(x)
    clean = logits.argmax(1).eq(y)
    acc = clean.double().mean().item()
    expect(0.7 < acc < 0.95, f"fixture accuracy {acc} does not identify the weights")
    expect(np.array_equal(got["pgd_linf"]["clean_per_image"], clean.double().numpy()),
           "ebmlab's clean predictions differ from PyTorch's on the same weights")

    def robust_per_image(attack, losses=False):
        """Per image: robust (1/0) and, with losses, the cross-entropy at the point returned."""
        if isinstance(attack, APGD):
            # perturb() returns the clean input for the images it did not fool; ebmlab returns
            # the highest-loss iterate there (and, as perturb, the last fooling iterate where
            # one fooled). So the run itself, as perturb starts it: its seed, then one
            # attack_single_run on the images classified correctly (apgd.py:309-350).
            torch.random.manual_seed(attack.seed)
            keep = clean.nonzero().squeeze(1)
            best, still, _, fooling = attack.attack_single_run(x[keep], y[keep])
            adv = x.clone()
            adv[keep] = torch.where((still == 0).view(-1, 1, 1, 1), fooling, best)
        else:
            adv = attack(x, y)
        with torch.no_grad():
            out = model(adv)
        robust = (clean & out.argmax(1).eq(y)).double().numpy()
        return (robust, nn.functional.cross_entropy(out, y, reduction="none").double().numpy()) if losses else robust

    lines = []
    same_start = {
        "pgd_linf": PGD(model, eps=LINF, alpha=LINF / 4, steps=STEPS, random_start=False),
        "pgd_l2": PGDL2(model, eps=L2, alpha=L2 / 4, steps=STEPS, random_start=False),
        "apgd_linf": APGD(model, norm="Linf", eps=LINF, steps=20, n_restarts=1, seed=0, loss="ce", rho=0.75),
        "apgd_l2": APGD(model, norm="L2", eps=L2, steps=20, n_restarts=1, seed=0, loss="ce", rho=0.75),
        "apgd_linf_paper": APGD(model, norm="Linf", eps=LINF, steps=20, n_restarts=1, seed=0, loss="ce", rho=0.75),
    }
    for name, attack in same_start.items():
        (theirs, their_loss), ours = robust_per_image(attack, losses=True), got[name]["robust_per_image"]
        # The same image counts as agreeing when both attacks end at the same loss (the same
        # steps), not only at the same verdict: a changed step rule moves many losses while
        # it flips few verdicts. Only the images both sides attacked (correct when clean).
        attacked = clean.numpy()
        our_loss = got[name]["loss_per_image"][attacked]
        same = np.abs(our_loss - their_loss[attacked]) <= 1e-4 * np.maximum(1.0, np.abs(their_loss[attacked]))
        agree = float((same & (theirs[attacked] == ours[attacked])).mean())
        lines.append(f"{name}: ebmlab {ours.mean():.3f}, torchattacks {theirs.mean():.3f}, per-image agreement {agree:.3f} "
                     f"(verdicts {float((theirs == ours).mean()):.3f})")
        if name.endswith("_paper"):
            expect(agree < 0.5, f"{name}: the paper's rules agree with AutoAttack's code on {agree:.3f} of the images: "
                                "the comparison cannot tell step rules apart")
            continue
        expect(agree >= 0.99, f"{name}: per-image agreement {agree:.3f} < 0.99 (ebmlab {ours.mean():.3f}, "
                              f"torchattacks {theirs.mean():.3f})")
        expect(0.05 < theirs.mean() < acc - 0.05, f"{name}: robust accuracy {theirs.mean():.3f} decides nothing")

    # Random starts: different draws on each side; the robust accuracies may differ by the
    # binomial noise of two independent estimates (3 standard errors).
    torch.manual_seed(5)
    random_start = {"pgd_linf_random": PGD(model, eps=LINF, alpha=LINF / 4, steps=STEPS, random_start=True),
                    "pgd_l2_random": PGDL2(model, eps=L2, alpha=L2 / 4, steps=STEPS, random_start=True)}
    for name, attack in random_start.items():
        theirs, ours = robust_per_image(attack).mean(), got[name]["robust_accuracy"]
        noise = 3 * math.sqrt(2 * theirs * (1 - theirs) / N)
        lines.append(f"{name}: ebmlab {ours:.3f}, torchattacks {theirs:.3f} (3 standard errors {noise:.3f})")
        expect(abs(theirs - ours) <= noise, f"{name}: ebmlab {ours:.3f} vs torchattacks {theirs:.3f}, beyond {noise:.3f}")

    ece = textbook_ece(logits.double().numpy(), y.numpy())
    lines.append(f"ece: ebmlab {got['ece']['ece']:.6f}, numpy {ece:.6f}")
    expect(abs(got["ece"]["ece"] - ece) < 1e-6, f"ECE: ebmlab {got['ece']['ece']} vs textbook {ece}")
    with torch.no_grad():
        flipped = model(torch.flip(x, [2]))
    for score, fn in (("logsumexp", lambda l: torch.logsumexp(l, 1)), ("max_softmax", lambda l: l.softmax(1).amax(1))):
        want = textbook_auroc(fn(logits).numpy(), fn(flipped).numpy())
        key = f"flip_v/{score}"
        expect(key in got["ood_auroc"], f"ood_auroc has no {key}: {sorted(got['ood_auroc'])}")
        lines.append(f"auroc {key}: ebmlab {got['ood_auroc'][key]:.6f}, numpy {want:.6f}")
        expect(abs(got["ood_auroc"][key] - want) < 1e-6, f"AUROC {key}: ebmlab {got['ood_auroc'][key]} vs textbook {want}")
    print("\n".join("  " + line for line in lines))


finish()
