#!/usr/bin/env bash
# Training-step throughput of BigNAS's sandwich rule, cella against PyTorch eager, side by side in
# one go: the supernet of OFA's space at its two-core profile (W=2, D=3, resolutions 20-28), four
# children per step on random 1x28x28 batches of 64, the same children on both sides (cella draws
# them and writes them down, PyTorch replays them), the same LibTorch version (Debian's 1.13) and
# thread count. ROUNDS alternations; prints every round, the medians and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
threads=${THREADS:-2}
rounds=${ROUNDS:-3}
steps=${STEPS:-20}
ninja -C "$build" bench/elastic_throughput >/dev/null
children=$(mktemp)
rows=$(mktemp)
trap 'rm -f "$children" "$rows"' EXIT
for i in $(seq "$rounds"); do
  echo "cella   $("$build/bench/elastic_throughput" "$threads" "$steps" "$children")"
  echo "pytorch $(/usr/bin/python3 bench/elastic_throughput.py --threads "$threads" --children "$children")"
done | tee "$rows"
/usr/bin/python3 - "$rows" <<'PY'
import json, statistics, sys
rows = [l.split(None, 1) for l in open(sys.argv[1])]
got = {who: [json.loads(j) for w, j in rows if w == who] for who in ("cella", "pytorch")}
for who, r in got.items():
    print(who, {k: round(statistics.median(x[k] for x in r), 1) for k in ("img_per_s", "peak_rss_mb")})
ratio = statistics.median(a["img_per_s"] / b["img_per_s"] for a, b in zip(got["cella"], got["pytorch"]))
print(f"ratio cella/pytorch img/s: {ratio:.2f}")
PY
