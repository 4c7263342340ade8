#!/usr/bin/env bash
# ProxylessNAS on its space (spaces/proxyless.cella), two measurements; bench/README.md has the
# figures.
#  1. Memory: peak resident memory of `cella train` with ProxylessNAS's binary gates against
#     DARTS' all-candidates mixture and plain single-path training on the same supernet, at batch
#     256 and 1024, an architecture step before every weight step; the difference between the batch sizes, per image, is what
#     a step's activations cost, without the process's fixed memory (binary, data, weights:
#     about 390 MB, above what a single path needs at small batches).
#  2. Latency: the shipped search `proxyless_cpu` (latency table measured on this machine) with
#     three latency weights λ; for each, the expected latency E[LAT] at the end of the search, what
#     the table gives for the derived architecture, and the latency measured on the derived
#     network as a whole (arch_costs.json: the median of 30 single-image passes), with its
#     multiply-accumulates. Each search measures its own table.
# Other processes on the machine skew the measured table and latencies; run it alone.
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
ninja -C "$build" cella cella-runtime >/dev/null
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp "$build/cella" "$build/cella-runtime" "$scratch/"
cella=$scratch/cella

echo "## memory (one thread): peak RSS in MB at batch 256 and 1024, and per image between them"
for method in weights=darts weights=proxyless sampler=uniform; do
  rss=()
  for batch in 256 1024; do
    /usr/bin/time -f %M -o "$scratch/rss" "$cella" train spaces/proxyless.cella --set data.subset=$((batch * 4)) \
      --set supernet.batch=$batch --set supernet.epochs=1 --set supernet.arch_warmup=0 --set supernet.arch_every=1 \
      --set supernet.latency=none --set supernet.$method --threads 1 --out "$scratch/mem-${method#*=}-$batch" \
      >/dev/null 2>&1
    rss+=("$(cat "$scratch/rss")")
  done
  awk -v m="${method#*=}" -v a="${rss[0]}" -v b="${rss[1]}" \
    'BEGIN {printf "%-9s batch 256: %7.1f MB  batch 1024: %7.1f MB  per image: %.3f MB\n", m, a / 1024, b / 1024, (b - a) / 1024 / 768}'
done

echo "## latency: E[LAT] at the end of the search against the derived network's measured latency"
for weight in ${WEIGHTS:-0 0.3 3}; do
  out="$scratch/lat-$weight"
  "$cella" search spaces/proxyless.cella --set supernet.latency_weight="$weight" --threads 2 --out "$out" >/dev/null 2>&1
  python3 - "$weight" "$out" <<'PY'
import json, sys
weight, out = sys.argv[1], sys.argv[2]
last = [json.loads(l) for l in open(out + "/metrics.jsonl")][-1]
costs = json.load(open(out + "/arch_costs.json"))
valid = json.load(open(out + "/result.json"))["valid_acc"]
arch = json.load(open(out + "/arch.json"))
skips = sum(1 for v in arch["layers"].values() if v == "skip")
print(f"lambda {weight:>4}: E[LAT] {last['expected_latency']:6.3f} ms  table for the derived net "
      f"{last['arch_latency']:6.3f} ms  measured {costs['latency_ms']:6.3f} ms ({costs['threads']} threads)  "
      f"{costs['macs'] / 1e6:6.2f} M MACs  {skips} layers skipped  search valid acc {valid:.2f}%")
PY
done
