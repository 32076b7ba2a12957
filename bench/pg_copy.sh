#!/usr/bin/env bash
# Times PostgreSQL-to-PostgreSQL copies on a throwaway server: the reference (psql binary COPY
# piped into psql binary COPY) against parmap serial and with 2 and 4 workers, on the fast path
# (no transformation: COPY bytes passed through) and on the typed path (a column mapping that
# lists every column unchanged). Prints a markdown table: seconds, rows/s, ratio to the
# reference, peak RSS of the client side, and whether the target's count and md5 content
# checksum equal the source's. Server memory and CPU are not in the RSS column.
#
# By default the case users have: a durable server (PostgreSQL's own fsync, synchronous
# commit and full page writes) and a target table with its primary key. BENCH_DURABLE=0 turns
# durability off, BENCH_TARGET_KEY=0 loads into a table with no key (the old bulk-load case).
# After the main table: a 200-column table (100,000 rows) and a key no index answers.
# Usage: bench/pg_copy.sh [ROWS]   (default 1000000; the lead's large run uses 4000000)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
rows=${1:-1000000}
[[ "$rows" =~ ^[1-9][0-9]*$ ]] || { echo "usage: bench/pg_copy.sh [ROWS]" >&2; exit 2; }
scripts/build.sh build >/dev/null  # runs scripts/setup.sh: PostgreSQL, psql and time included
bin=$PWD/build/parmap
durable=${BENCH_DURABLE:-1}
target_key=${BENCH_TARGET_KEY:-1}
PARMAP_PG_DURABLE=$durable bench_pg_start pgbench

columns="id bigint, qty int, price double precision, amount numeric(12,2), label text, flag bool,
  created timestamptz, day date, uid uuid, attrs jsonb, maybe text, bin bytea"
col_names="id qty price amount label flag created day uid attrs maybe bin"
# ids with gaps (strictly increasing: 3g + g % 3), text of 10-200 characters, 10% NULL in
# `maybe`, 4-16 bytes of bytea.
sql "$src" <<EOF
CREATE TABLE t ($columns, PRIMARY KEY (id));
INSERT INTO t SELECT g * 3 + g % 3, (g::bigint * 7919) % 100000 - 50000, sin(g) * 1e6,
  ((g::bigint * 7919) % 10000000) / 100.0, left(repeat(md5(g::text), 7), 10 + g % 191),
  g % 3 = 0, timestamptz '2000-01-01 00:00+00' + g * interval '17 seconds',
  date '1970-01-01' + g % 20000, md5(g::text)::uuid,
  jsonb_build_object('g', g, 'k', 'v' || g % 100, 'ok', g % 2 = 0),
  CASE WHEN g % 10 = 0 THEN NULL ELSE 'maybe ' || g END,
  decode(left(md5(g::text), 2 * (4 + g % 13)), 'hex')
FROM generate_series(1, $rows) g;
VACUUM ANALYZE t;
EOF
# The target: with its primary key, as real targets have one (BENCH_TARGET_KEY=0: none).
if [ "$target_key" = 1 ]; then
  sql "$dst" -c "CREATE TABLE t ($columns, PRIMARY KEY (id))"
else
  sql "$dst" -c "CREATE TABLE t ($columns)"
fi

expected=$(pg_checksum "$src" t)
if [ "${expected%%:*}" != "$rows" ]; then
  echo "the source has ${expected%%:*} rows, not $rows" >&2
  exit 1
fi

measure() {  # NAME FAST(true/false/-) PARALLEL(true/false/-) COMMAND...
  local name=$1 want_fast=$2 want_parallel=$3
  shift 3
  # An empty target, no ledger, and the source's pages flushed, for every run alike.
  sql "$dst" -c "TRUNCATE t" -c "DROP TABLE IF EXISTS parmap_ledger, parmap_jobs, parmap_runs"
  sql "$admin" -c "CHECKPOINT"
  bench_time "$name" "$@"
  local got check
  got=$(pg_checksum "$dst" t)
  if [ "$got" = "$expected" ]; then check=equal; else check="DIFFERENT ($got)"; fi
  # parmap says what it did (--output json): a typed run on the fast path, or a serial run
  # in the 4 workers row, would measure the wrong thing.
  local got_fast got_parallel
  if [ "$want_fast" != "-" ]; then
    got_fast=$(json_flag fast_path "$dir/out.txt")
    [ "$got_fast" = "$want_fast" ] || check="$check, WRONG PATH (fast_path: $got_fast)"
  fi
  if [ "$want_parallel" != "-" ]; then
    got_parallel=$(json_flag parallel "$dir/out.txt")
    [ "$got_parallel" = "$want_parallel" ] || check="$check, NOT AS ASKED (parallel: $got_parallel)"
  fi
  echo "$name|$bench_secs|$bench_rss|$check"
}

results=()
results+=("$(measure "psql COPY TO binary piped to COPY FROM (reference)" - - bash -c "
  psql -X -q -v ON_ERROR_STOP=1 '$src' -c 'COPY t TO STDOUT (FORMAT binary)' |
  psql -X -q -v ON_ERROR_STOP=1 '$dst' -c 'COPY t FROM STDIN (FORMAT binary)'")")

job=$dir/typed.yaml
{
  echo "source: $src"
  echo "target: $dst"
  echo "table: t"
  echo "target_table: t"
  echo "columns:"
  for c in $col_names; do echo "  - $c"; done
} >"$job"

# The default chunk size (50,000 rows), or about 20 chunks when there are fewer than 1,000,000.
chunk=$((rows / 20))
[ "$chunk" -gt 50000 ] && chunk=50000
[ "$chunk" -lt 1000 ] && chunk=1000
run() {  # NAME PATH(fast/typed) WORKERS(n or auto) [CHUNK: rows or auto; default $chunk]
  local name=$1 path=$2 workers=$3 size=${4:-$chunk}
  local args=(--workers "$workers" --chunk-size "$size" --job-id "bench-$path-$workers"
    --output json -q)
  local parallel=true fast=true
  if [ "$workers" = 1 ]; then
    args+=(--no-parallel)
    parallel=false
  else
    args+=(--min-rows-for-parallel 1000)
  fi
  if [ "$path" = fast ]; then
    measure "$name" "$fast" "$parallel" "$bin" run --source "$src" --target "$dst" --table t \
      --target-table t "${args[@]}"
  else
    fast=false
    measure "$name" "$fast" "$parallel" "$bin" run "$job" "${args[@]}"
  fi
}
# Fixed chunks (one commit each), then the defaults' chunk_size auto (chunks of 50,000
# committed in groups) and max_workers auto.
for path in fast typed; do
  results+=("$(run "parmap $path path, serial" "$path" 1)")
  results+=("$(run "parmap $path path, 2 workers" "$path" 2)")
  results+=("$(run "parmap $path path, 4 workers" "$path" 4)")
  results+=("$(run "parmap $path path, serial, chunk_size auto" "$path" 1 auto)")
  results+=("$(run "parmap $path path, 2 workers, chunk_size auto" "$path" 2 auto)")
  results+=("$(run "parmap $path path, max_workers auto, chunk_size auto" "$path" auto auto)")
done

# Checking a load: the target as the fast 2-worker run left it, compared with the source by
# parmap verify (both read, range by range) and verify --ledger (the target only), against the
# by-hand reference: PostgreSQL's own md5 checksum of both tables, one after the other.
timed() {  # NAME COMMAND... -> "NAME|seconds|rss MB|exit code"
  local name=$1 code=0
  shift
  /usr/bin/time -v -o "$dir/time.txt" "$@" >"$dir/out.txt" 2>"$dir/err.txt" || code=$?
  local secs rss
  secs=$(elapsed_seconds "$dir/time.txt")
  rss=$(peak_rss_mb "$dir/time.txt")
  echo "$name|$secs|$rss|exit $code"
}
verify_args=(--source "$src" --target "$dst" --table t --target-table t --workers 2
  --chunk-size "$chunk" --min-rows-for-parallel 1000 --job-id bench-verify -q)
sql "$dst" -c "TRUNCATE t" -c "DROP TABLE IF EXISTS parmap_ledger, parmap_jobs"
"$bin" run "${verify_args[@]}" >/dev/null
checks=()
checks+=("$(timed "md5 checksum query on source and target (reference)" bash -c "
  psql -X -q -At '$src' -c \"SELECT md5(string_agg(md5(t::text), '' ORDER BY md5(t::text)))
    FROM t\" >/dev/null &&
  psql -X -q -At '$dst' -c \"SELECT md5(string_agg(md5(t::text), '' ORDER BY md5(t::text)))
    FROM t\" >/dev/null")")
checks+=("$(timed "parmap verify, 2 workers" "$bin" verify "${verify_args[@]}")")
checks+=("$(timed "parmap verify --ledger, 2 workers" "$bin" verify --ledger "${verify_args[@]}")")

# A wide table: 200 columns (int, text, numeric, float8 in turn), 100,000 rows, with its
# primary key in the target; the reference is its own pipe.
wide_cols="id bigint PRIMARY KEY"
wide_vals="g"
for i in $(seq 1 199); do
  case $((i % 4)) in
    0) wide_cols+=", c$i int"; wide_vals+=", g + $i" ;;
    1) wide_cols+=", c$i text"; wide_vals+=", 'v' || (g * $i)" ;;
    2) wide_cols+=", c$i numeric"; wide_vals+=", (g * $i)::numeric / 100" ;;
    3) wide_cols+=", c$i float8"; wide_vals+=", g / $i.0" ;;
  esac
done
sql "$src" -c "CREATE TABLE wide ($wide_cols)" \
  -c "INSERT INTO wide SELECT $wide_vals FROM generate_series(1, 100000) g" -c "VACUUM ANALYZE wide"
sql "$dst" -c "CREATE TABLE wide ($wide_cols)"
wide_check() {  # URL -> count:md5 of the wide table
  sql "$1" -c "SELECT count(*) || ':' || md5(string_agg(md5(wide::text), '' ORDER BY id)) FROM wide"
}
wide_expected=$(wide_check "$src")
wide_measure() {  # NAME COMMAND...
  local name=$1
  shift
  sql "$dst" -c "TRUNCATE wide" -c "DROP TABLE IF EXISTS parmap_ledger, parmap_jobs, parmap_runs"
  sql "$admin" -c "CHECKPOINT"
  bench_time "$name" "$@"
  local check=equal
  [ "$(wide_check "$dst")" = "$wide_expected" ] || check=DIFFERENT
  echo "$name|$bench_secs|$bench_rss|$check"
}
wide=()
wide+=("$(wide_measure "wide: psql COPY TO binary piped to COPY FROM (reference)" bash -c "
  psql -X -q -v ON_ERROR_STOP=1 '$src' -c 'COPY wide TO STDOUT (FORMAT binary)' |
  psql -X -q -v ON_ERROR_STOP=1 '$dst' -c 'COPY wide FROM STDIN (FORMAT binary)'")")
wide_args=(run --source "$src" --target "$dst" --table wide --target-table wide --workers 2
  --min-rows-for-parallel 1000 -q)
wide+=("$(wide_measure "wide: parmap fast path, 2 workers" "$bin" "${wide_args[@]}")")
wide+=("$(wide_measure "wide: parmap fast path, 2 workers, chunks of 10,000" "$bin" \
  "${wide_args[@]}" --chunk-size 10000)")
wide+=("$(wide_measure "wide: parmap fast path, 1 worker" "$bin" run --source "$src" \
  --target "$dst" --table wide --target-table wide --workers 1 -q)")

# A key no index answers (ORDER BY label, a text column): chunks of 1,000 against 50,000.
# Its rows join the main table's, against the same reference.
for size in 50000 1000; do
  results+=("$(measure "ORDER BY label (no index), chunks of $size, 2 workers" - - "$bin" run \
    --source "$src" --target "$dst" --query "SELECT * FROM t ORDER BY label" --target-table t \
    --workers 2 --chunk-size "$size" --min-rows-for-parallel 1000 -q)")
done

durability="durable: fsync, synchronous commit and full page writes on"
[ "$durable" = 1 ] || durability="fsync off"
key_text="with its primary key"
[ "$target_key" = 1 ] || key_text="with no key"
echo "PostgreSQL 15 to PostgreSQL 15 (one local server, $durability; target $key_text)," \
  "$rows rows of 12 mixed columns, chunks of $chunk rows, $(nproc) cores, $(date -u +%Y-%m-%d)"
echo
bench_table "$rows" "${results[@]}"

wide_ref=$(echo "${wide[0]}" | cut -d'|' -f2)
echo
echo "| wide table (200 columns, 100,000 rows) | seconds | ratio to its pipe | peak RSS MB | check |"
echo "| --- | ---: | ---: | ---: | --- |"
for r in "${wide[@]}"; do
  IFS='|' read -r name secs rss check <<<"$r"
  awk -v n="$name" -v s="$secs" -v m="$rss" -v c="$check" -v ref="$wide_ref" \
    'BEGIN { if (s <= 0) s = 0.01; printf "| %s | %.2f | %.2f | %s | %s |\n", n, s, s / ref, m, c }'
done

check_ref=$(echo "${checks[0]}" | cut -d'|' -f2)
echo
echo "| check | seconds | ratio to reference | peak RSS MB | result |"
echo "| --- | ---: | ---: | ---: | --- |"
for r in "${checks[@]}"; do
  IFS='|' read -r name secs rss code <<<"$r"
  awk -v n="$name" -v s="$secs" -v m="$rss" -v c="$code" -v ref="$check_ref" \
    'BEGIN { if (s <= 0) s = 0.01
             printf "| %s | %.2f | %.2f | %s | %s |\n", n, s, s / ref, m, c }'
done
