"""The mapper's parallel query executor, backed by parmap's C++ engine.

Jobs written for ``backend.modules.mapper.parallel_query_executor`` run unchanged but for the
import::

    from parmap.mapper.parallel_query_executor import execute_query_parallel

Connections. parmap opens its own connections, one source and one target connection per
worker thread, in C++; a Python DB-API connection object cannot be handed to those threads. So
wherever the mapper passes a connection, parmap takes from it what lets it open connections
itself:

* a URL string: ``"sqlite:///path/to/file.db"``, ``"postgresql://user@host:5432/db?sslmode=require"``,
  ``"mysql://user@host:3306/db"`` (passwords from the URL, PGPASSWORD, ~/.pgpass or MYSQL_PWD);
* a live DB-API connection of the standard library's sqlite3 (its main database file; not an
  in-memory database, which no other connection can see), psycopg2 or psycopg 3 (host, port,
  database, user, password and TLS settings from ``conn.info``) or PyMySQL (host, port,
  database, user, password); the connection itself is left alone;
* an object with a ``parmap_url`` or ``url`` attribute that is such a string (or whose
  ``render_as_string(hide_password=False)`` gives one, as an SQLAlchemy URL does);
* a callable without arguments that returns one of the above (a connection factory).

Anything else (mysqlclient, which does not expose its password, for one) raises TypeError
naming what was given and what is accepted. Passwords are never printed.

Params. ``get_parallel_config_from_params`` takes a whole job's params: ``enable_parallel``
(True/False, 'Y'/'N', 'yes'/'no', 'true'/'false', 1/0), ``max_workers``, ``chunk_size``,
``min_rows_for_parallel``, ``max_retries``, ``retry_backoff_ms``, ``chunk_timeout_s``,
``max_batch_bytes`` and ``max_rejects`` (numbers or strings of numbers) are parallelism
settings; a key that looks like a typo of one ('max_worker') raises ``parmap.Error`` of kind
'config'; every other key belongs to the job and is listed in the config's ``ignored_params``.
A value of None counts as not given. Priority: params, then the ``MAPPER_*`` environment, then
the defaults.

Errors. The engine's failures raise a subclass of ``parmap.Error`` (a RuntimeError) by kind:
ConfigError (also a ValueError), ConnectError (also the builtin ConnectionError),
TransientError, InDoubtError, DataError, SchemaError, ServerTimeoutError (also a TimeoutError),
Cancelled and InternalError; ``.kind`` names the kind. No message or attribute holds a password.
"""

import contextlib
import os
import sqlite3
import threading
from urllib.parse import quote, urlencode

from parmap import _parmap

ParallelConfig = _parmap.ParallelConfig
ParallelResult = _parmap.ParallelResult
ProgressEvent = _parmap.ProgressEvent
ParmapError = _parmap.Error
Error = _parmap.Error
ConfigError = _parmap.ConfigError
ConnectError = _parmap.ConnectError
TransientError = _parmap.TransientError
InDoubtError = _parmap.InDoubtError
DataError = _parmap.DataError
SchemaError = _parmap.SchemaError
ServerTimeoutError = _parmap.ServerTimeoutError
Cancelled = _parmap.Cancelled
InternalError = _parmap.InternalError

_BATCH_FORMATS = ("lists", "numpy")

_ACCEPTED = (
    "a connection URL string ('sqlite:///path/file.db', 'postgresql://user@host/db'), a live "
    "sqlite3, psycopg2, psycopg 3 or PyMySQL connection, an object with a str 'parmap_url' or "
    "'url' attribute, or a callable returning one of these"
)


def _config_error(message):
    error = ConfigError(message)
    error.kind = "config"
    error.native_code = error.engine = error.table = error.chunk = error.statement = ""
    return error


def _numpy_column(numpy, values):
    """Integers, reals or booleans without NULLs as a numeric array; anything else (text, a
    column with NULLs, integers past 64 bits) as an object array, whose values stay Python's."""
    array = numpy.asarray(values)
    if array.dtype.kind in "biuf":
        return array
    array = numpy.empty(len(values), dtype=object)
    array[:] = values
    return array


def _batch_transform(transform, batch_format):
    """The callable the engine calls: `transform` itself, or for batch_format 'numpy' one that
    gives it numpy arrays (the engine takes arrays back through their tolist())."""
    if transform is None:
        return None
    if not callable(transform):
        raise _config_error(
            f"transform must be callable (a function of the batch's columns), not "
            f"{type(transform).__name__}")
    if batch_format not in _BATCH_FORMATS:
        raise _config_error(
            f"invalid value {batch_format!r} for batch_format (accepted: 'lists', 'numpy')")
    if batch_format == "lists":
        return transform
    try:
        import numpy
    except ImportError:
        raise _config_error(
            "batch_format='numpy' needs numpy (Debian: apt-get install python3-numpy)") from None

    def with_arrays(columns):
        arrays = {name: _numpy_column(numpy, values) for name, values in columns.items()}
        returned = transform(arrays)
        return arrays if returned is None else returned

    return with_arrays


def _param_text(value):
    # The engine reads every param as text, as a YAML scalar or --set would give it.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def _params_to_text(params):
    if params is None:
        return {}
    if not hasattr(params, "items"):
        raise TypeError(f"params must be a mapping of job params, not {type(params).__name__}")
    return {str(k): _param_text(v) for k, v in params.items() if v is not None}


# libpq settings a psycopg connection carries that parmap's PostgreSQL URLs pass on.
_PG_SETTINGS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "options")


def _pg_url(info, params):
    """A postgresql:// URL from a psycopg connection's info and its connection parameters."""
    user = quote(info.user or "", safe="")
    password = info.password or ""
    auth = user + (":" + quote(password, safe="") if password else "")
    query = {k: params[k] for k in _PG_SETTINGS if params.get(k)}
    host = info.host or ""
    if host.startswith("/"):  # a Unix socket folder: libpq takes it as the host setting
        query["host"] = host
        host = "localhost"
    port = f":{info.port}" if info.port else ""
    tail = ("?" + urlencode(query)) if query else ""
    return f"postgresql://{auth}@{host}{port}/{quote(info.dbname or '', safe='')}{tail}"


def _dbapi_url(conn, role):
    """The URL of the database a live DB-API connection is on; None for no known driver."""
    module = type(conn).__module__
    if isinstance(conn, sqlite3.Connection):
        for _, name, path in conn.execute("PRAGMA database_list").fetchall():
            if name == "main":
                if not path:
                    raise TypeError(
                        f"{role}: a sqlite3 connection to an in-memory or temporary database "
                        "cannot be opened again by parmap's workers; use a database file"
                    )
                return "sqlite://" + os.path.abspath(path)
    if module.startswith("psycopg2"):
        return _pg_url(conn.info, conn.info.dsn_parameters)
    # psycopg 3 names its classes' module "psycopg" (psycopg.Connection), subclasses may be
    # in psycopg.connection and the like.
    if module == "psycopg" or module.startswith("psycopg."):
        return _pg_url(conn.info, conn.info.get_parameters())
    if module.startswith("pymysql"):

        def text(value):
            return value.decode() if isinstance(value, bytes) else (value or "")

        user = quote(text(conn.user), safe="")
        password = text(conn.password)
        auth = user + (":" + quote(password, safe="") if password else "")
        return f"mysql://{auth}@{conn.host}:{conn.port}/{quote(text(conn.db), safe='')}"
    return None


def _connection_url(conn, role, _depth=0):
    """The URL parmap opens `role` connections with, from what the job passed."""
    if isinstance(conn, str):
        if not conn.strip():
            raise TypeError(f"{role}: an empty string is no connection URL; give {_ACCEPTED}")
        return conn
    url = _dbapi_url(conn, role)
    if url is not None:
        return url
    for attr in ("parmap_url", "url"):
        url = getattr(conn, attr, None)
        if isinstance(url, str):
            return url
        if url is not None and hasattr(url, "render_as_string"):
            return url.render_as_string(hide_password=False)
    # A DB-API connection may be callable too (sqlite3's is): it has a cursor() and is no factory.
    if callable(conn) and not hasattr(conn, "cursor") and _depth == 0:
        return _connection_url(conn(), role, _depth + 1)
    what = type(conn).__module__ + "." + type(conn).__qualname__
    raise TypeError(
        f"{role}: cannot use a {what}: parmap opens one connection per worker thread itself, "
        f"in C++, from what this object tells of its database; give {_ACCEPTED}"
    )


def get_parallel_config_from_params(params=None):
    """The parallelism settings of a job: its params, then MAPPER_* variables, then defaults.

    The job's own keys are allowed and listed in ``ignored_params``; a bad value or a key that
    looks like a typo of a setting raises ``parmap.Error`` (kind 'config').
    """
    return _parmap.get_parallel_config_from_params(_params_to_text(params))


def _config_of(config=None, params=None):
    if isinstance(config, ParallelConfig):
        return config
    if config is not None:
        if not hasattr(config, "items"):
            raise TypeError(
                f"config must be a ParallelConfig or a mapping of params, not "
                f"{type(config).__name__}"
            )
        params = {**config, **(params or {})}
    return get_parallel_config_from_params(params)


def should_use_parallel_processing(config=None, estimated_rows=0, *, params=None):
    """True when parallel is enabled, ``estimated_rows`` reaches ``min_rows_for_parallel`` and
    more than one worker is allowed. ``config`` is a ParallelConfig or a params mapping (None:
    the environment's configuration); the two arguments may come in either order."""
    if isinstance(config, int) and not isinstance(config, bool):
        config, estimated_rows = estimated_rows, config
        if config == 0:
            config = None
    if not isinstance(estimated_rows, int):
        raise TypeError(f"estimated_rows must be an int, not {type(estimated_rows).__name__}")
    return _parmap.should_use_parallel_processing(_config_of(config, params), estimated_rows)


def execute_query_parallel(
    source_conn,
    source_sql,
    target_conn,
    target_schema="",
    target_table="",
    *,
    config=None,
    params=None,
    job_id="",
    partition_column="",
    mode="append",
    fresh=False,
    dry_run=False,
    reject_file="",
    progress_callback=None,
    progress=None,
    transform=None,
    batch_format="lists",
    **settings,
):
    """Copies the result of ``source_sql`` on ``source_conn`` into ``target_schema.target_table``
    on ``target_conn`` in parallel key-range chunks, each committed exactly once.

    ``config`` is a ParallelConfig or params mapping; without it, ``params`` (a job's params)
    and the MAPPER_* environment decide. Settings may also be given as keywords
    (``max_workers=4, chunk_size=10000``): they beat ``params``. ``mode`` is 'append', 'truncate' or 'create'.
    ``progress_callback(event)`` (or ``progress``) is called for each event of the run
    (``event.event``: job_started, chunk_started, chunk_done, chunk_retried, chunk_failed,
    progress, job_finished; ``event.result`` the plan or the summary, else None), with the
    interpreter's lock held, from the engine's threads; an exception it raises cancels the
    run and is raised here.

    ``transform(columns)`` is called for each batch read (a few thousand rows), from the worker
    threads with the interpreter's lock held for the call only: ``columns`` is a dict of column
    name to list of values (None for NULL; int, float, bool, str, bytes; dates, times,
    timestamps, numerics, uuids, JSON and intervals as their canonical text), or to numpy arrays
    with ``batch_format='numpy'``. It returns a dict of the columns to write (or None after
    changing the dict in place): values may be changed, rows dropped (every column the same
    length), columns dropped or added (the target must have them; an added column's type is its
    values' own). The first call gets an empty batch when the job is planned; the columns it
    returns are the ones every batch must return. An exception in it fails that chunk, with the
    Python traceback in ``result.errors`` (a DataError: with ``max_rejects`` the rows it raises
    on go to the reject file instead); the run then hands out no more chunks.

    The interpreter's lock is released while the engine runs; Ctrl-C cancels the run (chunks in
    flight roll back; a rerun resumes) and raises KeyboardInterrupt. Returns a ParallelResult
    (``total_rows_processed``, ``ok()``, ...); a chunk that failed after retries is reported in
    it, not raised. Raises ``parmap.Error`` (with ``kind``) for bad input or a failed phase,
    TypeError for connections parmap cannot use.
    """
    source_url = _connection_url(source_conn, "source_conn")
    target_url = _connection_url(target_conn, "target_conn")
    if progress is not None:
        if progress_callback is not None:
            raise TypeError("give progress or progress_callback, not both")
        progress_callback = progress
    if progress_callback is not None and not callable(progress_callback):
        raise TypeError("progress_callback must be callable")
    batch_transform = _batch_transform(transform, batch_format)
    if settings:
        if isinstance(config, ParallelConfig):
            raise TypeError("settings as keywords cannot change a ParallelConfig: pass params")
        params = {**(params or {}), **settings}
    return _parmap.execute(
        source_url,
        source_sql,
        target_url,
        target_schema or "",
        target_table,
        _config_of(config, params),
        job_id=job_id,
        partition_column=partition_column,
        mode=mode,
        fresh=fresh,
        dry_run=dry_run,
        reject_file=reject_file,
        progress=progress_callback,
        transform=batch_transform,
    )


def verify_query_parallel(source_conn, source_sql, target_conn, target_schema="",
                          target_table="", *, config=None, params=None, job_id="",
                          partition_column="", mode="append", against_ledger=False,
                          transform=None, batch_format="lists"):
    """Compares a job's source and target range by range (row count and content hash), or with
    ``against_ledger`` the target against the hashes its runs recorded. A job run with a
    transform is verified with the same transform. Returns a VerifyResult (``ok()``,
    ``differences``); writes nothing. Ctrl-C stops it (KeyboardInterrupt)."""
    return _parmap.verify(
        _connection_url(source_conn, "source_conn"), source_sql,
        _connection_url(target_conn, "target_conn"), target_schema or "", target_table,
        _config_of(config, params), job_id=job_id, partition_column=partition_column, mode=mode,
        against_ledger=against_ledger, transform=_batch_transform(transform, batch_format))


def job_status(target_conn, job_id=""):
    """The runs recorded in the target's ledger (every job's, or ``job_id``'s), as RunStatus."""
    return _parmap.job_status(_connection_url(target_conn, "target_conn"), job_id)


class ParallelProcessor:
    """A runner bound to one configuration; safe to use from several threads."""

    def __init__(self, config=None):
        self.config = _config_of(config)

    def should_use_parallel_processing(self, estimated_rows):
        return _parmap.should_use_parallel_processing(self.config, estimated_rows)

    def execute(self, source_conn, source_sql, target_conn, target_schema="", target_table="",
                **options):
        """execute_query_parallel with this processor's configuration."""
        if "config" in options or "params" in options:
            raise TypeError("a processor's configuration is fixed: create another processor")
        return execute_query_parallel(source_conn, source_sql, target_conn, target_schema,
                                      target_table, config=self.config, **options)

    execute_query_parallel = execute

    def __repr__(self):
        return f"ParallelProcessor({self.config!r})"


def create_parallel_processor(params=None, **settings):
    """A ParallelProcessor configured from a job's params (and settings as keywords, which beat
    them) and the MAPPER_* environment."""
    return ParallelProcessor(get_parallel_config_from_params({**(params or {}), **settings}))


class ConnectionPoolManager:
    """Gives each thread its own source and target connection, made by the factories on first
    use in that thread and kept until ``close_all_connections()`` (or the end of a ``with``).

    The factories are the job's: they may return DB-API connections for the job's own
    statements, or URLs. ``source_url`` / ``target_url`` give parmap's engine the URL the
    factories stand for (see the module's notes on connections), so a pool can be passed to
    execute_query_parallel as ``source_conn=pool.source_url``.
    """

    def __init__(self, source_factory, target_factory):
        if not callable(source_factory) or not callable(target_factory):
            raise TypeError("ConnectionPoolManager needs two connection factories (callables)")
        self._factories = {"source": source_factory, "target": target_factory}
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open = []  # every connection of every thread, to close them all

    def _get(self, role):
        conn = getattr(self._local, role, None)
        if conn is None:
            conn = self._factories[role]()
            setattr(self._local, role, conn)
            with self._lock:
                self._open.append(conn)
        return conn

    @contextlib.contextmanager
    def get_source_connection(self):
        """The calling thread's source connection (made on first use)."""
        yield self._get("source")

    @contextlib.contextmanager
    def get_target_connection(self):
        """The calling thread's target connection (made on first use)."""
        yield self._get("target")

    @property
    def source_url(self):
        return _connection_url(self._factories["source"], "source_factory")

    @property
    def target_url(self):
        return _connection_url(self._factories["target"], "target_factory")

    def close_all_connections(self):
        """Closes every thread's connections (those with a close() method); the pool makes new
        ones if used again."""
        with self._lock:
            conns, self._open = self._open, []
            # Every thread's cache goes with it: the pool may be used again afterwards.
            self._local = threading.local()
        for conn in conns:
            close = getattr(conn, "close", None)
            if callable(close):
                close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close_all_connections()
        return False


__all__ = [
    "Cancelled",
    "ConfigError",
    "ConnectError",
    "ConnectionPoolManager",
    "DataError",
    "Error",
    "InDoubtError",
    "InternalError",
    "ParallelConfig",
    "ParallelProcessor",
    "ParallelResult",
    "ParmapError",
    "ProgressEvent",
    "SchemaError",
    "ServerTimeoutError",
    "TransientError",
    "create_parallel_processor",
    "execute_query_parallel",
    "get_parallel_config_from_params",
    "job_status",
    "should_use_parallel_processing",
    "verify_query_parallel",
]
