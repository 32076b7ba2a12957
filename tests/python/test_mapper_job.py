"""The mapper's example job as written, with only its import changed, and copies to and from
the PostgreSQL test server (PARMAP_PG_URL)."""

import textwrap

import pytest

from conftest import ROWS, make_sqlite_source, sqlite_checksum

# The generated job code of the mapper, verbatim but for the import line.
MAPPER_JOB = textwrap.dedent('''
    from parmap.mapper.parallel_query_executor import execute_query_parallel
    def execute_job(metadata_conn, source_conn, target_conn, session_params):
        result = execute_query_parallel(source_conn=source_conn,
            source_sql="SELECT * FROM large_source_table ORDER BY id", target_conn=target_conn,
            target_schema="target_schema", target_table="target_table")
        return {"status": "SUCCESS", "rows_processed": result.total_rows_processed}
''')


def load_job():
    namespace = {}
    exec(compile(MAPPER_JOB, "mapper_job.py", "exec"), namespace)  # as the mapper loads jobs
    return namespace["execute_job"]


def make_pg_tables(pg, rows):
    # The ledger goes with the table it describes: the server's database outlives a session,
    # and a run left unfinished by an earlier one must not be resumed into this new table.
    pg.sql("DROP TABLE IF EXISTS large_source_table; DROP SCHEMA IF EXISTS target_schema CASCADE;"
           "DROP TABLE IF EXISTS parmap_jobs, parmap_runs, parmap_ledger;"
           "CREATE SCHEMA target_schema;"
           "CREATE TABLE large_source_table (id bigint PRIMARY KEY, name text, amount numeric(12,2),"
           " at timestamptz);"
           f"INSERT INTO large_source_table SELECT i, 'name ' || i, i * 0.25,"
           f" '2026-01-01'::timestamptz + i * interval '1 minute' FROM generate_series(1, {rows}) i;"
           "ANALYZE large_source_table;"
           "CREATE TABLE target_schema.target_table (LIKE large_source_table INCLUDING ALL);")


def test_the_mapper_job_as_written_on_postgres(pg, monkeypatch):
    make_pg_tables(pg, ROWS)
    # Parallelism as a deployment configures it: through the environment.
    monkeypatch.setenv("MAPPER_MAX_WORKERS", "3")
    monkeypatch.setenv("MAPPER_CHUNK_SIZE", str(max(1, ROWS // 8)))
    monkeypatch.setenv("MAPPER_MIN_ROWS_FOR_PARALLEL", "100")
    execute_job = load_job()
    out = execute_job("sqlite:///unused-metadata.db", pg.url, pg.url, {"run_date": "2026-12-01"})
    assert out == {"status": "SUCCESS", "rows_processed": ROWS}
    assert pg.checksum("target_schema.target_table") == pg.checksum("large_source_table")
    assert pg.checksum("target_schema.target_table").split()[0] == str(ROWS)


def test_sqlite_to_postgres_and_back(pg, tmp_path):
    from parmap.mapper.parallel_query_executor import execute_query_parallel

    src = tmp_path / "src.db"
    make_sqlite_source(src)
    pg.sql("DROP TABLE IF EXISTS py_copy")
    params = {"max_workers": 2, "chunk_size": max(1, ROWS // 5), "min_rows_for_parallel": 10}
    result = execute_query_parallel(f"sqlite://{src}", "SELECT * FROM src ORDER BY id", pg.url,
                                    "public", "py_copy", params=params, mode="create")
    assert result.ok() and result.total_rows_processed == ROWS
    assert pg.sql("SELECT count(*), count(DISTINCT id), count(note) FROM py_copy") == \
        f"{ROWS}|{ROWS}|{ROWS - ROWS // 7}"

    back = tmp_path / "back.db"
    result = execute_query_parallel(pg.url, "SELECT id, name, amount, note FROM py_copy ORDER BY id",
                                    f"sqlite://{back}", "", "src", params=params, mode="create")
    assert result.ok() and result.total_rows_processed == ROWS
    assert sqlite_checksum(back, "src") == sqlite_checksum(src, "src")


def test_psycopg2_connections_as_the_mapper_passes_them(pg):
    psycopg2 = pytest.importorskip("psycopg2")
    make_pg_tables(pg, ROWS)
    execute_job = load_job()
    source = psycopg2.connect(pg.url)
    target = psycopg2.connect(pg.url)
    try:
        out = execute_job(None, source, target, {"max_workers": 2})
        assert out == {"status": "SUCCESS", "rows_processed": ROWS}
        assert pg.checksum("target_schema.target_table") == pg.checksum("large_source_table")
        with source.cursor() as cur:  # the job's own connections are left as they were
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
    finally:
        source.close()
        target.close()
