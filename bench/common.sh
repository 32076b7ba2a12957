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
