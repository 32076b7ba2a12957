#!/usr/bin/env bash
# Builds parmap and runs its demo: 1,000,000 mixed-type rows copied serially and in
# parallel between SQLite files, both verified by count and content checksum.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh build >/dev/null
exec ./build/parmap demo "$@"
