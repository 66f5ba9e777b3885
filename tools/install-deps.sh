#!/usr/bin/env bash
# Installs every Debian 12 package ebmlab needs to build, test and analyse runs.
# Idempotent: packages already present are skipped, so a second call costs seconds.
set -euo pipefail

packages=(
  # toolchain (a fresh Debian has neither compiler nor cmake)
  build-essential cmake ninja-build ccache pkg-config git
  # the sanitizer and fuzzing build (asan preset): clang 14 with libFuzzer and the sanitizer runtimes
  clang libclang-rt-14-dev
  # tools/lint.sh: formatting and static analysis, the same version 14 as clang
  clang-format-14 clang-tidy-14
  # tensors and autograd; OpenMP BLAS so it does not oversubscribe next to LibTorch
  libtorch-dev libopenblas0-openmp
  # data parallel: the c10d Gloo headers LibTorch needs
  libgloo-dev
  # Boost 1.81: DLL (header-only, needs filesystem), program_options, JSON
  libboost1.81-dev libboost-filesystem1.81-dev libboost-program-options1.81-dev
  libboost-json1.81-dev
  # descriptors, logging, compressed data, hashes, images
  libtomlplusplus-dev libhdf5-dev hdf5-tools zlib1g-dev libstb-dev
  # the real data
  dataset-fashion-mnist
  # tests and benchmarks
  doctest-dev libbenchmark-dev
  # analysis tools (h5py is also used by the end-to-end tests; torch by tools/convert_state_dict.py)
  python3 python3-h5py python3-numpy python3-matplotlib python3-pandas python3-torch
  # tools/torch2.sh (README command 2): a virtual environment holding a pip PyTorch 2.x
  python3-venv
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
