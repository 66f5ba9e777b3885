#!/usr/bin/env bash
# Downloads the Debian 12 packages that tools/gpu-check.sh needs on a GPU machine that has
# only a PyTorch, CMake and a C++ compiler (no root, no -dev packages, no network): ebmlab's
# libraries besides LibTorch, their run-time closure, and Fashion-MNIST (docs/gpu.md).
#   tools/fetch-debs.sh [DIR]     (default gpu-debs/, ignored by git)
# Run it here, where apt reaches Debian's mirror (no root needed once apt's lists exist),
# then take DIR and the clone to the GPU machine: tools/gpu-check.sh --debs DIR.
# It prints the size of DIR and of the source tree against the 60 MB they may take together.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
dir="${1:-gpu-debs}"

# Headers and link-time files of what CMakeLists.txt finds (LibTorch comes from the pip PyTorch;
# the check builds without the Google Benchmark programs, as the torch2 preset does).
dev=(libboost1.81-dev libboost-filesystem1.81-dev libboost-program-options1.81-dev libboost-json1.81-dev
     libtomlplusplus-dev libhdf5-dev zlib1g-dev libstb-dev doctest-dev)
# The shared libraries those link to, and everything they load in turn (read with ldd off
# Debian 12's ebmlab, minus libc, libstdc++, libgcc and LibTorch's own): Debian's HDF5 links
# libcurl, whose closure is most of this list.
runtime=(libboost-filesystem1.81.0 libboost-program-options1.81.0 libboost-json1.81.0 libtomlplusplus3
         libhdf5-103-1 libhdf5-hl-100 libsz2 libaec0 zlib1g libstb0
         libcurl4 libbrotli1 libffi8 libgmp10 libgnutls30 libgssapi-krb5-2 libhogweed6 libidn2-0 libk5crypto3
         libkrb5-3 libkrb5support0 libkeyutils1 libcom-err2 libldap-2.5-0 libnettle8 libnghttp2-14 libp11-kit0
         libpsl5 librtmp1 libsasl2-2 libssh2-1 libssl3 libtasn1-6 libunistring2 libzstd1)
data=(dataset-fashion-mnist)

mkdir -p "$dir"
rm -f "$dir"/*.deb
(cd "$dir" && apt-get download -q "${dev[@]}" "${runtime[@]}" "${data[@]}")
(cd "$dir" && sha256sum -- *.deb > SHA256SUMS)

debs=$(du -cb "$dir"/*.deb | tail -1 | cut -f1)
src=$(git ls-files -z | xargs -0 du -cb | awk '$2 == "total" {t += $1} END {print t}')
total=$((debs + src))
printf 'fetch-debs: %s: %d packages, %.1f MB; source tree %.1f MB; together %.1f MB (limit 60 MB)\n' \
  "$dir" "$(ls "$dir"/*.deb | wc -l)" "$(echo "$debs / 1000000" | bc -l)" "$(echo "$src / 1000000" | bc -l)" \
  "$(echo "$total / 1000000" | bc -l)"
if [ "$total" -gt 60000000 ]; then
  echo "fetch-debs: note: over the 60 MB the issue allowed (docs/gpu.md says by how much and why)" >&2
fi
