#!/usr/bin/env bash
# Rewrites the expected output of every golden test from the current build, for review with
# `git diff`. Run after a deliberate change to diagnostics or dumps. Same as running the golden
# test with CELLA_UPDATE_GOLDEN=1.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
ninja -C "$build" >/dev/null
CELLA_UPDATE_GOLDEN=1 "$build/tests/golden_test" --gtest_brief=1
git status --short tests/golden spaces
