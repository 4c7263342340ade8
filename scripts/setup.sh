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
  graphviz dataset-fashion-mnist libclang-rt-14-dev clang-format
  python3-torch python3-numpy
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
