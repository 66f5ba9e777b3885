#!/usr/bin/env bash
# The device check (docs/gpu.md): builds ebmlab against the LibTorch of the machine's pip
# PyTorch with its other libraries unpacked from Debian 12 .deb files into a private prefix
# (no root, no -dev packages, no network), runs the unit tests, quickstart on the GPU, the
# GPU checkpoint evaluated on the CPU, and a JEM step and a DAT stage-2 step through ebmlab
# against the same steps in eager PyTorch (tools/gpu_steps.py). One summary line per figure.
#   tools/gpu-check.sh [--debs DIR] [--python PY] [--out DIR] [--jobs N] [--build-only]
#     --debs DIR     the packages tools/fetch-debs.sh downloaded (default gpu-debs/)
#     --python PY    the Python whose PyTorch (any 2.x) to build against (default python3)
#     --out DIR      prefix, build, runs and summary.txt go here (default gpu-check-out/)
#     --jobs N       build and test jobs (default: all cores)
#     --build-only   stop after the build and the unit tests (what runs on a machine
#                    without a GPU: the check's build half)
#     --device DEV   where steps 5-6 run (default cuda; cpu tries the script itself out)
#     --small        WRN-10-1 and batch 8 in the step benchmark (a quick try of the script)
# Needs: an NVIDIA GPU (not with --build-only), that Python with PyTorch 2.x, CMake >= 3.25,
# a C++17 compiler, ninja or make, and nvcc of the PyTorch's CUDA major version when the
# PyTorch is a CUDA build. Stops early (exit 2) when these do not fit.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
debs=gpu-debs py=python3 out=gpu-check-out jobs=$(nproc) build_only=0 device=cuda small=0
while [ $# -gt 0 ]; do
  case "$1" in
    --debs) debs="$2"; shift ;;
    --python) py="$2"; shift ;;
    --out) out="$2"; shift ;;
    --jobs) jobs="$2"; shift ;;
    --build-only) build_only=1 ;;
    --device) device="$2"; shift ;;
    --small) small=1 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu-check: unknown argument $1 (see tools/gpu-check.sh --help)" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$out" && out=$(cd "$out" && pwd)
summary="$out/summary.txt"
: > "$summary"
t0=$(date +%s)
say() { echo "gpu-check: $*"; }
stop() { echo "gpu-check: STOP: $*" | tee -a "$summary" >&2; exit 2; }
figure() { echo "gpu-check | $*" | tee -a "$summary"; }
fail() { echo "gpu-check | FAIL $*" | tee -a "$summary"; failed=1; }
failed=0
elapsed() { echo $(($(date +%s) - t0)); }

# ---- 1. what the machine has --------------------------------------------------------------
command -v "$py" > /dev/null || stop "no Python '$py' (give --python)"
info=$("$py" - <<'PY' 2>/dev/null
import os, torch
cuda = torch.version.cuda or ""
n = torch.cuda.device_count() if cuda else 0
print(torch.__version__.split("+")[0], cuda or "-", n, os.path.dirname(torch.__file__),
      (torch.cuda.get_device_name(0) if n else "-").replace(" ", "_"))
PY
) || stop "'$py' has no importable torch (pip install torch==2.11.0)"
read -r torch_version torch_cuda gpus torch_dir gpu_name <<< "$info"
case "$torch_version" in 2.*) ;; *) stop "PyTorch $torch_version: ebmlab's second configuration needs 2.x (docs/gpu.md)";; esac
figure "machine: $(nproc) cores; PyTorch $torch_version (CUDA $torch_cuda) in $torch_dir; GPUs: $gpus (${gpu_name//_/ })"
if [ "$build_only" = 0 ] && [ "$device" != cpu ] && [ "$gpus" = 0 ]; then
  stop "no GPU visible to PyTorch $torch_version (CUDA $torch_cuda); --build-only builds and tests without one"
fi
libc=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
[ -n "$libc" ] || stop "cannot read the C library's version (getconf GNU_LIBC_VERSION): a glibc system is needed"
if [ "$(printf '%s\n2.36\n' "$libc" | sort -V | head -1)" != 2.36 ]; then
  stop "glibc $libc is older than Debian 12's 2.36, which the .deb libraries need; use a newer system or image"
fi
if [ "$torch_cuda" != "-" ]; then
  command -v nvcc > /dev/null || stop "PyTorch is a CUDA $torch_cuda build but no nvcc is on PATH (its CMake package needs the CUDA toolkit)"
  nvcc_version=$(nvcc --version | sed -n 's/.*release \([0-9.]*\),.*/\1/p')
  if [ "${nvcc_version%%.*}" != "${torch_cuda%%.*}" ]; then
    stop "nvcc is CUDA $nvcc_version but PyTorch was built with CUDA $torch_cuda: the major versions must match (put the matching toolkit's bin/ first on PATH)"
  fi
fi
command -v cmake > /dev/null || stop "no cmake (pip install cmake gives one without root)"
cmake_version=$(cmake --version | awk 'NR==1{print $3}')
[ "$(printf '%s\n3.25\n' "$cmake_version" | sort -V | head -1)" = 3.25 ] || stop "cmake $cmake_version; 3.25 or newer is needed (pip install cmake)"
cxx=${CXX:-$(command -v c++ || command -v g++)}
[ -n "$cxx" ] || stop "no C++ compiler (c++ or g++, or set CXX)"
stdcxx=$("$cxx" -print-file-name=libstdc++.so.6)
grep -aq GLIBCXX_3.4.30 "$(readlink -f "$stdcxx")" 2>/dev/null ||
  stop "$cxx's libstdc++ ($stdcxx) predates GCC 12, which built Debian 12's libraries; use g++ 12 or newer"
generator=Ninja
command -v ninja > /dev/null || generator="Unix Makefiles"
[ -f "$debs/SHA256SUMS" ] || stop "no $debs/SHA256SUMS: run tools/fetch-debs.sh where there is a network and bring its folder (--debs)"
(cd "$debs" && sha256sum --quiet -c SHA256SUMS) || stop "$debs: a package does not match SHA256SUMS; fetch again"
say "checks passed (glibc $libc, cmake $cmake_version, $("$cxx" --version | head -1), nvcc ${nvcc_version:--})"

# ---- 2. Debian's libraries into a private prefix (dpkg -x, done in Python: no dpkg needed) ---
prefix="$out/prefix"
rm -rf "$prefix"
"$py" - "$prefix" "$debs"/*.deb <<'PY' || stop "unpacking the .deb files failed"
import io, os, sys, tarfile
prefix, debs = sys.argv[1], sys.argv[2:]
for deb in debs:
    with open(deb, "rb") as f:
        data = f.read()
    assert data[:8] == b"!<arch>\n", deb + ": not a Debian package"
    pos = 8
    while pos < len(data):  # ar members: 60-byte header, then the body (2-byte aligned)
        name, size = data[pos:pos + 16].decode().strip().rstrip("/"), int(data[pos + 48:pos + 58])
        body = data[pos + 60:pos + 60 + size]
        pos += 60 + size + (size & 1)
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as t:
                for m in t.getmembers():
                    if m.issym() and m.linkname.startswith("/"):  # absolute links point into the prefix
                        m.linkname = os.path.relpath(prefix + m.linkname, os.path.dirname(os.path.join(prefix, m.name)))
                    t.extract(m, prefix)
PY
multiarch=x86_64-linux-gnu
libdirs="$prefix/usr/lib/$multiarch:$prefix/lib/$multiarch"
# The build, the linker (which resolves the libraries' own dependencies through it) and
# ebmlab see the prefix; Python runs with the machine's libraries as before (pyrun), so
# Debian's OpenSSL or libffi never replace the ones that Python was built against.
orig_ldp="${LD_LIBRARY_PATH:-}"
export LD_LIBRARY_PATH="$libdirs${orig_ldp:+:$orig_ldp}"
pyrun() { if [ -n "$orig_ldp" ]; then LD_LIBRARY_PATH="$orig_ldp" "$py" "$@"; else env -u LD_LIBRARY_PATH "$py" "$@"; fi; }
fashion="$prefix/usr/share/datasets/fashion-mnist"
say "unpacked $(ls "$debs"/*.deb | wc -l) packages into $prefix"

# ---- 3. build ------------------------------------------------------------------------------
build="$out/build"
tb=$(date +%s)
# Only the prefix and the PyTorch are searched for packages (not /usr), so a machine that
# happens to have Debian's -dev packages does not hide a gap in the .deb list.
cmake -S "$root" -B "$build" -G "$generator" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_PREFIX_PATH="$torch_dir;$prefix/usr" -DCMAKE_LIBRARY_ARCHITECTURE=$multiarch \
  -DCMAKE_IGNORE_PREFIX_PATH="/usr;/usr/local" -DBoost_NO_SYSTEM_PATHS=ON \
  -DHDF5_ROOT="$prefix/usr/lib/$multiarch/hdf5/serial" -DHDF5_C_COMPILER_EXECUTABLE=HDF5_C_COMPILER_EXECUTABLE-NOTFOUND \
  -DHDF5_NO_FIND_PACKAGE_CONFIG_FILE=ON \
  -DEBMLAB_BUILD_BENCHMARKS=OFF -DTORCH_CUDA_ARCH_LIST="8.0;9.0" > "$out/configure.log" 2>&1 ||
  { tail -30 "$out/configure.log"; stop "cmake configure failed ($out/configure.log)"; }
cmake --build "$build" -j "$jobs" > "$out/build.log" 2>&1 || { tail -30 "$out/build.log"; stop "build failed ($out/build.log)"; }
figure "build: $(($(date +%s) - tb)) s with $jobs jobs ($build)"
ebmlab="$build/ebmlab"
figure "ebmlab: $("$ebmlab" --version | tr '\n' ' ')"

# ---- 4. unit tests ---------------------------------------------------------------------------
tu=$(date +%s)
if ctest --test-dir "$build" -L unit -j "$jobs" --output-on-failure > "$out/unit.log" 2>&1; then
  figure "unit tests: $(grep -o '[0-9]*% tests passed, [0-9]* tests failed out of [0-9]*' "$out/unit.log" | tail -1), $(($(date +%s) - tu)) s"
else
  fail "unit tests: $(grep -o '[0-9]*% tests passed.*' "$out/unit.log" | head -1) ($out/unit.log)"
fi
if [ "$build_only" = 1 ]; then
  figure "build half done in $(elapsed) s (--build-only: no GPU steps)"
  exit "$failed"
fi

# ---- 5. quickstart on the GPU, its checkpoint on the CPU -------------------------------------
runs="$out/runs"
mkdir -p "$runs"
json_get() { pyrun -c "import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
tq=$(date +%s)
"$ebmlab" run experiments/quickstart.toml --device "$device" -q --overwrite experiment.output="$runs/quickstart.h5" \
  data.path="$fashion" > "$out/quickstart.log" 2>&1 || fail "quickstart on the GPU: exit $? ($out/quickstart.log)"
wall_q=$(($(date +%s) - tq))
"$ebmlab" export "$runs/quickstart.h5" --curves train/loss --format json --out "$out/quickstart_curves.json" &&
  train_s=$(json_get "$out/quickstart_curves.json" 'd["curves/train/loss"][-1][2]')
"$ebmlab" report "$runs/quickstart.h5" --format json > "$out/quickstart_report.json" &&
  acc_gpu=$(json_get "$out/quickstart_report.json" 'd[0]["metrics"]["accuracy/accuracy"]["mean"]')
where=$([ "$device" = cpu ] && echo "the CPU" || echo "${gpu_name//_/ }")
figure "quickstart on $where: training ${train_s:-?} s (whole command ${wall_q} s), test accuracy ${acc_gpu:-?}"
"$ebmlab" eval "$runs/quickstart.h5" --device cpu --metrics accuracy --json > "$out/quickstart_cpu_eval.json" 2> "$out/quickstart_cpu_eval.log" &&
  acc_cpu=$(json_get "$out/quickstart_cpu_eval.json" 'd["metrics"]["accuracy"]["accuracy"]')
if [ -n "${acc_gpu:-}" ] && [ -n "${acc_cpu:-}" ] && pyrun -c "import sys; sys.exit(abs($acc_gpu - $acc_cpu) > 1e-3)"; then
  figure "its checkpoint evaluated on the CPU: test accuracy $acc_cpu ($where: $acc_gpu, within 1e-3)"
else
  fail "its checkpoint evaluated on the CPU: accuracy ${acc_cpu:-?} vs ${acc_gpu:-?} on $where ($out/quickstart_cpu_eval.log)"
fi

# ---- 6. one JEM step and one DAT stage-2 step: ebmlab vs eager PyTorch -----------------------
cifar="$out/cifar-like" shape="WRN-28-10 batch 64" small_e=() small_t=()
if [ "$small" = 1 ]; then
  shape="WRN-10-1 batch 8 (--small)"
  small_e=(model.backbone.depth=10 model.backbone.width=1 data.batch_size=8)
  small_t=(--depth 10 --width 1 --batch 8)
fi
pyrun tools/make_cifar_like.py "$cifar" --per-file 1000 --test 1000 > /dev/null
for step in jem dat; do
  for precision in fp32 bf16; do
    tag="${step}_$precision"
    "$ebmlab" run "experiments/gpu-check/${step}_step.toml" --device "$device" -q --overwrite \
      experiment.output="$runs/$tag.h5" experiment.precision="$precision" data.path="$cifar" "${small_e[@]}" \
      > "$out/${tag}_ebmlab.log" 2>&1 &&
      "$ebmlab" export "$runs/$tag.h5" --curves train/loss --format json --out "$out/${tag}_curves.json" &&
      ms_e=$(json_get "$out/${tag}_curves.json" \
        '"%.1f" % ((d["curves/train/loss"][24][2] - d["curves/train/loss"][4][2]) / 20 * 1e3)') ||
      { fail "$step step through ebmlab, $precision ($out/${tag}_ebmlab.log)"; continue; }
    pyrun tools/gpu_steps.py --step "$step" --device "$device" --precision "$precision" --steps 20 --warmup 5 "${small_t[@]}" \
      > "$out/${tag}_torch.json" 2> "$out/${tag}_torch.log" ||
      { fail "$step step in PyTorch, $precision ($out/${tag}_torch.log)"; continue; }
    ms_t=$(json_get "$out/${tag}_torch.json" 'd["ms_per_step"]')
    tf32=$(json_get "$out/${tag}_torch.json" '"TF32 matmul %s, cuDNN %s" % (d["tf32_matmul"], d["tf32_cudnn"])')
    figure "$step step $shape $precision on $where: ebmlab $ms_e ms, PyTorch eager $ms_t ms, ratio $(pyrun -c "print(round($ms_e / $ms_t, 3))") ($tf32, both sides)"
  done
done
figure "done in $(elapsed) s; $( [ "$failed" = 0 ] && echo "all checks passed" || echo "SOME CHECKS FAILED")"
exit "$failed"
