#!/usr/bin/env bash
# The kill-anywhere harness (bench/README.md, "Killed and resumed"): every training command run
# once uninterrupted, then KILLS (10) times killed with SIGKILL at a random moment and continued
# (`--resume`, or run again where the command has none), each result compared with the
# uninterrupted run's; then a checkpoint written to a full disk. Each finished case is cached in
# bench/crash/cache/ (CASES=a,b runs only those). About an hour on two cores. It runs copies of
# the binaries, so rebuilding meanwhile changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/binaries.sh
mkdir -p bench/crash
if [ -z "${CASES:-}" ]; then
  CELLA="$copy/cella" python3 bench/crash.py | tee bench/crash/results.txt
else
  CELLA="$copy/cella" python3 bench/crash.py  # some cases: the summary files stay as they were
fi
