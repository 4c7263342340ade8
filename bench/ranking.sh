#!/usr/bin/env bash
# The ranking benchmark of the splitting methods (bench/README.md): stand-alone training of a
# fixed sample of 60 NAS-Bench-201 architectures of distinct isomorphism classes (2 seeds), every
# search of bench/ranking.cella (two protocols, 3 seeds) with the sample evaluated by inherited
# weights, stand-alone training of each derived architecture, then the tables. Results are cached
# in bench/ranking-v2/*.csv: rows already there are not run again (delete a file to redo its
# part), so a killed run continues where it stopped. About 10 hours of one core for the
# stand-alone part and 6 for the searches; run it in the background.
# The training runs use copies of the binaries, the spaces and the plans, so rebuilding or
# editing during a run changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/binaries.sh
cp -r spaces "$copy/spaces"
cp bench/ranking.cella "$copy/spaces/ranking.cella"
export RANKING_SPACE="$copy/spaces/nb201.cella" RANKING_PLAN="$copy/spaces/ranking.cella"
python3 bench/ranking.py --build "$copy" standalone --workers 1 &
standalone=$!
python3 bench/ranking.py --build "$copy" methods
wait "$standalone"
python3 bench/ranking.py --build "$copy" derived --workers 2
python3 bench/ranking.py --build "$copy" proxies
python3 bench/ranking.py report
