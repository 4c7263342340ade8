#!/usr/bin/env bash
# Second-order DARTS against first order: wall time of the same DARTS-space supernet training
# (spaces/darts.cella, C=4, 5 cells, 512 synthetic images, one epoch) with and without
# `supernet.unrolled`, run alternately ROUNDS times (default 3) in one go so that the machine's
# noise hits both alike; prints each pair and the median ratio. bench/README.md has the figures.
set -euo pipefail
shopt -s inherit_errexit  # a failed run stops the benchmark instead of timing nothing
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
rounds=${ROUNDS:-3}
ninja -C "$build" cella cella-runtime >/dev/null
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# Copies of the binaries, so that a rebuild during the run changes nothing.
cp "$build/cella" "$build/cella-runtime" "$scratch/"
build=$scratch
run() {  # $1: true|false; prints seconds
  local out="$scratch/run-$1-$RANDOM"  # a fresh directory per run
  local start=$EPOCHREALTIME
  "$build/cella" train spaces/darts.cella --data synthetic --set data.subset=512 --set C=4 --set layers=5 \
    --set supernet.epochs=1 --set split=none --set supernet.unrolled="$1" --threads 1 --out "$out" >/dev/null 2>&1
  awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN {print b - a}'
}
ratios=()
for i in $(seq "$rounds"); do
  first=$(run false)
  second=$(run true)
  ratio=$(awk -v a="$first" -v b="$second" 'BEGIN {print b / a}')
  printf 'round %d: first order %.1f s, second order %.1f s, ratio %.2f\n' "$i" "$first" "$second" "$ratio"
  ratios+=("$ratio")
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {printf "median ratio (second / first order): %.2f\n", a[int((NR+1)/2)]}'
