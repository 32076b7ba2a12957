#!/usr/bin/env bash
# Times the same PostgreSQL-to-PostgreSQL copy through the parmap CLI, through the Python API
# (no transform: the same engine and path, so within a few percent of the CLI), through the
# Python API with a Python transform, and through a plain Python thread pool with psycopg2 that
# does the job the mapper's way (each thread pages key ranges with its own connections, applies
# the transform row by row and inserts with execute_values, one commit per range). Every run
# uses 2 workers and chunks of about 50,000 rows. Prints a markdown table: median seconds of REPEAT
# runs, ratio to the CLI, rows/s, the highest peak RSS of the client process (/usr/bin/time -v;
# the server's memory is not in it), and whether the target's count and md5 content checksum
# equal what the source (transformed by SQL where a transform ran) gives.
# Usage: bench/python_api.sh [ROWS] [REPEAT]   (default 1000000 rows, 3 runs each)
# CASES="0 1" runs only those rows of the table (0 the CLI, 1 the API without transform, 2 the
# pool without, 3 the API with the transform, 4 the pool with it; default all).
# PARMAP_BENCH_BUILD=0 skips the build (use the one in build/ as it is); PYTHON is the
# interpreter the build's module is for (default Debian's /usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
rows=${1:-1000000}
repeat=${2:-3}
[[ "$rows" =~ ^[1-9][0-9]*$ && "$repeat" =~ ^[1-9][0-9]*$ ]] ||
  { echo "usage: bench/python_api.sh [ROWS] [REPEAT]" >&2; exit 2; }
[ "${PARMAP_BENCH_BUILD:-1}" = 0 ] || scripts/build.sh build >/dev/null
bin=$PWD/build/parmap
export PYTHONPATH=$PWD/build/python
python=${PYTHON:-/usr/bin/python3}
"$python" -c "import parmap, psycopg2" ||
  { echo "needs build/python and python3-psycopg2" >&2; exit 1; }
bench_pg_start pybench

# Types a psycopg2 job handles without adapters; ids with gaps, 10% NULL in `maybe`.
columns="id bigint PRIMARY KEY, qty int, price double precision, amount numeric(12,2),
  label text, created timestamptz, maybe text"
sql "$src" <<EOF
CREATE TABLE t ($columns);
INSERT INTO t SELECT g * 3 + g % 3, (g::bigint * 7919) % 100000 - 50000, sin(g) * 1e6,
  ((g::bigint * 7919) % 10000000) / 100.0, left(repeat(md5(g::text), 3), 10 + g % 81),
  timestamptz '2000-01-01 00:00+00' + g * interval '17 seconds',
  CASE WHEN g % 10 = 0 THEN NULL ELSE 'maybe ' || g END
FROM generate_series(1, $rows) g;
VACUUM ANALYZE t;
EOF
sql "$dst" -c "CREATE TABLE t ($columns)"

checksum() {  # URL QUERY -> "count:md5 of the sorted per-row md5s", computed by PostgreSQL
  sql "$1" -c "SELECT count(*) || ':' || coalesce(md5(string_agg(md5(r::text), ''
    ORDER BY md5(r::text))), '-') FROM ($2) r"
}
plain=$(checksum "$src" "SELECT * FROM t")
# The transform of every run that has one: label upper-cased, rows with qty % 10 = 0 dropped.
transformed=$(checksum "$src" "SELECT id, qty, price, amount, upper(label) AS label, created,
  maybe FROM t WHERE qty % 10 <> 0")
[ "${plain%%:*}" = "$rows" ] || { echo "the source has ${plain%%:*} rows, not $rows" >&2; exit 1; }

cat >"$dir/api.py" <<'PY'
import sys
from parmap.mapper.parallel_query_executor import execute_query_parallel

source, target, mode = sys.argv[1:4]


def upper_label(columns):
    keep = [q % 10 != 0 for q in columns["qty"]]
    out = {name: [v for v, k in zip(values, keep) if k] for name, values in columns.items()}
    out["label"] = [s.upper() for s in out["label"]]
    return out


result = execute_query_parallel(
    source, "SELECT * FROM t ORDER BY id", target, "public", "t", max_workers=2,
    chunk_size=50000, min_rows_for_parallel=1000, job_id="bench-" + mode,
    transform=upper_label if mode == "transform" else None)
assert result.ok(), result.errors
print(f"fast_path={result.fast_path} workers={result.workers_used}")
PY

cat >"$dir/pool.py" <<'PY'
"""The mapper's own way: a thread pool, each thread with its own psycopg2 connections, paging
key ranges of the source and inserting them with execute_values, one transaction per range."""
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg2
from psycopg2.extras import execute_values

source, target, mode = sys.argv[1:4]
CHUNK = 150000  # keys: about 50,000 rows of ids 3g + g % 3, as parmap's chunks
local = threading.local()
opened = []


def connections():
    if not hasattr(local, "src"):
        local.src, local.dst = psycopg2.connect(source), psycopg2.connect(target)
        opened.extend((local.src, local.dst))
    return local.src, local.dst


def copy_range(lo, hi):
    src, dst = connections()
    with src.cursor() as cur:
        cur.execute("SELECT * FROM t WHERE id >= %s AND id < %s ORDER BY id", (lo, hi))
        rows = cur.fetchall()
    src.rollback()
    if mode == "transform":
        rows = [(i, q, p, a, label.upper(), c, m) for i, q, p, a, label, c, m in rows
                if q % 10 != 0]
    with dst.cursor() as cur:
        execute_values(cur, "INSERT INTO t VALUES %s", rows, page_size=1000)
    dst.commit()
    return len(rows)


with psycopg2.connect(source) as conn, conn.cursor() as cur:
    cur.execute("SELECT min(id), max(id) FROM t")
    lo, hi = cur.fetchone()
conn.close()
with ThreadPoolExecutor(max_workers=2) as pool:
    done = sum(pool.map(lambda start: copy_range(start, start + CHUNK),
                        range(lo, hi + 1, CHUNK)))
for conn in opened:
    conn.close()
print(f"rows={done}")
PY

measure() {  # EXPECTED COMMAND... -> "seconds|RSS MB|check" of one run
  local expected=$1
  shift
  # An empty target, no ledger, and the source's pages flushed, for every run alike.
  sql "$dst" -c "TRUNCATE t" -c "DROP TABLE IF EXISTS parmap_ledger, parmap_jobs"
  sql "$admin" -c "CHECKPOINT"
  /usr/bin/time -v -o "$dir/time.txt" "$@" >"$dir/out.txt" 2>"$dir/err.txt" || {
    echo "$* failed:" >&2
    cat "$dir/err.txt" >&2
    exit 1
  }
  local got check=equal
  got=$(checksum "$dst" "SELECT * FROM t")
  [ "$got" = "$expected" ] || check="DIFFERENT ($got)"
  echo "$(elapsed_seconds "$dir/time.txt")|$(peak_rss_mb "$dir/time.txt")|$check"
}

names=("parmap CLI (reference)" "Python API, no transform" "psycopg2 thread pool, no transform"
  "Python API, Python transform" "psycopg2 thread pool, Python transform")
run_case() {  # INDEX: one run of names[INDEX]
  case $1 in
    0) measure "$plain" "$bin" run --query "SELECT * FROM t ORDER BY id" --source "$src" \
         --target "$dst" --target-table public.t --workers 2 --chunk-size 50000 \
         --min-rows-for-parallel 1000 --job-id bench-cli -q ;;
    1) measure "$plain" "$python" "$dir/api.py" "$src" "$dst" plain ;;
    2) measure "$plain" "$python" "$dir/pool.py" "$src" "$dst" plain ;;
    3) measure "$transformed" "$python" "$dir/api.py" "$src" "$dst" transform ;;
    4) measure "$transformed" "$python" "$dir/pool.py" "$src" "$dst" transform ;;
  esac
}
# Rounds of every case in turn, so that a load elsewhere on the machine falls on all alike.
declare -a each rss checks
for ((n = 0; n < repeat; n++)); do
  for i in ${CASES:-${!names[@]}}; do
    out=$(run_case "$i")  # a failed run stops the script (set -e)
    IFS='|' read -r secs mb check <<<"$out"
    each[i]="${each[i]:-}${each[i]:+ }$secs"
    [ "${rss[i]:-0}" -ge "$mb" ] || rss[i]=$mb
    [ "$check" = equal ] && [ "${checks[i]:-equal}" = equal ] || checks[i]=$check
  done
done
results=()
for i in ${CASES:-${!names[@]}}; do
  median=$(printf '%s\n' ${each[i]} | sort -g | awk '{ a[NR] = $1 } END {
    print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
  results+=("${names[i]}|$median|${rss[i]}|${checks[i]:-equal}|${each[i]}")
done

ref=$(echo "${results[0]}" | cut -d'|' -f2)
echo "PostgreSQL $(sql "$admin" -c 'SHOW server_version' | cut -d' ' -f1) to the same server" \
  "(fsync off), $rows rows of 7 columns, 2 workers, chunks of 50000, median of $repeat runs," \
  "$(nproc) cores, $(date -u +%Y-%m-%d)"
echo
echo "| run | seconds | ratio to CLI | rows/s | peak RSS MB | check | each run (s) |"
echo "| --- | ---: | ---: | ---: | ---: | --- | --- |"
for r in "${results[@]}"; do
  IFS='|' read -r name secs rss check each <<<"$r"
  awk -v n="$name" -v s="$secs" -v m="$rss" -v c="$check" -v rows="$rows" -v ref="$ref" \
    -v e="$each" 'BEGIN { if (s <= 0) s = 0.01
             printf "| %s | %.2f | %.2f | %.0f | %s | %s | %s |\n", n, s, s / ref, rows / s, m,
                    c, e }'
done
