"""Plugins built to fail, found through EBMLAB_PLUGIN_PATH: exit 3, file + expected + found."""
import os

from common import args, case, expect, finish, run

A = args()
EXPECTED = {
    "wrong_abi": "ABI version mismatch: expected 2, found 100",
    "wrong_fingerprint": "fingerprint mismatch: expected {abi 2",
    "duplicate": "duplicate loss 'twice'",
    "null_factory": "expected a factory, found null",
    "no_symbol": "no entry symbol 'ebmlab_plugin_info'",
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


finish()
