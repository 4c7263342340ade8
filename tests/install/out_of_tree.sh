#!/usr/bin/env bash
# A program outside the source tree builds against an installed cella: `meson install` into a
# scratch root, then examples/embed/main.cpp compiled from a copy with nothing but
# `pkg-config --cflags --libs cella`, run against the installed library and standard library of
# operations, and its output checked. Usage: out_of_tree.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
source=$2
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
meson install -C "$build" --destdir "$root" --no-rebuild --quiet
pc_dir=$(dirname "$(find "$root" -name cella.pc | head -n 1)")
export PKG_CONFIG_PATH=$pc_dir
prefix=$root$(pkg-config --variable=prefix cella)
pkg() { pkg-config --define-variable=prefix="$prefix" "$@" cella; }
mkdir "$root/host"
cp "$source/examples/embed/main.cpp" "$root/host/main.cpp"
cd "$root/host"
# shellcheck disable=SC2046
c++ -O1 main.cpp -o embed $(pkg --cflags --libs)
libdir=$(pkg --variable=libdir)
stdlib=$(dirname "$(find "$root" -path '*/cella/spaces/std/ops.cella' | head -n 1)")/..
LD_LIBRARY_PATH=$libdir CELLA_STDLIB=$stdlib ./embed > out.txt 2>&1 || { cat out.txt; echo "FAIL: the host program failed"; exit 1; }
for want in "space: 15625 architectures" "derived |" "output [4, 10]"; do
  grep -qF "$want" out.txt || { cat out.txt; echo "FAIL: missing '$want'"; exit 1; }
done
# The program runs against the installed library, not the build tree's.
# (ldd's output is kept first: `ldd | grep -q` fails under pipefail when grep stops reading early.)
linked=$(LD_LIBRARY_PATH=$libdir ldd ./embed)
grep -qF "$libdir/libcella.so" <<<"$linked" || { grep cella <<<"$linked"; echo "FAIL: not linked against the installed libcella"; exit 1; }
echo "ok: built with pkg-config against the installed cella and ran"
