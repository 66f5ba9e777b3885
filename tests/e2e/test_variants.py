"""Descriptors that expand to many variants, through the real CLI: includes (merge order,
nesting, cycles, missing files), [variants] crossed with [sweep] (names from the naming
rule, zip groups, seeds), command-line overrides (typed like the file, recorded in the
index, errors naming the override), per-variant validation errors, --dry-run and --only."""
import json
import os

import h5py

from common import TOY, args, case, expect, finish, run, write

A = args()

# A few steps of the toy model: every run here takes well under a second per variant.
BASE = TOY.replace("epochs = 3", "steps = 5")


def validate_json(desc, *overrides, cwd=None):
    r = run(A.ebmlab, "validate", desc, *overrides, "--json", cwd=cwd)
    expect(r.returncode == 0, f"validate {overrides}: exit {r.returncode}: {r.stderr}")
    return json.loads(r.stdout)


def dry_run(desc, *extra, cwd=None):
    r = run(A.ebmlab, "run", desc, *extra, "--dry-run", cwd=cwd)
    expect(r.returncode == 0, f"--dry-run {extra}: exit {r.returncode}: {r.stderr}")
    names = [line.strip() for line in r.stdout.splitlines() if line.strip()]
    expect(len(names) == len(set(names)), f"duplicate names: {names}")
    return names


def parts(name):
    """'a-x=1-seed=0' -> ('a', {'x': '1', 'seed': '0'}) (no value here contains '-')."""
    head, fields = None, {}
    for p in name.split("-"):
        if "=" in p:
            k, v = p.split("=", 1)
            fields[k] = v
        else:
            expect(head is None and not fields, f"{name}: the variant name must come first")
            head = p
    return head, fields


def nothing_written(d):
    return not os.path.exists(os.path.join(d, "runs"))


def log_names(d, experiment="toy"):
    folder = os.path.join(d, "runs", experiment)
    return sorted(f[:-3] for f in os.listdir(folder) if f.endswith(".h5"))


def attr_str(v):
    return v.decode() if isinstance(v, bytes) else str(v)


# ---------------------------------------------------------------- includes

@case
def include_merge_order(d):
    # Two includes set the same keys: the later include wins over the earlier, the
    # including file wins over both; tables merge key by key, arrays replace.
    write(os.path.join(d, "first.toml"), BASE.replace('name = "toy"', 'name = "first"').replace(
        "batch_size = 32", "batch_size = 16").replace("hidden = [32, 32]", 'hidden = [8, 8], activation = "silu"'))
    write(os.path.join(d, "second.toml"), """[data]
batch_size = 24
toy = "rings"

[experiment]
name = "second"
seed = 7
""")
    main = write(os.path.join(d, "main.toml"), """include = ["first.toml", "second.toml"]

[experiment]
name = "main"

[model.backbone]
hidden = [4]
""")
    cfg = validate_json(main, cwd="/")["main"]
    expect(cfg["experiment"]["name"] == "main", f"the including file wins: {cfg['experiment']}")
    expect(cfg["experiment"]["seed"] == 7, f"the later include wins over the earlier: {cfg['experiment']}")
    expect(cfg["data"]["batch_size"] == 24, f"the later include wins: {cfg['data']}")
    expect(cfg["data"]["toy"] == "rings" and cfg["data"]["toy_samples"] == 2000, f"tables merge: {cfg['data']}")
    expect(cfg["model"]["backbone"]["hidden"] == [4], f"arrays replace: {cfg['model']}")
    expect(cfg["model"]["backbone"]["activation"] == "silu", f"tables merge key by key: {cfg['model']}")
    expect(cfg["stage"][0]["steps"] == 5, cfg["stage"])
    # Reversing the order of the includes reverses who wins between them.
    main2 = write(os.path.join(d, "main2.toml"), open(main).read().replace('"first.toml", "second.toml"', '"second.toml", "first.toml"'))
    cfg = validate_json(main2)["main"]
    expect(cfg["data"]["batch_size"] == 16 and cfg["data"]["toy"] == "moons", f"first.toml now wins: {cfg['data']}")
    expect(cfg["experiment"]["seed"] == 1 and cfg["experiment"]["name"] == "main", cfg["experiment"])


@case
def nested_includes_resolve_relative_to_the_including_file(d):
    os.makedirs(os.path.join(d, "shared", "deep"))
    write(os.path.join(d, "shared", "deep", "core.toml"), BASE)
    write(os.path.join(d, "shared", "mid.toml"), """include = ["deep/core.toml"]

[data]
batch_size = 8
""")
    main = write(os.path.join(d, "exp.toml"), """include = ["shared/mid.toml"]

[experiment]
name = "nested"
""")
    # Run from an unrelated folder: paths are relative to the including file, not the cwd.
    other = os.path.join(d, "elsewhere")
    os.makedirs(other)
    cfg = validate_json(main, cwd=other)["main"]
    expect(cfg["data"]["batch_size"] == 8 and cfg["data"]["dataset"] == "toy2d", cfg["data"])
    expect(cfg["experiment"]["name"] == "nested" and cfg["experiment"]["seed"] == 1, cfg["experiment"])
    r = run(A.ebmlab, "run", main, "--quiet", "--threads", "1", cwd=other)
    expect(r.returncode == 0, f"exit {r.returncode}: {r.stderr}")
    with h5py.File(os.path.join(other, "runs", "nested.h5"), "r") as f:
        log = f["variants/main"]
        expect(log["status"][()].rstrip(b"\0") == b"completed", log["status"][()])
        expect(len(log["curves/train/loss"]) == 5, len(log["curves/train/loss"]))
        expect(json.loads(log["config"][()].decode())["data"]["batch_size"] == 8, "config of the merged tree")


@case
def include_cycle_names_both_files(d):
    a = write(os.path.join(d, "alpha.toml"), 'include = ["beta.toml"]\n' + BASE)
    write(os.path.join(d, "beta.toml"), 'include = ["alpha.toml"]\n[data]\nbatch_size = 8\n')
    for cmd in ("validate", "run"):
        r = run(A.ebmlab, cmd, a, cwd=d)
        expect(r.returncode == 2, f"{cmd}: exit {r.returncode}: {r.stderr}")
        expect("alpha.toml" in r.stderr and "beta.toml" in r.stderr, f"{cmd}: both files named: {r.stderr}")
        expect("cycle" in r.stderr.lower() or "circular" in r.stderr.lower(), r.stderr)
    expect(nothing_written(d), "output written despite the include cycle")
    # A file including itself is the smallest cycle.
    s = write(os.path.join(d, "self.toml"), 'include = ["self.toml"]\n' + BASE)
    r = run(A.ebmlab, "validate", s)
    expect(r.returncode == 2 and "self.toml" in r.stderr, r.stderr)


@case
def missing_include_is_named(d):
    main = write(os.path.join(d, "main.toml"), 'include = ["no_such_base.toml"]\n' + BASE)
    r = run(A.ebmlab, "run", main, cwd=d)
    expect(r.returncode == 2, f"exit {r.returncode}: {r.stderr}")
    expect("no_such_base.toml" in r.stderr, r.stderr)
    expect(f"{main}:1:" in r.stderr, f"the include's place in the including file: {r.stderr}")
    expect(nothing_written(d), "output written despite a missing include")


@case
def validation_error_inside_an_include_names_that_file(d):
    base = write(os.path.join(d, "base.toml"), BASE.replace("batch_size = 32", "batch_size = 0"))
    main = write(os.path.join(d, "main.toml"), 'include = ["base.toml"]\n[experiment]\nname = "x"\n')
    r = run(A.ebmlab, "validate", main)
    expect(r.returncode == 2, r.stderr)
    expect(f"{base}:10:14: 'data.batch_size'" in r.stderr, f"expected {base}:10:14: {r.stderr}")


# ---------------------------------------------------------------- variants, sweeps, names

VARIANTS = """include = ["base.toml"]

[variants.narrow.model.backbone]
hidden = [8]

[variants.wide.model.backbone]
hidden = [64]

[sweep]
"model.backbone.activation" = ["relu", "silu"]
seeds = [0, 1]
"""


@case
def variants_include_and_sweep_expand_to_named_variants(d):
    write(os.path.join(d, "base.toml"), BASE)
    main = write(os.path.join(d, "main.toml"), VARIANTS)
    expected = [f"{v}-activation={a}-seed={s}" for v in ("narrow", "wide") for a in ("relu", "silu") for s in (0, 1)]
    names = dry_run(main, cwd=d)
    expect(sorted(names) == sorted(expected), f"names {names}, expected {expected}")
    expect(dry_run(main, cwd=d) == names, "the expansion order is not stable")
    expect(nothing_written(d), "--dry-run wrote output")
    cfg = validate_json(main)
    expect(sorted(cfg) == sorted(expected), sorted(cfg))
    for name in expected:
        variant, f = parts(name)
        c = cfg[name]
        expect(c["model"]["backbone"]["hidden"] == ([8] if variant == "narrow" else [64]), (name, c["model"]))
        expect(c["model"]["backbone"]["activation"] == f["activation"], (name, c["model"]))
        expect(c["experiment"]["seed"] == int(f["seed"]), (name, c["experiment"]))
        expect(c["data"]["batch_size"] == 32 and c["stage"][0]["steps"] == 5, (name, "base from the include"))


@case
def sweep_without_variants_and_label_rules(d):
    # No [variants]: no prefix. `plugin` and `name` label by the segment before them.
    text = BASE + """
[sweep]
"model.norm.plugin" = ["none", "layer"]
"stage.0.optimizer.name" = ["sgd", "adam"]
seeds = [3]
"""
    desc = write(os.path.join(d, "s.toml"), text)
    names = dry_run(desc)
    expected = [f"norm={n}-optimizer={o}-seed=3" for n in ("none", "layer") for o in ("sgd", "adam")]
    expect(sorted(names) == sorted(expected), f"names {names}, expected {expected}")
    cfg = validate_json(desc)
    c = cfg["norm=layer-optimizer=sgd-seed=3"]
    expect(c["model"]["norm"]["plugin"] == "layer" and c["stage"][0]["optimizer"]["name"] == "sgd", c)
    expect(c["stage"][0]["optimizer"]["lr"] == 0.01, "the swept table keeps its other keys")
    # Plain [variants] without a sweep keep their names.
    plain = write(os.path.join(d, "p.toml"), BASE + "\n[variants.a.data]\nbatch_size = 8\n\n[variants.b.data]\nbatch_size = 16\n")
    expect(sorted(dry_run(plain)) == ["a", "b"], dry_run(plain))
    expect(dry_run(write(os.path.join(d, "m.toml"), BASE)) == ["main"], "a plain descriptor is 'main'")


@case
def zip_groups_move_together(d):
    text = BASE + """
[sweep]
seeds = [0, 1]

[sweep.zip]
"data.batch_size" = [16, 32]
"stage.0.steps" = [3, 6]
"""
    desc = write(os.path.join(d, "z.toml"), text)
    names = dry_run(desc)
    expect(len(names) == 4, f"2 zipped values x 2 seeds, found {names}")
    got = sorted(tuple(sorted(parts(n)[1].items())) for n in names)
    want = sorted(tuple(sorted({"batch_size": b, "steps": s, "seed": seed}.items()))
                  for b, s in (("16", "3"), ("32", "6")) for seed in ("0", "1"))
    expect(got == want, f"names {names}")
    cfg = validate_json(desc)
    for name, c in cfg.items():
        expect((c["data"]["batch_size"], c["stage"][0]["steps"]) in ((16, 3), (32, 6)), (name, "zipped values moved apart"))
        expect(str(c["data"]["batch_size"]) == parts(name)[1]["batch_size"], name)
    bad = write(os.path.join(d, "bad.toml"), text.replace("[3, 6]", "[3]"))
    for cmd in (["validate", bad], ["run", bad, "--dry-run"], ["run", bad]):
        r = run(A.ebmlab, *cmd, cwd=d)
        expect(r.returncode == 2, f"{cmd}: exit {r.returncode}: {r.stderr}")
        expect("data.batch_size" in r.stderr and "stage.0.steps" in r.stderr, f"both zipped keys named: {r.stderr}")
        expect(f"{bad}:" in r.stderr, f"the file is named: {r.stderr}")
    expect(nothing_written(d), "output written for an invalid sweep")
    notarray = write(os.path.join(d, "na.toml"), BASE + '\n[sweep]\n"data.batch_size" = 16\n')
    r = run(A.ebmlab, "validate", notarray)
    expect(r.returncode == 2 and "data.batch_size" in r.stderr and f"{notarray}:" in r.stderr, r.stderr)


@case
def seeds_sweep_changes_the_run(d):
    desc = write(os.path.join(d, "seeds.toml"), BASE + "\n[sweep]\nseeds = [0, 1]\n")
    expect(sorted(dry_run(desc)) == ["seed=0", "seed=1"], dry_run(desc))
    r = run(A.ebmlab, "run", desc, "--quiet", "--threads", "1", cwd=d)
    expect(r.returncode == 0, r.stderr)
    expect(log_names(d) == ["seed=0", "seed=1"], log_names(d))
    with h5py.File(os.path.join(d, "runs", "toy.h5"), "r") as f:
        expect(sorted(f["variants"]) == ["seed=0", "seed=1"], list(f["variants"]))
        resolved = json.loads(f["resolved"][()].decode())
        expect(resolved["seed=0"]["experiment"]["seed"] == 0 and resolved["seed=1"]["experiment"]["seed"] == 1, resolved.keys())
        a = f["variants/seed=0/curves/train/loss"][()]["value"]
        b = f["variants/seed=1/curves/train/loss"][()]["value"]
        expect(len(a) == 5 and len(b) == 5, (len(a), len(b)))
        expect(list(a) != list(b), "two seeds gave the same loss curve")


@case
def variants_sweep_run_writes_one_log_per_expanded_name(d):
    write(os.path.join(d, "base.toml"), BASE)
    main = write(os.path.join(d, "main.toml"), VARIANTS.replace('["relu", "silu"]', '["silu"]'))
    expected = ["narrow-activation=silu-seed=0", "narrow-activation=silu-seed=1",
                "wide-activation=silu-seed=0", "wide-activation=silu-seed=1"]
    r = run(A.ebmlab, "run", main, "--quiet", "--threads", "1", cwd=d)
    expect(r.returncode == 0, r.stderr)
    expect(log_names(d) == expected, log_names(d))
    with h5py.File(os.path.join(d, "runs", "toy.h5"), "r") as f:
        expect(sorted(f["variants"]) == expected, list(f["variants"]))
        for name in expected:
            log = f[f"variants/{name}"]
            expect(log["status"][()].rstrip(b"\0") == b"completed", (name, log["status"][()]))
            expect(attr_str(log.attrs["variant"]) == name, (name, log.attrs["variant"]))
            c = json.loads(log["config"][()].decode())
            expect(c["model"]["backbone"]["hidden"] == ([8] if name.startswith("narrow") else [64]), (name, c["model"]))


# ---------------------------------------------------------------- per-variant validation errors

@case
def per_variant_errors_name_the_variant_and_the_place(d):
    text = BASE + """
[variants.good.data]
batch_size = 16

[variants.broken.data]
batch_size = 0
"""
    desc = write(os.path.join(d, "v.toml"), text)
    line = text.splitlines().index("batch_size = 0") + 1
    for cmd in (["validate", desc], ["run", desc], ["run", desc, "--dry-run"]):
        r = run(A.ebmlab, *cmd, cwd=d)
        expect(r.returncode == 2, f"{cmd}: exit {r.returncode}: {r.stderr}")
        expect("variant 'broken'" in r.stderr, f"{cmd}: variant named: {r.stderr}")
        expect(f"{desc}:{line}:14: 'data.batch_size'" in r.stderr, f"{cmd}: expected {desc}:{line}:14: {r.stderr}")
        expect("variant 'good'" not in r.stderr, f"{cmd}: the valid variant is blamed: {r.stderr}")
    expect(nothing_written(d), "output written despite an invalid variant")
    # A swept value that is invalid: the error names the expanded variant and the sweep's line.
    sweep = BASE + '\n[sweep]\n"data.batch_size" = [16, 0]\n'
    desc = write(os.path.join(d, "s.toml"), sweep)
    line = sweep.splitlines().index('"data.batch_size" = [16, 0]') + 1
    r = run(A.ebmlab, "validate", desc)
    expect(r.returncode == 2, r.stderr)
    expect("variant 'batch_size=0'" in r.stderr and "variant 'batch_size=16'" not in r.stderr, r.stderr)
    expect(f"{desc}:{line}:" in r.stderr and "data.batch_size" in r.stderr, f"expected {desc}:{line}: {r.stderr}")


# ---------------------------------------------------------------- overrides

@case
def overrides_change_the_resolved_configuration(d):
    desc = write(os.path.join(d, "o.toml"), BASE)
    cfg = validate_json(desc, "stage.0.steps=7", "data.batch_size=16", "model.norm.plugin=layer",
                        "stage.0.optimizer.lr=0.05", 'experiment.description="two words"',
                        "model.backbone.hidden=[4, 4]", "data.toy=rings")["main"]
    expect(cfg["stage"][0]["steps"] == 7, cfg["stage"])
    expect(cfg["data"]["batch_size"] == 16 and cfg["data"]["toy"] == "rings", cfg["data"])
    expect(cfg["model"]["norm"]["plugin"] == "layer", f"bare word read as a string, table created: {cfg['model']}")
    expect(cfg["stage"][0]["optimizer"]["lr"] == 0.05 and cfg["stage"][0]["optimizer"]["name"] == "adam", cfg["stage"])
    expect(cfg["experiment"]["description"] == "two words", cfg["experiment"])
    expect(cfg["model"]["backbone"]["hidden"] == [4, 4] and cfg["model"]["backbone"]["plugin"] == "mlp", cfg["model"])
    # The same overrides drive a run, and are recorded in the index.
    given = ["stage.0.steps=7", "data.batch_size=16"]
    r = run(A.ebmlab, "run", desc, *given, "--quiet", "--threads", "1", cwd=d)
    expect(r.returncode == 0, r.stderr)
    with h5py.File(os.path.join(d, "runs", "toy.h5"), "r") as f:
        expect("overrides" in f.attrs, f"no overrides attribute: {list(f.attrs)}")
        expect(json.loads(attr_str(f.attrs["overrides"])) == given, f.attrs["overrides"])
        log = f["variants/main"]
        expect(len(log["curves/train/loss"]) == 7, f"{len(log['curves/train/loss'])} steps, override said 7")
        expect(json.loads(log["config"][()].decode())["data"]["batch_size"] == 16, "config lacks the override")
    # Without overrides the attribute is an empty array.
    r = run(A.ebmlab, "run", desc, "--quiet", "--threads", "1", "--overwrite", cwd=d)
    expect(r.returncode == 0, r.stderr)
    with h5py.File(os.path.join(d, "runs", "toy.h5"), "r") as f:
        expect(json.loads(attr_str(f.attrs["overrides"])) == [], f.attrs["overrides"])


@case
def overrides_apply_to_every_variant_or_edit_the_document(d):
    write(os.path.join(d, "base.toml"), BASE)
    main = write(os.path.join(d, "main.toml"), VARIANTS)
    # Plain paths apply after variant merge and sweep: they beat both.
    cfg = validate_json(main, "model.backbone.hidden=[2]", "experiment.seed=9")
    expect(len(cfg) == 8, sorted(cfg))
    for name, c in cfg.items():
        expect(c["model"]["backbone"]["hidden"] == [2], (name, c["model"]))
        expect(c["experiment"]["seed"] == 9, (name, c["experiment"]))
    # variants.* and sweep.* edit the document before expansion.
    cfg = validate_json(main, "variants.narrow.model.backbone.hidden=[3]")
    for name, c in cfg.items():
        expect(c["model"]["backbone"]["hidden"] == ([3] if name.startswith("narrow") else [64]), (name, c["model"]))
    names = dry_run(main, "sweep.seeds=[5]", cwd=d)
    expect(sorted(names) == sorted(f"{v}-activation={a}-seed=5" for v in ("narrow", "wide") for a in ("relu", "silu")), names)
    names = dry_run(main, "variants.extra.data.batch_size=8", cwd=d)
    expect(len(names) == 12 and sum(n.startswith("extra-") for n in names) == 4, f"a variant added by an override: {names}")
    cfg = validate_json(main, "variants.extra.data.batch_size=8")
    expect(cfg["extra-activation=relu-seed=0"]["data"]["batch_size"] == 8, "added variant")


@case
def bad_overrides_exit_2_naming_the_override(d):
    desc = write(os.path.join(d, "o.toml"), BASE)
    bad = [
        "stage.0.stepz=3",            # unknown key
        "stage.4.steps=3",            # array index out of range
        "data.batch_size=big",        # wrong type (a string)
        "data.batch_size=2.5",        # a real where an integer is declared
        "data.batch_size=0",          # out of range
        "stage.0.steps",              # no '='
        "=3",                         # no key
        "data.batch_size.x=1",        # a path through an integer
    ]
    for o in bad:
        for cmd in (["validate", desc, o], ["run", desc, o, "--quiet"]):
            r = run(A.ebmlab, *cmd, cwd=d)
            expect(r.returncode == 2, f"{cmd}: exit {r.returncode}: {r.stderr}")
            expect(o in r.stderr, f"{cmd}: the override text is not named: {r.stderr}")
    expect(nothing_written(d), "output written despite a bad override")
    # One bad override among good ones is still named on its own.
    r = run(A.ebmlab, "run", desc, "stage.0.steps=3", "data.batch_size=big", "--quiet", cwd=d)
    expect(r.returncode == 2 and "data.batch_size=big" in r.stderr, r.stderr)


# ---------------------------------------------------------------- --only, --dry-run, existing output

@case
def only_runs_the_matching_variants(d):
    desc = write(os.path.join(d, "v.toml"), BASE + """
[variants.narrow.model.backbone]
hidden = [8]

[variants.wide.model.backbone]
hidden = [64]

[sweep]
seeds = [0, 1]
""")
    all_names = ["narrow-seed=0", "narrow-seed=1", "wide-seed=0", "wide-seed=1"]
    expect(sorted(dry_run(desc)) == all_names, dry_run(desc))
    r = run(A.ebmlab, "run", desc, "--only", "wide-*,narrow-*=1", "--quiet", "--threads", "1", cwd=d)
    expect(r.returncode == 0, r.stderr)
    want = ["narrow-seed=1", "wide-seed=0", "wide-seed=1"]
    expect(log_names(d) == want, f"logs {log_names(d)}, expected {want}")
    expect(not os.path.exists(os.path.join(d, "runs", "toy", "narrow-seed=0")), "a skipped variant wrote checkpoints")
    with h5py.File(os.path.join(d, "runs", "toy.h5"), "r") as f:
        expect(set(want) <= set(f["variants"]), list(f["variants"]))
        for v in want:
            expect(f[f"variants/{v}/status"][()].rstrip(b"\0") == b"completed", v)
    # --only selects before validation: a broken variant that is not selected does not stop
    # validate or run (a sweep of many variants can be run a part at a time).
    broken = write(os.path.join(d, "broken.toml"), BASE + """
[variants.good.model.backbone]
hidden = [8]

[variants.bad.model.backbone]
hiden = [8]
""")
    r = run(A.ebmlab, "validate", broken, cwd=d)
    expect(r.returncode == 2 and "hiden" in r.stderr and "'bad'" in r.stderr, f"exit {r.returncode}: {r.stderr}")
    r = run(A.ebmlab, "validate", broken, "--only", "good", cwd=d)
    expect(r.returncode == 0 and "1 variant: good" in r.stdout, f"exit {r.returncode}: {r.stdout}{r.stderr}")
    expect(dry_run(broken, "--only", "good") == ["good"], dry_run(broken, "--only", "good"))
    r = run(A.ebmlab, "run", broken, "--only", "bad", "--dry-run", cwd=d)
    expect(r.returncode == 2 and "hiden" in r.stderr, f"exit {r.returncode}: {r.stderr}")
    # No match: an error, nothing written.
    e = os.path.join(d, "empty")
    os.makedirs(e)
    r = run(A.ebmlab, "run", desc, "--only", "nothing*", "--quiet", cwd=e)
    expect(r.returncode == 2, f"exit {r.returncode}: {r.stderr}")
    expect("nothing*" in r.stderr, r.stderr)
    expect(nothing_written(e), "output written although no variant matched")


@case
def existing_output_needs_overwrite_or_resume(d):
    desc = write(os.path.join(d, "v.toml"), BASE + "\n[sweep]\nseeds = [0, 1]\n")
    r = run(A.ebmlab, "run", desc, "--quiet", "--threads", "1", cwd=d)
    expect(r.returncode == 0, r.stderr)
    files = [os.path.join(d, "runs", "toy.h5")] + [os.path.join(d, "runs", "toy", f"seed={s}.h5") for s in (0, 1)]
    before = [open(p, "rb").read() for p in files]
    for extra in ([], ["--only", "seed=1"], ["stage.0.steps=3"]):
        r = run(A.ebmlab, "run", desc, *extra, cwd=d)
        expect(r.returncode == 2, f"{extra}: exit {r.returncode}: {r.stderr}")
        expect("--overwrite" in r.stderr, f"{extra}: the way out is not named: {r.stderr}")
    expect([open(p, "rb").read() for p in files] == before, "existing output was modified")
    # --dry-run never minds existing output.
    expect(sorted(dry_run(desc, cwd=d)) == ["seed=0", "seed=1"], "dry run on existing output")


finish()
