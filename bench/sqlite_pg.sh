#!/usr/bin/env bash
# Times SQLite-to-PostgreSQL loads of one 12-column table into a throwaway server: the
# reference (sqlite3 -csv piped into psql COPY FROM STDIN (FORMAT csv)) against parmap serial
# and with 2 workers, and pgloader when it is installed. Prints a markdown table: seconds,
# rows/s, ratio to the reference, peak RSS of the client side, and whether the target's count
# and md5 content checksum, computed by PostgreSQL, equal the reference load's. Server memory
# and CPU are not in the RSS column.
#
# The server is durable by default (BENCH_DURABLE=0 turns fsync off), and the target table
# has its primary key and PostgreSQL's own types; every run loads into it as it stands.
# Usage: bench/sqlite_pg.sh [ROWS]   (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
rows=${1:-1000000}
[[ "$rows" =~ ^[1-9][0-9]*$ ]] || { echo "usage: bench/sqlite_pg.sh [ROWS]" >&2; exit 2; }
scripts/build.sh build >/dev/null  # runs scripts/setup.sh: PostgreSQL, psql, sqlite3 and time
bin=$PWD/build/parmap
durable=${BENCH_DURABLE:-1}
PARMAP_PG_DURABLE=$durable bench_pg_start sqlitepg

# The source: the same 12 columns as bench/pg_copy.sh's, in SQLite's terms. ids with gaps
# (strictly increasing: 3n + n % 3), amounts of 2 decimals, text of 10-200 characters, flag as
# 0/1, timestamps and dates as text, 10% NULL in `maybe`, 4-16 random bytes in `bin`.
db=$dir/src.db
sqlite3 "$db" >/dev/null <<EOF
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
CREATE TABLE t (id INTEGER PRIMARY KEY, qty INTEGER, price REAL, amount NUMERIC(12,2),
  label TEXT, flag BOOLEAN, created TIMESTAMP, day DATE, uid TEXT, attrs TEXT, maybe TEXT,
  bin BLOB);
INSERT INTO t
WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < $rows)
SELECT n * 3 + n % 3, (n * 7919) % 100000 - 50000, sin(n) * 1e6,
  ((n * 7919) % 10000000) / 100.0,
  substr(replace(printf('%.25c', '*'), '*', printf('%08x', (n * 2654435761) % 4294967296)), 1,
    10 + n % 191),
  n % 3 = 0, datetime(946684800 + n * 17, 'unixepoch'), date(n % 20000 * 86400, 'unixepoch'),
  printf('%08x-%04x-4%03x-8%03x-%012x', (n * 2654435761) % 4294967296, n % 65536, n % 4096,
    (n * 7) % 4096, (n * 1000003) % 281474976710656),
  json_object('g', n, 'k', 'v' || (n % 100), 'ok', json(iif(n % 2 = 0, 'true', 'false'))),
  iif(n % 10 = 0, NULL, 'maybe ' || n), randomblob(4 + n % 13)
FROM g;
EOF
got_rows=$(sqlite3 "$db" "SELECT count(*) FROM t")
if [ "$got_rows" != "$rows" ]; then
  echo "the source has $got_rows rows, not $rows" >&2
  exit 1
fi
sql "$dst" -c "CREATE TABLE t (id bigint PRIMARY KEY, qty int, price double precision,
  amount numeric(12,2), label text, flag bool, created timestamp, day date, uid uuid,
  attrs jsonb, maybe text, bin bytea)"

# Every run loads into the same table, emptied, with no ledger and a checkpoint first, and
# reports the count:md5 checksum PostgreSQL computes of it; the expected one is the reference
# pipe's (the first run), checked against the source's count.
measure() {  # NAME PARALLEL(true/false/-) COMMAND... -> "NAME|seconds|RSS MB|checksum|note"
  local name=$1 want_parallel=$2 note=
  shift 2
  sql "$dst" -c "TRUNCATE t" -c "DROP TABLE IF EXISTS parmap_ledger, parmap_jobs, parmap_runs"
  sql "$admin" -c "CHECKPOINT"
  bench_time "$name" "$@"
  if [ "$want_parallel" != "-" ]; then
    local got_parallel
    got_parallel=$(json_flag parallel "$dir/out.txt")
    [ "$got_parallel" = "$want_parallel" ] || note=", NOT AS ASKED (parallel: $got_parallel)"
  fi
  echo "$name|$bench_secs|$bench_rss|$(pg_checksum "$dst" t)|$note"
}

# The reference. sqlite3 -csv writes NULL as an empty unquoted field, which COPY reads as NULL,
# and an empty string as "", which it reads as an empty string; what the text cannot carry is
# what the SELECT spells out: reals to 17 significant digits (sqlite3 prints 15, and its
# printf stops at 16 without the ! flag: PostgreSQL would read other doubles), blobs as bytea's \x hex (sqlite3 prints their raw bytes).
# Neither can it tell a value's SQLite storage class: a '12' text in qty arrives as 12.
results=()
results+=("$(measure "sqlite3 -csv piped to psql COPY FROM csv (reference)" - bash -c "
  sqlite3 -csv '$db' \"SELECT id, qty, printf('%!.17g', price), amount, label, flag, created,
    day, uid, attrs, maybe, CASE WHEN bin IS NULL THEN NULL ELSE '\\\\x' || hex(bin) END FROM t\" |
  psql -X -q -v ON_ERROR_STOP=1 '$dst' -c 'COPY t FROM STDIN (FORMAT csv)'")")

# parmap into the existing table (append; the source's integer primary key cuts the chunks),
# about 20 chunks below 1,000,000 rows, else the default (chunk_size auto: chunks of 50,000
# committed in groups), as a user runs it.
chunk=$((rows / 20))
[ "$chunk" -lt 1000 ] && chunk=1000
chunking="chunks of $chunk rows"
args=(run --source "sqlite://$db" --table t --target "$dst" --target-table t --mode append
  --output json -q)
if [ "$rows" -lt 1000000 ]; then
  args+=(--chunk-size "$chunk")
else
  chunking="chunk_size auto"
fi
results+=("$(measure "parmap serial" false "$bin" "${args[@]}" --workers 1 --no-parallel)")
results+=("$(measure "parmap 2 workers" true "$bin" "${args[@]}" --workers 2 \
  --min-rows-for-parallel 1000)")

# pgloader, when installed, into the same existing typed table (data only; its truncate is
# the measure's again). It casts by the SQLite declared types (BOOLEAN 0/1 to bool, BLOB to
# bytea) and only warns where its cast is not the column's type (qty, price, uid, attrs):
# PostgreSQL converts those on the way in.
skipped=
if command -v pgloader >/dev/null; then
  cat >"$dir/load.pgl" <<EOF
LOAD DATABASE
  FROM sqlite://$db
  INTO $dst
  WITH truncate, data only, batch rows = 10000, prefetch rows = 10000
  INCLUDING ONLY TABLE NAMES LIKE 't';
EOF
  results+=("$(measure "pgloader (batch and prefetch rows 10000)" - pgloader \
    --root-dir "$dir/pgloader" "$dir/load.pgl")")
else
  skipped="pgloader is not installed: its run was skipped."
fi

durability="durable: fsync, synchronous commit and full page writes on"
[ "$durable" = 1 ] || durability="fsync off"
echo "SQLite $(sqlite3 --version | cut -d' ' -f1) to PostgreSQL 15 (one local server," \
  "$durability; target with its primary key), $rows rows of 12 mixed columns, $chunking," \
  "$(nproc) cores, $(date -u +%Y-%m-%d)"
echo
expected=$(echo "${results[0]}" | cut -d'|' -f4)
if [ "${expected%%:*}" != "$rows" ]; then
  echo "the reference loaded ${expected%%:*} rows, not $rows" >&2
  exit 1
fi
table=()
for r in "${results[@]}"; do
  IFS='|' read -r name secs rss got note <<<"$r"
  if [ "$got" = "$expected" ]; then check=equal; else check="DIFFERENT ($got)"; fi
  table+=("$name|$secs|$rss|$check$note")
done
bench_table "$rows" "${table[@]}"
[ -z "$skipped" ] || { echo; echo "$skipped"; }
