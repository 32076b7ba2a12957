#!/usr/bin/env bash
# Times MariaDB-to-PostgreSQL and PostgreSQL-to-MariaDB copies on throwaway servers (one of
# each, on this machine): the reference text pipes (`mariadb --batch | psql COPY FROM STDIN`
# and `psql COPY TO STDOUT | mariadb LOAD DATA LOCAL INFILE`) against parmap serial and with 2
# workers, and pgloader (MariaDB to PostgreSQL) when it is installed. Prints a markdown table: seconds, rows/s, ratio to the pipe of that direction, peak
# RSS of the client side, and whether the target's count and content checksum (computed by
# each server on a text rendering both print alike) equal the source's.
# Usage: bench/mariadb_copy.sh [ROWS]   (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
[[ "$rows" =~ ^[1-9][0-9]*$ ]] || { echo "usage: bench/mariadb_copy.sh [ROWS]" >&2; exit 2; }
scripts/build.sh build >/dev/null
bin=$PWD/build/parmap
dir=$(mktemp -d /tmp/parmap-mybench-XXXXXX)
pg_dir=$(mktemp -d /tmp/parmap-mybench-pg-XXXXXX)
my_dir=$(mktemp -d /tmp/parmap-mybench-my-XXXXXX)
cleanup() {
  scripts/pg_test_server.sh stop "$pg_dir" >/dev/null 2>&1 || true
  scripts/mariadb_test_server.sh stop "$my_dir" >/dev/null 2>&1 || true
  rm -rf "$dir" "$pg_dir" "$my_dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pg=$(scripts/pg_test_server.sh start "$pg_dir")
my=$(scripts/mariadb_test_server.sh start "$my_dir")
my_port=$(cat "$my_dir/port")
psql_() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -v ON_ERROR_STOP=1 "$pg" "$@"; }
mariadb_() { mariadb --no-defaults -h127.0.0.1 -P"$my_port" -uparmap --local-infile=1 parmap_test "$@"; }

# Ten columns that both text formats carry exactly (no bytes: the pipes would mangle them).
mariadb_ -e "CREATE TABLE src (id BIGINT PRIMARY KEY, qty INT, price DOUBLE, amount DECIMAL(12,2),
  label VARCHAR(250), flag TINYINT, created DATETIME(6), day DATE, maybe VARCHAR(40),
  note TEXT) ENGINE=InnoDB;
  INSERT INTO src SELECT seq * 3 + seq % 3, CAST((seq * 7919) % 100000 AS SIGNED) - 50000, seq * 1.25,
  ((seq * 7919) % 10000000) / 100, LEFT(REPEAT(MD5(seq), 7), 10 + seq % 191), seq % 2,
  TIMESTAMPADD(MICROSECOND, seq * 1000001, '2000-01-01 00:00:00'), DATE_ADD('1970-01-01',
  INTERVAL seq % 20000 DAY), IF(seq % 10 = 0, NULL, CONCAT('maybe ', seq)),
  CONCAT('note ', seq, ' tab\\there') FROM seq_1_to_$rows;
  CREATE TABLE dst LIKE src;"
columns="id bigint PRIMARY KEY, qty int, price float8, amount numeric(12,2), label text, flag int,
  created timestamp, day date, maybe text, note text"
psql_ -c "CREATE TABLE dst ($columns)" -c "CREATE TABLE src ($columns)"

my_sum() {  # TABLE -> "count:sum of row hashes", by MariaDB
  mariadb_ -N -e "SELECT CONCAT(COUNT(*), ':', COALESCE(SUM(CAST(CONV(SUBSTR(MD5(CONCAT_WS('|',
    id, qty, price, amount, label, flag, DATE_FORMAT(created, '%Y-%m-%d %H:%i:%s.%f'), day,
    COALESCE(maybe, '~'), note)), 1, 15), 16, 10) AS DECIMAL(30))), 0)) FROM $1"
}
pg_sum() {  # TABLE -> the same, by PostgreSQL
  psql_ -c "SELECT count(*) || ':' || coalesce(sum(('x' || substr(md5(concat_ws('|', id, qty,
    price, amount, label, flag, to_char(created, 'YYYY-MM-DD HH24:MI:SS.US'), day,
    coalesce(maybe, '~'), note)), 1, 15))::bit(60)::bigint::numeric), 0) FROM $1"
}
expected=$(my_sum src)

measure() {  # NAME DIRECTION(m2p/p2m) COMMAND...
  local name=$1 direction=$2
  shift 2
  if [ "$direction" = m2p ]; then
    psql_ -c "TRUNCATE dst" -c "DROP TABLE IF EXISTS parmap_ledger, parmap_jobs, parmap_runs"
  else
    mariadb_ -e "TRUNCATE dst; DROP TABLE IF EXISTS parmap_ledger, parmap_jobs, parmap_runs"
  fi
  /usr/bin/time -v -o "$dir/time.txt" "$@" >"$dir/out.txt" 2>"$dir/err.txt" || {
    echo "$name failed:" >&2
    cat "$dir/err.txt" >&2
    exit 1
  }
  local secs rss got check
  secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {
    n = split($2, a, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + a[i]; print s }' \
    "$dir/time.txt")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$dir/time.txt")
  if [ "$direction" = m2p ]; then got=$(pg_sum dst); else got=$(my_sum dst); fi
  if [ "$got" = "$expected" ]; then check=equal; else check="DIFFERENT ($got, want $expected)"; fi
  echo "$name|$direction|$secs|$rss|$check"
}

# About 20 chunks below 1,000,000 rows, else the default (chunk_size auto: chunks of 50,000
# committed in groups), as a user runs it.
chunk=$((rows / 20))
[ "$chunk" -lt 1000 ] && chunk=1000
chunking="chunks of $chunk rows"
[ "$rows" -ge 1000000 ] && chunking="chunk_size auto"
parmap_cmd() {  # SOURCE QUERY TARGET WORKERS: sets cmd to the parmap command line
  cmd=("$bin" run --source "$1" --query "$2" --target "$3" --target-table dst --workers "$4" -q)
  if [ "$rows" -lt 1000000 ]; then cmd+=(--chunk-size "$chunk"); fi
  if [ "$4" = 1 ]; then cmd+=(--no-parallel); else cmd+=(--min-rows-for-parallel 1000); fi
}

results=()
# MariaDB's batch output escapes tab, newline and backslash as COPY's text format does, but
# prints NULL as the word NULL: the reference pipe takes that word for NULL.
results+=("$(measure "mariadb --batch piped to psql COPY FROM STDIN (reference)" m2p bash -c "
  mariadb --no-defaults -h127.0.0.1 -P$my_port -uparmap parmap_test --batch --skip-column-names \
    --quick -e 'SELECT * FROM src' |
  psql -X -q -v ON_ERROR_STOP=1 '$pg' -c \"COPY dst FROM STDIN (NULL 'NULL')\"")")
for workers in 1 2; do
  parmap_cmd "$my" "SELECT * FROM src ORDER BY id" "$pg" "$workers"
  results+=("$(measure "parmap MariaDB -> PostgreSQL, $workers worker(s)" m2p "${cmd[@]}")")
done

# pgloader, when installed, into the same existing typed table (data only; the measure
# truncates it before). Its default batches exhaust its heap on a MariaDB source here, hence
# 10000 rows a batch and prefetched.
skipped=
if command -v pgloader >/dev/null; then
  cat >"$dir/load.pgl" <<EOF
LOAD DATABASE
  FROM mysql://parmap@127.0.0.1:$my_port/parmap_test
  INTO $pg
  WITH truncate, data only, batch rows = 10000, prefetch rows = 10000
  INCLUDING ONLY TABLE NAMES MATCHING 'src'
  ALTER TABLE NAMES MATCHING 'src' RENAME TO 'dst'
  ALTER SCHEMA 'parmap_test' RENAME TO 'public';
EOF
  results+=("$(measure "pgloader MariaDB -> PostgreSQL (batch and prefetch rows 10000)" m2p \
    pgloader --root-dir "$dir/pgloader" "$dir/load.pgl")")
else
  skipped="pgloader is not installed: its run was skipped."
fi

# The PostgreSQL source for the other direction: the same rows.
psql_ -c "INSERT INTO src SELECT * FROM dst"
results+=("$(measure "psql COPY TO STDOUT piped to mariadb LOAD DATA LOCAL INFILE (reference)" p2m bash -c "
  psql -X -q -v ON_ERROR_STOP=1 '$pg' -c 'COPY src TO STDOUT' |
  mariadb --no-defaults -h127.0.0.1 -P$my_port -uparmap parmap_test --local-infile=1 \
    -e \"LOAD DATA LOCAL INFILE '/dev/stdin' INTO TABLE dst\"")")
for workers in 1 2; do
  parmap_cmd "$pg" "SELECT * FROM src ORDER BY id" "$my" "$workers"
  results+=("$(measure "parmap PostgreSQL -> MariaDB, $workers worker(s)" p2m "${cmd[@]}")")
done

printf "%s\n" "${results[@]}" >"$dir/results.txt"
cp "$dir/results.txt" /tmp/mybench-results.txt
echo "MariaDB 10.11 and PostgreSQL 15 (one local server each, durability off), $rows rows of" \
  "10 columns, $chunking, $(nproc) cores, $(date -u +%Y-%m-%d)"
echo
echo "| run | seconds | rows/s | ratio to the pipe | peak RSS MB | check |"
echo "| --- | ---: | ---: | ---: | ---: | --- |"
for r in "${results[@]}"; do
  IFS='|' read -r name direction secs rss check <<<"$r"
  ref=$(for x in "${results[@]}"; do echo "$x"; done | awk -F'|' -v d="$direction" \
    '$2 == d { print $3; exit }')
  awk -v n="$name" -v s="$secs" -v m="$rss" -v c="$check" -v rows="$rows" -v ref="$ref" \
    'BEGIN { if (s <= 0) s = 0.01
             printf "| %s | %.2f | %.0f | %.2f | %s | %s |\n", n, s, rows / s, s / ref, m, c }'
done
[ -z "$skipped" ] || { echo; echo "$skipped"; }
