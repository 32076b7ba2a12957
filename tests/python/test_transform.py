"""Python transforms: values changed, rows dropped and columns added, as lists and as numpy
arrays; on worker threads without the interpreter's lock held for the I/O; an exception fails its
chunk with the traceback. Checked against the rows read back from SQLite files and PostgreSQL."""

import sqlite3
import threading
import time

import pytest

import parmap
from conftest import ROWS
from parmap.mapper.parallel_query_executor import execute_query_parallel

QUERY = "SELECT * FROM src ORDER BY id"
PARALLEL = {"enable_parallel": "Y", "max_workers": "3", "chunk_size": str(max(1, ROWS // 10)),
            "min_rows_for_parallel": "10"}


def rows_of(path, sql, *args):
    db = sqlite3.connect(path)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


@pytest.fixture
def tagged_target(sqlite_pair):
    """sqlite_pair whose target has one more column, `tag`, for the transforms to add."""
    src_url, dst_url, src, dst = sqlite_pair
    db = sqlite3.connect(dst)
    db.execute("ALTER TABLE dst ADD COLUMN tag TEXT")
    db.commit()
    db.close()
    return src_url, dst_url, src, dst


def expected_rows(src):
    """What change_drop_add makes of the source, computed in Python from the rows read."""
    out = []
    for id_, name, amount, note in rows_of(src, "SELECT id, name, amount, note FROM src"):
        if id_ % 4 == 0:
            continue
        out.append((id_, name.upper(), amount * 2, note, f"t{id_ % 3}"))
    return sorted(out)


def change_drop_add(columns):
    keep = [i % 4 != 0 for i in columns["id"]]
    out = {name: [v for v, k in zip(values, keep) if k] for name, values in columns.items()}
    out["name"] = [n.upper() for n in out["name"]]
    out["amount"] = [a * 2 for a in out["amount"]]
    out["tag"] = [f"t{i % 3}" for i in out["id"]]
    return out


def test_a_transform_changes_drops_and_adds(tagged_target):
    src_url, dst_url, src, dst = tagged_target
    result = execute_query_parallel(src_url, QUERY, dst_url, "", "dst", params=PARALLEL,
                                    transform=change_drop_add)
    want = expected_rows(src)
    assert result.ok() and result.workers_used == 3 and result.chunks_done >= 5
    assert result.total_rows_processed == len(want) < ROWS
    assert sorted(rows_of(dst, "SELECT id, name, amount, note, tag FROM dst")) == want
    # verify runs the same transform over the source: it must agree with what was written.
    check = parmap.verify_query_parallel(src_url, QUERY, dst_url, "", "dst", params=PARALLEL,
                                         transform=change_drop_add)
    assert check.ok() and check.target_rows == len(want)


def test_a_transform_may_change_the_dict_in_place(sqlite_pair):
    src_url, dst_url, src, dst = sqlite_pair

    def negate(columns):
        columns["amount"] = [None if a is None else -a for a in columns["amount"]]

    result = execute_query_parallel(src_url, QUERY, dst_url, "", "dst", params=PARALLEL,
                                    transform=negate)
    assert result.ok() and result.total_rows_processed == ROWS
    assert rows_of(dst, "SELECT count(*), sum(amount) FROM dst") == \
        [(ROWS, -rows_of(src, "SELECT sum(amount) FROM src")[0][0])]


def test_numpy_arrays(tagged_target):
    numpy = pytest.importorskip("numpy")
    src_url, dst_url, src, dst = tagged_target
    kinds = set()

    def vectorised(columns):
        kinds.update(type(v).__name__ for v in columns.values())
        keep = columns["id"] % 4 != 0
        out = {name: values[keep] for name, values in columns.items()}
        out["name"] = numpy.array([n.upper() for n in out["name"]], dtype=object)
        out["amount"] = out["amount"] * 2
        out["tag"] = numpy.char.add("t", (out["id"] % 3).astype(str))
        return out

    result = execute_query_parallel(src_url, QUERY, dst_url, "", "dst", params=PARALLEL,
                                    transform=vectorised, batch_format="numpy")
    assert kinds == {"ndarray"}
    assert result.ok() and result.total_rows_processed == len(expected_rows(src))
    assert sorted(rows_of(dst, "SELECT id, name, amount, note, tag FROM dst")) == \
        expected_rows(src)


def test_transforms_run_on_the_workers_at_the_same_time(sqlite_pair):
    src_url, dst_url, src, dst = sqlite_pair
    lock, running, most, threads = threading.Lock(), [0], [0], set()

    def slow(columns):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            threads.add(threading.get_ident())
        time.sleep(0.05)  # sleeps without the lock: another worker's batch may come in
        with lock:
            running[0] -= 1
        return columns

    params = {**PARALLEL, "chunk_size": str(max(1, ROWS // 20))}
    result = execute_query_parallel(src_url, QUERY, dst_url, "", "dst", params=params,
                                    transform=slow)
    assert result.ok() and result.total_rows_processed == ROWS
    assert len(threads) >= 2 and most[0] >= 2
    assert threading.get_ident() not in threads


def test_an_exception_fails_its_chunk_with_the_traceback(sqlite_pair):
    src_url, dst_url, src, dst = sqlite_pair
    bad_id = 3 * (ROWS // 2)

    def refuse_one_row(columns):
        if bad_id in columns["id"]:
            raise ValueError(f"cannot map row {bad_id}")
        return columns

    params = {**PARALLEL, "max_workers": "2"}
    result = execute_query_parallel(src_url, QUERY, dst_url, "", "dst", params=params,
                                    job_id="bad-transform", transform=refuse_one_row)
    assert not result.ok() and result.chunks_failed == 1
    message = "\n".join(result.errors)
    assert "Traceback (most recent call last)" in message
    assert "in refuse_one_row" in message and f"ValueError: cannot map row {bad_id}" in message
    # Whole chunks only: the failed chunk wrote nothing; the others committed once.
    assert rows_of(dst, "SELECT count(*), count(DISTINCT id), sum(id = ?) FROM dst",
                   bad_id) == [(result.total_rows_processed, result.total_rows_processed, 0)]
    assert result.total_rows_processed < ROWS

    # The rerun with a transform that works finishes the job exactly.
    result = execute_query_parallel(src_url, QUERY, dst_url, "", "dst", params=params,
                                    job_id="bad-transform", transform=lambda c: c)
    assert result.ok() and result.resumed
    assert rows_of(dst, "SELECT count(*), count(DISTINCT id) FROM dst") == [(ROWS, ROWS)]


def test_a_transform_failing_at_once_raises_a_data_error(sqlite_pair):
    src_url, dst_url, _, dst = sqlite_pair

    def broken(columns):
        return columns["no such column"]

    with pytest.raises(parmap.DataError) as info:
        execute_query_parallel(src_url, QUERY, dst_url, "", "dst", params=PARALLEL,
                               transform=broken)
    assert info.value.kind == "data"
    assert "KeyError: 'no such column'" in str(info.value) and "in broken" in str(info.value)
    assert rows_of(dst, "SELECT count(*) FROM dst") == [(0,)]


@pytest.mark.parametrize("transform,words", [
    (lambda c: [1, 2], "returned a list"),
    (lambda c: {**c, "id": 7}, "column 'id' must be a list"),
    (lambda c: {**c, "id": c["id"] + [99]}, "every column must have one value per row"),
])
def test_malformed_returns_raise_a_schema_error(sqlite_pair, transform, words):
    src_url, dst_url, _, _ = sqlite_pair
    with pytest.raises(parmap.SchemaError, match=words):
        execute_query_parallel(src_url, QUERY, dst_url, "", "dst", params=PARALLEL,
                               transform=transform)


def test_transform_arguments_are_checked(sqlite_pair):
    src_url, dst_url, _, _ = sqlite_pair
    with pytest.raises(parmap.ConfigError, match="transform must be callable"):
        execute_query_parallel(src_url, QUERY, dst_url, "", "dst", transform="upper")
    with pytest.raises(parmap.ConfigError, match="batch_format"):
        execute_query_parallel(src_url, QUERY, dst_url, "", "dst", transform=lambda c: c,
                               batch_format="arrow")


def test_postgres_types_through_a_transform(pg):
    """Numeric, timestamptz and text as the transform sees and returns them, a boolean added,
    rows dropped; the target's content compared with the same rows computed by PostgreSQL."""
    pg.sql("DROP TABLE IF EXISTS tf_src, tf_dst;"
           "CREATE TABLE tf_src (id bigint PRIMARY KEY, name text, amount numeric(12,2),"
           " at timestamptz);"
           f"INSERT INTO tf_src SELECT i, 'name ' || i, i * 0.25,"
           f" '2026-01-01'::timestamptz + i * interval '1 minute' FROM generate_series(1, {ROWS}) i;"
           "ANALYZE tf_src;"
           "CREATE TABLE tf_dst (LIKE tf_src INCLUDING ALL, even boolean);")
    seen = {}

    def transform(columns):
        for name, values in columns.items():
            if values:
                seen[name] = type(values[0])
        keep = [i % 10 != 0 for i in columns["id"]]
        out = {name: [v for v, k in zip(values, keep) if k] for name, values in columns.items()}
        out["name"] = [n + "!" for n in out["name"]]
        out["even"] = [i % 2 == 0 for i in out["id"]]
        return out

    result = execute_query_parallel(pg.url, "SELECT * FROM tf_src ORDER BY id", pg.url, "public",
                                    "tf_dst", params=PARALLEL, transform=transform)
    assert result.ok() and not result.fast_path
    assert result.total_rows_processed == ROWS - ROWS // 10
    assert seen == {"id": int, "name": str, "amount": str, "at": str}
    digest = "SELECT count(*) || ' ' || sum(hashtext(row(id, name, amount, at, even)::text)) FROM "
    assert pg.sql(digest + "tf_dst") == pg.sql(
        digest + "(SELECT id, name || '!' AS name, amount, at, id % 2 = 0 AS even FROM tf_src"
        " WHERE id % 10 <> 0) t")
