#!/usr/bin/env bash
# The ranking benchmark of the splitting methods (bench/README.md): stand-alone training of a
# fixed sample of 32 NAS-Bench-201 architectures (2 seeds), every search of bench/ranking.cella
# (2 seeds) with the sample evaluated by inherited weights, stand-alone training of each derived
# architecture, then the table. Results are cached in bench/ranking/*.csv: rows already there are
# not run again (delete a file to redo its part). About 2.5 hours on 2 cores.
# The training runs use a copy of the binaries, so rebuilding during a run does not break it.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
ninja -C "$build" cella cella-runtime >/dev/null
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
cp "$build/cella" "$build/cella-runtime" "$bin/"
python3 bench/ranking.py --build "$bin" standalone --workers 2
python3 bench/ranking.py --build "$bin" methods
python3 bench/ranking.py --build "$bin" derived --workers 2
python3 bench/ranking.py report
