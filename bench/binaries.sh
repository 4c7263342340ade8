# Sourced by the benchmark scripts, from the repository root: builds cella and copies its two
# binaries into a temporary folder, $copy, removed on exit, so that rebuilding while a long
# benchmark runs changes nothing. Sets $build too (BUILD_DIR, default build).
build=${BUILD_DIR:-build}
ninja -C "$build" cella cella-runtime >/dev/null
copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
cp "$build/cella" "$build/cella-runtime" "$copy/"
