"""Live psycopg 3 and PyMySQL connections as the mapper passes them (on the PostgreSQL and
MariaDB test servers), ConnectionPoolManager under eight threads on PostgreSQL, and Ctrl-C on a
PostgreSQL copy resumed by a rerun."""

import _thread
import threading
import time
import warnings

import pytest

from conftest import ROWS
from parmap.mapper.parallel_query_executor import (
    ConnectionPoolManager,
    execute_query_parallel,
)
from test_mapper_job import load_job, make_pg_tables

MY_COLUMNS = ("id", "name", "amount", "note")
PARALLEL = {"max_workers": 3, "chunk_size": max(1, ROWS // 8), "min_rows_for_parallel": 10}


def make_mariadb_tables(mariadb, rows=ROWS):
    mariadb.sql("DROP TABLE IF EXISTS py_src, py_dst")
    mariadb.sql("CREATE TABLE py_src (id BIGINT PRIMARY KEY, name VARCHAR(64),"
                " amount DECIMAL(12,2), note VARCHAR(16))")
    mariadb.sql("CREATE TABLE py_dst LIKE py_src")
    conn = mariadb.connect()
    try:
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO py_src VALUES (%s, %s, %s, %s)",
                            [(i * 2, f"name {i} \u00e9", f"{i / 4:.2f}",
                              None if i % 7 == 0 else f"n{i % 13}") for i in range(1, rows + 1)])
    finally:
        conn.close()


def test_psycopg3_connections_as_the_mapper_passes_them(pg):
    psycopg = pytest.importorskip("psycopg")
    make_pg_tables(pg, ROWS)
    execute_job = load_job()
    source, target = psycopg.connect(pg.url), psycopg.connect(pg.url)
    try:
        out = execute_job(None, source, target, {"max_workers": 2})
        assert out == {"status": "SUCCESS", "rows_processed": ROWS}
        assert pg.checksum("target_schema.target_table") == pg.checksum("large_source_table")
        assert source.execute("SELECT count(*) FROM target_schema.target_table").fetchone() == \
            (ROWS,)  # the job's own connections are left usable
    finally:
        source.close()
        target.close()


def test_pymysql_connections_between_mariadb_tables(mariadb):
    make_mariadb_tables(mariadb)
    source, target = mariadb.connect(), mariadb.connect()
    try:
        result = execute_query_parallel(source, "SELECT * FROM py_src ORDER BY id", target, "",
                                        "py_dst", params=PARALLEL)
        assert result.ok() and result.total_rows_processed == ROWS and result.workers_used == 3
        with source.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
    finally:
        source.close()
        target.close()
    assert mariadb.checksum("py_dst", MY_COLUMNS) == mariadb.checksum("py_src", MY_COLUMNS)
    assert mariadb.checksum("py_dst", MY_COLUMNS)[0] == ROWS


def test_pymysql_source_into_postgres_through_psycopg3(mariadb, pg):
    psycopg = pytest.importorskip("psycopg")
    make_mariadb_tables(mariadb)
    pg.sql("DROP TABLE IF EXISTS py_from_my;"
           "CREATE TABLE py_from_my (id bigint PRIMARY KEY, name text, amount numeric(12,2),"
           " note text)")
    source, target = mariadb.connect(), psycopg.connect(pg.url)
    try:
        result = execute_query_parallel(source, "SELECT * FROM py_src ORDER BY id", target,
                                        "public", "py_from_my", params=PARALLEL)
    finally:
        source.close()
        target.close()
    assert result.ok() and result.total_rows_processed == ROWS
    # The same rows, as each server renders them: ids, names, amounts and notes, in key order.
    mine = mariadb.sql("SELECT id, name, CAST(amount AS CHAR), note FROM py_src ORDER BY id")
    theirs = pg.sql("SELECT string_agg(concat_ws('|', id, name, amount, coalesce(note, '<null>')),"
                    " ';' ORDER BY id) FROM py_from_my")
    assert theirs == ";".join("|".join(str("<null>" if v is None else v) for v in row)
                              for row in mine)


def test_pool_of_eight_threads_has_eight_connections_and_closes_them(pg):
    psycopg2 = pytest.importorskip("psycopg2")
    app = "parmap-pool-test"
    made = []
    made_lock = threading.Lock()

    def factory():
        conn = psycopg2.connect(pg.url, application_name=app)
        with made_lock:
            made.append(conn)
        return conn

    together = threading.Barrier(8)
    pids = {}
    with ConnectionPoolManager(factory, factory) as pool:
        def work(n):
            with pool.get_source_connection() as conn:
                with conn.cursor() as cur:
                    cur.execute("SELECT pg_backend_pid()")
                    pids[n] = cur.fetchone()[0]
                together.wait(timeout=60)  # all eight hold their connection at once
                with pool.get_source_connection() as again:
                    assert again is conn

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(made) == 8 and len({id(c) for c in made}) == 8
        assert len(set(pids.values())) == 8
        assert pg.sql(f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}'") \
            == "8"
    assert all(c.closed for c in made)
    for _ in range(100):  # the server sees the sessions end a moment after the client
        if pg.sql(f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}'") \
                == "0":
            break
        time.sleep(0.05)
    else:
        pytest.fail("the pool's sessions are still open on the server")


def test_keyboard_interrupt_on_postgres_and_a_rerun_finishes_exactly(pg):
    make_pg_tables(pg, ROWS)
    params = {"max_workers": 2, "chunk_size": max(1, ROWS // 40), "min_rows_for_parallel": 10}
    calls = []

    def progress(event):
        if event.event != "chunk_done":
            return
        calls.append(event)
        if len(calls) == 3:
            _thread.interrupt_main()  # as Ctrl-C does
        time.sleep(0.01)

    query = "SELECT * FROM large_source_table ORDER BY id"
    table = "target_schema.target_table"
    with pytest.raises(KeyboardInterrupt):
        execute_query_parallel(pg.url, query, pg.url, "target_schema", "target_table",
                               params=params, job_id="pg-ctrl-c", progress_callback=progress)
    at_return = int(pg.sql(f"SELECT count(*) FROM {table}"))
    # The run's sessions have ended when the call returns; count once the server agrees, and
    # say if the count moved. (A rerun that once skipped more rows than the table held had
    # resumed a run an earlier session left in the ledger, into this session's new table:
    # make_pg_tables now drops the ledger, and parmap refuses such a resume.)
    for _ in range(200):
        if pg.sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'parmap'") \
                == "0":
            break
        time.sleep(0.05)
    done = int(pg.sql(f"SELECT count(*) FROM {table}"))
    if done != at_return:
        warnings.warn(f"rows grew from {at_return} to {done} after the cancelled call returned")
    assert 0 < done < ROWS
    # No session of the run is left behind in a transaction.
    assert pg.sql("SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'"
                  " AND pid <> pg_backend_pid()") == "0"

    result = execute_query_parallel(pg.url, query, pg.url, "target_schema", "target_table",
                                    params=params, job_id="pg-ctrl-c")
    assert result.ok() and result.resumed
    assert result.total_rows_processed == ROWS - done
    assert pg.checksum(table) == pg.checksum("large_source_table")
