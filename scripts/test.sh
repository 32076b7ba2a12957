#!/usr/bin/env bash
# Builds parmap and runs the whole test suite: unit, integration (real SQLite files, a
# throwaway PostgreSQL server and a throwaway MariaDB server) and end-to-end (the parmap
# binary). With --sanitizers (the default when CI=true) it then runs it again under
# AddressSanitizer+UBSan and under ThreadSanitizer, on fewer rows.
set -euo pipefail
cd "$(dirname "$0")/.."

sanitizers=0
[ "${CI:-}" = "true" ] && sanitizers=1
for arg in "$@"; do
  case "$arg" in
    --sanitizers) sanitizers=1 ;;
    --no-sanitizers) sanitizers=0 ;;
    *) echo "usage: scripts/test.sh [--sanitizers|--no-sanitizers]" >&2; exit 2 ;;
  esac
done

# In CI a skipped integration test is a failure: no server may be silently missing.
[ "${CI:-}" = "true" ] && export PARMAP_REQUIRE_SERVERS=1

run_suite() {  # DIR [ctest arguments...]
  local dir=$1
  shift
  echo "== tests in $dir (PARMAP_TEST_ROWS=${PARMAP_TEST_ROWS:-1000000}) $*"
  ctest --test-dir "$dir" --output-on-failure -j2 --timeout 900 "$@"
}

# The sanitizer builds run what exercises memory, threads, drivers and faults, not
# everything three times. AddressSanitizer+UBSan: every unit test and every copy, fault,
# retry, resume and verify test of each engine (value conversion is driver code); the
# key-type, bad-input, CLI, progress display, example and completion suites check SQL,
# messages and output, and run in the main build only.
# Also main build only, to keep CI within its hour:
# - the MPI runs (MpiTest...), which start an MPI library whose own allocations the leak
#   checker would report (the sanitizer builds do not build their program);
# - the fidelity matrix through ODBC sources (the same driver conversions as the native
#   pairs and the ODBC suites under ASan);
# - the refused-rows isolation on 1,000,000 rows (the same code runs in ExecutorTest);
# - of the 30-table schema runs, all but the copy and the run killed and resumed (the
#   others differ in how a run ends, not in memory or threads);
# - every day from year 1 to 9999 through the date conversion (32 s under ASan; the
#   conversion's edge days run in TemporalDateTest's other tests);
# - the CLI's TLS refusals, its wrong password, and the reruns of a finished job, which
#   check messages and SQL.
# ThreadSanitizer: the suites that run workers against real servers and their faults; of
# the 30-table schema runs, the same two.
asan_skip='^(PgKeysTest|SqliteKeysTest|BadInputSqlite|BadInputPostgres|CliTest|ProgressCliTest|ManPageTest|ReportCliTest|PlanConfigTest|CompletionTest|ExamplesTest|PgExampleTest|MultiJobCliTest|PythonTests|InstallTest|PipInstallTest|MpiTest[A-Za-z]*|parmap_mpi_tests_NOT_BUILT|FidelityOdbcSource|PgCopyTest\.(RefusedRowsAreIsolatedAndTheGoodRowsCommit|WrongPasswordFailsWithoutPrintingIt)|PgMultiTableTest\.(TableWhoseTargetRefusesRowsFailsAloneAndIsNamed|OnErrorStopStopsTheOtherTables|RowsInsertedDuringTheRunAppearInNoTable|CreateMakesKeysIndexesAndConstraintsAfterTheData|FailedIndexIsNamedDataStaysAndRerunMakesIt|JobLocksShareOneSessionPerTarget|SqliteSchemaToPostgresEveryTableExact)|TemporalDateTest\.EveryDayFromYear1To9999RoundTrips|PgTlsTest\.Cli[A-Za-z]*|PgPhaseFaultTest\.FinishedJobRerun[A-Za-z]*)($|[./])'
tsan_only='^(BatchPipe|ExecutorTest|SqliteInEngineTest|ApiTest|PoolTest|VerifyTest|PgCopyTest|PgChunkTest|PgFaultTest|PgPhaseFaultTest|PgResumeTest|PgTlsTest|PgMultiTableTest\.(KilledRunResumesOnlyWhatIsMissing|SchemaCopiedInOneRunEveryTableExact)|PgProgressTest|ProgressTracker|ProgressEventsTest|SqliteChunkTest|Mariadb[A-Za-z]*Test|Odbc[A-Za-z]*Test)($|[./])'
# The sanitizer builds make the programs their tests run, optimized a little (-O1: the
# sanitizers' own advice, and faster tests) with line tables only (-g1: file and line in
# every report, a third of the compile time of full debug information).
sanitizer_targets='parmap_cli parmap_unit_tests parmap_integration_tests'

scripts/build.sh build

# One throwaway PostgreSQL server and one MariaDB server for every suite (the sanitizer runs
# share them); the trap stops them by their pids whatever way this script ends.
pg_dir=$(mktemp -d /tmp/parmap-pg-XXXXXX)
mariadb_dir=$(mktemp -d /tmp/parmap-my-XXXXXX)
stop_servers() {
  local rc=$?
  if [ "$rc" != 0 ] && [ -s "$pg_dir/pg.log" ]; then
    echo "== PostgreSQL server log (last 40 lines)" >&2
    tail -n 40 "$pg_dir/pg.log" >&2 || true
  fi
  if [ "$rc" != 0 ] && [ -s "$mariadb_dir/mariadb.log" ]; then
    echo "== MariaDB server log (last 40 lines)" >&2
    tail -n 40 "$mariadb_dir/mariadb.log" >&2 || true
  fi
  scripts/pg_test_server.sh stop "$pg_dir" || true
  scripts/mariadb_test_server.sh stop "$mariadb_dir" || true
  rm -rf "$pg_dir" "$mariadb_dir"
}
trap stop_servers EXIT
trap 'exit 130' INT TERM
PARMAP_PG_URL=$(scripts/pg_test_server.sh start "$pg_dir")
export PARMAP_PG_URL
# PARMAP_PG_SSL_ROOT: the server's self-signed certificate, for the sslmode=verify-full tests.
pg_env=$(scripts/pg_test_server.sh env "$pg_dir")
eval "$pg_env"
echo "== PostgreSQL test server at $PARMAP_PG_URL (log: $pg_dir/pg.log)"
PARMAP_MARIADB_URL=$(scripts/mariadb_test_server.sh start "$mariadb_dir")
export PARMAP_MARIADB_URL
echo "== MariaDB test server at $PARMAP_MARIADB_URL (log: $mariadb_dir/mariadb.log)"

if [ "$sanitizers" = 1 ]; then
  PARMAP_BUILD_TARGETS=$sanitizer_targets scripts/build.sh build-asan \
    -DPARMAP_SANITIZE=address -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1"
  (export PARMAP_TEST_ROWS=100000 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
   run_suite build-asan -E "$asan_skip")
  PARMAP_BUILD_TARGETS=$sanitizer_targets scripts/build.sh build-tsan \
    -DPARMAP_SANITIZE=thread -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG"
  (export PARMAP_TEST_ROWS=100000
   TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp"
   run_suite build-tsan -R "$tsan_only")
fi
# In CI, a short fuzz run of the parsers (saved regression inputs first, then 10 s a target),
# and the plain Release configuration a packager runs (no project flags): configured, and its
# compile commands checked to carry no -Werror. It is not compiled again: the main build
# compiles the same sources, with NDEBUG as there, under stricter flags, and the demo runs
# in its tests (compiling it took about 3 of CI's minutes).
if [ "${CI:-}" = "true" ]; then
  scripts/fuzz.sh 10
  echo "== plain Release configuration (cmake -DCMAKE_BUILD_TYPE=Release, no project flags)"
  cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  if ninja -C build-release -t commands parmap_cli | grep -q -- '-Werror'; then
    echo "a plain Release build compiles with -Werror: warnings must not fail a packager's build" >&2
    exit 1
  fi
fi
# The main suite last, so its closing line is the one a reader sees.
run_suite build
