#!/usr/bin/env bash
# Configures and builds parmap into a folder: scripts/build.sh [DIR] [extra cmake args...]
# PARMAP_BUILD_TARGETS (space-separated) builds only those targets instead of all.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
scripts/setup.sh
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPARMAP_WERROR=ON "$@" >/dev/null
targets=()
for t in ${PARMAP_BUILD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$dir" -j"$(nproc)" "${targets[@]}"
