#!/usr/bin/env bash
# The main job: sets up, builds, and runs cella on the NAS-Bench-201 space with Fashion-MNIST.
# Today that is the compiler's part (check, count, a sample, the IR); the supernet search itself
# (`cella search`) comes with the runtime and will be run from here.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
build=${BUILD_DIR:-build}
ninja -C "$build" cella
cella="$build/cella"
"$cella" check spaces/nb201.cella
"$cella" count spaces/nb201.cella
echo "three architectures drawn uniformly (seed 0):"
"$cella" sample spaces/nb201.cella -n 3 --seed 0
"$cella" show spaces/nb201.cella --emit svg -o "$build/nb201.svg"
echo "the cell and network as a picture: $build/nb201.svg"
