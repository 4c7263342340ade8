#!/usr/bin/env bash
# Elastic supernets (issue 11) on OFA's two-core profile (spaces/ofa_mbv3.cella with W=2 D=3,
# resolutions 20-28) over Fashion-MNIST (SUBSET images, half of them train the weights): the
# supernet trained EPOCHS epochs by `sampler sandwich` (BigNAS), by the sandwich without in-place
# distillation (children on the labels) and without zero-initialised residual batch norms (the
# ablations), by `sampler progressive_shrinking` (OFA, phases PHASES) and by `sampler uniform` (one
# child per step); then the largest, the smallest and 10 sampled children cut out of each (`cella
# extract`: batch norms calibrated on 2,000 training images) and tested, against the same
# children trained stand-alone from scratch for EPOCHS epochs on the same SUBSET/2 training images
# (`cella retrain` with data.subset=SUBSET/2: the same seed draws the same images first).
# BigNAS's claim: inherited accuracies as good as stand-alone ones, without retraining.
#
# Each variant's rows are cached in bench/elastic/cache/VARIANT-eEPOCHS.jsonl and skipped when
# there (delete a file to rerun it; the stand-alone trainings, the longest part, are kept child by
# child in its .part file until all are done, so an interrupted benchmark resumes); VARIANTS picks some (default: all). The table goes to
# bench/elastic/report.md. About 80 minutes on two cores for EPOCHS=20; run it in the background.
# BIN runs another cella binary (a copy of build/cella beside build/cella-runtime, so that rebuilding
# does not change it mid-run; then run a copy of this script too, with CELLA_ROOT the checkout).
# SPACE=bignas runs the same on BigNAS's space (spaces/bignas.cella, its two-core profile S=2 D4=3
# D=3, resolutions 16-28; `search bignas_sandwich`, with drop-connect) into bench/elastic/bignas/;
# it has no progressive-shrinking variant (OFA's phases have no widths).
set -euo pipefail
cd "${CELLA_ROOT:-$(dirname "$0")/..}"
build=${BUILD_DIR:-build}
subset=${SUBSET:-5000}
epochs=${EPOCHS:-20}
phases=${PHASES:-[6,4,1,4,1,4]}
seed=${SEED:-1}
space_name=${SPACE:-ofa_mbv3}
case $space_name in
ofa_mbv3)
  out=bench/elastic sandwich_search=ofa_sandwich
  profile="--data fashion_mnist --set W=2 --set D=3 --set R_min=20 --set R_max=28"
  default_variants="standalone sandwich progressive_shrinking uniform sandwich_no_distillation sandwich_no_zero_gamma"
  ;;
bignas)
  out=bench/elastic/bignas sandwich_search=bignas_sandwich
  profile="--data fashion_mnist --set S=2 --set D4=3 --set D=3 --set R1=16 --set R2=20 --set R3=24 --set R4=28"
  default_variants="standalone sandwich uniform sandwich_no_distillation sandwich_no_zero_gamma"
  ;;
*)
  echo "elastic.sh: SPACE is ofa_mbv3 or bignas, not $space_name" >&2
  exit 2
  ;;
esac
variants=${VARIANTS:-$default_variants}
cache=$out/cache
if [ -z "${BIN:-}" ]; then
  ninja -C "$build" cella cella-runtime >/dev/null
  BIN=$build/cella
fi
mkdir -p "$cache"
runs=$(mktemp -d)
trap 'rm -rf "$runs"' EXIT
# A copy of the space, so that editing the tree while the benchmark runs does not change it.
space=$runs/$space_name.cella
cp "spaces/$space_name.cella" "$space"
data="--set data.subset=$subset --set data.train_portion=0.5"
# The children: the largest and smallest of the profile and 10 drawn uniformly from its
# architectures. OFA: 15 layers, 5 stages, resolutions 20-28. BigNAS: 14 elastic layers, 7 depths,
# 9 widths, resolutions 16-28.
python3 - "$space_name" >"$runs/archs.txt" <<'PY'
import sys
if sys.argv[1] == "ofa_mbv3":
    print([7] * 15 + [6] * 15 + [3] * 5 + [28])
    print([3] * 15 + [3] * 15 + [2] * 5 + [20])
else:
    print([5] * 14 + [2, 3, 3, 3, 3, 3, 2] + [10, 6, 8, 12, 22, 32, 54, 88, 352] + [28])
    print([3] * 14 + [1, 2, 2, 2, 2, 2, 1] + [8, 4, 6, 10, 20, 28, 48, 80, 320] + [16])
PY
"$BIN" sample "$space" $profile -n 10 --seed 7 >>"$runs/archs.txt"
cp "$runs/archs.txt" "$out/archs.txt"

record() {  # variant child kind json-file seconds -> one row
  python3 - "$@" <<'PY'
import json, sys
variant, child, kind, path, seconds = sys.argv[1:]
text = open(path).read()
j = json.loads(text[text.find("{"):])
print(json.dumps({"method": variant, "child": int(child), "kind": kind, "test_acc": j.get("test_acc"),
                  "valid_acc": j.get("valid_acc"), "params": j.get("params"), "seconds": float(seconds)}))
PY
}
now() { date +%s%N; }
elapsed() { echo $((($(now) - $1) / 1000000000)); }

train_variant() {  # variant -> rows on stdout
  local variant=$1 search=$sandwich_search extra="--set supernet.epochs=$epochs"
  case $variant in
  progressive_shrinking) search=ofa_shrinking extra="$extra --set supernet.phases=$phases" ;;
  uniform) extra="$extra --set supernet.sampler=uniform" ;;
  sandwich_no_distillation) extra="$extra --set supernet.inplace_distillation=false" ;;
  sandwich_no_zero_gamma) extra="$extra --set supernet.zero_init_residual=false" ;;
  esac
  local dir=$runs/$variant start
  start=$(now)
  "$BIN" train "$space" --search "$search" $profile $data $extra --seed "$seed" --threads 2 \
    --samples 2 --out "$dir" >"$dir.log" 2>&1
  echo "{\"method\": \"$variant\", \"kind\": \"train\", \"seconds\": $(elapsed "$start")}"
  local child=0 arch
  while read -r arch; do
    "$BIN" extract --weights "$dir" --arch "$arch" --threads 2 --json --out "$dir-child$child" \
      >"$dir-child$child.extract" 2>/dev/null
    "$BIN" eval "$space" --weights "$dir-child$child" --arch "$arch" --threads 2 --json \
      >"$dir-child$child.eval"
    python3 - "$dir-child$child.extract" "$dir-child$child.eval" >"$dir-child$child.json" <<'PY'
import json, sys
def read(p):
    text = open(p).read()
    return json.loads(text[text.find("{"):])
e, t = read(sys.argv[1]), read(sys.argv[2])
print(json.dumps({"valid_acc": e["valid_acc"], "params": e["params"], "test_acc": t["test_acc"]}))
PY
    record "$variant" "$child" inherited "$dir-child$child.json" 0
    child=$((child + 1))
  done <"$runs/archs.txt"
}

standalone() {  # rows appended to $1, skipping the children already there (a resumed benchmark)
  local child=0 arch start
  while read -r arch; do
    if grep -q "\"child\": $child," "$1" 2>/dev/null; then
      child=$((child + 1))
      continue
    fi
    start=$(now)
    "$BIN" retrain "$space" --search "$sandwich_search" $profile --set data.subset=$((subset / 2)) \
      --epochs "$epochs" --seed "$seed" --threads 2 --arch "$arch" --json --out "$runs/alone$child" \
      >"$runs/alone$child.json" 2>/dev/null
    record standalone "$child" standalone "$runs/alone$child.json" "$(elapsed "$start")" >>"$1"
    child=$((child + 1))
  done <"$runs/archs.txt"
}

for variant in $variants; do
  file=$cache/$variant-e$epochs.jsonl
  [ -s "$file" ] && continue
  echo "elastic: $space_name, $variant, $epochs epochs" >&2
  if [ "$variant" = standalone ]; then standalone "$file.part"; else train_variant "$variant" >"$file.part"; fi
  mv "$file.part" "$file"
done

python3 - "$epochs" "$cache" <<'PY' | tee "$out/report.md"
import glob, json, statistics, sys
epochs, cache = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for f in sorted(glob.glob(f"{cache}/*-e{epochs}.jsonl")) for l in open(f) if l.strip()]
train = {r["method"]: r["seconds"] for r in rows if r["kind"] == "train"}
acc = {(r["method"], r["child"]): r["test_acc"] for r in rows if r["kind"] in ("inherited", "standalone")}
alone = {c: a for (m, c), a in acc.items() if m == "standalone"}
names = ["largest", "smallest"] + [f"random {i}" for i in range(1, 11)]
order = ["sandwich", "sandwich_no_distillation", "sandwich_no_zero_gamma", "progressive_shrinking", "uniform"]
methods = [m for m in order if m in train]
nan = float("nan")
print(f"Test accuracy (%) after {epochs} epochs: inherited weights (cut out, batch norms calibrated) "
      "and the same child trained stand-alone\n")
print("| child | params | " + " | ".join(m.replace("_", " ") for m in methods) + " | stand-alone |")
print("|---|---:|" + "---:|" * (len(methods) + 1))
params = {r["child"]: r["params"] for r in rows if r["kind"] in ("inherited", "standalone")}
for c, name in enumerate(names):
    cells = [f"{acc.get((m, c), nan):.2f}" for m in methods]
    print(f"| {name} | {params.get(c, 0):,} | " + " | ".join(cells) + f" | {alone.get(c, nan):.2f} |")
def mean_gap(m, children):
    gaps = [acc[(m, c)] - alone[c] for c in children if (m, c) in acc and c in alone]
    return f"{statistics.mean(gaps):+.2f}" if gaps else "n/a"
print("| mean gap to stand-alone, all | | " + " | ".join(mean_gap(m, range(12)) for m in methods) + " | |")
print("| mean gap, 10 sampled | | " + " | ".join(mean_gap(m, range(2, 12)) for m in methods) + " | |")
print("| supernet training (s) | | " + " | ".join(f"{train[m]}" for m in methods) + " | |")
alone_s = sum(r["seconds"] for r in rows if r["kind"] == "standalone")
print(f"\nStand-alone training: {alone_s:.0f} s for {len(alone)} children.")
PY
