#!/usr/bin/env python3
"""The PyTorch side of the device check's benchmark: one JEM step and one DAT stage-2 step
written in eager PyTorch as the papers' code runs them, timed per step.

    tools/gpu_steps.py --step jem|dat [--device cuda] [--precision fp32|bf16] [--steps N]
                       [--warmup W] [--depth 28] [--width 10] [--batch 64]

Prints one JSON line: {"step", "precision", "device", "ms_per_step", "params", "tf32_matmul",
"tf32_cudnn", ...}. tools/gpu-check.sh runs it beside the same steps through ebmlab
(experiments/gpu-check/*.toml) and prints the ratio.

The network is ebmlab's `wrn` backbone (plugins/backbones/wrn/wrn.cpp): pre-activation
WRN-depth-width, stem 3->16, shortcut convolution on the activated input where the shape
changes, global average pool, linear head; JEM without normalization and LeakyReLU 0.2,
DAT with BatchNorm (frozen: stage 2) and ReLU. The steps:
- JEM (wgrathwohl/JEM train_wrn_ebm.py:203-237 sample_q, :302,309 two batches, :321-330
  loss): replay buffer of 10000, 5 % restarts from U(-1,1), SGLD-20 (step 1, noise 0.01)
  on logsumexp f(x) with the model in eval mode, then CE on the labelled batch plus
  -(mean f(x_data) - mean f(x_sample)), Adam.
- DAT stage 2 (xuwangyin/DAT: rebm/attacks/adv_attacks.py, last-iterate L2 PGD without a
  random start; rebm/training/metrics.py:241-249, BCE with logits on the concatenated real
  and sample scores): AT-CE on PGD-10 (L2, eps 0.5, step 0.1), contrastive samples by
  unbounded L2 PGD-20 ascending f(x)[y] from U(0,1), BatchNorm frozen, SGD with Nesterov.
Both sides use the same data shape, batch, step counts and TF32 setting (PyTorch's
defaults, printed); this script never changes them.
"""
import argparse
import contextlib
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout, stride, norm, act):
        super().__init__()
        self.n1, self.n2 = norm(cin), norm(cout)
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.sc = nn.Conv2d(cin, cout, 1, stride, 0, bias=False) if cin != cout or stride != 1 else None
        self.act = act

    def forward(self, x):
        o = self.act(self.n1(x))
        skip = self.sc(o) if self.sc is not None else x
        h = self.act(self.n2(self.c1(o)))
        return self.c2(h) + skip


class Wrn(nn.Module):
    def __init__(self, depth, width, classes, batchnorm, leaky):
        super().__init__()
        norm = (lambda c: nn.BatchNorm2d(c)) if batchnorm else (lambda c: nn.Identity())
        self.act = (lambda t: F.leaky_relu(t, 0.2)) if leaky else F.relu
        n = (depth - 4) // 6
        self.stem = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        blocks, cin = [], 16
        for g in range(3):
            cout = (16 << g) * width
            for k in range(n):
                blocks.append(Block(cin, cout, 2 if k == 0 and g > 0 else 1, norm, self.act))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.norm = norm(cin)
        self.head = nn.Linear(cin, classes)

    def forward(self, x):
        h = self.act(self.norm(self.blocks(self.stem(x))))
        return self.head(h.mean((2, 3)))


def l2_step(x, g, step):
    norm = g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
    return x + step * g / norm


class JemStep:
    def __init__(self, model, batch, device, autocast):
        self.model, self.batch, self.dev, self.autocast = model, batch, device, autocast
        self.opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        self.buffer = torch.rand(10000, 3, 32, 32, device=device) * 2 - 1

    def f(self, x):
        with self.autocast():
            return self.model(x).float().logsumexp(1)

    def __call__(self, x_p, x_lab, y_lab):
        b = self.batch
        idx = torch.randint(0, self.buffer.shape[0], (b,), device=self.dev)
        fresh = (torch.rand(b, device=self.dev) < 0.05).float().view(-1, 1, 1, 1)
        x_k = fresh * (torch.rand(b, 3, 32, 32, device=self.dev) * 2 - 1) + (1 - fresh) * self.buffer[idx]
        self.model.eval()
        for _ in range(20):
            x_k.requires_grad_(True)
            g = torch.autograd.grad(self.f(x_k).sum(), [x_k])[0]
            x_k = x_k.detach() + 1.0 * g + 0.01 * torch.randn_like(x_k)
        self.model.train()
        x_q = x_k.detach()
        self.buffer[idx] = x_q
        with self.autocast():
            logits_lab = self.model(x_lab)
        loss = -(self.f(x_p).mean() - self.f(x_q).mean()) + F.cross_entropy(logits_lab.float(), y_lab)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()


class DatStep:
    def __init__(self, model, batch, device, autocast):
        self.model, self.batch, self.dev, self.autocast = model, batch, device, autocast
        self.opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, nesterov=True, weight_decay=5e-4)
        model.eval()  # stage 2: BatchNorm frozen (wide_resnet_innoutrobustness.py:128-141)

    def logits(self, x):
        with self.autocast():
            return self.model(x).float()

    def attack(self, x, y):  # PGD-10, L2 ball 0.5, last iterate
        x_adv = x.clone()
        for _ in range(10):
            x_adv.requires_grad_(True)
            g = torch.autograd.grad(F.cross_entropy(self.logits(x_adv), y), [x_adv])[0]
            x_adv = l2_step(x_adv.detach(), g, 0.1)
            d = x_adv - x
            d = d * (0.5 / d.flatten(1).norm(dim=1).clamp_min(1e-12)).clamp(max=1.0).view(-1, 1, 1, 1)
            x_adv = (x + d).clamp(0, 1)
        return x_adv.detach()

    def contrastive(self, y):  # PGD-20, unbounded L2, ascend f(x)[y], from U(0,1)
        x_c = torch.rand(self.batch, 3, 32, 32, device=self.dev)
        for _ in range(20):
            x_c.requires_grad_(True)
            g = torch.autograd.grad(self.logits(x_c).gather(1, y[:, None]).sum(), [x_c])[0]
            x_c = l2_step(x_c.detach(), g, 0.5).clamp(0, 1)
        return x_c.detach()

    def __call__(self, x, y, x_ebm, y_ebm):
        x_adv, x_c = self.attack(x, y), self.contrastive(y_ebm)
        scores = torch.cat([self.logits(x_ebm).logsumexp(1), self.logits(x_c).logsumexp(1)])
        target = torch.cat([torch.ones(self.batch, device=self.dev), torch.zeros(self.batch, device=self.dev)])
        loss = F.cross_entropy(self.logits(x_adv), y) + F.binary_cross_entropy_with_logits(scores, target)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--step", choices=["jem", "dat"], required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--steps", type=int, default=20, help="timed steps (default 20)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first (default 5)")
    ap.add_argument("--depth", type=int, default=28)
    ap.add_argument("--width", type=int, default=10)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch's default)")
    a = ap.parse_args()
    if (a.depth - 4) % 6 or a.steps < 1 or a.warmup < 0:
        sys.exit("gpu_steps.py: depth must be 6n+4, steps >= 1, warmup >= 0")
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    torch.manual_seed(0)
    cuda = dev.type == "cuda"
    def autocast():
        return torch.autocast(dev.type, dtype=torch.bfloat16) if a.precision == "bf16" else contextlib.nullcontext()
    model = Wrn(a.depth, a.width, 10, batchnorm=a.step == "dat", leaky=a.step == "jem").to(dev)
    step = (JemStep if a.step == "jem" else DatStep)(model, a.batch, dev, autocast)

    def batch():
        return torch.rand(a.batch, 3, 32, 32, device=dev), torch.randint(0, 10, (a.batch,), device=dev)

    def one():
        (x1, _), (x2, y2) = batch(), batch()
        if a.step == "jem":
            step(x1 * 2 - 1, x2 * 2 - 1, y2)
        else:
            (x, y), (xe, ye) = batch(), batch()
            step(x, y, xe, ye)

    def sync():
        if cuda:
            torch.cuda.synchronize(dev)

    for _ in range(a.warmup):
        one()
    sync()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        one()
    sync()
    ms = (time.perf_counter() - t0) / a.steps * 1e3
    print(json.dumps({
        "step": a.step, "precision": a.precision, "device": str(dev),
        "gpu": torch.cuda.get_device_name(dev) if cuda else "",
        "ms_per_step": round(ms, 3), "steps": a.steps, "warmup": a.warmup,
        "params": sum(p.numel() for p in model.parameters()),
        "depth": a.depth, "width": a.width, "batch": a.batch, "torch": torch.__version__,
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32, "tf32_cudnn": torch.backends.cudnn.allow_tf32,
    }))


if __name__ == "__main__":
    main()
