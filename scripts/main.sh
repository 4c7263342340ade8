#!/usr/bin/env bash
# The main job: sets up, builds, and runs cella on the NAS-Bench-201 space with Fashion-MNIST:
# checks and counts the space, draws it, then runs its HEP-NAS search (supernet, three
# hierarchical splits with distillation, selection) sized for two CPU cores (about 5 minutes)
# and prints the final architecture, its accuracy and where the split tree, the drawing of the
# architecture and the run's page (report.html) are.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
build=${BUILD_DIR:-build}
ninja -C "$build"
cella="$build/cella"
"$cella" check spaces/nb201.cella
"$cella" count spaces/nb201.cella
echo "three architectures drawn uniformly (seed 0):"
"$cella" sample spaces/nb201.cella -n 3 --seed 0
"$cella" show spaces/nb201.cella --emit svg -o "$build/nb201.svg"
echo "the cell and network as a picture: $build/nb201.svg"
"$cella" search spaces/nb201.cella --set C=8 --set N=1 --out "runs/nb201-search-$(date +%Y%m%d-%H%M%S)"
# Beyond its percentile: the derived architecture against the best of its size in NAS-Bench-201's
# table (where the shared data is; the table is CIFAR-10's, the search ran on Fashion-MNIST).
run=$(ls -td runs/nb201-search-* | head -1)
python3 scripts/nb201_judge.py "$run" --cella "$cella" || true
