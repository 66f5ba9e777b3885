#!/usr/bin/env bash
# The peer environment of e2e.test_peer_attacks (issue 19, item 10): torchattacks 3.5.1 in a
# virtual environment over Debian's python3-torch (--system-site-packages, so both sides of
# the comparison run on the same LibTorch 1.13), installed without its dependencies.
#   tools/peer-env.sh        (README command 2 runs it; idempotent: seconds once made)
# Where: $EBMLAB_PEER_ENV, default ~/.cache/ebmlab-peer. Needs pip's package index once.
set -euo pipefail
env="${EBMLAB_PEER_ENV:-$HOME/.cache/ebmlab-peer}"
if ! "$env/bin/python" -c "import importlib.metadata as m; assert m.version('torchattacks') == '3.5.1'" 2>/dev/null; then
  rm -rf "$env"
  /usr/bin/python3 -m venv --system-site-packages "$env"
  "$env/bin/pip" install --quiet --no-deps torchattacks==3.5.1
fi
echo "peer-env: torchattacks 3.5.1 in $env"
