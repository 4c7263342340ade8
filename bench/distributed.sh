#!/usr/bin/env bash
# Data-parallel one-shot training with 1, 2 and 4 processes (issue 14), side by side in one go on
# this machine: `cella train` of NB201 (C=8, N=1, path sampling, as the main job's network) on
# Fashion-MNIST (SUBSET images, EPOCHS epochs, batch 64), ROUNDS alternations of
#   1 process  × 2 threads, 1 process × 1 thread,
#   2 processes × 1 thread (cella launch -n 2), 4 processes × 1 thread (4 ranks on 2 cores).
# Per run: wall seconds, images per second, rank 0's time in collectives per step, the validation
# accuracy, and how far its weights are from the one-process run's. Results go to
# bench/distributed/results.jsonl (the cache bench/README.md quotes); bench/distributed.py
# summarises them.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
rounds=${ROUNDS:-2}
subset=${SUBSET:-4000}
epochs=${EPOCHS:-2}
out=bench/distributed
python=${PYTHON:-/usr/bin/python3}  # Debian's, which has torch: it reads the checkpoints
ninja -C "$build" cella cella-runtime >/dev/null
mkdir -p "$out"
runs=$(mktemp -d)
train="train spaces/nb201.cella --set C=8 --set N=1 --set split=none --set supernet.sampler=uniform
  --set supernet.epochs=$epochs --set data.subset=$subset --set supernet.batch=64 --seed 1 --samples 5"
: >"$out/results.jsonl.part"
for round in $(seq "$rounds"); do
  for config in "1 2" "1 1" "2 1" "4 1"; do
    read -r n threads <<<"$config"
    dir="$runs/$round-$n-$threads"
    start=$(date +%s%N)
    if [ "$n" = 1 ]; then
      "$build/cella" $train --threads "$threads" --out "$dir" >"$dir.log" 2>&1
    else
      "$build/cella" launch -n "$n" cella $train --threads "$threads" --out "$dir" >"$dir.log" 2>&1
    fi
    end=$(date +%s%N)
    "$python" - "$dir" "$n" "$threads" "$round" "$(((end - start) / 1000000))" "$runs/1-1-1" >>"$out/results.jsonl.part" <<'PY'
import json, sys
d, n, threads, rnd, ms, ref = sys.argv[1:]
result = json.load(open(f"{d}/result.json"))
metrics = [json.loads(l) for l in open(f"{d}/metrics.jsonl")]
cfg = json.load(open(f"{d}/config.json"))
train_images = int(cfg["plan"]["data"]["subset"] * cfg["plan"]["data"]["train_portion"])
steps = -(-train_images // cfg["plan"]["supernet"]["batch"]) * result["epochs"]
row = {"round": int(rnd), "processes": int(n), "threads": int(threads), "seconds": int(ms) / 1000,
       "steps": steps, "images_per_second": train_images * result["epochs"] / (int(ms) / 1000),
       "valid_acc": metrics[-1]["valid_acc"], "arch": result["arch"],
       "communication_ms_per_step": 1000 * result.get("communication_seconds", 0) / steps,
       "collectives_per_step": result.get("collectives", 0) / steps,
       "kilobytes_per_step": result.get("communication_bytes", 0) / 1000 / steps}
try:  # the largest weight difference from the one-process, one-thread run of round 1
    import torch
    a = dict(torch.jit.load(f"{ref}/checkpoint.pt").named_parameters())
    b = dict(torch.jit.load(f"{d}/checkpoint.pt").named_parameters())
    row["max_weight_diff"] = max((a[k] - b[k]).abs().max().item() for k in a)
except Exception as e:  # noqa: BLE001 - torch missing, or the reference not there yet
    row["max_weight_diff"] = None
print(json.dumps(row))
PY
    tail -1 "$out/results.jsonl.part"
  done
done
mv "$out/results.jsonl.part" "$out/results.jsonl"
rm -rf "$runs"
python3 bench/distributed.py "$out/results.jsonl" | tee "$out/report.md"
