"""Bad input through the real CLI: exit 2, file:line:column messages, nothing written."""
import json
import os

from common import TOY, args, case, expect, finish, run, write

A = args()


@case
def help_and_version(d):
    for cmd in (["--help"], ["run", "--help"], ["validate", "--help"], ["plugins", "--help"]):
        r = run(A.ebmlab, *cmd)
        expect(r.returncode == 0, f"{cmd}: exit {r.returncode}")
        expect("ebmlab" in r.stdout and ("usage" in r.stdout or "options" in r.stdout), r.stdout)
    r = run(A.ebmlab, "--version")
    expect(r.returncode == 0 and r.stdout.startswith("ebmlab 0."), r.stdout)
    expect(r.stdout.splitlines()[1].startswith("LibTorch "), r.stdout)
    expect("()" not in r.stdout.splitlines()[0], "no commit in: " + r.stdout)
    r = run(A.ebmlab, "plugins")
    expect(r.returncode == 0 and r.stdout.startswith("# LibTorch "), r.stdout[:200])
    r = run(A.ebmlab, "trian")
    expect(r.returncode == 2 and "unknown command 'trian'" in r.stderr, r.stderr)
    r = run(A.ebmlab, "run", "--threds", "2")
    expect(r.returncode == 2 and "threds" in r.stderr, r.stderr)


@case
def invalid_descriptor_writes_nothing(d):
    bad = write(os.path.join(d, "bad.toml"), TOY.replace('lr = 0.01', 'lr = "fast"').replace("epochs = 3", "epochs = 3\nepoch = 1"))
    r = run(A.ebmlab, "run", bad, cwd=d)
    expect(r.returncode == 2, f"exit {r.returncode}: {r.stderr}")
    expect(f"{bad}:18:9: unknown key 'stage.0.epoch'; did you mean 'epochs'?" in r.stderr, r.stderr)
    expect(f"{bad}:19:35: 'stage.0.optimizer.lr': expected real in [0, 10], found string \"fast\"" in r.stderr, r.stderr)
    expect(not os.path.exists(os.path.join(d, "runs")), "output written despite validation failure")
    r = run(A.ebmlab, "validate", bad)
    expect(r.returncode == 2 and "unknown key 'stage.0.epoch'" in r.stderr, r.stderr)


@case
def a_device_this_build_cannot_use_is_exit_2_before_anything_is_written(d):
    desc = write(os.path.join(d, "toy.toml"), TOY)
    r = run(A.ebmlab, "--version")
    if "built without CUDA" not in r.stdout and " 0 GPUs visible" not in r.stdout:
        print("  (a GPU is visible: the refusal of cuda is not testable here)")
        return
    for how in (["--device", "cuda"], ["experiment.device=cuda:0"]):
        r = run(A.ebmlab, "run", desc, *how, cwd=d)
        expect(r.returncode == 2, f"{how}: exit {r.returncode}: {r.stderr}")
        expect("cuda" in r.stderr and "LibTorch " in r.stderr and ('"cpu"' in r.stderr), f"{how}: {r.stderr}")
        expect(not os.path.exists(os.path.join(d, "runs")), f"{how}: something was written")
    # A name that is no device at all: located at its key, also for --device.
    bad = write(os.path.join(d, "bad.toml"), TOY.replace('name = "toy"', 'name = "toy"\ndevice = "gpu0"'))
    r = run(A.ebmlab, "validate", bad)
    expect(r.returncode == 2 and "bad.toml:" in r.stderr and "'experiment.device': expected" in r.stderr, r.stderr)
    r = run(A.ebmlab, "run", desc, "--device", "cuda:x", cwd=d)
    expect(r.returncode == 2 and "experiment.device=cuda:x" in r.stderr, r.stderr)
    # eval, sample and counterfactual take --device too, checked before they open anything.
    r = run(A.ebmlab, "eval", os.path.join(d, "missing.h5"), "--device", "cuda", cwd=d)
    expect(r.returncode == 2 and "--device" in r.stderr and "LibTorch " in r.stderr, r.stderr)


@case
def unknown_plugin_lists_available(d):
    bad = write(os.path.join(d, "bad.toml"), TOY.replace('plugin = "accuracy"', 'plugin = "acuracy"'))
    r = run(A.ebmlab, "validate", bad)
    expect(r.returncode == 2, r.stderr)
    expect(f"{bad}:22:10: 'metric.0.plugin': no metric plugin named 'acuracy'; did you mean 'accuracy'? (available: accuracy, ece, energy_stats, ood_auroc, robust_accuracy, sample_quality)"
           in r.stderr, r.stderr)


@case
def toml_syntax_error(d):
    bad = write(os.path.join(d, "bad.toml"), "[experiment]\nname = \"x\n")
    r = run(A.ebmlab, "run", bad, cwd=d)
    expect(r.returncode == 2 and f"{bad}:2:" in r.stderr and "TOML syntax error" in r.stderr, r.stderr)
    r = run(A.ebmlab, "run", os.path.join(d, "missing.toml"))
    expect(r.returncode == 2 and "cannot open the descriptor" in r.stderr, r.stderr)


@case
def existing_output_needs_overwrite(d):
    good = write(os.path.join(d, "toy.toml"), TOY.replace("epochs = 3", "steps = 5"))
    r = run(A.ebmlab, "run", good, "--quiet", cwd=d)
    expect(r.returncode == 0, r.stderr)
    index = os.path.join(d, "runs", "toy.h5")
    before = open(index, "rb").read()
    r = run(A.ebmlab, "run", good, cwd=d)
    expect(r.returncode == 2 and "output exists" in r.stderr and "--overwrite" in r.stderr, r.stderr)
    expect(open(index, "rb").read() == before, "existing output was modified")
    r = run(A.ebmlab, "run", good, "--quiet", "--overwrite", cwd=d)
    expect(r.returncode == 0, r.stderr)


@case
def corrupt_data_is_named(d):
    data = os.path.join(d, "fmnist")
    os.makedirs(data)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        src = os.path.join("/usr/share/datasets/fashion-mnist", name)
        blob = open(src, "rb").read()
        # Truncate the training images: the gzip trailer no longer matches the header.
        open(os.path.join(data, name), "wb").write(blob[: len(blob) // 3] if name.startswith("train-images") else blob)
    desc = write(os.path.join(d, "f.toml"), f"""[experiment]
name = "f"
[data]
dataset = "fashion_mnist"
path = "{data}"
[model]
backbone = {{ plugin = "convnet" }}
[[stage]]
steps = 1
losses = [ {{ plugin = "ce" }} ]
""")
    r = run(A.ebmlab, "run", desc, cwd=d)
    expect(r.returncode == 2, f"exit {r.returncode}: {r.stderr}")
    expect(os.path.join(data, "train-images-idx3-ubyte.gz") in r.stderr, r.stderr)
    expect(not os.path.exists(os.path.join(d, "runs")), "output written for unreadable data")


@case
def plugins_listing(d):
    r = run(A.ebmlab, "plugins", "--json")
    expect(r.returncode == 0, r.stderr)
    names = {(p["kind"], p["name"]) for p in json.loads(r.stdout)}
    for want in [("backbone", "mlp"), ("backbone", "convnet"), ("normalization", "none"), ("normalization", "batch"),
                 ("loss", "ce"), ("metric", "accuracy")]:
        expect(want in names, f"{want} not listed: {names}")
    r = run(A.ebmlab, "plugins", "--describe", "convnet")
    expect(r.returncode == 0 and "channels" in r.stdout and "array of integer in [1, 4096]" in r.stdout, r.stdout)
    r = run(A.ebmlab, "plugins", "--kind", "metric", "--json")
    expect([p["name"] for p in json.loads(r.stdout)] == ["accuracy", "ece", "energy_stats", "ood_auroc", "robust_accuracy", "sample_quality"], r.stdout)
    # A plugin without parameters says so instead of printing an empty "parameters:" line.
    r = run(A.ebmlab, "plugins", "--describe", "accuracy")
    expect(r.returncode == 0 and "  parameters: none\n" in r.stdout and "parameters:\n" not in r.stdout, r.stdout)
    r = run(A.ebmlab, "plugins", "--describe", "nope")
    expect(r.returncode == 2 and "no plugin named 'nope'" in r.stderr, r.stderr)


@case
def a_plugins_own_rule_fails_validation_before_anything_is_written(d):
    # pgd refuses targeted = true with an energy objective in its constructor: validate and
    # run build every component on the data set's description, so both exit 2 naming it.
    text = TOY + '\n[samplers.bad]\nplugin = "pgd"\ntargeted = true\nobjective = "energy"\n'
    desc = write(os.path.join(d, "rule.toml"), text)
    for cmd in ("validate", "run"):
        r = run(A.ebmlab, cmd, desc, cwd=d)
        expect(r.returncode == 2, f"{cmd}: exit {r.returncode}: {r.stderr}")
        expect("samplers.bad (pgd): targeted = true needs objective = \"ce\"" in r.stderr, r.stderr)
    expect(not os.path.exists(os.path.join(d, "runs")), "run wrote output before failing")


finish()
