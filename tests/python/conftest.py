"""Fixtures for the Python package's tests: SQLite files made with the standard library's
sqlite3, the PostgreSQL test server through psql, the MariaDB test server through PyMySQL, and
content checksums computed by each database itself."""

import os
import shutil
import sqlite3
import subprocess

import pytest

# Rows of the copy tests: PARMAP_TEST_ROWS (as the C++ suites), capped so that the Python suite
# stays a few seconds long at the C++ suites' default of 1,000,000.
ROWS = min(int(os.environ.get("PARMAP_TEST_ROWS", "20000")), 50000)


def make_sqlite_source(path, rows=ROWS, table="src"):
    """`table` with `rows` rows: a sparse integer key, text with NULLs, real amounts."""
    with sqlite3.connect(path) as db:
        db.execute(
            f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name TEXT, amount REAL, note TEXT)"
        )
        db.executemany(
            f"INSERT INTO {table} VALUES (?, ?, ?, ?)",
            (
                (3 * i, f"name {i} \u00e9", i * 0.25 - 100, None if i % 7 == 0 else f"n{i % 13}")
                for i in range(1, rows + 1)
            ),
        )
    db.close()


def make_sqlite_target(path, table="dst"):
    with sqlite3.connect(path) as db:
        db.execute(
            f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name TEXT, amount REAL, note TEXT)"
        )
    db.close()


def sqlite_checksum(path, table):
    """Row count and the table's whole content rendered by SQLite's quote(), in key order."""
    db = sqlite3.connect(path)
    try:
        return db.execute(
            "SELECT count(*), group_concat(r, ';') FROM (SELECT quote(id) || ',' || quote(name) "
            f"|| ',' || quote(amount) || ',' || quote(note) AS r FROM {table} ORDER BY id)"
        ).fetchone()
    finally:
        db.close()


@pytest.fixture
def sqlite_pair(tmp_path):
    """(source URL, target URL, source path, target path) with `src` made and `dst` empty."""
    src, dst = tmp_path / "src.db", tmp_path / "dst.db"
    make_sqlite_source(src)
    make_sqlite_target(dst)
    return f"sqlite://{src}", f"sqlite://{dst}", src, dst


class Postgres:
    """The PostgreSQL test server, driven with psql."""

    def __init__(self, url):
        self.url = url

    def sql(self, statement):
        out = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", self.url, "-c",
             statement],
            check=True, capture_output=True, text=True,
        )
        return out.stdout.strip()

    def checksum(self, table):
        """Row count and an order-independent hash of the rows, computed by PostgreSQL."""
        return self.sql(
            f"SELECT count(*) || ' ' || coalesce(sum(hashtext(t::text)::bigint), 0) FROM {table} t"
        )


@pytest.fixture(scope="session")
def pg_database():
    """A database of this session's own on the test server, dropped at its end: a job or
    ledger a session leaves behind (a cancelled run, say) cannot meet the next session's."""
    from urllib.parse import urlsplit, urlunsplit

    url = server_url("PARMAP_PG_URL")
    if shutil.which("psql") is None:
        pytest.fail("psql is missing")
    admin = Postgres(url)
    name = f"parmap_py_{os.getpid()}"
    admin.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.sql(f"CREATE DATABASE {name}")
    yield urlunsplit(urlsplit(url)._replace(path="/" + name))
    admin.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def pg(pg_database):
    return Postgres(pg_database)


def server_url(variable):
    """The URL in `variable`, or a skip (a failure under PARMAP_REQUIRE_SERVERS=1)."""
    url = os.environ.get(variable, "")
    if not url:
        if os.environ.get("PARMAP_REQUIRE_SERVERS") == "1":
            pytest.fail(f"{variable} is not set but PARMAP_REQUIRE_SERVERS=1")
        pytest.skip(f"{variable} is not set")
    return url


class MariaDB:
    """The MariaDB test server, driven with PyMySQL (python3-pymysql)."""

    def __init__(self, url):
        from urllib.parse import unquote, urlsplit

        import pymysql

        self.url = url
        parts = urlsplit(url)
        self.params = {"host": parts.hostname, "port": parts.port or 3306,
                       "user": unquote(parts.username or ""),
                       "password": unquote(parts.password or ""),
                       "database": parts.path.lstrip("/"), "autocommit": True}
        self.connect = lambda: pymysql.connect(**self.params)

    def sql(self, statement, *args):
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(statement, args or None)
                return cur.fetchall()
        finally:
            conn.close()

    def checksum(self, table, columns):
        """Row count and an order-independent sum of the rows' CRC32, computed by MariaDB."""
        row = ", ".join(f"IFNULL(CAST({c} AS CHAR), '<null>')" for c in columns)
        return self.sql(f"SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|', {row}))), 0) "
                        f"FROM {table}")[0]


@pytest.fixture
def mariadb():
    url = server_url("PARMAP_MARIADB_URL")
    pytest.importorskip("pymysql")
    return MariaDB(url)
