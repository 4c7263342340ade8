#!/usr/bin/env bash
# Sets up (scripts/setup.sh), builds and runs every test: unit and golden tests through meson,
# then the front-end fuzzer for FUZZ_SECONDS (default 60; 0 skips it). Ends with the line
# `N passed, N failed` and exits non-zero if anything failed.
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
extra=()
fuzz_seconds=${FUZZ_SECONDS:-60}
if [ "$fuzz_seconds" != 0 ]; then
  if bash scripts/fuzz.sh "$fuzz_seconds"; then extra+=("fuzz=ok"); else extra+=("fuzz=fail"); fi
fi
python3 scripts/summarize_tests.py "$build" "${extra[@]}"
