#!/usr/bin/env bash
# Times SQLite-to-SQLite copies of the demo table: the reference (sqlite3's own
# INSERT ... SELECT across an attached file, no client in between) against parmap serial and
# with 2 and 4 workers. Prints a markdown table: seconds, rows/s, ratio to the reference,
# peak RSS, and whether the target's count and content checksum equal the source's.
# Usage: bench/sqlite_copy.sh [ROWS]   (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
scripts/build.sh build >/dev/null
command -v sqlite3 >/dev/null && [ -x /usr/bin/time ] || scripts/setup.sh
bin=$PWD/build/parmap
dir=$(mktemp -d /tmp/parmap-bench-XXXXXX)
trap 'rm -rf "$dir"' EXIT

# The demo makes the source (and checks itself); its targets are not used here.
"$bin" demo --rows "$rows" --dir "$dir" >/dev/null
rm -f "$dir"/target_*.db
cols="id, qty, price, name, note, created, flag"
checksum() {  # FILE TABLE -> "count:sum of per-row hashes", computed by sqlite3 itself
  sqlite3 "$1" "SELECT count(*) || ':' || total(length(quote(id) || quote(qty) || quote(price) ||
    quote(name) || quote(note) || quote(created) || quote(flag)) * (id % 1000 + 1)) FROM $2"
}
expected=$(checksum "$dir/source.db" demo_source)

measure() {  # NAME TARGET_FILE COMMAND...
  local name=$1 target=$2
  shift 2
  rm -f "$target"
  /usr/bin/time -v -o "$dir/time.txt" "$@" >/dev/null 2>"$dir/err.txt" || {
    cat "$dir/err.txt" >&2
    exit 1
  }
  local secs rss
  secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$dir/time.txt")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$dir/time.txt")
  local table
  table=$(sqlite3 "$target" "SELECT name FROM sqlite_master WHERE name IN ('demo_target','ref')")
  local got
  got=$(checksum "$target" "$table")
  echo "$name|$secs|$rss|$([ "$got" = "$expected" ] && echo equal || echo "DIFFERENT ($got)")"
}

results=()
results+=("$(measure "sqlite3 INSERT ... SELECT (reference)" "$dir/ref.db" \
  sqlite3 "$dir/ref.db" "ATTACH '$dir/source.db' AS s; CREATE TABLE ref ($cols);
  INSERT INTO ref SELECT $cols FROM s.demo_source;")")
run() {  # NAME WORKERS [extra]
  local name=$1 workers=$2
  shift 2
  measure "$name" "$dir/t.db" "$bin" run --source "sqlite://$dir/source.db" \
    --target "sqlite://$dir/t.db" --query "SELECT * FROM demo_source ORDER BY id" \
    --target-table demo_target --mode create --workers "$workers" -q "$@"
}
results+=("$(run "parmap serial" 1 --no-parallel)")
results+=("$(run "parmap 2 workers" 2)")
results+=("$(run "parmap 4 workers" 4)")

ref_secs=$(echo "${results[0]}" | cut -d'|' -f2)
echo "SQLite to SQLite, $rows rows of 7 mixed columns, $(nproc) cores, $(date -u +%Y-%m-%d)"
echo
echo "| run | seconds | rows/s | ratio to reference | peak RSS MB | target |"
echo "| --- | ---: | ---: | ---: | ---: | --- |"
for r in "${results[@]}"; do
  IFS='|' read -r name secs rss check <<<"$r"
  awk -v n="$name" -v s="$secs" -v m="$rss" -v c="$check" -v rows="$rows" -v ref="$ref_secs" \
    'BEGIN { printf "| %s | %.2f | %.0f | %.2f | %s | %s |\n", n, s, rows / s, s / ref, m, c }'
done
