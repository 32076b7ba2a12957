#!/usr/bin/env bash
# Times copying a 30-table schema PostgreSQL to PostgreSQL on a throwaway server: parmap in one
# run (tables: [sales.*], one pool of workers, one snapshot) against one parmap process per
# table run one after another, and pgcopydb clone when it is installed. Prints a markdown
# table: seconds, rows/s, the workers' idle share, and whether every table's count and md5
# content checksum equal the source's.
#
# The schema: t00 holds half the rows, t01-t03 are empty, t04 has no key, t05 a uuid key, and
# t06-t29 shrink from table to table (the same shapes as the integration test).
# Idle share: parmap's one run measures it (worker time not inside a chunk, over workers x
# wall time of the copy). For one process per table it is the share of worker slots that no
# process used (1 - sum of workers_used x seconds over workers x total seconds): a lower
# bound, as a process's own workers also wait. pgcopydb reports none.
# Usage: bench/multi_table.sh [ROWS] [WORKERS]   (default 1000000 rows, 4 workers)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
rows=${1:-1000000}
workers=${2:-4}
[[ "$rows" =~ ^[1-9][0-9]*$ && "$workers" =~ ^[1-9][0-9]*$ ]] ||
  { echo "usage: bench/multi_table.sh [ROWS] [WORKERS]" >&2; exit 2; }
scripts/build.sh build >/dev/null
bin=$PWD/build/parmap
PARMAP_PG_DURABLE=${BENCH_DURABLE:-1} bench_pg_start multitable

# Table sizes: the same split as tests/integration/postgres/pg_multi_table_test.cpp.
half=$((rows / 2))
rest=$((rows - half))
sixth=$((rest / 6))
ddl="CREATE SCHEMA sales;
CREATE TABLE sales.t00 (id int8 PRIMARY KEY, grp int4, amount numeric(12,2), label text);
INSERT INTO sales.t00 SELECT g * 3, (g % 17) - 8, round((g * 1.37)::numeric, 2),
  'label ' || g FROM generate_series(1, $half) g;
CREATE TABLE sales.t04 (a int8, b text);
INSERT INTO sales.t04 SELECT g % 1000, 'r' || g FROM generate_series(1, $sixth) g;
CREATE TABLE sales.t05 (id uuid PRIMARY KEY, note text, at timestamptz);
INSERT INTO sales.t05 SELECT md5(g::text)::uuid, 'n' || g,
  timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute' FROM generate_series(1, $sixth) g;"
for t in 01 02 03; do
  ddl+="CREATE TABLE sales.t$t (id int8 PRIMARY KEY, grp int4, amount numeric(12,2), label text);"
done
left=$((rest - 2 * sixth))
share=200  # per mille, growing 5% a table
for i in $(seq 6 29); do
  t=$(printf 't%02d' "$i")
  if [ "$i" = 29 ]; then n=$((left > 1 ? left : 1)); else n=$((left * share / 1000)); fi
  [ "$n" -ge 1 ] || n=1
  ddl+="CREATE TABLE sales.$t (id int8 PRIMARY KEY, grp int4, amount numeric(12,2), label text);
INSERT INTO sales.$t SELECT g * 3, (g % 17) - 8, round((g * 1.37)::numeric, 2), 'label ' || g
  FROM generate_series(1, $n) g;"
  left=$((left - n > 0 ? left - n : 0))
  share=$((share * 105 / 100 > 500 ? 500 : share * 105 / 100))
done
sql "$src" -c "$ddl"
sql "$src" -c "VACUUM ANALYZE"
tables=$(sql "$src" -c "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid =
  c.relnamespace WHERE nspname = 'sales' AND relkind = 'r' ORDER BY 1")

checksums() {  # URL -> one line per table: name count:md5
  local t
  for t in $tables; do
    echo "$t $(sql "$1" -c "SELECT count(*) || ':' || coalesce(md5(string_agg(md5(t::text), ''
      ORDER BY md5(t::text))), '-') FROM sales.$t t" 2>/dev/null || echo missing)"
  done
}
expected=$(checksums "$src")

reset_target() {
  sql "$admin" -c "DROP DATABASE IF EXISTS bench_dst WITH (FORCE)" -c "CREATE DATABASE bench_dst"
  sql "$dst" -c "CREATE SCHEMA sales"
  sql "$admin" -c "CHECKPOINT"
}

results=()
record() {  # NAME SECONDS IDLE
  local check=equal
  [ "$(checksums "$dst")" = "$expected" ] || check=DIFFERENT
  results+=("| $1 | $2 | $(awk -v r="$rows" -v s="$2" 'BEGIN { printf "%.0f", r / s }') | $3 | $check |")
}

now() { date +%s.%N; }

# 1. parmap, one run.
reset_target
cat >"$dir/schema.yaml" <<EOF
source: $src
target: $dst
mode: create
tables: [sales.*]
params:
  max_workers: $workers
EOF
t0=$(now)
"$bin" run "$dir/schema.yaml" --output json >"$dir/one.json" 2>"$dir/one.err" ||
  { cat "$dir/one.err" >&2; exit 1; }
secs=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
idle=$(python3 -c "import json,sys; print('%.1f%%' % (100 * json.load(open(sys.argv[1]))['idle_share']))" "$dir/one.json")
record "parmap, one run ($workers workers)" "$secs" "$idle"

# 2. parmap, one process per table, one after another.
reset_target
used=0
t0=$(now)
for t in $tables; do
  "$bin" run --source "$src" --target "$dst" --table "sales.$t" --target-table "sales.$t" \
    --mode create --workers "$workers" --output json >"$dir/$t.json" 2>"$dir/$t.err" ||
    { cat "$dir/$t.err" >&2; exit 1; }
  used=$(python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($used + j['workers_used'] * j['elapsed_seconds'])" "$dir/$t.json")
done
secs=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
idle=$(awk -v u="$used" -v s="$secs" -v w="$workers" 'BEGIN { printf ">= %.1f%%", 100 * (1 - u / (w * s)) }')
record "parmap, a process per table ($workers workers each)" "$secs" "$idle"

# 3. pgcopydb clone (schema, data, then the primary keys' indexes), when installed.
if command -v pgcopydb >/dev/null; then
  sql "$admin" -c "DROP DATABASE IF EXISTS bench_dst WITH (FORCE)" -c "CREATE DATABASE bench_dst"
  sql "$admin" -c "CHECKPOINT"
  rm -rf "$dir/pgcopydb"
  t0=$(now)
  pgcopydb clone --source "$src" --target "$dst" --dir "$dir/pgcopydb" --table-jobs "$workers" \
    --index-jobs "$workers" --split-tables-larger-than 10MB --no-owner --skip-extensions \
    >"$dir/pgcopydb.log" 2>&1 || { tail -20 "$dir/pgcopydb.log" >&2; exit 1; }
  secs=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
  record "pgcopydb $(pgcopydb --version 2>/dev/null | awk '/version/ {print $NF}') clone (+ PK indexes)" "$secs" "-"
fi

echo "| run | seconds | rows/s | worker idle share | check |"
echo "| --- | ---: | ---: | ---: | --- |"
printf '%s\n' "${results[@]}"
