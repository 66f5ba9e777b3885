#!/usr/bin/env bash
# Issue 8, experiment 5: counterfactual strips from the DAT model versus the plain classifier.
#
# A counterfactual moves a test image toward another class by projected gradient descent on
# the joint energy E(x, target) = -f(x)[target] inside an L2 ball (`ebmlab counterfactual`,
# docs/evaluation.md). A robust (DAT) model should turn the image into something that looks
# like the target class; a plain cross-entropy classifier reaches the target class with an
# imperceptible, noise-like change.
#
# The command sequence (run from the repository root):
#
#   build/ebmlab run experiments/jem_vs_atebm.toml --jobs 2     # trains variants ce and dat (among others)
#   tools/counterfactuals.sh runs/jem_vs_atebm.h5 docs/figures/counterfactuals
#
# which runs, for every (input, target) pair and each variant (dat first, then ce),
#
#   build/ebmlab counterfactual runs/jem_vs_atebm.h5 --variant dat --input I --target C \
#       --norm l2 --eps 5 --steps 60 --frames 10 --out OUT/cf-dat-I-to-C.png
#
# (each adds a /posthoc/<n> record of kind "counterfactual" to the variant's log), then
#
#   tools/plot.py samples runs/jem_vs_atebm.h5 --variant dat --posthoc <n> --out OUT/strip-dat-I-to-C.png
#
# and finally draws OUT/counterfactuals.png (one row per pair and variant, the path from the
# input on the left to the counterfactual on the right, each frame titled with the predicted
# class and p(target)) and writes OUT/counterfactuals.csv (per strip: source and target class,
# p(target) and p(source) at the end, E(x, target) at both ends, L2 distance moved).
#
# usage: tools/counterfactuals.sh RUN.h5 OUTDIR
# settings (environment variables, defaults in brackets):
#   VARIANTS   variants to explain, in order ["dat ce"]; exact expanded names (with a seed sweep
#              e.g. "dat-seed=0 ce-seed=0"; `ebmlab run FILE --dry-run` lists them)
#   PAIRS      input:target pairs, test-image index : class ["0:7 1:0 2:3 8:9 9:5"]
#              Fashion-MNIST test images 0..9 are ankle boot, pullover, trouser, trouser, shirt,
#              trouser, coat, shirt, sandal, sneaker; classes 0 T-shirt/top, 1 trouser,
#              2 pullover, 3 dress, 4 coat, 5 sandal, 6 shirt, 7 sneaker, 8 bag, 9 ankle boot.
#              The defaults: ankle boot -> sneaker, pullover -> T-shirt, trouser -> dress,
#              sandal -> ankle boot, sneaker -> sandal.
#   NORM [l2]  EPS [5]  STEPS [60]  ALPHA [0 = 2.5 eps / steps]  FRAMES [10]
#   CHECKPOINT [last]  WEIGHTS [auto: EMA for DAT's generative stage]  SEED [0]  THREADS [2]
#   EBMLAB [build/ebmlab]  PYTHON [/usr/bin/python3]
# Each call adds a /posthoc/<n> record to the variant's log (runs/<exp>/<variant>.h5); the run
# must not be running. Tested on a 20-step two-variant (ce, dat) Fashion-MNIST run in /tmp.
# Time: a few seconds per strip (process start and loading the test split dominate), well under
# a minute for the defaults. Exit codes: 0 ok, 2 bad arguments or a missing run/variant, else the
# failing command's code.
set -euo pipefail

usage() { sed -n '/^# usage:/,/^# Time:/p' "$0" | sed 's/^# \{0,1\}//' | sed '$d'; }

if [[ $# -eq 1 && ( "$1" == "-h" || "$1" == "--help" ) ]]; then usage; exit 0; fi
if [[ $# -ne 2 ]]; then usage >&2; exit 2; fi

RUN=$1
OUT=$2
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EBMLAB=${EBMLAB:-$ROOT/build/ebmlab}
PYTHON=${PYTHON:-/usr/bin/python3}
VARIANTS=${VARIANTS:-"dat ce"}
PAIRS=${PAIRS:-"0:7 1:0 2:3 8:9 9:5"}
NORM=${NORM:-l2}
EPS=${EPS:-5}
STEPS=${STEPS:-60}
ALPHA=${ALPHA:-0}
FRAMES=${FRAMES:-10}
CHECKPOINT=${CHECKPOINT:-last}
WEIGHTS=${WEIGHTS:-auto}
SEED=${SEED:-0}
THREADS=${THREADS:-2}

if [[ ! -f "$RUN" ]]; then echo "counterfactuals.sh: $RUN: no such run index file" >&2; exit 2; fi
for pair in $PAIRS; do
  if [[ ! "$pair" =~ ^[0-9]+:[0-9]+$ ]]; then
    echo "counterfactuals.sh: PAIRS: '$pair' is not INPUT:TARGET (two non-negative integers)" >&2; exit 2
  fi
done
# Every requested variant must be in the run (a clear message instead of ebmlab's per-call error).
"$PYTHON" - "$RUN" $VARIANTS <<'EOF' || exit 2
import sys, h5py
run, wanted = sys.argv[1], sys.argv[2:]
with h5py.File(run, "r") as f:
    have = list(f["variants"]) if "variants" in f else []
missing = [v for v in wanted if v not in have]
if missing:
    sys.exit(f"counterfactuals.sh: {run} has no variant {', '.join(missing)} (it has: {', '.join(have) or 'none'})")
EOF
mkdir -p "$OUT"

# The record number of the newest counterfactual of INPUT -> TARGET in VARIANT's log.
newest_record() {
  "$PYTHON" - "$RUN" "$1" "$2" "$3" <<'EOF'
import sys, h5py
run, variant, inp, tgt = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
with h5py.File(run, "r") as f:
    ph = f[f"variants/{variant}"].get("posthoc", {})
    keys = [int(k) for k in ph if ph[k].attrs["kind"] in (b"counterfactual", "counterfactual")
            and int(ph[k].attrs["input"]) == inp and int(ph[k].attrs["target_class"]) == tgt]
print(max(keys) if keys else "")
EOF
}

records=()   # variant:input:target:record, in drawing order
for pair in $PAIRS; do
  input=${pair%%:*}
  target=${pair##*:}
  for variant in $VARIANTS; do
    tag="$variant-$input-to-$target"
    cmd=("$EBMLAB" counterfactual "$RUN" --variant "$variant" --input "$input" --target "$target"
         --norm "$NORM" --eps "$EPS" --steps "$STEPS" --alpha "$ALPHA" --frames "$FRAMES"
         --checkpoint "$CHECKPOINT" --weights "$WEIGHTS" --seed "$SEED" --threads "$THREADS"
         --out "$OUT/cf-$tag.png")
    echo "+ ${cmd[*]}"
    "${cmd[@]}"
    n=$(newest_record "$variant" "$input" "$target")
    if [[ -z "$n" ]]; then echo "counterfactuals.sh: no counterfactual record found for $tag" >&2; exit 1; fi
    plot=("$PYTHON" "$ROOT/tools/plot.py" samples "$RUN" --variant "$variant" --posthoc "$n" --out "$OUT/strip-$tag.png")
    echo "+ ${plot[*]}"
    "${plot[@]}"
    records+=("$variant:$input:$target:$n")
  done
done

# One comparison figure and a table of numbers over all strips.
"$PYTHON" - "$RUN" "$OUT" "${records[@]}" <<'EOF'
import csv, sys
import h5py
import numpy as np
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

run, out, specs = sys.argv[1], sys.argv[2], sys.argv[3:]
rows, strips = [], []
with h5py.File(run, "r") as f:
    for spec in specs:
        variant, inp, tgt, n = spec.split(":")
        r = f[f"variants/{variant}/posthoc/{n}"]
        path = r["path"][()]                        # [F, C, H, W], frame 0 = the input
        prob = r["probabilities"][()]               # [F, K]
        src, tgt = int(r.attrs["source_class"]), int(r.attrs["target_class"])
        e_t = r["joint_energy_target"][()]
        moved = float(np.sqrt(((path[-1] - path[0]) ** 2).sum()))
        rows.append({"variant": variant, "input": int(inp), "source_class": src, "target_class": tgt,
                     "record": int(n), "p_target_start": float(prob[0, tgt]), "p_target_end": float(prob[-1, tgt]),
                     "p_source_end": float(prob[-1, src]), "pred_end": int(prob[-1].argmax()),
                     "e_target_start": float(e_t[0]), "e_target_end": float(e_t[-1]), "l2_moved": moved,
                     "eps": float(r.attrs["eps"]), "norm": r.attrs["norm"].decode() if isinstance(r.attrs["norm"], bytes) else str(r.attrs["norm"]),
                     "weights": r.attrs["weights"].decode() if isinstance(r.attrs["weights"], bytes) else str(r.attrs["weights"])})
        strips.append((variant, path, prob, tgt))

with open(f"{out}/counterfactuals.csv", "w", newline="") as fh:
    w = csv.DictWriter(fh, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)

frames = max(p.shape[0] for _, p, _, _ in strips)
fig, axes = plt.subplots(len(strips), frames, figsize=(0.9 * frames + 0.8, 1.05 * len(strips)), squeeze=False)
for i, (variant, path, prob, tgt) in enumerate(strips):
    for j in range(frames):
        ax = axes[i, j]
        ax.set_xticks([]); ax.set_yticks([])
        if j >= path.shape[0]:
            ax.axis("off"); continue
        img = path[j]
        img = img[0] if img.shape[0] == 1 else np.transpose(img, (1, 2, 0))
        ax.imshow(np.clip(img, 0, 1), cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
        ax.set_title(f"{prob[j].argmax()} p={prob[j, tgt]:.2f}", fontsize=6, pad=2)
        if j == 0:
            ax.set_ylabel(f"{variant}\n->{tgt}", fontsize=7)
fig.suptitle("counterfactual paths (input left; title: predicted class, p(target))", fontsize=8)
fig.tight_layout()
fig.savefig(f"{out}/counterfactuals.png", dpi=100)
for row in rows:
    print(f"{row['variant']:>12} input {row['input']:>4} {row['source_class']}->{row['target_class']}: "
          f"p(target) {row['p_target_start']:.3f} -> {row['p_target_end']:.3f}, moved L2 {row['l2_moved']:.2f}")
print(f"wrote {out}/counterfactuals.png and {out}/counterfactuals.csv")
EOF
