#!/usr/bin/env bash
# Configures and builds parmap into a folder: scripts/build.sh [DIR] [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
scripts/setup.sh
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPARMAP_WERROR=ON "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
