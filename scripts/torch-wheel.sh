#!/usr/bin/env bash
# Prints the folder of a PyTorch 2.x wheel's LibTorch (a `torch/` with include/ and lib/), for
# `meson setup -Dtorch=...` (docs/building.md). The wheel (TORCH_VERSION, default 2.15.0) comes
# from PyPI once, through the set-up's virtual environment (.venv), and only what the build needs
# is kept in ~/.cache/cella: the headers, libtorch_cpu, libc10 and libgomp for the CPU, and the
# CUDA libraries (libtorch_cuda, libc10_cuda, libtorch_nvshmem) with the NVIDIA libraries they
# need that a CUDA toolkit does not bring or brings too old (cuSPARSELt, NVSHMEM and NCCL at the
# versions the torch wheel asks for, and cuFile, from their own PyPI wheels): 1.6 GB in all.
# CUDA=0 keeps the CPU part only (0.5 GB).
# Fails, saying why, when PyPI cannot be reached or when the CUDA runtime libraries the wheel's
# libtorch_cpu.so needs even on the CPU are missing here.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${TORCH_VERSION:-2.15.0}
cuda=${CUDA:-1}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/cella
dir="$cache/torch-$version"
python=.venv/bin/python
[ -x "$python" ] || python=python3
download() {  # download SPEC: one wheel from PyPI into $cache/wheels, printed
  rm -rf "$cache/wheels.part" && mkdir -p "$cache/wheels.part"
  "$python" -m pip download -q --no-deps --timeout 60 --retries 2 "$1" -d "$cache/wheels.part" >&2 ||
    { echo "torch-wheel: cannot download $1 from PyPI" >&2; return 1; }
  mkdir -p "$cache/wheels"
  mv "$cache"/wheels.part/*.whl "$cache/wheels/" && ls -t "$cache"/wheels/*.whl | head -1
}
want_cuda() { [ "$cuda" != 0 ] && [ ! -f "$dir/torch/lib/libnccl.so.2" ]; }
if [ ! -f "$dir/torch/lib/libtorch_cpu.so" ] || want_cuda; then
  wheel=$(download "torch==$version")
  rm -rf "$dir.part"
  "$python" - "$wheel" "$dir.part" "$cuda" <<'PY'
import sys, zipfile
keep = ["torch/include/", "torch/lib/libtorch_cpu.so", "torch/lib/libc10.so", "torch/lib/libgomp.so.1"]
if sys.argv[3] != "0":
    keep += ["torch/lib/libtorch_cuda.so", "torch/lib/libc10_cuda.so", "torch/lib/libtorch_nvshmem.so"]
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in z.namelist():
        if name.startswith(tuple(keep)):
            z.extract(name, sys.argv[2])
    # The pins of the NVIDIA libraries the CUDA part needs, for the downloads below.
    meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
    with open(sys.argv[2] + "/requires.txt", "w") as out:
        for line in z.read(meta).decode().splitlines():
            if line.startswith("Requires-Dist: nvidia-"):
                out.write(line.split(": ", 1)[1].split(";")[0].strip() + "\n")
PY
  rm -f "$wheel"
  if [ "$cuda" != 0 ]; then
    # cuSPARSELt, NVSHMEM and NCCL at the torch wheel's pins (a toolkit's NCCL may lack symbols
    # this libtorch_cuda calls); cuFile comes with its CUDA major version. The wheel's run path
    # ends in $ORIGIN, so copies beside libtorch_cuda.so come before the system's.
    for spec in $(grep -E '^nvidia-(cusparselt|nvshmem|nccl)' "$dir.part/requires.txt") nvidia-cufile; do
      extra=$(download "$spec") || exit 1
      "$python" - "$extra" "$dir.part/torch/lib" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if "/lib/" in name and base.startswith(("libcusparseLt.so", "libnvshmem_host.so", "libcufile.so", "libnccl.so")):
            with open(os.path.join(sys.argv[2], base), "wb") as f:
                f.write(z.read(name))
PY
      rm -f "$extra"
    done
  fi
  rm -rf "$dir" && mv "$dir.part" "$dir"
fi
missing=$(ldd "$dir/torch/lib/libtorch_cpu.so" | grep "not found" || true)
if [ -n "$missing" ]; then
  echo "torch-wheel: $dir/torch/lib/libtorch_cpu.so needs libraries this machine lacks:" $missing >&2
  exit 1
fi
echo "$dir/torch"
