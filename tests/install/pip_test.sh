#!/usr/bin/env bash
# Installs the Python package with pip from the project (offline: no build isolation, no
# index), reusing the build in BUILD_DIR, into a temporary folder, and copies a SQLite table
# with the installed package. Usage: pip_test.sh BUILD_DIR SOURCE_DIR PYTHON
set -euo pipefail
build=$1
src=$2
python=$3
"$python" -m pip --version >/dev/null 2>&1 || { echo "pip is missing for $python" >&2; exit 77; }
work=$(mktemp -d /tmp/parmap-pip-XXXXXX)
trap 'rm -rf "$work"' EXIT
# The project folder is copied so that pip's in-tree build leaves no files in the sources.
cp -r "$src/pyproject.toml" "$src/python" "$work/"
mkdir -p "$work/project" && mv "$work/pyproject.toml" "$work/python" "$work/project/"
PARMAP_BUILD_DIR=$build "$python" -m pip install -q --no-build-isolation --no-deps --no-index \
  --target "$work/site" "$work/project" 2>&1 | grep -v "Running pip as the 'root' user" || true
[ -f "$work/site/parmap/mapper/parallel_query_executor.py" ] || {
  echo "pip installed no package" >&2; exit 1; }
cd "$work"
PYTHONPATH=$work/site "$python" - <<'PY'
import sqlite3
import parmap
from parmap.mapper.parallel_query_executor import execute_query_parallel

assert parmap.__file__.startswith("/tmp/parmap-pip-"), parmap.__file__
db = sqlite3.connect("src.db")
db.execute("CREATE TABLE src (id INTEGER PRIMARY KEY, name TEXT)")
db.executemany("INSERT INTO src VALUES (?, ?)", ((i, f"n{i}") for i in range(1, 3001)))
db.commit()
db.close()
result = execute_query_parallel("sqlite://src.db", "SELECT * FROM src ORDER BY id",
                                "sqlite://dst.db", "", "dst", mode="create",
                                params={"max_workers": 2, "chunk_size": 500,
                                        "min_rows_for_parallel": 10})
count = sqlite3.connect("dst.db").execute("SELECT count(*), sum(id) FROM dst").fetchone()
assert result.ok() and result.total_rows_processed == 3000 and count == (3000, 4501500), count
print("pip-installed package copied", count[0], "rows")
PY
