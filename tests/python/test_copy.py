"""Copies through the Python package on SQLite files: counts and content, results, progress,
errors, cancellation and the connection forms accepted."""

import _thread
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

import parmap
from conftest import ROWS, make_sqlite_source, sqlite_checksum
from parmap.mapper.parallel_query_executor import (
    ConnectionPoolManager,
    create_parallel_processor,
    execute_query_parallel,
)

QUERY = "SELECT * FROM src ORDER BY id"
PARALLEL = {"enable_parallel": "Y", "max_workers": "3", "chunk_size": str(max(1, ROWS // 10)),
            "min_rows_for_parallel": "10"}


def test_parallel_copy_equals_the_source(sqlite_pair):
    src_url, dst_url, src, dst = sqlite_pair
    result = execute_query_parallel(src_url, QUERY, dst_url, "", "dst", params=PARALLEL)
    assert result.ok() and result.complete() and result.finished
    assert result.total_rows_processed == ROWS
    assert result.parallel and result.workers_used == 3
    assert result.chunks_done == result.chunks_planned >= 5
    assert result.chunks_failed == 0 and result.errors == []
    assert result.partition_column == "id"
    assert result.job_id.startswith("job-")
    assert sqlite_checksum(dst, "dst") == sqlite_checksum(src, "src")
    assert "total_rows_processed=%d" % ROWS in repr(result)


def test_verify_and_status_after_a_copy(sqlite_pair):
    src_url, dst_url, src, dst = sqlite_pair
    result = execute_query_parallel(src_url, QUERY, dst_url, "", "dst", params=PARALLEL)
    verified = parmap.verify_query_parallel(src_url, QUERY, dst_url, "", "dst", params=PARALLEL)
    assert verified.ok() and verified.target_rows == verified.expected_rows == ROWS
    assert parmap.verify_query_parallel(src_url, QUERY, dst_url, "", "dst",
                                        against_ledger=True).ok()
    runs = parmap.job_status(dst_url, result.job_id)
    assert [(r.run, r.state, r.rows) for r in runs] == [(1, "finished", ROWS)]

    with sqlite3.connect(dst) as db:  # a row lost in the target shows as a difference
        db.execute("DELETE FROM dst WHERE id = (SELECT max(id) FROM dst)")
    db.close()
    verified = parmap.verify_query_parallel(src_url, QUERY, dst_url, "", "dst", params=PARALLEL)
    assert not verified.ok() and verified.target_rows == ROWS - 1
    assert len(verified.differences) == 1


def test_serial_copy_with_parallel_off(sqlite_pair):
    src_url, dst_url, src, dst = sqlite_pair
    result = execute_query_parallel(src_url, QUERY, dst_url, "", "dst",
                                    params={"enable_parallel": "N"})
    assert result.ok() and not result.parallel
    assert result.total_rows_processed == ROWS
    assert sqlite_checksum(dst, "dst") == sqlite_checksum(src, "src")


def test_rows_refused_within_max_rejects_leave_the_run_ok_but_not_complete(tmp_path):
    src, dst = tmp_path / "src.db", tmp_path / "dst.db"
    make_sqlite_source(src)
    with sqlite3.connect(dst) as db:
        db.execute("CREATE TABLE dst (id INTEGER PRIMARY KEY, name TEXT, amount REAL, "
                   "note TEXT, CHECK (id % 300 <> 0))")
    db.close()
    refused = ROWS // 100  # ids are 3, 6, 9, ...: every hundredth is a multiple of 300
    result = execute_query_parallel(f"sqlite://{src}", QUERY, f"sqlite://{dst}", "", "dst",
                                    params={"max_rejects": str(refused)},
                                    reject_file=str(tmp_path / "refused.jsonl"))
    assert result.ok() and not result.complete()
    assert result.rows_rejected == refused
    assert len((tmp_path / "refused.jsonl").read_text().splitlines()) == refused
    with sqlite3.connect(dst) as db:
        assert db.execute("SELECT count(*) FROM dst").fetchone()[0] == ROWS - refused
    db.close()


def test_processor_copies_and_create_mode(tmp_path):
    src = tmp_path / "src.db"
    make_sqlite_source(src)
    processor = create_parallel_processor(PARALLEL)
    result = processor.execute(f"sqlite://{src}", QUERY, f"sqlite://{tmp_path / 'new.db'}", "",
                               "copy", mode="create")
    assert result.ok() and result.total_rows_processed == ROWS
    assert sqlite_checksum(tmp_path / "new.db", "copy") == sqlite_checksum(src, "src")


def test_dry_run_writes_nothing(sqlite_pair):
    src_url, dst_url, _, dst = sqlite_pair
    result = execute_query_parallel(src_url, QUERY, dst_url, "", "dst", params=PARALLEL,
                                    dry_run=True)
    assert result.dry_run and result.ok()
    assert len(result.chunks) == result.chunks_planned >= 5
    assert sum(c.estimated_rows for c in result.chunks) > 0
    assert sqlite_checksum(dst, "dst")[0] == 0


def test_progress_callback_runs_with_the_lock_on_worker_threads(sqlite_pair):
    src_url, dst_url, _, _ = sqlite_pair
    events, threads = [], set()

    kinds = []

    def progress(event):
        kinds.append(event.event)
        if event.event == "chunk_done":
            events.append((event.chunk_index, event.chunks_total, event.chunk_rows,
                           event.rows_done))
        threads.add(threading.get_ident())

    result = execute_query_parallel(src_url, QUERY, dst_url, "", "dst", params=PARALLEL,
                                    progress_callback=progress)
    assert kinds[0] == "job_started" and kinds[-1] == "job_finished"
    assert kinds.count("chunk_started") == result.chunks_planned
    assert len(events) == result.chunks_planned
    assert sum(e[2] for e in events) == ROWS
    assert max(e[3] for e in events) == ROWS
    assert threading.get_ident() not in threads


def test_the_lock_is_released_while_the_engine_runs(sqlite_pair):
    src_url, dst_url, _, _ = sqlite_pair
    ticks, stop = [0], threading.Event()

    def tick():
        while not stop.is_set():
            ticks[0] += 1
            time.sleep(0.001)

    params = {**PARALLEL, "chunk_size": str(max(1, ROWS // 40))}
    seen = []
    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        # A progress callback that sleeps keeps the run long enough to observe, and records
        # the ticker's count: it must move while the engine (not Python) runs.
        execute_query_parallel(src_url, QUERY, dst_url, "", "dst", params=params,
                               progress_callback=lambda e: (seen.append(ticks[0]),
                                                            time.sleep(0.01)))
    finally:
        stop.set()
        ticker.join()
    assert seen[-1] > seen[0]


def test_a_callback_exception_cancels_and_is_raised(sqlite_pair):
    src_url, dst_url, _, _ = sqlite_pair

    def progress(event):
        raise ValueError("stop here")

    with pytest.raises(ValueError, match="stop here"):
        execute_query_parallel(src_url, QUERY, dst_url, "", "dst", params=PARALLEL,
                               progress_callback=progress)


def test_keyboard_interrupt_cancels_and_a_rerun_completes(sqlite_pair):
    src_url, dst_url, src, dst = sqlite_pair
    params = {**PARALLEL, "max_workers": "2", "chunk_size": str(max(1, ROWS // 40))}
    calls = []

    def progress(event):
        if event.event != "chunk_done":
            return
        calls.append(event)
        if len(calls) == 2:
            _thread.interrupt_main()  # as Ctrl-C does: the signal reaches the main thread
        time.sleep(0.01)

    with pytest.raises(KeyboardInterrupt):
        execute_query_parallel(src_url, QUERY, dst_url, "", "dst", params=params,
                               job_id="ctrl-c", progress_callback=progress)
    done = sqlite_checksum(dst, "dst")[0]
    assert 0 < done < ROWS  # stopped part way, with whole chunks only

    result = execute_query_parallel(src_url, QUERY, dst_url, "", "dst", params=params,
                                    job_id="ctrl-c")
    assert result.ok() and result.resumed
    assert result.total_rows_processed == ROWS - done
    assert sqlite_checksum(dst, "dst") == sqlite_checksum(src, "src")


def test_settings_as_keywords_of_the_call(sqlite_pair):
    src_url, dst_url, src, dst = sqlite_pair
    result = execute_query_parallel(src_url, QUERY, dst_url, "", "dst", max_workers=2,
                                    chunk_size=max(1, ROWS // 4), min_rows_for_parallel=1)
    assert result.ok() and result.workers_used == 2 and result.chunks_planned >= 3
    assert sqlite_checksum(dst, "dst") == sqlite_checksum(src, "src")


SIGINT_CHILD = """
import sys
from parmap.mapper.parallel_query_executor import execute_query_parallel
started = []
def progress(event):
    if not started:
        started.append(1)
        print("started", flush=True)
    time.sleep(0.02)
import time
execute_query_parallel(sys.argv[1], "SELECT * FROM src ORDER BY id", sys.argv[2], "", "dst",
                       max_workers=2, chunk_size=max(1, int(sys.argv[3]) // 50),
                       min_rows_for_parallel=1, progress_callback=progress)
print("finished", flush=True)
"""


def test_sigint_cancels_a_run_in_another_process(sqlite_pair):
    src_url, dst_url, src, dst = sqlite_pair
    child = subprocess.Popen([sys.executable, "-c", SIGINT_CHILD, src_url, dst_url, str(ROWS)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert child.stdout.readline().strip() == "started"
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=120)
    assert child.returncode != 0 and "finished" not in out
    assert "KeyboardInterrupt" in err, err
    assert sqlite_checksum(dst, "dst")[0] < ROWS


def test_errors_carry_the_kind(sqlite_pair, tmp_path):
    src_url, dst_url, _, _ = sqlite_pair
    with pytest.raises(parmap.Error) as info:
        execute_query_parallel(src_url, "SELECT * FROM missing ORDER BY id", dst_url, "", "dst")
    assert info.value.kind == "schema", (info.value.kind, str(info.value))
    assert info.value.engine == "sqlite"

    with pytest.raises(parmap.Error) as info:
        execute_query_parallel(src_url, QUERY, dst_url, "", "dst", mode="sideways")
    assert info.value.kind == "config"

    with pytest.raises(parmap.Error) as info:
        execute_query_parallel("mongodb://x/y", QUERY, dst_url, "", "dst")
    assert info.value.kind == "config"

    with pytest.raises(parmap.Error) as info:
        execute_query_parallel(f"sqlite://{tmp_path}/absent.db", QUERY, dst_url, "", "dst")
    assert info.value.kind == "config"
    assert parmap.Error is parmap.ParmapError


def test_connection_forms(sqlite_pair):
    src_url, dst_url, src, dst = sqlite_pair

    class Url:  # an object with a url attribute, as connection wrappers often have
        url = dst_url

    result = execute_query_parallel(lambda: src_url, QUERY, Url(), "", "dst", params=PARALLEL)
    assert result.ok() and result.total_rows_processed == ROWS
    assert sqlite_checksum(dst, "dst") == sqlite_checksum(src, "src")


def test_a_live_sqlite3_connection_is_followed_to_its_file(sqlite_pair):
    src_url, dst_url, src, dst = sqlite_pair
    conn = sqlite3.connect(src)
    try:
        result = execute_query_parallel(conn, QUERY, dst_url, "", "dst", params=PARALLEL)
        assert result.ok() and result.total_rows_processed == ROWS
        assert sqlite_checksum(dst, "dst") == sqlite_checksum(src, "src")
        assert conn.execute("SELECT count(*) FROM src").fetchone()[0] == ROWS  # still usable
    finally:
        conn.close()
    memory = sqlite3.connect(":memory:")
    try:
        with pytest.raises(TypeError, match="in-memory"):
            execute_query_parallel(memory, QUERY, dst_url, "", "dst")
    finally:
        memory.close()
    with pytest.raises(TypeError, match="target_conn"):
        execute_query_parallel(src_url, QUERY, 42, "", "dst")


def test_the_mapper_modules_are_there_by_their_names():
    from parmap.parallel_connection_pool import ConnectionPoolManager as Pool
    from parmap.parallel_integration_helper import (
        create_parallel_processor as create,
        get_parallel_config_from_params as config_of,
        should_use_parallel_processing as should,
    )
    from parmap.parallel_query_executor import execute_query_parallel as run

    assert run is execute_query_parallel and Pool is ConnectionPoolManager
    assert create is create_parallel_processor
    assert config_of({"max_workers": "3"}).max_workers == 3
    assert should(config_of({"min_rows_for_parallel": "10", "max_workers": "2"}), 100)


def test_connection_pool_manager_gives_each_thread_its_own(sqlite_pair):
    _, dst_url, src, _ = sqlite_pair
    made = []

    def source_factory():
        conn = sqlite3.connect(src, check_same_thread=False)
        made.append(conn)
        return conn

    seen = {}
    with ConnectionPoolManager(source_factory, lambda: dst_url) as pool:
        def work(name):
            with pool.get_source_connection() as a, pool.get_source_connection() as b:
                assert a is b
                seen[name] = (id(a), a.execute("SELECT count(*) FROM src").fetchone()[0])
            with pool.get_target_connection() as t:
                assert t == dst_url

        threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert pool.target_url == dst_url
    assert len(made) == 3 and len({v[0] for v in seen.values()}) == 3
    assert all(v[1] == ROWS for v in seen.values())
    with pytest.raises(sqlite3.ProgrammingError):  # closed by close_all_connections
        made[0].execute("SELECT 1")


def test_url_forms_resolve_without_a_run():
    from parmap.mapper.parallel_query_executor import _connection_url

    class RenderedUrl:  # as an SQLAlchemy URL: str() hides the password, render_as_string not
        def render_as_string(self, hide_password=True):
            return "postgresql://etl:***@db/x" if hide_password else "postgresql://etl:pw@db/x"

    class Engine:
        url = RenderedUrl()

    class Tagged:
        parmap_url = "sqlite:///tmp/t.db"
        url = "ignored"

    assert _connection_url(Engine(), "source_conn") == "postgresql://etl:pw@db/x"
    assert _connection_url(Tagged(), "source_conn") == "sqlite:///tmp/t.db"
    assert _connection_url(lambda: Tagged(), "source_conn") == "sqlite:///tmp/t.db"
    with pytest.raises(TypeError, match="empty string"):
        _connection_url("  ", "source_conn")
    with pytest.raises(TypeError, match="source_conn"):
        _connection_url(lambda: lambda: "sqlite:///x.db", "source_conn")  # one level only
    with pytest.raises(TypeError):
        _connection_url(None, "source_conn")


def test_auto_settings_say_what_they_chose(sqlite_pair):
    src_url, dst_url, src, dst = sqlite_pair
    params = {"max_workers": "auto", "chunk_size": str(max(1, ROWS // 40)),
              "min_rows_for_parallel": "10"}
    result = execute_query_parallel(src_url, QUERY, dst_url, "", "dst", params=params)
    assert result.ok() and result.total_rows_processed == ROWS
    assert result.workers_decision.startswith("max_workers auto: ")
    assert 1 <= result.workers_used <= 8
    # A number for chunk_size: one commit per chunk, and nothing grouped to report.
    assert result.commit_groups == "" and result.commits == result.chunks_done
    assert sqlite_checksum(dst, "dst") == sqlite_checksum(src, "src")
