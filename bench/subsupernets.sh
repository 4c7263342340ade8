#!/usr/bin/env bash
# Sub-supernets trained on different ranks at once (issue 14), side by side in one go on this
# machine: NB201 (C=8, N=1) searches on Fashion-MNIST (SUBSET images, batch 64), ROUNDS
# alternations of
#   Few-Shot NAS (one exhaustive split after 1 epoch, 5 leaves × 2 epochs):
#     1 process × 2 threads, 1 process × 1 thread, 2 processes × 1 thread (leaves dealt out);
#   HEP-NAS (3 hierarchies, 2 + 4 + 8 children × 1 epoch, DARTS weights, SMD distillation):
#     1 process × 2 threads, 2 processes × 1 thread with `rounds sequential` (the children in
#     turn, each data-parallel) and with `rounds simultaneous` (the children dealt out).
# Per run: wall seconds, the phases' seconds (result.json), rank 0's collectives. Results go to
# bench/subsupernets/results.jsonl (the cache bench/README.md quotes); the table to report.md.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
rounds=${ROUNDS:-2}
subset=${SUBSET:-2000}
out=bench/subsupernets
ninja -C "$build" cella cella-runtime >/dev/null
mkdir -p "$out"
runs=$(mktemp -d)
common="search spaces/nb201.cella --data fashion_mnist --set C=8 --set N=1 --set data.subset=$subset
  --set supernet.batch=64 --seed 1"
few_shot="$common --search few_shot_paper --set supernet.epochs=3 --set split.at=[1]"
hep="$common --search hep --set supernet.epochs=3 --set split.at=[1,2,3] --set split.child_epochs=1
  --set split.batches=2"
: >"$out/results.jsonl.part"
for round in $(seq "$rounds"); do
  for config in "few_shot 1 2 sequential" "few_shot 1 1 sequential" "few_shot 2 1 sequential" \
    "hep 1 2 sequential" "hep 2 1 sequential" "hep 2 1 simultaneous"; do
    read -r plan n threads rounds_mode <<<"$config"
    args=$few_shot
    [ "$plan" = hep ] && args="$hep --set split.rounds=$rounds_mode"
    dir="$runs/$round-$plan-$n-$threads-$rounds_mode"
    start=$(date +%s%N)
    if [ "$n" = 1 ]; then
      "$build/cella" $args --threads "$threads" --out "$dir" >"$dir.log" 2>&1
    else
      "$build/cella" launch -n "$n" cella $args --threads "$threads" --out "$dir" >"$dir.log" 2>&1
    fi
    end=$(date +%s%N)
    python3 - "$dir" "$plan" "$n" "$threads" "$rounds_mode" "$round" "$(((end - start) / 1000000))" \
      >>"$out/results.jsonl.part" <<'PY'
import json, sys
d, plan, n, threads, mode, rnd, ms = sys.argv[1:]
result = json.load(open(f"{d}/result.json"))
tree = json.load(open(f"{d}/tree.json"))
print(json.dumps({"round": int(rnd), "plan": plan, "processes": int(n), "threads": int(threads), "rounds": mode,
                  "seconds": int(ms) / 1000, "phases": result["phases_seconds"], "arch": result["arch"],
                  "valid_acc": result["valid_acc"], "selected": tree["selected"]}))
PY
    tail -1 "$out/results.jsonl.part"
  done
done
mv "$out/results.jsonl.part" "$out/results.jsonl"
rm -rf "$runs"
python3 - "$out/results.jsonl" <<'PY' | tee "$out/report.md"
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
key = lambda r: (r["plan"], r["processes"], r["threads"], r["rounds"])
configs = list(dict.fromkeys(key(r) for r in rows))
med = lambda c, f: statistics.median(f(r) for r in rows if key(r) == c)
print(f"{max(r['round'] for r in rows)} rounds, medians\n")
print("| plan | processes × threads | rounds | seconds | children phase (s) | supernet phase (s) | selected | same architecture as 1 × 1 or 1 × 2 |")
print("|---|---|---|---:|---:|---:|---:|---|")
for c in configs:
    first = next(r for r in rows if key(r) == c and r["round"] == 1)
    ref = next(r for r in rows if r["plan"] == c[0] and r["processes"] == 1 and r["round"] == 1)
    print(f"| {c[0]} | {c[1]} × {c[2]} | {c[3]} | {med(c, lambda r: r['seconds']):.1f} "
          f"| {med(c, lambda r: r['phases'].get('children', 0)):.1f} | {med(c, lambda r: r['phases'].get('supernet', 0)):.1f} "
          f"| {first['selected']} | {'yes' if first['arch'] == ref['arch'] else 'no'} |")
PY
