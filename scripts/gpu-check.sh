#!/usr/bin/env bash
# The checks that need a GPU (issue 14), on a CUDA machine with a PyTorch 2.x wheel, in about
# eight minutes: builds cella against the wheel with its CUDA libraries (-Dcuda=enabled), prints
# `cella devices`, runs the GPU tests (OnCuda.*: the same start and training on both devices, exact
# replay on CUDA, checkpoints moving between devices), then the NB201 and DARTS `--smoke`
# searches on the CPU and on CUDA with their wall times. Usage:
#   bash scripts/gpu-check.sh             # LibTorch: TORCH_DIR, else the python3's torch package,
#                                         # else scripts/torch-wheel.sh (PyPI)
# Exits non-zero if the build, a test or a search fails; ends with `N passed, N failed`.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR_GPU:-build-gpu}
torch=${TORCH_DIR:-}
if [ -z "$torch" ]; then
  if python3 -c "import torch" 2>/dev/null; then torch=python; else torch=$(bash scripts/torch-wheel.sh) || exit 1; fi
fi
passed=0
failed=0
step() {  # step NAME COMMAND...: runs it, times it, counts it
  local name=$1 start end
  shift
  start=$(date +%s%N)
  if "$@"; then passed=$((passed + 1)); result=ok; else failed=$((failed + 1)); result=FAILED; fi
  end=$(date +%s%N)
  printf 'gpu-check: %-40s %s in %d ms\n' "$name" "$result" $(((end - start) / 1000000))
}
[ -f "$build/build.ninja" ] ||
  meson setup "$build" --buildtype=release --wrap-mode=nodownload -Dtorch="$torch" -Dcuda=enabled || exit 1
step "build" ninja -C "$build"
"$build/cella" devices
step "GPU tests (OnCuda.*)" "$build/tests/runtime_test" --gtest_filter='OnCuda.*'
runs=$(mktemp -d)
for space in nb201 darts; do
  for device in cpu cuda; do
    step "$space --smoke on $device" "$build/cella" search "spaces/$space.cella" --smoke --device "$device" \
      --out "$runs/$space-$device"
  done
  # The same plan and seed on both devices: the architectures found.
  for device in cpu cuda; do echo "  $space on $device: $(cat "$runs/$space-$device/arch.txt" 2>/dev/null)"; done
done
rm -rf "$runs"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
