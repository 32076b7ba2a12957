// The ODBC driver end to end through real drivers: SQLite's ODBC driver as source and target,
// PostgreSQL through psqlODBC (both ways, and against the native drivers), MariaDB's ODBC
// driver when a MariaDB test server is running, and failed logins that keep the password.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "parmap/parmap.h"
#include "support/odbc_support.h"
#include "support/pg_support.h"
#include "support/test_support.h"

namespace parmap {
namespace {

using test::expect_same_rows;
using test::odbc_options;
using test::odbc_pg_url;
using test::odbc_sqlite_url;
using test::run_job;
using test::TempDir;

constexpr const char* kEdgeDdl =
    "CREATE TABLE edge (id INTEGER PRIMARY KEY, n INTEGER, r REAL, s TEXT, b BLOB, d DATE, "
    "ts TIMESTAMP)";
constexpr const char* kEdgeQuery = "SELECT * FROM edge ORDER BY id";
constexpr const char* kEdgeColumns = "SELECT id, n, r, s, b, d, ts FROM edge";
constexpr const char* kEdgePgColumns =
    "SELECT id, n, r, s, encode(b, 'hex'), d::text, ts::text FROM edge";

/// A SQLite table of the edge values first (the extremes of each type, unicode, quotes, control
/// characters, empty text and bytes, NULL in every column), then `rows` generated rows with a
/// NULL in each column at a different period. Dates and timestamps are ISO text, as parmap
/// writes them.
void make_edge_table(const std::string& path, int rows) {
  test::sqlite_exec(
      path, std::string(kEdgeDdl) +
                ";"
                "INSERT INTO edge VALUES (1, NULL, NULL, NULL, NULL, NULL, NULL),"
                " (2, -9223372036854775808, -1.7976931348623157e308, '', x'', '0001-01-01',"
                "  '1970-01-01 00:00:00'),"
                " (3, 9223372036854775807, 4.9406564584124654e-324, 'ünïcødé ✓ 日本語 🚀',"
                "  x'00ff0000', '9999-12-31', '2024-02-29 13:45:00.123456'),"
                " (4, 0, 0.5, 'it''s \"quoted\"' || char(10) || 'line2' || char(9) || 'tab \\',"
                "  x'00', '2024-02-29', '1969-12-31 23:59:59.5'),"
                " (5, -1, 1e300, 'NULL', x'deadbeef', '1969-07-20', '2000-01-01 00:00:00.000001');"
                "WITH RECURSIVE seq(i) AS (SELECT 10 UNION ALL SELECT i + 1 FROM seq WHERE i < " +
                std::to_string(10 + rows - 1) +
                ") INSERT INTO edge SELECT i,"
                " CASE WHEN i % 7 = 0 THEN NULL ELSE i * 3037000493 * (1 - 2 * (i % 2)) END,"
                " CASE WHEN i % 5 = 0 THEN NULL ELSE (i - 1500) / 7.0 END,"
                " CASE WHEN i % 3 = 0 THEN NULL"
                "      ELSE printf('text %d %s', i, substr('αβγ ✓ ü ''q'' \"d\"', 1, i % 16)) END,"
                " CASE WHEN i % 11 = 0 THEN NULL WHEN i % 3 = 0 THEN x'00ff0000'"
                "      WHEN i % 3 = 1 THEN x'' ELSE CAST(printf('%08d', i) AS BLOB) END,"
                " CASE WHEN i % 13 = 0 THEN NULL"
                "      ELSE date('1969-12-01', printf('+%d days', i * 17)) END,"
                " CASE WHEN i % 17 = 0 THEN NULL"
                "      ELSE datetime('1969-12-01 10:00:00', printf('+%d seconds', i * 7919)) END"
                " FROM seq;");
}

int64_t sqlite_count(const std::string& path, const std::string& table) {
  return std::stoll(test::sqlite_scalar(path, "SELECT count(*) FROM " + table));
}

// ---------------------------------------------------------------------------------------------
// SQLite's ODBC driver on both sides: no server needed.

TEST(OdbcSqliteTest, EdgeValuesCopyExactlyBetweenSqliteFiles) {
  TempDir dir;
  const std::string src = dir.file("src.db"), dst = dir.file("dst.db");
  make_edge_table(src, 3000);
  test::sqlite_exec(dst, kEdgeDdl);
  const int64_t rows = sqlite_count(src, "edge");
  const auto r =
      run_job(odbc_sqlite_url(src), kEdgeQuery, odbc_sqlite_url(dst), "edge", odbc_options(2, 400));
  ASSERT_TRUE(r);
  test::expect_complete(*r, rows);
  EXPECT_EQ(test::sqlite_checksum(dst, kEdgeColumns), test::sqlite_checksum(src, kEdgeColumns));
  expect_same_rows(test::sqlite_rows(src, kEdgeColumns), test::sqlite_rows(dst, kEdgeColumns));
  // The edge rows one by one, so that a failure names the value.
  for (int id = 1; id <= 5; ++id) {
    const std::string one = std::string(kEdgeColumns) + " WHERE id = " + std::to_string(id);
    EXPECT_EQ(test::sqlite_rows(dst, one), test::sqlite_rows(src, one)) << "id " << id;
  }
}

// The SQLite ODBC driver drops a timestamp's UTC offset and reads a date that does not exist
// as NULL; read as their stored text, the instant is kept and the bad date stays as it was.
TEST(OdbcSqliteTest, DatesAndTimestampsKeepTheirOffsetAndTheirText) {
  TempDir dir;
  const std::string src = dir.file("src.db"), dst = dir.file("dst.db");
  test::sqlite_exec(src,
                    "CREATE TABLE t (id INTEGER PRIMARY KEY, tz TIMESTAMPTZ, ts TIMESTAMP, d DATE);"
                    "INSERT INTO t VALUES (1, '2024-01-01 10:00:00+02', '2024-01-01 10:00:00.5', "
                    "'2024-02-29'), (2, '1999-12-31 23:59:59.999999-05:30', NULL, '2024-13-45'),"
                    "(3, NULL, 'not a time', NULL)");
  auto opts = odbc_options(1, 100);
  opts.mode = TargetMode::Create;
  const auto r = run_job(odbc_sqlite_url(src), "SELECT * FROM t ORDER BY id", "sqlite://" + dst,
                         "t", opts);
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->ok()) << (r->errors.empty() ? r->reason : r->errors.front());
  EXPECT_EQ(r->total_rows_processed, 3);
  expect_same_rows({"i:1 | t:2024-01-01 08:00:00+00 | t:2024-01-01 10:00:00.5 | t:2024-02-29",
                    "i:2 | t:2000-01-01 05:29:59.999999+00 | NULL | t:2024-13-45",
                    "i:3 | NULL | t:not a time | NULL"},
                   test::sqlite_rows(dst, "SELECT id, tz, ts, d FROM t"));
}

// The SQLite ODBC driver reads a NUMERIC column as a double (-99999999.99 came back as
// -99999999.989999995): its values arrive as their exact decimal, and one that numeric(p,s)
// cannot hold unchanged stops the chunk, naming the column and the value.
TEST(OdbcSqliteTest, NumericColumnsArriveAsTheirExactDecimal) {
  TempDir dir;
  const std::string src = dir.file("src.db"), dst = dir.file("dst.db");
  test::sqlite_exec(src,
                    "CREATE TABLE t (id INTEGER PRIMARY KEY, n NUMERIC(10,2), u NUMERIC, "
                    "de DECIMAL(12,4));"
                    "INSERT INTO t VALUES (1, -99999999.99, 123456789012345678901234567890, "
                    "'0.0001'), (2, 0.01, 'abc', 12345678.1234), (3, '12.50', 0.1, NULL), "
                    "(4, 42, 7, -1)");
  auto opts = odbc_options(1, 100);
  opts.mode = TargetMode::Create;
  auto r =
      run_job(odbc_sqlite_url(src), "SELECT * FROM t ORDER BY id", "sqlite://" + dst, "t", opts);
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->ok()) << (r->errors.empty() ? r->reason : r->errors.front());
  EXPECT_EQ(r->total_rows_processed, 4);
  // A REAL past 2^53 is written with every digit of its double, as the native driver writes it.
  expect_same_rows({"i:1 | t:-99999999.99 | t:123456789012345677877719597056 | t:0.0001",
                    "i:2 | t:0.01 | t:abc | t:12345678.1234", "i:3 | t:12.5 | t:0.1 | NULL",
                    "i:4 | t:42 | t:7 | t:-1"},
                   test::sqlite_rows(dst, "SELECT id, n, u, de FROM t"));

  // 1.005 in a NUMERIC(10,2) column: a target would round it.
  test::sqlite_exec(src, "INSERT INTO t VALUES (5, 1.005, NULL, NULL)");
  opts.mode = TargetMode::Truncate;
  r = run_job(odbc_sqlite_url(src), "SELECT * FROM t ORDER BY id", "sqlite://" + dst, "t", opts);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok());
  std::string errors;
  for (const std::string& e : r->errors) errors += e + "\n";
  EXPECT_NE(errors.find("column n holds '1.005'"), std::string::npos) << errors;
}

TEST(OdbcSqliteTest, CreateModeTargetAndNativeDriversAgree) {
  TempDir dir;
  const std::string src = dir.file("src.db"), via_odbc = dir.file("odbc.db"),
                    native = dir.file("native.db");
  make_edge_table(src, 2000);
  const int64_t rows = sqlite_count(src, "edge");
  auto opts = odbc_options(2, 500);
  opts.mode = TargetMode::Create;
  // The same source read by the ODBC driver into a table it creates, and into a native one.
  auto r = run_job(odbc_sqlite_url(src), kEdgeQuery, odbc_sqlite_url(via_odbc), "edge", opts);
  ASSERT_TRUE(r);
  test::expect_complete(*r, rows);
  r = run_job(odbc_sqlite_url(src), kEdgeQuery, "sqlite://" + native, "edge", opts);
  ASSERT_TRUE(r);
  test::expect_complete(*r, rows);
  expect_same_rows(test::sqlite_rows(src, kEdgeColumns), test::sqlite_rows(via_odbc, kEdgeColumns));
  expect_same_rows(test::sqlite_rows(src, kEdgeColumns), test::sqlite_rows(native, kEdgeColumns));
}

TEST(OdbcSqliteTest, DataSourceNameFromAnOdbcIni) {
  TempDir dir;
  const std::string src = dir.file("src.db"), dst = dir.file("dst.db"), ini = dir.file("odbc.ini");
  make_edge_table(src, 500);
  test::sqlite_exec(dst, kEdgeDdl);
  test::write_file(ini, "[parmap_lite_src]\nDriver=SQLite3\nDatabase=" + src + "\n");
  // Looking the DSN up, the SQLite driver loads the driver manager's ini reader, whose cache
  // leaks and is unloaded with the driver: not parmap's to free. Under the address sanitizer
  // the full stacks (slow unwinding through the drivers' frames) let that one be suppressed.
  const std::string suppressions = dir.file("lsan.supp");
  test::write_file(suppressions, "leak:libsqlite3odbc.so\n");
  const auto r =
      test::run_parmap({"run", "--source", "odbc://parmap_lite_src", "--target",
                        odbc_sqlite_url(dst), "--query", kEdgeQuery, "--target-table", "edge"},
                       {"ODBCINI=" + ini, "LSAN_OPTIONS=suppressions=" + suppressions,
                        "ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_same_rows(test::sqlite_rows(src, kEdgeColumns), test::sqlite_rows(dst, kEdgeColumns));
}

TEST(OdbcSqliteTest, UnknownDataSourceIsNamedWithoutThePassword) {
  const std::string secret = "Sup3r-Secret-DSN-pw";
  const std::string url = "odbc://etl:" + secret + "@no_such_dsn_parmap";
  try {
    connection_factory(url)();
    FAIL() << "connected to a data source that does not exist";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.kind(), ErrorKind::Config) << what;
    EXPECT_EQ(e.native_code(), "IM002") << what;
    EXPECT_NE(what.find("no_such_dsn_parmap"), std::string::npos) << what;
    EXPECT_NE(what.find("Data source name not found"), std::string::npos) << what;
    EXPECT_EQ(what.find(secret), std::string::npos) << what;
  }
  TempDir dir;
  const auto r = test::run_parmap({"run", "--source", url, "--target", dir.url("dst.db"), "--query",
                                   "SELECT 1 AS x", "--target-table", "t"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("no_such_dsn_parmap"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(secret), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find(secret), std::string::npos) << r.out;
}

TEST(OdbcSqliteTest, JobLockExcludesOdbcAndNativeSessions) {
  TempDir dir;
  const std::string db = dir.file("lock.db");
  test::sqlite_exec(db, "CREATE TABLE t (x INTEGER)");
  auto first = connection_factory(odbc_sqlite_url(db))();
  auto second = connection_factory(odbc_sqlite_url(db))();
  auto native = connection_factory("sqlite://" + db)();
  EXPECT_TRUE(first->try_lock_job("job a into t"));
  EXPECT_FALSE(second->try_lock_job("job a into t"));
  EXPECT_FALSE(native->try_lock_job("job a into t"));
  EXPECT_TRUE(second->try_lock_job("job b into t"));
  first->close();
  EXPECT_TRUE(native->try_lock_job("job a into t"));
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL through psqlODBC, and against the native drivers.

class OdbcPostgresTest : public test::PgTwoDatabasesTest {};

TEST_F(OdbcPostgresTest, SqliteThroughOdbcIntoPostgresAndBackThroughPsqlodbc) {
  TempDir dir;
  const std::string src = dir.file("src.db"), back = dir.file("back.db");
  make_edge_table(src, 3000);
  const int64_t rows = sqlite_count(src, "edge");
  dst_->exec(
      "CREATE TABLE edge (id int8 PRIMARY KEY, n int8, r float8, s text, b bytea, d date, "
      "ts timestamp)");
  // SQLite (ODBC) -> PostgreSQL (native libpq).
  auto r = run_job(odbc_sqlite_url(src), kEdgeQuery, dst_url(), "edge", odbc_options(2, 400));
  ASSERT_TRUE(r);
  test::expect_complete(*r, rows);
  expect_same_rows(test::sqlite_rows(src, kEdgeColumns),
                   test::pg_rows(*dst_, kEdgePgColumns, "iirtbtt"));

  // PostgreSQL (psqlODBC) -> SQLite (ODBC): the round trip ends where it began.
  test::sqlite_exec(back, kEdgeDdl);
  r = run_job(odbc_pg_url(base_, dst_db_), kEdgeQuery, odbc_sqlite_url(back), "edge",
              odbc_options(2, 400));
  ASSERT_TRUE(r);
  test::expect_complete(*r, rows);
  EXPECT_EQ(test::sqlite_checksum(back, kEdgeColumns), test::sqlite_checksum(src, kEdgeColumns));
  expect_same_rows(test::sqlite_rows(src, kEdgeColumns), test::sqlite_rows(back, kEdgeColumns));
}

constexpr const char* kBigDdl =
    "CREATE TABLE big (id int8 PRIMARY KEY, grp int4, amount numeric(12,2), ratio float8, "
    "label text, code varchar(20), flag bool, day date, at timestamp, payload bytea, doc jsonb, "
    "uid uuid)";

TEST_F(OdbcPostgresTest, PsqlodbcBothWaysWithTwoWorkersResumesExactly) {
  // Tens of thousands of rows: the scale of the other copies, capped for ODBC speed.
  const int64_t n = std::clamp<int64_t>(test::test_rows(), 2000, 50000);
  src_->exec(std::string(kBigDdl) +
             "; INSERT INTO big SELECT g * 2,"
             " CASE WHEN g % 7 = 0 THEN NULL ELSE g % 1000 - 500 END,"
             " CASE WHEN g % 11 = 0 THEN NULL ELSE (g * 7919 % 1000003) / 100.0 - 5000 END,"
             " CASE WHEN g % 5 = 0 THEN NULL ELSE (g - 1500)::float8 / 7 END,"
             " CASE WHEN g % 3 = 0 THEN NULL ELSE 'label ' || g || ' ü ✓ ''q'' ' || "
             "   repeat('x', g % 50) END,"
             " CASE WHEN g % 4 = 0 THEN NULL ELSE left(md5(g::text), g % 20) END,"
             " CASE WHEN g % 6 = 0 THEN NULL ELSE g % 2 = 0 END,"
             " CASE WHEN g % 13 = 0 THEN NULL ELSE date '1950-01-01' + g % 40000 END,"
             " CASE WHEN g % 17 = 0 THEN NULL ELSE timestamp '1990-01-01' + g * interval "
             "   '1 minute 0.000123 second' END,"
             " CASE WHEN g % 9 = 0 THEN NULL ELSE decode(md5(g::text), 'hex') END,"
             " CASE WHEN g % 8 = 0 THEN NULL ELSE jsonb_build_object('g', g, 's', 'ü' || g) END,"
             " CASE WHEN g % 10 = 0 THEN NULL ELSE md5(g::text)::uuid END"
             " FROM generate_series(1, " +
             std::to_string(n) + ") g; ANALYZE big");
  dst_->exec(kBigDdl);
  const std::string source = odbc_pg_url(base_, src_db_), target = odbc_pg_url(base_, dst_db_);
  const std::string want = test::pg_checksum(*src_, "big");

  // A run cancelled after two committed chunks, then resumed: the ledger skips what committed.
  ParallelOptions opts = odbc_options(2, std::max<int64_t>(n / 8, 100));
  opts.job_id = "odbc-pg";
  std::atomic<bool> stop{false};
  std::atomic<int> seen{0};
  ParallelOptions partial = opts;
  partial.cancel = &stop;
  partial.on_progress = [&](const ProgressEvent& ev) {
    if (ev.kind == ProgressKind::ChunkDone && ++seen >= 2) stop = true;
  };
  try {
    execute_query_parallel(source, "SELECT * FROM big ORDER BY id", target, "", "big", partial);
    ADD_FAILURE() << "the run was not cancelled";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Cancelled) << e.what();
  }
  const int64_t before = std::stoll(dst_->scalar("SELECT count(*) FROM big"));
  EXPECT_GT(before, 0);
  EXPECT_LT(before, n);

  auto r = run_job(source, "SELECT * FROM big ORDER BY id", target, "big", opts);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok()) << (r->errors.empty() ? "" : r->errors.front());
  EXPECT_TRUE(r->resumed);
  EXPECT_GE(r->chunks_skipped, 2);
  EXPECT_EQ(r->total_rows_processed + before, n);
  EXPECT_EQ(r->workers_used, 2);
  EXPECT_EQ(test::pg_checksum(*dst_, "big"), want);

  // A rerun of the finished job in truncate mode: a new run that leaves exactly the source.
  opts.mode = TargetMode::Truncate;
  r = run_job(source, "SELECT * FROM big ORDER BY id", target, "big", opts);
  ASSERT_TRUE(r);
  test::expect_complete(*r, n);
  EXPECT_EQ(test::pg_checksum(*dst_, "big"), want);
  EXPECT_EQ(dst_->scalar("SELECT count(*) FROM big"), std::to_string(n));
}

TEST_F(OdbcPostgresTest, ValuesPastTheSizesPsqlodbcDescribes) {
  // psqlODBC describes unconstrained varchar and numeric as 255 characters and 28 digits.
  const char* ddl =
      "CREATE TABLE wide (id int8 PRIMARY KEY, n numeric, v varchar, c char(3), t time, "
      "arr int4[])";
  src_->exec(std::string(ddl) +
             "; INSERT INTO wide VALUES (1, "
             "'-123456789012345678901234567890.123456789012345678901234567890', "
             "repeat('ü', 9000), 'ab', '13:45:00.25', '{1,2,NULL}'), "
             "(2, 'NaN', NULL, NULL, NULL, NULL); INSERT INTO wide SELECT g, g / 3.0, "
             "repeat('v', g % 400), 'x', time '00:00' + g * interval '1 second', ARRAY[g] "
             "FROM generate_series(3, 3000) g");
  dst_->exec(ddl);
  // The same columns without the array, which alone would make every column read row by row.
  dst_->exec("CREATE TABLE narrow AS SELECT id, n, v, c, t FROM wide WHERE false");
  const std::string source = odbc_pg_url(base_, src_db_);
  auto r =
      run_job(source, "SELECT * FROM wide ORDER BY id", dst_url(), "wide", odbc_options(2, 500));
  ASSERT_TRUE(r);
  test::expect_complete(*r, 3000);
  EXPECT_EQ(test::pg_checksum(*dst_, "wide"), test::pg_checksum(*src_, "wide"));
  r = run_job(source, "SELECT id, n, v, c, t FROM wide ORDER BY id", dst_url(), "narrow",
              odbc_options(2, 500));
  ASSERT_TRUE(r);
  test::expect_complete(*r, 3000);
  EXPECT_EQ(test::pg_checksum(*dst_, "narrow"),
            test::pg_checksum(*src_, "(SELECT id, n, v, c, t FROM wide)"));
}

TEST_F(OdbcPostgresTest, WrongPasswordThroughPsqlodbcIsNotPrinted) {
  const std::string wrong = "Wr0ng-Secret-7781";
  const ConnectionUrl base = parse_url(base_);
  const std::string url =
      "odbc://parmap_pw:" + wrong + "@/?driver=PostgreSQL%20Unicode&server=" + base.host +
      "&port=" + std::to_string(base.port.value_or(5432)) + "&database=" + src_db_;
  try {
    connection_factory(url)();
    FAIL() << "logged in with a wrong password";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.kind(), ErrorKind::Connect) << what;
    EXPECT_NE(what.find("password authentication failed"), std::string::npos) << what;
    EXPECT_NE(what.find("PostgreSQL%20Unicode"), std::string::npos) << what;
    EXPECT_EQ(what.find(wrong), std::string::npos) << what;
  }
  // The right password works through the same URL form.
  std::string right = url;
  right.replace(right.find(wrong), wrong.size(), "secret-pw");
  auto conn = connection_factory(right)();
  EXPECT_EQ(conn->query("SELECT 1")[0][0], Value(int64_t{1}));
}

TEST_F(OdbcPostgresTest, RefusedRowsAreIsolatedUnderSavepointsThroughPsqlodbc) {
  src_->exec(
      "CREATE TABLE rej (id int8 PRIMARY KEY, a int4, s text);"
      "INSERT INTO rej SELECT g, g % 500, 'row ' || g FROM generate_series(1, 10000) g");
  dst_->exec("CREATE TABLE rej (id int8 PRIMARY KEY, a int4 CHECK (a <> 7), s text)");
  TempDir dir;
  ParallelOptions opts = odbc_options(2, 1500);
  opts.config.max_rejects = 100;
  opts.reject_file = dir.file("rejects.jsonl");
  const auto r = run_job(odbc_pg_url(base_, src_db_), "SELECT * FROM rej ORDER BY id",
                         odbc_pg_url(base_, dst_db_), "rej", opts);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok()) << (r->errors.empty() ? "" : r->errors.front());
  EXPECT_EQ(r->rows_rejected, 20);
  EXPECT_EQ(dst_->scalar("SELECT count(*) FROM rej"), "9980");
  EXPECT_EQ(test::pg_checksum(*dst_, "rej"),
            test::pg_checksum(*src_, "(SELECT * FROM rej WHERE a <> 7)"));
}

// psqlODBC converts a real to a double from its shortest text, which differs from the float in
// the last digits (-3.4028235e38 is not the float -3.40282347e38); read as a float it is exact.
TEST_F(OdbcPostgresTest, RealColumnsArriveAsTheFloatTheyHold) {
  src_->exec("CREATE TABLE r (id int PRIMARY KEY, f real);"
             "INSERT INTO r VALUES (1, '-3.4028235e38'), (2, '1.1754944e-38'), (3, '0.1'),"
             "(4, 'Infinity'), (5, '-Infinity'), (6, NULL), (7, '1e-45'), (8, '16777217')");
  TempDir dir;
  const std::string dst = dir.file("r.db");
  ParallelOptions opts = odbc_options(1, 100);
  opts.mode = TargetMode::Create;
  const auto r = run_job(odbc_pg_url(base_, src_db_), "SELECT * FROM r ORDER BY id",
                         "sqlite://" + dst, "r", opts);
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->ok()) << (r->errors.empty() ? r->reason : r->errors.front());
  const std::vector<float> want = {-3.4028235e38F, 1.1754944e-38F, 0.1F,
                                   std::numeric_limits<float>::infinity(),
                                   -std::numeric_limits<float>::infinity(), 0.0F, 1e-45F,
                                   16777216.0F};
  std::vector<std::string> rows;
  for (size_t i = 0; i < want.size(); ++i) {
    rows.push_back(fmt::format("i:{} | {}", i + 1,
                               i == 5 ? "NULL" : test::row_double(static_cast<double>(want[i]))));
  }
  expect_same_rows(rows, test::sqlite_rows(dst, "SELECT id, f FROM r"));
}

TEST_F(OdbcPostgresTest, InterruptCancelsARunningStatement) {
  auto conn = connection_factory(odbc_pg_url(base_, src_db_))();
  const auto start = std::chrono::steady_clock::now();
  std::thread watchdog([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    conn->interrupt();
  });
  try {
    conn->query("SELECT pg_sleep(30)");
    ADD_FAILURE() << "the statement ran to its end";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Transient) << e.what();
  }
  watchdog.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  try {
    conn->query("SELECT 1");
    ADD_FAILURE() << "an interrupted connection took another call";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Transient) << e.what();
  }
}

TEST_F(OdbcPostgresTest, JobLockIsTheNativeDriversLock) {
  auto odbc = connection_factory(odbc_pg_url(base_, dst_db_))();
  auto native = connection_factory(dst_url())();
  EXPECT_TRUE(odbc->try_lock_job("job a into t"));
  EXPECT_FALSE(native->try_lock_job("job a into t"));
  EXPECT_TRUE(native->try_lock_job("job b into t"));
  EXPECT_FALSE(connection_factory(odbc_pg_url(base_, dst_db_))()->try_lock_job("job b into t"));
}

// ---------------------------------------------------------------------------------------------
// MariaDB's ODBC driver, against the MariaDB test server when one runs.

TEST(OdbcMariadbTest, SqliteIntoMariadbAndBackThroughOdbc) {
  const std::string server = test::server_url("PARMAP_MARIADB_URL");
  if (server.empty()) GTEST_SKIP() << "PARMAP_MARIADB_URL is not set";
  const ConnectionUrl mysql = parse_url(server);
  std::string url = "odbc://" + mysql.user + (mysql.password.empty() ? "" : ":" + mysql.password) +
                    "@/?driver=MariaDB%20Unicode&server=" + mysql.host +
                    "&port=" + std::to_string(mysql.port.value_or(3306)) +
                    "&database=" + mysql.database + "&charset=utf8mb4";
  TempDir dir;
  const std::string src = dir.file("src.db"), back = dir.file("back.db");
  make_edge_table(src, 2000);
  const int64_t rows = sqlite_count(src, "edge");
  const std::string table = "odbc_edge_" + std::to_string(getpid());
  auto admin = connection_factory(url)();
  admin->execute("DROP TABLE IF EXISTS " + table);
  admin->execute("DROP TABLE IF EXISTS parmap_ledger");
  admin->execute("DROP TABLE IF EXISTS parmap_runs");
  admin->execute("DROP TABLE IF EXISTS parmap_jobs");
  admin->execute("CREATE TABLE " + table +
                 " (id BIGINT PRIMARY KEY, n BIGINT, r DOUBLE, s LONGTEXT, b LONGBLOB, d DATE, "
                 "ts DATETIME(6)) CHARACTER SET utf8mb4");

  auto r = run_job(odbc_sqlite_url(src), kEdgeQuery, url, table, odbc_options(2, 400));
  ASSERT_TRUE(r);
  test::expect_complete(*r, rows);
  EXPECT_EQ(admin->query("SELECT COUNT(*) FROM " + table)[0][0], Value(rows));

  test::sqlite_exec(back, kEdgeDdl);
  r = run_job(url, "SELECT * FROM " + table + " ORDER BY id", odbc_sqlite_url(back), "edge",
              odbc_options(2, 400));
  ASSERT_TRUE(r);
  test::expect_complete(*r, rows);
  expect_same_rows(test::sqlite_rows(src, kEdgeColumns), test::sqlite_rows(back, kEdgeColumns));
  admin->execute("DROP TABLE " + table);
}

}  // namespace
}  // namespace parmap
