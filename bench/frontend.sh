#!/usr/bin/env bash
# Front-end speed: whole-process `cella check` on the shipped spaces and on generated spaces of
# 12,500 to 100,000 edges (bench/gen_space.py), plus callgrind instruction counts, which do not
# depend on machine noise. Prints a markdown table for bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
cella="$build/cella"
ninja -C "$build" >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Median wall time of N runs of a command, in milliseconds.
median_ms() {
  local n=$1; shift
  python3 - "$n" "$@" <<'PY'
import subprocess, sys, time, statistics
n = int(sys.argv[1]); cmd = sys.argv[2:]
times = []
for _ in range(n):
    t = time.perf_counter(); subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL); times.append(time.perf_counter() - t)
print(f"{statistics.median(times) * 1000:.1f}")
PY
}
instructions() {
  valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" "$@" >/dev/null 2>"$tmp/cg.log"
  grep -o "refs: *[0-9,]*" "$tmp/cg.log" | tr -d ', ' | cut -d: -f2
}

echo "| input | edges | median wall time (ms) | instructions (callgrind) |"
echo "|---|---:|---:|---:|"
for space in nb201 darts mobilenet nasbench101; do
  ms=$(median_ms 30 "$cella" check "spaces/$space.cella")
  ins=$(instructions "$cella" check "spaces/$space.cella")
  echo "| spaces/$space.cella | | $ms | $ins |"
done
prev_ins=""
for edges in 12500 25000 50000 100000; do
  python3 bench/gen_space.py "$edges" > "$tmp/gen_$edges.cella"
  actual=$(grep -c " -> " "$tmp/gen_$edges.cella")
  ms=$(median_ms 5 "$cella" check "$tmp/gen_$edges.cella")
  ins=$(instructions "$cella" check "$tmp/gen_$edges.cella")
  ratio=""
  [ -n "$prev_ins" ] && ratio=" (x$(python3 -c "print(round($ins / $prev_ins, 2))") vs half)"
  echo "| generated, fan-in 10 | $actual | $ms | $ins$ratio |"
  prev_ins=$ins
done
