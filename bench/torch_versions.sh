#!/usr/bin/env bash
# Debian's LibTorch 1.13 against a PyTorch 2.x wheel (issue 14), side by side in one go on the
# same machine: ROUNDS alternations of (a) supernet throughput (bench/throughput: NB201, C=16,
# N=5, batch 64, THREADS threads; path sampling and all candidates) and (b) the main job
# (scripts/main.sh's search: HEP-NAS on Fashion-MNIST, C=8, N=1), each run by `build/` and by
# `build-torch2/` in turn. Results go to bench/torch-versions.txt (the cache bench/README.md
# quotes); the wheel's build runs with OMP_WAIT_POLICY=PASSIVE as the test suite does.
set -euo pipefail
cd "$(dirname "$0")/.."
a=${BUILD_DIR:-build}
b=${BUILD_DIR_TORCH2:-build-torch2}
threads=${THREADS:-2}
rounds=${ROUNDS:-2}
out=bench/torch-versions.txt
ninja -C "$a" bench/throughput cella-runtime >/dev/null
ninja -C "$b" bench/throughput cella-runtime >/dev/null
runs=$(mktemp -d)
{
  echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $threads threads; $("$a/cella" devices) | $("$b/cella" devices)"
  for i in $(seq "$rounds"); do
    for build in "$a" "$b"; do
      env=()
      [ "$build" = "$b" ] && env=(OMP_WAIT_POLICY=PASSIVE)
      echo "throughput $build $(env "${env[@]}" "$build/bench/throughput" "$threads" 30)"
      start=$(date +%s%N)
      env "${env[@]}" "$build/cella" search spaces/nb201.cella --set C=8 --set N=1 --threads "$threads" \
        --out "$runs/$i-$(basename "$build")" >/dev/null 2>&1
      end=$(date +%s%N)
      echo "main_job $build {\"seconds\": $(((end - start) / 1000000)).0e-3, \"arch\": \"$(cat "$runs/$i-$(basename "$build")/arch.txt")\"}"
    done
  done
} | tee "$out"
rm -rf "$runs"
python3 - "$out" "$a" "$b" <<'PY'
import json, statistics, sys
path, a, b = sys.argv[1:]
rows = [l.split(None, 2) for l in open(path) if not l.startswith("#")]
def med(kind, build, key):
    return statistics.median(json.loads(j)[key] for k, w, j in rows if k == kind and w == build)
for key in ("path", "all"):
    print(f"throughput {key} (img/s): {a} {med('throughput', a, key):.1f}, {b} {med('throughput', b, key):.1f}, "
          f"ratio {med('throughput', b, key) / med('throughput', a, key):.2f}")
sa, sb = med("main_job", a, "seconds"), med("main_job", b, "seconds")
print(f"main job (s): {a} {sa:.1f}, {b} {sb:.1f}, ratio {sb / sa:.2f}")
PY
