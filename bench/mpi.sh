#!/usr/bin/env bash
# Times one PostgreSQL-to-PostgreSQL job under mpirun with 1, 2 and 3 ranks on this machine
# (a throwaway server), and measures what the hand-out of chunks costs: the messages each
# remote chunk takes (ask, answer, report) and how long a worker of a rank other than 0 waits
# for rank 0's answer. Prints a markdown table; each row's copy is checked by count and md5
# content checksum against the source.
# Usage: bench/mpi.sh [ROWS] [CHUNK_SIZE] [WORKERS_PER_RANK]   (default 300000 2000 2)
# Needs a build with MPI (scripts/build.sh build); PARMAP_BIN picks another binary.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
rows=${1:-300000}
chunk=${2:-2000}
workers=${3:-2}
[[ "$rows" =~ ^[1-9][0-9]*$ && "$chunk" =~ ^[1-9][0-9]*$ && "$workers" =~ ^[1-9][0-9]*$ ]] ||
  { echo "usage: bench/mpi.sh [ROWS] [CHUNK_SIZE] [WORKERS_PER_RANK]" >&2; exit 2; }
bin=${PARMAP_BIN:-$PWD/build/parmap}
command -v mpirun >/dev/null || { echo "bench/mpi.sh: mpirun not found (openmpi-bin)" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
bench_pg_start mpi

sql "$src" -c "CREATE TABLE items (id int8 PRIMARY KEY, grp int4, amount numeric(12,2),
  label text); INSERT INTO items SELECT g, g % 17, round((g * 1.37)::numeric, 2), 'label ' || g
  FROM generate_series(1, $rows) g" -c "VACUUM ANALYZE items"
checksum() {
  sql "$1" -c "SELECT count(*) || ':' || coalesce(md5(string_agg(md5(t::text), ''
    ORDER BY md5(t::text))), '-') FROM items t"
}
expected=$(checksum "$src")

echo "| ranks | seconds | rows/s | chunks per rank | messages per remote chunk | ms waited per remote chunk | s per chunk (mean) | exact |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for np in 1 2 3; do
  sql "$dst" -c "DROP TABLE IF EXISTS items, parmap_jobs, parmap_runs, parmap_ledger" \
    -c "CREATE TABLE items (id int8 PRIMARY KEY, grp int4, amount numeric(12,2), label text)"
  mpirun --oversubscribe -np "$np" "$bin" run --source "$src" --table items --target "$dst" \
    --target-table items --workers "$workers" --chunk-size "$chunk" --output json \
    --progress json --progress-file "$dir/events.$np.jsonl" >"$dir/summary.$np.json" \
    2>"$dir/err.$np"
  got=$(checksum "$dst")
  python3 - "$dir/summary.$np.json" "$dir/events.$np.jsonl" "$np" \
    "$([ "$got" = "$expected" ] && echo yes || echo "NO ($got)")" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
secs = [json.loads(l)["seconds"] for l in open(sys.argv[2]) if '"chunk_done"' in l]
remote = [r for r in s["ranks"] if r["rank"] > 0 and r["chunks"] > 0]
chunks = sum(r["chunks"] for r in remote)
msgs = f'{sum(r["messages"] for r in remote) / chunks:.2f}' if chunks else "-"
wait = f'{sum(r["wait_ms"] for r in remote) / chunks:.2f}' if chunks else "-"
print(f'| {sys.argv[3]} | {s["elapsed_seconds"]:.2f} | {s["rows_per_second"]:.0f} | '
      f'{" / ".join(str(r["chunks"]) for r in s["ranks"])} | {msgs} | {wait} | '
      f'{sum(secs) / max(len(secs), 1):.3f} | {sys.argv[4]} |')
PY
done
