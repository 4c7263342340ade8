#!/usr/bin/env bash
# The specialisation benchmark on NAS-Bench-201's table (bench/README.md, "Specialisation"): every
# tactic over 5 seeds and the single-objective runs over 20, cached in bench/specialize-runs/ and
# summarised in bench/specialize/results.json. About 25 minutes on two cores (`--main-job`: 10 more; `--full-latency`: 50 more). It runs copies of
# the binaries, so rebuilding meanwhile changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/binaries.sh
python3 bench/specialize.py --build "$copy" "$@"
