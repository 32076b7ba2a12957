# Helpers the PostgreSQL benchmarks share; sourced, not run.

# sql URL SQL...: runs statements through psql, stops at the first error, prints tuples only.
sql() {
  local target=$1
  shift
  PGOPTIONS="-c client_min_messages=warning" psql -X -q -At -v ON_ERROR_STOP=1 "$target" "$@"
}

# elapsed_seconds FILE: the wall-clock seconds in a /usr/bin/time -v report.
elapsed_seconds() {
  awk -F': ' '/Elapsed \(wall clock\)/ {
    n = split($2, a, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + a[i]; print s }' "$1"
}

# peak_rss_mb FILE: the maximum resident set size in a /usr/bin/time -v report, in MB.
peak_rss_mb() {
  awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$1"
}

# bench_pg_start NAME: a scratch folder and a throwaway PostgreSQL server with the empty
# databases bench_src and bench_dst; sets dir, pg_dir, admin (the server's URL), src and dst,
# and stops the server and removes both folders when the script exits.
bench_pg_start() {
  dir=$(mktemp -d "/tmp/parmap-$1-XXXXXX")
  pg_dir=$(mktemp -d "/tmp/parmap-$1-server-XXXXXX")
  trap 'scripts/pg_test_server.sh stop "$pg_dir" >/dev/null 2>&1 || true; rm -rf "$dir" "$pg_dir"' \
    EXIT
  trap 'exit 130' INT TERM
  admin=$(scripts/pg_test_server.sh start "$pg_dir")
  src=${admin%/*}/bench_src
  dst=${admin%/*}/bench_dst
  sql "$admin" -c "CREATE DATABASE bench_src" -c "CREATE DATABASE bench_dst"
}

# pg_checksum URL TABLE: "count:md5 of the sorted per-row md5s" of a table, computed by
# PostgreSQL ("-" for the md5 of an empty table).
pg_checksum() {
  sql "$1" -c "SELECT count(*) || ':' || coalesce(md5(string_agg(md5($2::text), ''
    ORDER BY md5($2::text))), '-') FROM $2"
}

# json_flag KEY FILE: true/false/unknown, from parmap's --output json summary.
json_flag() {
  grep -o "\"$1\": *[a-z]*" "$2" | grep -o '[a-z]*$' || echo unknown
}

# bench_time NAME COMMAND...: runs the command under /usr/bin/time -v with its output in
# $dir/out.txt and $dir/err.txt; sets bench_secs and bench_rss (MB); on failure prints its
# stderr and exits.
bench_time() {
  local name=$1
  shift
  /usr/bin/time -v -o "$dir/time.txt" "$@" >"$dir/out.txt" 2>"$dir/err.txt" || {
    echo "$name failed:" >&2
    cat "$dir/err.txt" >&2
    exit 1
  }
  bench_secs=$(elapsed_seconds "$dir/time.txt")
  bench_rss=$(peak_rss_mb "$dir/time.txt")
}

# bench_table ROWS "NAME|seconds|RSS MB|check"...: the markdown table of runs, the first
# one the reference the others' ratio is to.
bench_table() {
  local rows=$1 ref_secs name secs rss check r
  shift
  ref_secs=$(echo "$1" | cut -d'|' -f2)
  echo "| run | seconds | rows/s | ratio to reference | peak RSS MB | check |"
  echo "| --- | ---: | ---: | ---: | ---: | --- |"
  for r in "$@"; do
    IFS='|' read -r name secs rss check <<<"$r"
    awk -v n="$name" -v s="$secs" -v m="$rss" -v c="$check" -v rows="$rows" -v ref="$ref_secs" \
      'BEGIN { if (s <= 0) s = 0.01
               printf "| %s | %.2f | %.0f | %.2f | %s | %s |\n", n, s, rows / s, s / ref, m, c }'
  done
}
