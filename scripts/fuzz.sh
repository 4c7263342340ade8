#!/usr/bin/env bash
# Builds the front-end fuzzer with clang, AddressSanitizer and UndefinedBehaviorSanitizer, and runs
# it for SECONDS (default 60) on a corpus seeded with every shipped .cella file. Exits non-zero
# on a crash, hang, leak or sanitizer report (the input that caused it is left in the fuzz build
# directory). The first argument overrides SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-${FUZZ_SECONDS:-60}}
build=${FUZZ_BUILD_DIR:-build-fuzz}
if [ ! -f "$build/build.ninja" ]; then
  CC=clang CXX=clang++ meson setup "$build" --wrap-mode=nodownload --buildtype=debugoptimized \
    -Dfuzz=true -Druntime=false -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
ninja -C "$build" tests/frontend_fuzz >/dev/null
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
cp spaces/*.cella spaces/std/*.cella tests/golden/*.cella "$corpus"/
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export ASAN_OPTIONS=detect_leaks=1
"$build/tests/frontend_fuzz" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=4096 \
  -print_final_stats=1 -artifact_prefix="$build/" "$corpus" 2>&1 | tail -n 15
