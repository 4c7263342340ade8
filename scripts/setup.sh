#!/usr/bin/env bash
# Installs every Debian package cella needs to build, test and run, then configures the build.
# Safe to run again: apt-get skips what is there and meson keeps an existing build directory.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential g++ clang meson ninja-build pkg-config
  antlr4 libantlr4-runtime-dev
  libtorch-dev libopenblas0-openmp
  libfmt-dev libboost-graph-dev libboost-dev
  libgtest-dev libgmock-dev
  libcli11-dev nlohmann-json3-dev zlib1g-dev
  libpagmo-dev libsvm-dev libeigen3-dev  # cella specialize: NSGA-II and hypervolume; predictors
  libgloo-dev  # the headers of c10d's Gloo process group (data-parallel training)
  graphviz dataset-fashion-mnist libclang-rt-14-dev clang-format
  python3-torch python3-numpy python3-venv
  gnuplot-nox chromium
  time  # /usr/bin/time: bench/proxyless.sh measures peak memory with it
)

if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

build=${BUILD_DIR:-build}
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" --buildtype=release --wrap-mode=nodownload
fi

# onnxruntime is not in Debian: a virtual environment over Debian's Python (whose python3-torch it
# sees) takes it from PyPI, so that the tests can run the ONNX files `cella export --format onnx`
# writes. Without PyPI the tests say that they skipped that check.
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import onnxruntime' 2>/dev/null; then
  { /usr/bin/python3 -m venv --system-site-packages .venv &&
    .venv/bin/pip install -q --timeout 30 --retries 2 onnxruntime==1.32.0; } ||
    echo "setup: onnxruntime not installed (no PyPI?); the ONNX export's check will be skipped"
fi
