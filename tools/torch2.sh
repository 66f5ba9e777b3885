#!/usr/bin/env bash
# Builds ebmlab against the LibTorch inside a pip-installed PyTorch 2.x (issue 18; docs/gpu.md).
#   tools/torch2.sh [--venv DIR] [--torch VERSION] [--test] [target ...]
#     --venv DIR       the virtual environment holding torch (default ~/.cache/ebmlab-torch2;
#                      created with `pip install torch==VERSION` when it has no torch)
#     --torch VERSION  the PyTorch to install there (default 2.11.0: the package index's
#                      CUDA 13.0 build, ~0.9 GB and ~3 GB with its nvidia-* wheels)
#     --test           then run the unit tests (ctest --preset torch2-unit) on the CPU
#     target ...       what to build (default: everything the preset builds)
# The preset `torch2` (build-torch2/) takes that torch's folder as CMAKE_PREFIX_PATH, so its
# libtorch.so is found before Debian's (whose /usr/lib a pip TorchConfig searches first
# when only share/cmake is given).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${HOME}/.cache/ebmlab-torch2" version=2.11.0 test=0 targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --venv) venv="$2"; shift ;;
    --torch) version="$2"; shift ;;
    --test) test=1 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "torch2.sh: unknown option $1 (see tools/torch2.sh --help)" >&2; exit 2 ;;
    *) targets+=("$1") ;;
  esac
  shift
done
if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
  /usr/bin/python3 -m venv "$venv"   # Debian's Python (python3-venv, tools/install-deps.sh)
  "$venv/bin/pip" install --quiet "torch==$version"
fi
EBMLAB_TORCH_PREFIX=$("$venv/bin/python" -c "import os, torch; print(os.path.dirname(torch.__file__))" 2>/dev/null)
export EBMLAB_TORCH_PREFIX
echo "torch2.sh: LibTorch $("$venv/bin/python" -c "import torch; print(torch.__version__)" 2>/dev/null) from $EBMLAB_TORCH_PREFIX"
tools/build.sh torch2 "${targets[@]}"
if [ "$test" = 1 ]; then
  ctest --preset torch2-unit
fi
