#!/usr/bin/env bash
# Elastic supernets (issue 11) on OFA's two-core profile (spaces/ofa_mbv3.cella with W=2 D=3,
# resolutions 20-28) over Fashion-MNIST (SUBSET images, half of them for the weights): the
# supernet trained EPOCHS epochs by `sampler sandwich` (BigNAS), `sampler progressive_shrinking`
# (OFA, phases in OFA's proportions) and `sampler uniform` (one child per step); then the largest,
# the smallest and 10 sampled children cut out of each (`cella extract`: batch norms calibrated
# on 2,000 training images) and tested, against the same children trained stand-alone from
# scratch for EPOCHS epochs on the same images (`cella retrain`). BigNAS's claim: inherited
# accuracies as good as stand-alone ones, without retraining.
# Results go to bench/elastic/results.jsonl (the cache bench/README.md quotes), the table to
# bench/elastic/report.md. Runs for about an hour on two cores; run it in the background.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
subset=${SUBSET:-5000}
epochs=${EPOCHS:-20}
phases=${PHASES:-[6,4,1,4,1,4]}
seed=${SEED:-1}
out=bench/elastic
ninja -C "$build" cella cella-runtime >/dev/null
mkdir -p "$out"
runs=$(mktemp -d)
profile="--data fashion_mnist --set W=2 --set D=3 --set R_min=20 --set R_max=28"
data="--set data.subset=$subset --set data.train_portion=0.5"
# The children: the largest and smallest of the profile (15 layers, 5 stages, resolutions 20-28)
# and 10 drawn uniformly from its architectures.
python3 - >"$runs/archs.txt" <<'PY'
print([7] * 15 + [6] * 15 + [3] * 5 + [28])
print([3] * 15 + [3] * 15 + [2] * 5 + [20])
PY
"$build/cella" sample spaces/ofa_mbv3.cella $profile -n 10 --seed 7 >>"$runs/archs.txt"
: >"$out/results.jsonl.part"
record() {  # method child kind json-file seconds
  python3 - "$@" >>"$out/results.jsonl.part" <<'PY'
import json, sys
method, child, kind, path, seconds = sys.argv[1:]
j = json.loads(open(path).read()[open(path).read().find("{"):])
print(json.dumps({"method": method, "child": int(child), "kind": kind, "test_acc": j.get("test_acc"),
                  "valid_acc": j.get("valid_acc"), "params": j.get("params"), "seconds": float(seconds)}))
PY
  tail -1 "$out/results.jsonl.part"
}
for method in sandwich progressive_shrinking uniform; do
  search=ofa_sandwich
  extra="--set supernet.epochs=$epochs"
  [ "$method" = progressive_shrinking ] && search=ofa_shrinking && extra="$extra --set supernet.phases=$phases"
  [ "$method" = uniform ] && extra="$extra --set supernet.sampler=uniform"
  dir="$runs/$method"
  start=$(date +%s%N)
  "$build/cella" train spaces/ofa_mbv3.cella --search "$search" $profile $data $extra --seed "$seed" --threads 2 \
    --samples 2 --out "$dir" >"$dir.log" 2>&1
  seconds=$((($(date +%s%N) - start) / 1000000))
  echo "{\"method\": \"$method\", \"kind\": \"train\", \"seconds\": $((seconds / 1000))}" >>"$out/results.jsonl.part"
  child=0
  while read -r arch; do
    "$build/cella" extract --weights "$dir" --arch "$arch" --threads 2 --json --out "$dir-child$child" \
      >"$dir-child$child.extract" 2>/dev/null
    "$build/cella" eval spaces/ofa_mbv3.cella --weights "$dir-child$child" --arch "$arch" --threads 2 --json \
      >"$dir-child$child.eval"
    python3 - "$dir-child$child.extract" "$dir-child$child.eval" >"$dir-child$child.json" <<'PY'
import json, sys
read = lambda p: json.loads(open(p).read()[open(p).read().find("{"):])
e, t = read(sys.argv[1]), read(sys.argv[2])
print(json.dumps({"valid_acc": e["valid_acc"], "params": e["params"], "test_acc": t["test_acc"]}))
PY
    record "$method" "$child" inherited "$dir-child$child.json" 0
    child=$((child + 1))
  done <"$runs/archs.txt"
done
child=0
while read -r arch; do
  start=$(date +%s%N)
  "$build/cella" retrain spaces/ofa_mbv3.cella $profile $data --epochs "$epochs" --seed "$seed" --threads 2 \
    --arch "$arch" --json --out "$runs/alone$child" >"$runs/alone$child.json" 2>/dev/null
  record standalone "$child" standalone "$runs/alone$child.json" "$((($(date +%s%N) - start) / 1000000000))"
  child=$((child + 1))
done <"$runs/archs.txt"
mv "$out/results.jsonl.part" "$out/results.jsonl"
cp "$runs/archs.txt" "$out/archs.txt"
rm -rf "$runs"
python3 - "$out/results.jsonl" <<'PY' | tee "$out/report.md"
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
train = {r["method"]: r["seconds"] for r in rows if r["kind"] == "train"}
acc = {(r["method"], r["child"]): r["test_acc"] for r in rows if r["kind"] in ("inherited", "standalone")}
alone = {c: a for (m, c), a in acc.items() if m == "standalone"}
names = ["largest", "smallest"] + [f"random {i}" for i in range(1, 11)]
methods = ["sandwich", "progressive_shrinking", "uniform"]
print("Test accuracy (%) of each child: inherited weights (cut out, batch norms calibrated) and the same child trained stand-alone\n")
print("| child | params | " + " | ".join(methods) + " | stand-alone |")
print("|---|---:|" + "---:|" * (len(methods) + 1))
params = {r["child"]: r["params"] for r in rows if r["kind"] == "inherited"}
for c, name in enumerate(names):
    cells = [f"{acc.get((m, c), float('nan')):.2f}" for m in methods]
    print(f"| {name} | {params.get(c, 0):,} | " + " | ".join(cells) + f" | {alone.get(c, float('nan')):.2f} |")
gaps = {m: statistics.mean(acc[(m, c)] - alone[c] for c in alone if (m, c) in acc) for m in methods}
print("| mean gap to stand-alone | | " + " | ".join(f"{gaps[m]:+.2f}" for m in methods) + " | |")
print("| supernet training (s) | | " + " | ".join(f"{train.get(m, 0)}" for m in methods) + " | |")
print(f"\nStand-alone training: {sum(r['seconds'] for r in rows if r['kind'] == 'standalone'):.0f} s for {len(alone)} children.")
PY
