// MariaDB as source and target against real servers: exact copies to and from PostgreSQL and
// SQLite, resume after SIGKILL, connections killed mid-run, and values one engine cannot hold.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "parmap/parmap.h"
#include "support/mariadb_pg_support.h"
#include "support/mariadb_support.h"
#include "support/odbc_support.h"
#include "support/pg_support.h"
#include "support/test_support.h"

namespace parmap {
namespace {

using test::My;
using test::Pg;

// Each engine renders one row of `items` as the same text, and the sum of a hash of it is
// order-independent: "count:sum". Computed by each server itself, not by parmap.
constexpr const char* kMyRowText =
    "CONCAT_WS('|', id, COALESCE(name, '~'), COALESCE(amount, '~'), COALESCE(ratio, '~'), "
    "COALESCE(day, '~'), COALESCE(DATE_FORMAT(at, '%Y-%m-%d %H:%i:%s.%f'), '~'), "
    "COALESCE(LOWER(HEX(data)), '~'), COALESCE(note, '~'))";
constexpr const char* kPgRowText =
    "concat_ws('|', id, coalesce(name, '~'), coalesce(amount::text, '~'), "
    "coalesce(ratio::text, '~'), coalesce(day::text, '~'), "
    "coalesce(to_char(at, 'YYYY-MM-DD HH24:MI:SS.US'), '~'), coalesce(encode(data, 'hex'), '~'), "
    "coalesce(note, '~'))";

std::string my_items_checksum(My& db, const std::string& table) {
  return db.scalar(std::string("SELECT CONCAT(COUNT(*), ':', COALESCE(SUM(CAST(CONV(SUBSTR(MD5(") +
                   kMyRowText + "), 1, 15), 16, 10) AS DECIMAL(30))), 0)) FROM " + table);
}

std::string pg_items_checksum(Pg& db, const std::string& table) {
  return db.scalar(std::string("SELECT count(*) || ':' || coalesce(sum(('x' || substr(md5(") +
                   kPgRowText + "), 1, 15))::bit(60)::bigint::numeric), 0) FROM " + table);
}

/// `rows` rows of every kind the checksums cover: unicode, quotes and backslashes in text,
/// exact decimals, doubles, dates, microseconds, bytes with zeros, NULLs every 7th note.
void make_my_items(My& db, int64_t rows) {
  db.exec(
      "CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR(60), amount DECIMAL(12,2), "
      "ratio DOUBLE, day DATE, at DATETIME(6), data VARBINARY(16), note TEXT) ENGINE=InnoDB; "
      "INSERT INTO items SELECT seq, CONCAT('name ', seq, ' ''q'' \\\\ é'), seq / 7, seq * 1.5, "
      "DATE_ADD('2000-01-01', INTERVAL seq % 30000 DAY), "
      "DATE_ADD('2000-01-01 00:00:00.000001', INTERVAL seq SECOND), "
      "UNHEX(CONCAT('00', HEX(seq % 256), '0A09')), IF(seq % 7 = 0, NULL, CONCAT('n', seq)) "
      "FROM seq_1_to_" + std::to_string(rows));
}

ParallelOptions options(int workers, int64_t chunk, TargetMode mode) {
  ParallelOptions opts;
  opts.config = resolve_config({{"max_workers", std::to_string(workers)},
                                {"chunk_size", std::to_string(chunk)},
                                {"min_rows_for_parallel", "10"},
                                {"max_retries", "8"}},
                               {}, 8);
  opts.mode = mode;
  return opts;
}

using test::MariadbPgTest;

TEST_F(MariadbPgTest, MariadbToPostgresIsExactAndATruncateRerunIsToo) {
  const int64_t rows = test::test_rows();
  make_my_items(*my_, rows);
  const std::string want = my_items_checksum(*my_, "items");
  ASSERT_EQ(want.substr(0, want.find(':')), std::to_string(rows));
  pg_->exec("CREATE TABLE items (id int8 PRIMARY KEY, name text, amount numeric(12,2), "
            "ratio float8, day date, at timestamp, data bytea, note text)");
  for (int run = 1; run <= 2; ++run) {
    const ParallelResult r =
        execute_query_parallel(my_url(), "SELECT * FROM items ORDER BY id", pg_url(), "", "items",
                               options(2, 50000, TargetMode::Truncate));
    ASSERT_TRUE(r.ok()) << (r.errors.empty() ? r.reason : r.errors.front());
    EXPECT_EQ(r.total_rows_processed, rows);
    EXPECT_EQ(r.run, run);
    EXPECT_EQ(pg_items_checksum(*pg_, "items"), want) << "run " << run;
  }
  std::cout << "[ mariadb ] " << rows << " rows MariaDB -> PostgreSQL, exact twice\n";
}

TEST_F(MariadbPgTest, PostgresToMariadbCreatesExactTypes) {
  pg_->exec(
      "CREATE TABLE t (id int8 PRIMARY KEY, name text, amount numeric(12,2), wide numeric, "
      "ratio float8, day date, at timestamp(6), inst timestamptz, data bytea, ok boolean, "
      "u uuid, doc jsonb, tod time);"
      "INSERT INTO t VALUES (1, 'é ''q'' \\ x', 12.50, 123456789012345678901234.5678, 0.1, "
      "'2024-02-29', '2024-02-29 13:45:00.000001', '2024-02-29 13:45:00.25+02', '\\x000aff', "
      "true, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"k\": [1, 2]}', '23:59:59.999999'),"
      "(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),"
      "(3, repeat('x', 70000), -0.01, 0, -1e300, '0001-01-01', '9999-12-31 23:59:59', "
      "'1970-01-01 00:00:00+00', '', false, '00000000-0000-0000-0000-000000000000', '[]', "
      "'00:00:00')");
  const ParallelResult r = execute_query_parallel(pg_url(), "SELECT * FROM t ORDER BY id",
                                                  my_url(), "", "t",
                                                  options(2, 1, TargetMode::Create));
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? r.reason : r.errors.front());
  EXPECT_EQ(my_->scalar("SELECT COUNT(*) FROM t"), "3");
  // Every column by the target's own SQL against the value it must hold.
  const test::MyRows got = my_->rows(
      "SELECT id, name = CONCAT('é ', CHAR(39), 'q', CHAR(39), ' ', CHAR(92), ' x'), amount, "
      "wide, ratio, day, at, inst, HEX(data), ok, u, JSON_EXTRACT(doc, '$.k[1]'), tod, "
      "CHAR_LENGTH(name) FROM t ORDER BY id");
  ASSERT_EQ(got.size(), 3u);
  const std::vector<std::optional<std::string>> row1 = {
      "1", "1", "12.50", "123456789012345678901234.567800000000000000000000000000", "0.1",
      "2024-02-29", "2024-02-29 13:45:00.000001", "2024-02-29 11:45:00.250000", "000AFF", "1",
      "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "2", "23:59:59.999999", "9"};
  EXPECT_EQ(got[0], row1);
  for (size_t c = 1; c + 1 < got[1].size(); ++c) EXPECT_FALSE(got[1][c].has_value()) << c;
  EXPECT_EQ(got[2][2], "-0.01");
  EXPECT_EQ(got[2][4], "-1e300");
  EXPECT_EQ(got[2][5], "0001-01-01");
  EXPECT_EQ(got[2][8], "");
  EXPECT_EQ(got[2][13], "70000");
  // The exact types: numeric(12,2) kept, timestamp with microseconds, bytes as bytes.
  const std::string ddl = my_->rows("SHOW CREATE TABLE t")[0][1].value_or("");
  EXPECT_NE(ddl.find("`amount` decimal(12,2)"), std::string::npos) << ddl;
  EXPECT_NE(ddl.find("`at` datetime(6)"), std::string::npos) << ddl;
  EXPECT_NE(ddl.find("`data` longblob"), std::string::npos) << ddl;
  EXPECT_NE(ddl.find("`name` longtext"), std::string::npos) << ddl;
}

TEST_F(MariadbPgTest, AUuidMariadbRefusesNamesTheValueAndTheWayAround) {
  // md5(x)::uuid makes UUIDs of any version and variant; MariaDB's UUID type (10.11.5 and
  // later) refuses version 8 and above with variant bits 0, as about one in four of these.
  pg_->exec("CREATE TABLE uu (id int8 PRIMARY KEY, u uuid); INSERT INTO uu SELECT g, "
            "md5(g::text)::uuid FROM generate_series(1, 3000) g");
  my_->exec("CREATE TABLE uu_typed (id BIGINT PRIMARY KEY, u UUID)");
  const ParallelResult refused = execute_query_parallel(
      pg_url(), "SELECT * FROM uu ORDER BY id", my_url(), "", "uu_typed",
      options(2, 1000, TargetMode::Append));
  EXPECT_FALSE(refused.complete());
  ASSERT_FALSE(refused.errors.empty());
  EXPECT_NE(refused.errors.front().find("Incorrect uuid value"), std::string::npos)
      << refused.errors.front();
  EXPECT_NE(refused.errors.front().find("create the target column as CHAR(36) or BINARY(16)"),
            std::string::npos)
      << refused.errors.front();
  // Into the column the message names, every value arrives as PostgreSQL prints it.
  my_->exec("CREATE TABLE uu_text (id BIGINT PRIMARY KEY, u CHAR(36))");
  const ParallelResult r = execute_query_parallel(pg_url(), "SELECT * FROM uu ORDER BY id",
                                                  my_url(), "", "uu_text",
                                                  options(2, 1000, TargetMode::Append));
  ASSERT_TRUE(r.complete()) << (r.errors.empty() ? r.reason : r.errors.front());
  EXPECT_EQ(my_->scalar("SELECT CONCAT(COUNT(*), ':', MD5(GROUP_CONCAT(u ORDER BY id "
                        "SEPARATOR ','))) FROM uu_text"),
            pg_->scalar("SELECT count(*) || ':' || md5(string_agg(u::text, ',' ORDER BY id)) "
                        "FROM uu"));
}

TEST_F(MariadbPgTest, ColumnsTheTargetGeneratesAreLeftOutOfTheLoad) {
  // LOAD DATA may not give a generated column a value: both kinds are left out of the load and
  // the target computes them; the source's generated column arrives in PostgreSQL as values.
  pg_->exec("CREATE TABLE gsrc (id int8 PRIMARY KEY, a int, b int GENERATED ALWAYS AS (a * 2) "
            "STORED, c text); INSERT INTO gsrc (id, a, c) SELECT i, i % 97, md5(i::text) FROM "
            "generate_series(1, 5000) AS i");
  my_->exec("CREATE TABLE gdst (id BIGINT PRIMARY KEY, a INT, b INT AS (a * 3) PERSISTENT, "
            "v INT AS (a + 1) VIRTUAL, c TEXT)");
  ParallelResult r = execute_query_parallel(pg_url(), "SELECT * FROM gsrc ORDER BY id", my_url(),
                                            "", "gdst", options(2, 1000, TargetMode::Append));
  ASSERT_TRUE(r.complete()) << (r.errors.empty() ? r.reason : r.errors.front());
  EXPECT_NE(r.path.find("column(s) b not copied: gdst generates them"), std::string::npos)
      << r.path;
  EXPECT_EQ(my_->scalar("SELECT CONCAT(COUNT(*), ':', SUM(id * 7 + a), ':', SUM(b = a * 3), ':', "
                        "SUM(v = a + 1), ':', SUM(CHAR_LENGTH(c) = 32)) FROM gdst"),
            pg_->scalar("SELECT count(*) || ':' || sum(id * 7 + a) || ':' || count(*) || ':' || "
                        "count(*) || ':' || count(*) FROM gsrc"));
  // Back: MariaDB's generated columns are values of the query, into a plain PostgreSQL table.
  pg_->exec("CREATE TABLE gback (id int8, a int, b int, v int, c text)");
  r = execute_query_parallel(my_url(), "SELECT * FROM gdst ORDER BY id", pg_url(), "", "gback",
                             options(2, 1000, TargetMode::Append));
  ASSERT_TRUE(r.complete()) << (r.errors.empty() ? r.reason : r.errors.front());
  EXPECT_EQ(pg_->scalar("SELECT count(*) FILTER (WHERE b = a * 3 AND v = a + 1) FROM gback"),
            "5000");
}

TEST_F(MariadbPgTest, MariadbTypesArriveInPostgresAsTheClosestExactType) {
  my_->exec(
      "CREATE TABLE t (id INT PRIMARY KEY, big BIGINT UNSIGNED, d DECIMAL(30,10), "
      "at DATETIME(6), ts TIMESTAMP(3) NULL, j JSON, b BLOB, e ENUM('a','b'), s SET('x','y'), "
      "bits BIT(10), y YEAR, u UUID, f FLOAT, tiny TINYINT UNSIGNED);"
      "INSERT INTO t VALUES (1, 18446744073709551615, 12345678901234567890.0123456789, "
      "'2024-02-29 13:45:00.000001', '2024-02-29 13:45:00.250', '{\"k\": [1, 2]}', X'00FF', "
      "'b', 'x,y', b'1000000001', 2024, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 1.5, 255),"
      "(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)");
  const ParallelResult r = execute_query_parallel(my_url(), "SELECT * FROM t ORDER BY id",
                                                  pg_url(), "", "t",
                                                  options(1, 1000, TargetMode::Create));
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? r.reason : r.errors.front());
  const test::PgRows got = pg_->rows(
      "SELECT big::text, d::text, at::text, ts::text, j->'k'->>1, encode(b, 'hex'), e, s, "
      "bits::text, y::text, u::text, f::text, tiny::text FROM t ORDER BY id");
  ASSERT_EQ(got.size(), 2u);
  const std::vector<std::optional<std::string>> row1 = {
      "18446744073709551615", "12345678901234567890.0123456789", "2024-02-29 13:45:00.000001",
      "2024-02-29 13:45:00.25+00", "2", "00ff", "b", "x,y", "513", "2024",
      "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "1.5", "255"};
  EXPECT_EQ(got[0], row1);
  for (const auto& v : got[1]) EXPECT_FALSE(v.has_value());
  const test::PgRows types = pg_->rows(
      "SELECT column_name, data_type, numeric_precision, numeric_scale FROM "
      "information_schema.columns WHERE table_name = 't' ORDER BY ordinal_position");
  auto type_of = [&](const std::string& column) {
    for (const auto& t : types) {
      if (t[0] == column) return t[1].value_or("") + "/" + t[2].value_or("") + "/" + t[3].value_or("");
    }
    return std::string("missing");
  };
  EXPECT_EQ(type_of("big"), "numeric/20/0");
  EXPECT_EQ(type_of("d"), "numeric/30/10");
  EXPECT_EQ(type_of("at"), "timestamp without time zone//");
  EXPECT_EQ(type_of("ts"), "timestamp with time zone//");
  EXPECT_EQ(type_of("j"), "jsonb//");
  EXPECT_EQ(type_of("b"), "bytea//");
  EXPECT_EQ(type_of("u"), "uuid//");
}

TEST_F(MariadbPgTest, SigkillPartWayThenARerunIsExact) {
  const int64_t rows = std::max<int64_t>(test::test_rows() / 2, 300000);
  make_my_items(*my_, rows);
  const std::string want = my_items_checksum(*my_, "items");
  pg_->exec("CREATE TABLE items (id int8, name text, amount numeric(12,2), "
            "ratio float8, day date, at timestamp, data bytea, note text)");
  const std::vector<std::string> args = {
      "run", "--source", my_url(), "--query", "SELECT * FROM items ORDER BY id", "--target",
      pg_url(), "--target-table", "items", "--workers", "2", "--chunk-size", "3000", "-q"};
  Pg watch(pg_url());
  const test::RunResult killed = test::run_parmap(args, {}, [&] {
    try {
      return std::stoll("0" + watch.scalar("SELECT count(*) FROM parmap_ledger")) >= 2;
    } catch (const std::exception&) {
      return false;  // the ledger is not made yet
    }
  });
  ASSERT_EQ(killed.signal, 9) << killed.out << killed.err;
  const int64_t part = std::stoll(pg_->scalar("SELECT count(*) FROM items"));
  EXPECT_LT(part, rows);
  const test::RunResult rerun = test::run_parmap(args);
  ASSERT_EQ(rerun.exit_code, 0) << rerun.out << rerun.err;
  EXPECT_EQ(pg_items_checksum(*pg_, "items"), want);
  std::cout << "[ mariadb ] killed with " << part << " of " << rows << " rows in; rerun exact\n";
}

/// Kills (KILL CONNECTION) up to `max_kills` sessions of database `db` whose statement starts
/// with `statement`, one at a time, from its own thread, until stopped.
class ConnectionKiller {
 public:
  ConnectionKiller(const std::string& admin_url, const std::string& db, const std::string& statement,
                   int max_kills)
      : thread_([=, this] {
          My admin(admin_url);
          while (!done_ && kills_ < max_kills) {
            const test::MyRows victims = admin.rows(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '" + db +
                "' AND ID <> CONNECTION_ID() AND INFO LIKE '" + statement + "%'");
            if (!victims.empty()) {
              try {
                admin.exec("KILL CONNECTION " + victims[0][0].value_or("0"));
                ++kills_;
              } catch (const std::exception&) {
                // The statement ended first.
              }
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(kills_ == 0 ? 2 : 150));
          }
        }) {}
  ~ConnectionKiller() { stop(); }
  int stop() {
    done_ = true;
    if (thread_.joinable()) thread_.join();
    return kills_;
  }

 private:
  std::atomic<bool> done_{false};
  std::atomic<int> kills_{0};
  std::thread thread_;
};

TEST_F(MariadbPgTest, KilledSourceConnectionsAreRetriedAndTheCopyIsExact) {
  const int64_t rows = std::max<int64_t>(test::test_rows() / 2, 100000);
  make_my_items(*my_, rows);
  const std::string want = my_items_checksum(*my_, "items");
  pg_->exec("CREATE TABLE items (id int8, name text, amount numeric(12,2), "
            "ratio float8, day date, at timestamp, data bytea, note text)");
  ConnectionKiller killer(base_, db_, "SELECT * FROM (SELECT * FROM items", 3);
  const ParallelResult r =
      execute_query_parallel(my_url(), "SELECT * FROM items ORDER BY id", pg_url(), "", "items",
                             options(2, 10000, TargetMode::Append));
  const int kills = killer.stop();
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? r.reason : r.errors.front());
  ASSERT_GE(kills, 1) << "no connection was caught reading";
  EXPECT_GE(r.retries, 1);
  EXPECT_EQ(pg_items_checksum(*pg_, "items"), want);
  std::cout << "[ mariadb ] " << kills << " source connections killed, " << r.retries
            << " retries, exact\n";
}

TEST_F(MariadbPgTest, KilledTargetConnectionsAreRetriedAndTheCopyIsExact) {
  const int64_t rows = std::max<int64_t>(test::test_rows() / 2, 100000);
  make_my_items(*my_, rows);
  const std::string want = my_items_checksum(*my_, "items");
  pg_->exec("CREATE TABLE items (id int8 PRIMARY KEY, name text, amount numeric(12,2), "
            "ratio float8, day date, at timestamp, data bytea, note text)");
  ASSERT_TRUE(execute_query_parallel(my_url(), "SELECT * FROM items ORDER BY id", pg_url(), "",
                                     "items", options(2, 50000, TargetMode::Append))
                  .ok());
  my_->exec("CREATE TABLE back LIKE items");
  ConnectionKiller killer(base_, db_, "LOAD DATA", 3);
  const ParallelResult r =
      execute_query_parallel(pg_url(), "SELECT * FROM items ORDER BY id", my_url(), "", "back",
                             options(2, 10000, TargetMode::Append));
  const int kills = killer.stop();
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? r.reason : r.errors.front());
  ASSERT_GE(kills, 1) << "no connection was caught loading";
  EXPECT_GE(r.retries, 1);
  EXPECT_EQ(my_items_checksum(*my_, "back"), want);
  std::cout << "[ mariadb ] " << kills << " target connections killed, " << r.retries
            << " retries, exact\n";
}

// Natively and through MariaDB Connector/ODBC, which hands a zero date over as NULL unless it
// is read as text: nothing may become NULL unasked.
TEST_F(MariadbPgTest, ZeroDatesAreRefusedNamingTheValueOrBecomeNullWhenAsked) {
  my_->exec("SET SESSION sql_mode = ''; CREATE TABLE z (id INT PRIMARY KEY, d DATE, at DATETIME);"
            "INSERT INTO z VALUES (1, '2024-01-02', '2024-01-02 03:04:05'), "
            "(2, '0000-00-00', '0000-00-00 00:00:00'), (3, '2024-00-10', NULL)");
  pg_->exec("CREATE TABLE z (id int PRIMARY KEY, d date, at timestamp)");
  const std::string odbc = test::odbc_mariadb_url(base_, db_);
  for (const std::string& source : {my_url(), odbc}) {
    SCOPED_TRACE(source == odbc ? "through ODBC" : "native");
    const std::string sep = source == odbc ? "&" : "?";
    pg_->exec("TRUNCATE z");
    test::TempDir dir;
    ParallelOptions opts = options(1, 1000, TargetMode::Append);
    opts.config.max_rejects = 5;
    opts.reject_file = dir.file("rejects.jsonl");
    opts.job_id = "zero-refused" + std::to_string(source == odbc);
    const ParallelResult refused =
        execute_query_parallel(source, "SELECT * FROM z ORDER BY id", pg_url(), "", "z", opts);
    EXPECT_EQ(refused.rows_rejected, 2);
    EXPECT_EQ(pg_->scalar("SELECT string_agg(id::text, ',' ORDER BY id) FROM z"), "1");
    const std::string text = test::read_file(opts.reject_file);
    EXPECT_NE(text.find("0000-00-00"), std::string::npos) << text;
    EXPECT_NE(text.find("2024-00-10"), std::string::npos) << text;
    // The record says how to read them instead.
    EXPECT_NE(text.find("zero_dates=null"), std::string::npos) << text;

    pg_->exec("TRUNCATE z");
    ParallelOptions as_null = options(1, 1000, TargetMode::Append);
    as_null.job_id = "zero-null" + std::to_string(source == odbc);
    const ParallelResult nulled = execute_query_parallel(
        source + sep + "zero_dates=null", "SELECT * FROM z ORDER BY id", pg_url(), "", "z", as_null);
    ASSERT_TRUE(nulled.ok()) << (nulled.errors.empty() ? nulled.reason : nulled.errors.front());
    EXPECT_EQ(pg_->scalar("SELECT string_agg(id || '=' || coalesce(d::text, 'null') || '/' || "
                          "coalesce(at::text, 'null'), ',' ORDER BY id) FROM z"),
              "1=2024-01-02/2024-01-02 03:04:05,2=null/null,3=null/null");
  }
}

TEST_F(MariadbPgTest, ValuesMariadbCannotHoldAreRefusedNamingColumnAndValue) {
  pg_->exec("CREATE TABLE v (id int PRIMARY KEY, day date, short text, small int, f float8);"
            "INSERT INTO v VALUES (1, '2024-01-01', 'abc', 1, 1.5), (2, '10000-01-01', 'abc', 1, 0),"
            "(3, '0044-03-15 BC', 'abc', 1, 0), (4, '2024-01-01', 'too long', 1, 0),"
            "(5, '2024-01-01', 'abc', -1, 0), (6, '2024-01-01', 'abc', 1, 'NaN')");
  my_->exec("CREATE TABLE v (id INT PRIMARY KEY, day DATE, short VARCHAR(5), "
            "small TINYINT UNSIGNED, f DOUBLE)");
  test::TempDir dir;
  ParallelOptions opts = options(1, 1000, TargetMode::Append);
  opts.config.max_rejects = 10;
  opts.reject_file = dir.file("rejects.jsonl");
  const ParallelResult r =
      execute_query_parallel(pg_url(), "SELECT * FROM v ORDER BY id", my_url(), "", "v", opts);
  EXPECT_EQ(r.rows_rejected, 5);
  EXPECT_EQ(my_->scalar("SELECT GROUP_CONCAT(id ORDER BY id) FROM v"), "1");
  const std::string text = test::read_file(opts.reject_file);
  for (const char* needle : {"10000-01-01", "0044-03-15 BC", "column 'short'",
                             "Out of range value for column 'small'", "column f: value nan"}) {
    EXPECT_NE(text.find(needle), std::string::npos) << needle << " in " << text;
  }
}

TEST_F(MariadbPgTest, TinyintOneIsBooleanOnlyWhenAsked) {
  my_->exec("CREATE TABLE f (id INT PRIMARY KEY, flag TINYINT(1), small TINYINT);"
            "INSERT INTO f VALUES (1, 0, 0), (2, 1, 1), (3, NULL, 1), (4, 2, 2)");
  test::TempDir dir;
  ParallelOptions opts = options(1, 1000, TargetMode::Create);
  opts.job_id = "tinyint-as-int";
  ParallelResult r =
      execute_query_parallel(my_url(), "SELECT * FROM f ORDER BY id", pg_url(), "", "f_int", opts);
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? r.reason : r.errors.front());
  EXPECT_EQ(pg_->scalar("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                        "WHERE attrelid = 'f_int'::regclass AND attname = 'flag'"),
            "smallint");
  EXPECT_EQ(pg_->scalar("SELECT string_agg(coalesce(flag::text, 'null'), ',' ORDER BY id) FROM "
                        "f_int"),
            "0,1,null,2");

  // Asked: boolean; the 2 is not a truth value and is refused by name, not made true.
  opts.job_id = "tinyint-as-bool";
  opts.config.max_rejects = 5;
  opts.reject_file = dir.file("rejects.jsonl");
  r = execute_query_parallel(my_url() + "?tinyint1_bool=true", "SELECT * FROM f ORDER BY id",
                             pg_url(), "", "f_bool", opts);
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? r.reason : r.errors.front());
  EXPECT_EQ(r.rows_rejected, 1);
  EXPECT_EQ(pg_->scalar("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                        "WHERE attrelid = 'f_bool'::regclass AND attname = 'flag'"),
            "boolean");
  EXPECT_EQ(pg_->scalar("SELECT string_agg(id || '=' || coalesce(flag::text, 'null') || '/' || "
                        "small, ',' ORDER BY id) FROM f_bool"),
            "1=false/0,2=true/1,3=null/1");
  const std::string text = test::read_file(opts.reject_file);
  EXPECT_NE(text.find("\"id\":4"), std::string::npos) << text;
  EXPECT_NE(text.find("\"flag\":2"), std::string::npos) << text;

  EXPECT_THROW(execute_query_parallel(my_url() + "?tinyint1_bool=maybe", "SELECT * FROM f", pg_url(),
                                      "", "f_x", options(1, 1000, TargetMode::Create)),
               Error);
}

TEST_F(MariadbPgTest, ADuplicateKeyInALoadIsARefusedRowAndNothingElseChanges) {
  pg_->exec("CREATE TABLE k (id int8 PRIMARY KEY, name text);"
            "INSERT INTO k SELECT g, 'new ' || g FROM generate_series(1, 3000) AS g");
  my_->exec("CREATE TABLE k (id BIGINT PRIMARY KEY, name LONGTEXT) CHARACTER SET utf8mb4;"
            "INSERT INTO k VALUES (1234, 'old 1234')");
  test::TempDir dir;
  ParallelOptions opts = options(2, 1000, TargetMode::Append);
  opts.config.max_rejects = 5;
  opts.reject_file = dir.file("rejects.jsonl");
  const ParallelResult r =
      execute_query_parallel(pg_url(), "SELECT * FROM k ORDER BY id", my_url(), "", "k", opts);
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? r.reason : r.errors.front());
  EXPECT_EQ(r.rows_rejected, 1);
  EXPECT_EQ(r.total_rows_processed, 2999);
  // Every other row arrived as it was; the row already there kept its value.
  EXPECT_EQ(my_->scalar("SELECT COUNT(*) FROM k"), "3000");
  EXPECT_EQ(my_->scalar("SELECT name FROM k WHERE id = 1234"), "old 1234");
  EXPECT_EQ(my_->scalar("SELECT COUNT(*) FROM k WHERE id <> 1234 AND name = CONCAT('new ', id)"),
            "2999");
  const std::string text = test::read_file(opts.reject_file);
  EXPECT_NE(text.find("\"id\":1234"), std::string::npos) << text;
  EXPECT_NE(text.find("Duplicate"), std::string::npos) << text;
  // Without rejects allowed, the same load fails as a data error naming the row.
  my_->exec("DELETE FROM k WHERE id <> 1234");
  ParallelOptions strict = options(2, 1000, TargetMode::Append);
  strict.job_id = "duplicate-strict";
  const ParallelResult failed =
      execute_query_parallel(pg_url(), "SELECT * FROM k ORDER BY id", my_url(), "", "k", strict);
  EXPECT_FALSE(failed.ok());
  std::string errors;
  for (const std::string& e : failed.errors) errors += e + "\n";
  EXPECT_NE(errors.find("\"id\":1234"), std::string::npos) << errors;
  EXPECT_EQ(my_->scalar("SELECT name FROM k WHERE id = 1234"), "old 1234");
}

class MariadbSqliteTest : public test::MariadbTest {};

TEST_F(MariadbSqliteTest, SqliteToMariadbAndBackIsExact) {
  test::TempDir dir;
  const std::string path = dir.file("src.db");
  const int64_t rows = std::min<int64_t>(test::test_rows(), 100000);
  test::make_mixed_table(path, "mixed", rows);
  const test::Checksum want = test::sqlite_checksum(path, "SELECT * FROM mixed");
  ParallelOptions opts = options(2, 7000, TargetMode::Create);
  const ParallelResult there = execute_query_parallel(dir.url("src.db"), "SELECT * FROM mixed",
                                                      my_url(), "", "mixed", opts);
  ASSERT_TRUE(there.ok()) << (there.errors.empty() ? there.reason : there.errors.front());
  EXPECT_EQ(my_->scalar("SELECT COUNT(*) FROM mixed"), std::to_string(rows));
  const ParallelResult back = execute_query_parallel(my_url(), "SELECT * FROM mixed ORDER BY id",
                                                     dir.url("back.db"), "", "mixed", opts);
  ASSERT_TRUE(back.ok()) << (back.errors.empty() ? back.reason : back.errors.front());
  EXPECT_EQ(test::sqlite_checksum(dir.file("back.db"), "SELECT * FROM mixed"), want);
}

TEST_F(MariadbSqliteTest, PasswordsComeFromTheUrlOrMysqlPwdAndAreNeverPrinted) {
  const std::string wrong = test::url_with(base_, "parmap_test", "parmap_pw:not-the-Secret-9");
  try {
    connection_factory(wrong)();
    FAIL() << "a wrong password connected";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Connect) << e.what();
    EXPECT_EQ(std::string(e.what()).find("not-the-Secret-9"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Access denied"), std::string::npos) << e.what();
  }
  ::setenv("MYSQL_PWD", "secret-pw", 1);
  auto conn = connection_factory(test::url_with(base_, "parmap_test", "parmap_pw"))();
  ::unsetenv("MYSQL_PWD");
  EXPECT_EQ(conn->query("SELECT CURRENT_USER()")[0][0].as_text(), "parmap_pw@127.0.0.1");
}

TEST_F(MariadbSqliteTest, ASecondRunOfOneJobIsRefusedWhileTheFirstHoldsItsLock) {
  auto first = connection_factory(my_url())();
  auto second = connection_factory(my_url())();
  const std::string key = job_lock_key("j1", "t");
  EXPECT_TRUE(first->try_lock_job(key));
  EXPECT_FALSE(second->try_lock_job(key));
  EXPECT_TRUE(second->try_lock_job(job_lock_key("j2", "t")));
  first->close();
  // The server frees a closed session's locks as it notices the disconnect.
  bool taken = false;
  for (int i = 0; i < 100 && !taken; ++i) {
    taken = second->try_lock_job(key);
    if (!taken) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(taken);
}

}  // namespace
}  // namespace parmap
