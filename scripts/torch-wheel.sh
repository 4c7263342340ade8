#!/usr/bin/env bash
# Prints the folder of a PyTorch 2.x wheel's LibTorch (a `torch/` with include/ and lib/), for
# `meson setup -Dtorch=...` (docs/building.md). The wheel (TORCH_VERSION, default 2.15.0) comes
# from PyPI once, through the set-up's virtual environment (.venv), and only what the CPU build
# needs is kept in ~/.cache/cella (headers, libtorch_cpu, libc10, libgomp: 0.5 GB of its 1.5).
# Fails, saying why, when PyPI cannot be reached or when the CUDA runtime libraries the wheel's
# libtorch_cpu.so needs even on the CPU are missing here.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${TORCH_VERSION:-2.15.0}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/cella
dir="$cache/torch-$version"
python=.venv/bin/python
[ -x "$python" ] || python=python3
if [ ! -f "$dir/torch/lib/libtorch_cpu.so" ]; then
  mkdir -p "$cache/wheels"
  "$python" -m pip download -q --no-deps --timeout 60 --retries 2 "torch==$version" -d "$cache/wheels" >&2 ||
    { echo "torch-wheel: cannot download torch==$version from PyPI" >&2; exit 1; }
  wheel=$(ls "$cache"/wheels/torch-"$version"-*.whl | head -1)
  rm -rf "$dir.part"
  "$python" - "$wheel" "$dir.part" <<'PY'
import sys, zipfile
keep = ("torch/include/", "torch/lib/libtorch_cpu.so", "torch/lib/libc10.so", "torch/lib/libgomp.so.1")
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in z.namelist():
        if name.startswith(keep):
            z.extract(name, sys.argv[2])
PY
  mv "$dir.part" "$dir"
  rm -f "$wheel"
fi
missing=$(ldd "$dir/torch/lib/libtorch_cpu.so" | grep "not found" || true)
if [ -n "$missing" ]; then
  echo "torch-wheel: $dir/torch/lib/libtorch_cpu.so needs libraries this machine lacks:" $missing >&2
  exit 1
fi
echo "$dir/torch"
