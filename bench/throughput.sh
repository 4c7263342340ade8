#!/usr/bin/env bash
# Supernet training throughput, cella vs PyTorch eager, side by side in one go: the same
# NAS-Bench-201 supernet (C=16, N=5), batch 64 of 1x28x28, same LibTorch version and thread
# count. ROUNDS alternations of both programs; prints every round and the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
threads=${THREADS:-2}
rounds=${ROUNDS:-3}
ninja -C "$build" bench/throughput >/dev/null
for i in $(seq "$rounds"); do
  echo "cella   $("$build/bench/throughput" "$threads" 30)"
  echo "pytorch $(/usr/bin/python3 bench/throughput.py --threads "$threads" --steps 30)"
done | tee /tmp/cella_throughput.txt
/usr/bin/python3 - <<'PY'
import json, statistics
rows = [l.split(None, 1) for l in open("/tmp/cella_throughput.txt")]
for who in ("cella", "pytorch"):
    r = [json.loads(j) for w, j in rows if w == who]
    print(who, {k: round(statistics.median(x[k] for x in r), 1) for k in ("path", "all", "peak_rss_mb")})
c = [json.loads(j) for w, j in rows if w == "cella"]; p = [json.loads(j) for w, j in rows if w == "pytorch"]
for k in ("path", "all"):
    print(f"ratio cella/pytorch {k}: {statistics.median(a[k] / b[k] for a, b in zip(c, p)):.2f}")
PY
