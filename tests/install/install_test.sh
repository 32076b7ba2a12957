#!/usr/bin/env bash
# Installs a built tree into a temporary prefix and builds a program outside the tree against
# it, with CMake (shared and static) and with pkg-config, then runs each on a SQLite table and
# checks the target's row count; also imports the installed Python package when there is one.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR [PYTHON]
set -euo pipefail
build=$1
src=$2
python=${3:-}
work=$(mktemp -d /tmp/parmap-install-XXXXXX)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null

[ -x "$prefix/bin/parmap" ] || { echo "no parmap binary installed" >&2; exit 1; }
[ -f "$prefix/include/parmap/parmap.h" ] || { echo "no headers installed" >&2; exit 1; }
[ -f "$prefix/share/man/man1/parmap.1" ] || { echo "no manual page installed" >&2; exit 1; }
libdir=$(dirname "$(find "$prefix" -name 'libparmap.a' | head -n1)")
[ -f "$libdir/libparmap.a" ] && [ -e "$libdir/libparmap.so" ] || {
  echo "static and shared libraries not both installed in $libdir" >&2; exit 1; }

rows=2500
make_source() {  # DB
  rm -f "$1"
  sqlite3 "$1" "CREATE TABLE src (id INTEGER PRIMARY KEY, name TEXT, amount REAL);
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows)
    INSERT INTO src SELECT i, 'name ' || i, i * 0.5 FROM n;"
}
check_copy() {  # PROGRAM LABEL
  local db=$work/$2
  make_source "$db-src.db"
  rm -f "$db-dst.db"
  sqlite3 "$db-dst.db" "CREATE TABLE dst (id INTEGER PRIMARY KEY, name TEXT, amount REAL);"
  local out
  out=$(cd "$work" && LD_LIBRARY_PATH="$libdir" MAPPER_MAX_WORKERS=3 MAPPER_CHUNK_SIZE=400 \
        MAPPER_MIN_ROWS_FOR_PARALLEL=100 "$1" "$db-src.db" "$db-dst.db")
  local count
  count=$(sqlite3 "$db-dst.db" "SELECT count(*) FROM dst")
  local sums
  sums=$(sqlite3 "$db-dst.db" "SELECT sum(id), sum(amount), count(DISTINCT name) FROM dst")
  local want
  want=$(sqlite3 "$db-src.db" "SELECT sum(id), sum(amount), count(DISTINCT name) FROM src")
  if [ "$out" != "$rows" ] || [ "$count" != "$rows" ] || [ "$sums" != "$want" ]; then
    echo "$2: copied $out, target has $count rows ($sums), expected $rows ($want)" >&2
    exit 1
  fi
  echo "$2: $count rows copied"
}

# CMake: find_package(parmap), shared and static.
cmake -S "$src/tests/install/consumer" -B "$work/cmake-build" -G Ninja \
  -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
check_copy "$work/cmake-build/consumer" cmake-shared
check_copy "$work/cmake-build/consumer_static" cmake-static

# pkg-config, shared.
export PKG_CONFIG_PATH="$libdir/pkgconfig"
# shellcheck disable=SC2046  # pkg-config's output is a list of flags
c++ -std=c++20 -o "$work/pc-consumer" "$src/tests/install/consumer/main.cpp" \
  $(pkg-config --cflags --libs parmap)
check_copy "$work/pc-consumer" pkg-config

if [ -n "$python" ]; then
  site=$(dirname "$(find "$prefix" -path '*/parmap/__init__.py' | head -n1)")
  [ -n "$site" ] || { echo "no Python package installed" >&2; exit 1; }
  PYTHONPATH=$(dirname "$site") "$python" -c '
import parmap.mapper.parallel_query_executor as m
assert callable(m.execute_query_parallel) and m.ConnectionPoolManager
print("python: imported", m.__file__)'
fi
