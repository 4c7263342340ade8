#!/usr/bin/env bash
# Sets up (scripts/setup.sh), builds and runs every test: unit and golden tests through meson,
# against Debian's LibTorch and again against a PyTorch 2.x wheel, then the front-end fuzzer for
# FUZZ_SECONDS (default 60; 0 skips it). Ends with the line `N passed, N failed` and exits
# non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }
build=${BUILD_DIR:-build}
if ! ninja -C "$build"; then
  echo "FAILED: build"
  echo "0 passed, 1 failed"
  exit 1
fi
meson test -C "$build" --print-errorlogs --num-processes 2
builds=("$build")
extra=()
# The second LibTorch (docs/building.md): the suite again against a PyTorch 2.x wheel from PyPI
# (cached in ~/.cache/cella), where PyPI and the wheel's CUDA runtime libraries are there, with
# the wheel's CUDA libraries linked where they link here (Meson's `cuda=auto`: CUDA registered,
# no GPU needed); SECOND_TORCH=0 skips it.
if [ "${SECOND_TORCH:-1}" != 0 ]; then
  if torch_dir=$(bash scripts/torch-wheel.sh); then
    build2=${BUILD_DIR_TORCH2:-build-torch2}
    [ -f "$build2/build.ninja" ] ||
      meson setup "$build2" --buildtype=release --wrap-mode=nodownload -Dtorch="$torch_dir"
    if ninja -C "$build2"; then
      # The wheel's OpenMP spins at barriers; with two test programs at once it can stall
      # (docs/building.md).
      OMP_WAIT_POLICY=PASSIVE meson test -C "$build2" --print-errorlogs --num-processes 2
      builds+=("$build2")
    else
      extra+=("build against $torch_dir=fail")
    fi
  else
    echo "test: the suite against a PyTorch 2.x wheel is skipped (see the line above)"
  fi
fi
fuzz_seconds=${FUZZ_SECONDS:-60}
if [ "$fuzz_seconds" != 0 ]; then
  if bash scripts/fuzz.sh "$fuzz_seconds"; then extra+=("fuzz=ok"); else extra+=("fuzz=fail"); fi
fi
python3 scripts/summarize_tests.py "${builds[@]}" "${extra[@]}"
