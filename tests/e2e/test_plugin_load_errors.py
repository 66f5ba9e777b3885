"""Plugins built to fail, found through EBMLAB_PLUGIN_PATH: exit 3, file + expected + found.
Plugin safety: files or folders others can write are refused, a descriptor's [plugins]
paths load only with --allow-plugin-path, and `plugins --check` survives a library that
crashes or hangs while loading."""
import os
import re
import shutil
import stat

from common import args, case, expect, finish, run

A = args()
# The SDK version the binary was built with (the wrong_abi fixture declares it + 98).
with open(os.path.join(A.source, "include", "ebmlab", "plugin.hpp")) as _f:
    ABI = int(re.search(r"kAbiVersion = (\d+);", _f.read()).group(1))
WRONG_ABI = f"ABI version mismatch: expected {ABI}, found {ABI + 98}"
EXPECTED = {
    "wrong_abi": WRONG_ABI,
    "wrong_fingerprint": f"fingerprint mismatch: expected {{abi {ABI}",
    "duplicate": "duplicate loss 'twice'",
    "null_factory": "expected a factory, found null",
    "no_symbol": "no entry symbol 'ebmlab_plugin_info'",
    # links a stub libtorch_cpu.so.0.99 and aborts if opened: refused from its DT_NEEDED
    "foreign_torch": "refusing to load: it was built against another LibTorch: it links libtorch_cpu.so.0.99",
}


def check_defect(defect, message):
    path = os.path.join(A.fixtures, defect)
    lib = os.path.join(path, f"libebmlab_fixture_{defect}.so")
    for cmd in (["plugins"], ["validate", os.path.join(A.source, "experiments", "quickstart.toml")]):
        r = run(A.ebmlab, *cmd, env={"EBMLAB_PLUGIN_PATH": path})
        expect(r.returncode == 3, f"{defect} {cmd}: exit {r.returncode}: {r.stderr}")
        expect(lib in r.stderr and message in r.stderr, f"{defect}: {r.stderr}")


for defect, message in EXPECTED.items():
    def test(d, defect=defect, message=message):
        check_defect(defect, message)
    test.__name__ = f"rejects_{defect}"
    case(test)


@case
def good_fixture_is_listed(d):
    r = run(A.ebmlab, "plugins", "--kind", "sampler", env={"EBMLAB_PLUGIN_PATH": A.fixtures})
    expect(r.returncode == 0 and "fixture_sampler" in r.stdout, r.stdout + r.stderr)


@case
def clash_with_a_builtin_plugin(d):
    r = run(A.ebmlab, "plugins", env={"EBMLAB_PLUGIN_PATH": f"{A.fixtures}:{A.fixtures}/clashes_with_good"})
    expect(r.returncode == 3 and "duplicate loss 'fixture_loss': already provided by" in r.stderr, r.stderr)


@case
def throwing_factory_fails_the_variant(d):
    desc = os.path.join(d, "t.toml")
    with open(desc, "w") as f:
        f.write("""[experiment]
name = "t"
[data]
dataset = "toy2d"
[model]
backbone = { plugin = "mlp" }
[[stage]]
steps = 2
losses = [ { plugin = "fixture_bad" } ]
""")
    r = run(A.ebmlab, "run", desc, env={"EBMLAB_PLUGIN_PATH": os.path.join(A.fixtures, "throwing")}, cwd=d)
    expect(r.returncode == 1, f"exit {r.returncode}: {r.stderr}")
    expect("the plugin's factory threw: fixture factory refuses to build" in r.stderr, r.stderr)


GOOD = os.path.join(A.fixtures, "libebmlab_fixture_good.so")


def copy_good(folder, mode=0o644):
    os.makedirs(folder, exist_ok=True)
    dst = os.path.join(folder, "libebmlab_fixture_good.so")
    shutil.copy(GOOD, dst)
    os.chmod(dst, mode)
    return dst


@case
def plugin_file_writable_by_others_is_refused(d):
    folder = os.path.join(d, "p")
    for mode, who in ((0o666, "its group and all other users"), (0o664, "its group"), (0o646, "all other users")):
        lib = copy_good(folder, mode)
        r = run(A.ebmlab, "plugins", env={"EBMLAB_PLUGIN_PATH": folder})
        expect(r.returncode == 3, f"mode {oct(mode)}: exit {r.returncode}: {r.stderr}")
        expect(f"{lib}: refusing to load: the file {lib} is writable by {who} (mode 0{mode:o})" in r.stderr and
               f"chmod go-w {lib}" in r.stderr, r.stderr)
    os.chmod(lib, 0o644)
    r = run(A.ebmlab, "plugins", env={"EBMLAB_PLUGIN_PATH": folder})
    expect(r.returncode == 0 and "fixture_loss" in r.stdout, r.stderr)


@case
def plugin_folder_writable_by_others_is_refused_unless_sticky(d):
    folder = os.path.join(d, "shared")
    copy_good(folder)
    os.chmod(folder, 0o777)
    r = run(A.ebmlab, "plugins", env={"EBMLAB_PLUGIN_PATH": folder})
    expect(r.returncode == 3 and f"its folder {folder} is writable by its group and all other users (mode 0777) without "
           "the sticky bit" in r.stderr and f"chmod go-w {folder}" in r.stderr, r.stderr)
    os.chmod(folder, 0o1777)  # like /tmp: others cannot replace a file they do not own
    r = run(A.ebmlab, "plugins", env={"EBMLAB_PLUGIN_PATH": folder})
    expect(r.returncode == 0 and "fixture_loss" in r.stdout, r.stderr)
    os.chmod(folder, 0o755)


PATHS_DESC = """[plugins]
paths = ["{path}"]

[experiment]
name = "t"
[data]
dataset = "toy2d"
[model]
backbone = {{ plugin = "mlp" }}
[[stage]]
steps = 2
losses = [ {{ plugin = "fixture_loss", label = "x", inner = {{ tag = "t" }} }} ]
"""


@case
def descriptor_plugin_paths_need_allow_plugin_path(d):
    folder = os.path.join(d, "mine")
    copy_good(folder)
    desc = os.path.join(d, "t.toml")
    with open(desc, "w") as f:
        f.write(PATHS_DESC.format(path="mine"))
    for cmd in ("validate", "run"):
        r = run(A.ebmlab, cmd, desc, "--quiet" if cmd == "run" else "--json", cwd=d)
        expect(r.returncode == 2, f"{cmd}: exit {r.returncode}: {r.stderr}")
        expect(f"{desc}:2:" in r.stderr and "asks to load plugin code from " + folder in r.stderr and
               "--allow-plugin-path" in r.stderr, r.stderr)
    expect(not os.path.exists(os.path.join(d, "runs")), "a refused run wrote output")
    r = run(A.ebmlab, "validate", desc, "--allow-plugin-path", cwd=d)
    expect(r.returncode == 0, r.stderr)
    for extra in ([], ["--jobs", "2"]):
        r = run(A.ebmlab, "run", desc, "--allow-plugin-path", "--quiet", "--overwrite", *extra, cwd=d)
        expect(r.returncode == 0, f"{extra}: {r.stderr}")
    # A command-line override cannot add plugin code either.
    r = run(A.ebmlab, "validate", desc, "plugins.paths=[\"/tmp\"]", "--allow-plugin-path", cwd=d)
    expect(r.returncode == 2 and "plugin paths cannot be set from the command line" in r.stderr, r.stderr)
    with open(desc, "w") as f:
        f.write(PATHS_DESC.format(path="nowhere"))
    r = run(A.ebmlab, "validate", desc, "--allow-plugin-path", cwd=d)
    expect(r.returncode == 2 and f"{desc}:2:" in r.stderr and "no such file or folder" in r.stderr, r.stderr)


@case
def check_reports_a_good_library(d):
    r = run(A.ebmlab, "plugins", "--check", GOOD)
    expect(r.returncode == 0, r.stderr)
    expect("loss fixture_loss 0.1: 8 parameters" in r.stdout and f"{GOOD}: ok" in r.stdout, r.stdout)


@case
def check_survives_a_crashing_library(d):
    lib = os.path.join(A.fixtures, "crashing", "libebmlab_fixture_crashing.so")
    r = run(A.ebmlab, "plugins", "--check", lib)
    expect(r.returncode == 3, f"exit {r.returncode}: {r.stderr}")
    if "AddressSanitizer" in r.stderr:  # the asan build: ASan's handler reports the SEGV and exits 1
        expect("SEGV" in r.stderr and f"{lib}: not usable" in r.stderr, r.stderr)
    else:
        expect(f"{lib}: not usable: loading it killed the checking process with signal 11" in r.stderr, r.stderr)


@case
def check_survives_a_hanging_library(d):
    lib = os.path.join(A.fixtures, "hanging", "libebmlab_fixture_hanging.so")
    r = run(A.ebmlab, "plugins", "--check", lib, "--timeout", "2", timeout=60)
    expect(r.returncode == 3 and f"{lib}: not usable: loading it did not finish within 2 s" in r.stderr, r.stderr)


@case
def check_names_what_is_wrong(d):
    lib = os.path.join(A.fixtures, "wrong_abi", "libebmlab_fixture_wrong_abi.so")
    r = run(A.ebmlab, "plugins", "--check", lib)
    expect(r.returncode == 3 and WRONG_ABI in r.stderr and "not usable" in r.stderr,
           r.stderr)
    clash = os.path.join(A.fixtures, "clashes_with_good", "libebmlab_fixture_clashes_with_good.so")
    r = run(A.ebmlab, "plugins", "--check", clash, env={"EBMLAB_PLUGIN_PATH": A.fixtures})
    expect(r.returncode == 3 and "loss 'fixture_loss' is also provided by " + GOOD in r.stderr, r.stderr)


REF_DESC = """[plugins]
paths = ["mine"]

[experiment]
name = "{name}"
[data]
dataset = "toy2d"
[model]
backbone = {{ plugin = "{backbone}" }}
[[stage]]
steps = 2
losses = [ {{ plugin = "ce" }} ]
{metric}
"""

QUALITY_METRIC = """[[metric]]
plugin = "sample_quality"
feature_net = "{ckpt}"
max_images = 20
kid_subsets = 2
kid_subset_size = 10
"""


@case
def reference_networks_use_the_commands_plugins(d):
    """A metric's reference network (StepContext::embed) is built with the plugins of the
    command itself: a backbone loaded only through [plugins] paths + --allow-plugin-path
    builds the feature net too (the evaluation services used to open a second registry
    that saw the search path alone)."""
    folder = os.path.join(d, "mine")
    os.makedirs(folder)
    shutil.copy(os.path.join(A.fixtures, "backbone", "libebmlab_fixture_backbone.so"), folder)
    ref = os.path.join(d, "ref.toml")
    with open(ref, "w") as f:
        f.write(REF_DESC.format(name="ref", backbone="fixture_linear", metric=""))
    r = run(A.ebmlab, "run", ref, "--allow-plugin-path", "--quiet", "--threads", "1", cwd=d)
    expect(r.returncode == 0, r.stderr)
    ckpts = sorted(f for f in os.listdir(os.path.join(d, "runs", "ref", "main")) if f.startswith("ckpt-") and f.endswith(".h5"))
    expect(ckpts, "the reference run wrote no checkpoint")
    ckpt = os.path.join(d, "runs", "ref", "main", ckpts[-1])
    use = os.path.join(d, "use.toml")
    with open(use, "w") as f:
        f.write(REF_DESC.format(name="use", backbone="mlp", metric=QUALITY_METRIC.format(ckpt=ckpt)))
    r = run(A.ebmlab, "run", use, "--allow-plugin-path", "--quiet", "--threads", "1", cwd=d)
    expect(r.returncode == 0, r.stderr)
    import h5py
    with h5py.File(os.path.join(d, "runs", "use", "main.h5"), "r") as f:
        names = []
        f.visit(names.append)
        fid = [n for n in names if n.startswith("eval/test/sample_quality/") and n.endswith("fid")]
        expect(fid, f"no sample_quality FID in the log: {names}")
        for n in fid:
            value = f[n][-1]["value"]
            expect(value == value and value >= 0, f"{n} = {value}")


finish()
