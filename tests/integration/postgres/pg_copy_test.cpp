// PostgreSQL end to end: every type on both paths, SQLite both ways, snapshot, resume, quoting.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "parmap/parmap.h"
#include "support/pg_support.h"
#include "support/test_support.h"

namespace parmap {
namespace {

using test::run_parmap;
using test::TempDir;

using test::Pg;
using test::pg_checksum;
using test::PgRows;
using test::url_with;

using test::expect_same_rows;
using test::pg_rows;
using test::sqlite_rows;

/// Every column type the fast and typed paths must carry unchanged.
std::string all_types_ddl(const std::string& table) {
  return "CREATE TABLE " + table +
         " (id int8 PRIMARY KEY, c_int2 int2, c_int4 int4, c_int8 int8, c_float4 float4, "
         "c_float8 float8, c_numeric numeric, c_numeric40 numeric(40,10), c_text text, "
         "c_varchar varchar(20), c_char char(5), c_bool bool, c_date date, c_time time, "
         "c_ts timestamp, c_tstz timestamptz, c_interval interval, c_uuid uuid, c_json json, "
         "c_jsonb jsonb, c_bytea bytea, c_int4_arr int4[], c_text_arr text[])";
}

// Rows 1-6 are the edge cases (timestamps stop at year 200000: parmap's typed path holds
// microseconds since 1970 in 64 bits, which ends in year 292277, short of PostgreSQL's 294276) (row
// 1 is all NULL); the generated rows put a NULL in every column at a different period and span
// dates before 1970 and after 2100.
constexpr const char* kAllTypesRows = R"sql(
INSERT INTO all_types (id) VALUES (1);
INSERT INTO all_types VALUES (2, -32768, -2147483648, -9223372036854775808, '-Infinity',
  '-Infinity', '-123456789012345678901234567890.123456789012345678901234567890',
  ('-' || repeat('9', 30) || '.' || repeat('9', 10))::numeric, '', '', '', false,
  '4713-01-01 BC', '00:00:00', '4713-01-01 00:00:00 BC', '4713-01-01 00:00:00+00 BC',
  '-178000000 years', '00000000-0000-0000-0000-000000000000', '{}', '[]', '\x', '{}', '{}');
INSERT INTO all_types VALUES (3, 32767, 2147483647, 9223372036854775807, 'Infinity',
  'Infinity', 'NaN', (repeat('9', 30) || '.' || repeat('9', 10))::numeric,
  'ünïcødé ✓ 日本語 🚀 Ελληνικά', 'üüüüüüüüüüüüüüüüüüüü', 'abcde', true, '5874897-12-31',
  '24:00:00', '200000-12-31 23:59:59.999999', '200000-12-31 23:59:59.999999+00',
  '178000000 years', 'ffffffff-ffff-ffff-ffff-ffffffffffff',
  '{"quote": "q\"uote", "uni": "ü\u00e9🚀", "n": null, "nums": [1, 2.5e300, -0]}',
  '{"quote": "q\"uote", "uni": "ü\u00e9🚀", "n": null, "nums": [1, 2.5e300, -0]}',
  '\x00ff00', '{NULL,1,-2147483648,2147483647}',
  '{"a \"quoted\" one",NULL,"","NULL","comma, here","back\\slash","{braces}"," space "}');
INSERT INTO all_types VALUES (4, 0, 0, 0, 'NaN', 'NaN', '0.000000000000000000000000000000000001',
  '0.0000000001', E'line1\nline2\ttab\\back ''single'' "double"', ' lead and trail ', 'a',
  NULL, 'infinity', '23:59:59.999999', '-infinity', 'infinity',
  '1 year 2 mons 3 days 04:05:06.789', '123e4567-e89b-12d3-a456-426614174000',
  '  { "keep" :  "spacing" , "dup": 1, "dup": 2 }  ',
  '{"nested": {"a": [1, {"b": null}]}, "e": ""}', '\x0000', '{{1,2},{3,NULL}}',
  '{{"a","b"},{NULL,""}}');
INSERT INTO all_types VALUES (5, -1, -1, -1, '-0', '-0', '1.500000', '-0.0000000001', 'NULL',
  'NULL', ' ', true, '-infinity', '00:00:00.000001', '1969-12-31 23:59:59.999999',
  '1901-12-13 20:45:51.5+00', '-1 days +02:03:04', '00000000-0000-0000-0000-000000000001',
  'null', 'null', '\x00', '[0:1]={1,2}', '{"\\\\",x}');
INSERT INTO all_types VALUES (6, 1, 1, 1, 3.4028235e38, 1.7976931348623157e308,
  '-0.5', '0', '🚀', '🚀', '🚀', false, '0001-01-01', '12:00:00', '0044-03-15 12:00:00 BC',
  '2262-04-11 23:47:16.854775+00', '-1 year -2 mons +3 days -04:05:06.000001',
  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '[1, "two", 3.0]', '[1, "two", 3.0]',
  '\xdeadbeef00', '{-1}', '{""}');
INSERT INTO all_types VALUES (7, 2, 2, 2, 1.4e-45, 5e-324, '-0.000000000000000000000000000001',
  '1234567890.0123456789', 'tab	inside', 'x', 'ab', true, '2100-02-28', '01:02:03.5',
  '2100-01-01 00:00:00.000001', '1969-07-20 20:17:40+00', '0',
  'a0eebc99-9c0b-4ef8-bb6d-000000000000',
  '"just a string"', '"just a string"', '\x', '{NULL}', '{NULL}');
INSERT INTO all_types SELECT 100 + g * 3,
  CASE WHEN g % 11 = 0 THEN NULL ELSE (g * 21 - 32000)::int2 END,
  CASE WHEN g % 13 = 0 THEN NULL ELSE g * 715827 - 1073741824 END,
  CASE WHEN g % 17 = 0 THEN NULL ELSE g::int8 * 3037000493 * (1 - 2 * (g % 2)) END,
  CASE WHEN g % 7 = 0 THEN NULL ELSE ((g - 1500) / 7.0)::float4 END,
  CASE WHEN g % 5 = 0 THEN NULL ELSE (g - 1500)::float8 / 7 * power(10::float8, g % 40 - 20) END,
  CASE WHEN g % 19 = 0 THEN NULL ELSE (g - 1500)::numeric / 7 * 10 ^ (g % 30) END,
  CASE WHEN g % 23 = 0 THEN NULL ELSE ((g - 1500) * 12345678901234567.123456789 / 7)::numeric(40,10)
  END,
  CASE WHEN g % 3 = 0 THEN NULL ELSE repeat(chr(945 + g % 20), g % 40) || ' row ' || g END,
  CASE WHEN g % 4 = 0 THEN NULL ELSE left(md5(g::text) || 'ü', g % 21) END,
  CASE WHEN g % 6 = 0 THEN NULL ELSE left(md5(g::text), g % 6) END,
  CASE WHEN g % 8 = 0 THEN NULL ELSE g % 2 = 0 END,
  CASE WHEN g % 9 = 0 THEN NULL ELSE date '1900-01-01' + g * 23 END,
  CASE WHEN g % 10 = 0 THEN NULL ELSE time '00:00' + g * interval '28.123457 seconds' END,
  CASE WHEN g % 12 = 0 THEN NULL
       ELSE timestamp '1940-01-01' + g * interval '23 days 3 hours 0.000001 seconds' END,
  CASE WHEN g % 14 = 0 THEN NULL
       ELSE timestamptz '1950-06-01 00:00+00' + g * interval '29 days 5 hours 7.25 seconds' END,
  CASE WHEN g % 15 = 0 THEN NULL
       ELSE make_interval(years => g % 5, months => g % 13, days => g % 40 - 20, secs => g * 1.5)
  END,
  CASE WHEN g % 16 = 0 THEN NULL ELSE md5(g::text)::uuid END,
  CASE WHEN g % 18 = 0 THEN NULL
       ELSE json_build_object('g', g, 's', 'ü' || g, 'a', json_build_array(g, NULL, true)) END,
  CASE WHEN g % 20 = 0 THEN NULL ELSE jsonb_build_object('g', g, 'f', g / 3.0, 'n', NULL) END,
  CASE WHEN g % 21 = 0 THEN NULL ELSE decode(md5(g::text) || '00', 'hex') END,
  CASE WHEN g % 22 = 0 THEN NULL ELSE ARRAY[g, NULL, -g] END,
  CASE WHEN g % 24 = 0 THEN NULL ELSE ARRAY['x' || g, NULL, 'quote"' || g, '', 'b\' || g] END
FROM generate_series(1, 3000) g;
ANALYZE all_types;
)sql";

/// A source and a target database of its own for each test, dropped at the end.
class PgCopyTest : public test::PgTwoDatabasesTest {
 protected:
  /// Kills the workers' COPY backends (source and target) of this test's databases again and
  /// again, every 15 ms, until `done` (at most 200 rounds); returns how many. The coordinator's
  /// session holds the exported snapshot and is left alone. Only this test's databases: ctest
  /// runs other tests against the same server.
  int kill_workers_until(const std::atomic<bool>& done) {
    int kills = 0;
    Pg killer(base_);
    for (int round = 0; round < 200 && !done; ++round) {
      kills += std::stoi(killer.scalar(
          "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
          "application_name = 'parmap' AND query LIKE 'COPY%' AND state = 'active' AND "
          "datname IN ('" +
          src_db_ + "', '" + dst_db_ + "')"));
      std::this_thread::sleep_for(std::chrono::milliseconds(15));
    }
    return kills;
  }

  /// `grouped`: chunks of `chunk_size` rows committed in groups, as chunk_size auto does
  /// with its own chunks of 50000.
  static ParallelOptions options(int workers, int64_t chunk_size, bool grouped = false) {
    ParallelOptions o;
    o.config = resolve_config({{"max_workers", std::to_string(workers)},
                               {"chunk_size", std::to_string(chunk_size)},
                               {"min_rows_for_parallel", "10"}},
                              {}, 8);
    o.config.chunk_size_auto = grouped;
    return o;
  }

  /// Runs a job; an exception becomes a test failure with its message and nullopt.
  static std::optional<ParallelResult> run(const std::string& source, const std::string& sql,
                                           const std::string& target, const std::string& schema,
                                           const std::string& table, const ParallelOptions& opts) {
    try {
      return execute_query_parallel(source, sql, target, schema, table, opts);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "execute_query_parallel threw: " << e.what();
      return std::nullopt;
    }
  }

  static void expect_complete(const ParallelResult& r, int64_t rows, int workers) {
    EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
    EXPECT_TRUE(r.parallel) << r.reason;
    EXPECT_EQ(r.total_rows_processed, rows);
    EXPECT_GE(r.chunks_planned, 4) << r.reason;
    EXPECT_EQ(r.chunks_done, r.chunks_planned);
    EXPECT_EQ(r.chunks_skipped, 0);
    EXPECT_EQ(r.workers_used, workers);
  }

};

TEST_F(PgCopyTest, EveryTypeSurvivesTheFastAndTheTypedPath) {
  src_->exec(all_types_ddl("all_types"));
  src_->exec(kAllTypesRows);
  const std::string want = pg_checksum(*src_, "all_types");
  const int64_t rows = std::stoll(src_->scalar("SELECT count(*) FROM all_types"));
  // Every column has NULLs and non-NULLs.
  for (const auto& row : src_->rows("SELECT attname FROM pg_attribute WHERE attrelid = "
                                    "'all_types'::regclass AND attnum > 1")) {
    const std::string col = *row[0];
    EXPECT_NE(src_->scalar("SELECT count(*) FROM all_types WHERE " + col + " IS NULL"), "0");
    EXPECT_NE(src_->scalar("SELECT count(*) FROM all_types WHERE " + col + " IS NOT NULL"), "0");
  }

  struct Path {
    const char* table;
    bool typed;
    bool grouped;
  };
  for (const Path path : {Path{"fast_copy", false, false}, Path{"typed_copy", true, false},
                          Path{"fast_grouped", false, true}, Path{"typed_grouped", true, true}}) {
    SCOPED_TRACE(path.table);
    dst_->exec(all_types_ddl(path.table));
    auto opts = options(path.grouped ? 2 : 4, path.grouped ? 50 : 250, path.grouped);
    if (path.typed) opts.transform = [](Batch&) {};
    const auto r =
        run(src_url(), "SELECT * FROM all_types ORDER BY id", dst_url(), "", path.table, opts);
    if (!r) continue;
    expect_complete(*r, rows, path.grouped ? 2 : 4);
    if (path.grouped) {
      EXPECT_LT(r->commits, r->chunks_done) << "no chunks were grouped";
    }
    EXPECT_EQ(r->partition_column, "id");
    EXPECT_EQ(r->fast_path, !path.typed) << r->path;
    EXPECT_EQ(pg_checksum(*dst_, path.table), want);
    // Spot checks that name the value when the checksum differs.
    for (const char* col : {"c_float8", "c_numeric", "c_ts", "c_tstz", "c_interval", "c_json",
                            "c_bytea", "c_int4_arr", "c_text_arr", "c_time", "c_date"}) {
      const std::string q = std::string("SELECT string_agg(coalesce(") + col +
                            "::text, 'NULL'), ' ; ' ORDER BY id) FROM ";
      EXPECT_EQ(dst_->scalar(q + path.table + " WHERE id < 100"),
                src_->scalar(q + "all_types WHERE id < 100"))
          << col;
    }
  }
}

TEST_F(PgCopyTest, TableWithoutKeySplitsByBlockRanges) {
  src_->exec(
      "CREATE TABLE nokey (a text, b float8); INSERT INTO nokey SELECT md5(i::text), "
      "i / 7.0 FROM generate_series(1, 60000) AS i; ANALYZE nokey");
  dst_->exec("CREATE TABLE nokey (a text, b float8)");
  auto opts = options(3, 5000);
  const auto r = run(src_url(), "SELECT * FROM nokey", dst_url(), "", "nokey", opts);
  ASSERT_TRUE(r);
  expect_complete(*r, 60000, 3);
  EXPECT_EQ(r->partition_column, "ctid") << r->reason;
  EXPECT_TRUE(r->fast_path) << r->path;
  EXPECT_EQ(pg_checksum(*dst_, "nokey"), pg_checksum(*src_, "nokey"));
}

// A table larger than a quarter of shared_buffers is read in one sequential pass (which the
// server reads through a small ring of buffers) and cut into its chunks by block, whatever
// its key; each chunk's ledger hash is the one its own range would have had.
TEST_F(PgCopyTest, ATableLargerThanAQuarterOfTheCacheIsReadInOnePassAndCutIntoItsChunks) {
  const int64_t cache =
      std::stoll(src_->scalar("SELECT pg_size_bytes(current_setting('shared_buffers'))"));
  // About 370 bytes a row on disk: a quarter of the cache and 10,000 rows more.
  const int64_t rows = cache / 4 / 300 + 10000;
  const char* ddl = "(id bigint PRIMARY KEY, pad text, n numeric)";
  // Statistics gone stale: analyzed at a tenth of its rows. The planner sizes the pass's
  // chunks from the rows a page held then (its size over that count would make them ten
  // times too small, and too small for the typed path's buffers to take the pass at all).
  auto fill = [&](const std::string& table, int64_t from, int64_t to) {
    src_->exec("INSERT INTO " + table + " SELECT g, repeat(md5(g::text), 10), g / 7.0 FROM " +
               "generate_series(" + std::to_string(from) + ", " + std::to_string(to) + ") g");
  };
  src_->exec(std::string("CREATE TABLE big ") + ddl + " WITH (autovacuum_enabled = off)");
  fill("big", 1, rows / 10);
  src_->exec("ANALYZE big");
  fill("big", rows / 10 + 1, rows);
  ASSERT_GT(std::stoll(src_->scalar("SELECT pg_relation_size('big')")), cache / 4);
  dst_->exec(std::string("CREATE TABLE big ") + ddl);
  const std::string sql = "SELECT * FROM big ORDER BY id";
  const auto opts = options(2, 10000, /*grouped=*/true);
  const auto r = run(src_url(), sql, dst_url(), "", "big", opts);
  ASSERT_TRUE(r);
  expect_complete(*r, rows, 2);
  EXPECT_EQ(r->partition_column, "ctid") << r->reason;
  EXPECT_NE(r->reason.find("read in one pass"), std::string::npos) << r->reason;
  const std::string planned = std::to_string(r->chunks_planned);
  EXPECT_NE(r->path.find(planned + " of " + planned + " chunk(s) read in one pass"),
            std::string::npos)
      << r->path;
  EXPECT_EQ(pg_checksum(*dst_, "big"), pg_checksum(*src_, "big"));
  for (const bool ledger : {false, true}) {
    const auto v = verify_query_parallel(src_url(), sql, dst_url(), "", "big", opts, ledger);
    EXPECT_TRUE(v.ok()) << (v.differences.empty() ? "" : v.differences.front().problem);
    EXPECT_EQ(v.target_rows, rows);
  }

  // The typed path decodes the pass's rows; chunk_size auto cuts chunks that fit its smaller
  // buffers, and the ledger's value hashes are those of the rows as a range would read them.
  dst_->exec(std::string("CREATE TABLE big4 ") + ddl);
  auto typed = options(2, 10000, /*grouped=*/true);
  typed.transform = [](Batch&) {};
  const auto r4 = run(src_url(), sql, dst_url(), "", "big4", typed);
  ASSERT_TRUE(r4);
  expect_complete(*r4, rows, 2);
  EXPECT_FALSE(r4->fast_path) << r4->path;
  EXPECT_EQ(r4->partition_column, "ctid") << r4->reason;
  EXPECT_NE(r4->reason.find("in the pass's buffer for a writer on the typed path"), std::string::npos)
      << r4->reason;
  EXPECT_GT(r4->chunks_planned, r->chunks_planned) << r4->reason;
  const std::string planned4 = std::to_string(r4->chunks_planned);
  EXPECT_NE(r4->path.find(planned4 + " of " + planned4 + " chunk(s) read in one pass"),
            std::string::npos)
      << r4->path;
  EXPECT_EQ(pg_checksum(*dst_, "big4"), pg_checksum(*src_, "big"));
  const auto v4 = verify_query_parallel(src_url(), sql, dst_url(), "", "big4", typed, true);
  EXPECT_TRUE(v4.ok()) << (v4.differences.empty() ? "" : v4.differences.front().problem);

  // A table never analyzed: its rows' size is sampled from a few of its pages, and its chunks
  // are planned as the analyzed table's are.
  src_->exec(std::string("CREATE TABLE big_new ") + ddl + " WITH (autovacuum_enabled = off)");
  fill("big_new", 1, rows);
  ASSERT_EQ(src_->scalar("SELECT reltuples FROM pg_class WHERE relname = 'big_new'"), "-1");
  auto plan_only = typed;
  plan_only.dry_run = true;
  const auto p = run(src_url(), "SELECT * FROM big_new", dst_url(), "", "big4", plan_only);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->partition_column, "ctid") << p->reason;
  EXPECT_NE(p->reason.find("in the pass's buffer for a writer on the typed path"),
            std::string::npos)
      << p->reason;
  EXPECT_GT(p->chunks_planned, r4->chunks_planned / 2) << p->reason;
  EXPECT_LT(p->chunks_planned, r4->chunks_planned * 2) << p->reason;

  // Chunks larger than the pass holds are not kept: each worker reads its own. (Left to
  // itself, the planner keeps the key of a table whose chunks would not fit.)
  dst_->exec(std::string("CREATE TABLE big2 ") + ddl);
  auto small = options(2, 10000);
  small.config.max_batch_bytes = 1 << 20;
  small.partition_column = "ctid";
  const auto r2 = run(src_url(), sql, dst_url(), "", "big2", small);
  ASSERT_TRUE(r2);
  expect_complete(*r2, rows, 2);
  EXPECT_NE(r2->path.find("larger than the pass holds for a writer"),
            std::string::npos)
      << r2->path;
  // Two such chunks in a row end the pass: the server does not read the table twice.
  EXPECT_NE(r2->path.find("the pass ended early: two chunks in a row were larger"),
            std::string::npos)
      << r2->path;
  EXPECT_EQ(pg_checksum(*dst_, "big2"), pg_checksum(*src_, "big"));

  // partition_column still decides.
  dst_->exec(std::string("CREATE TABLE big3 ") + ddl);
  auto by_key = options(2, 10000);
  by_key.partition_column = "id";
  const auto r3 = run(src_url(), sql, dst_url(), "", "big3", by_key);
  ASSERT_TRUE(r3);
  expect_complete(*r3, rows, 2);
  EXPECT_EQ(r3->partition_column, "id") << r3->reason;
  EXPECT_EQ(r3->path.find("one pass"), std::string::npos) << r3->path;
  EXPECT_EQ(pg_checksum(*dst_, "big3"), pg_checksum(*src_, "big"));
}

// The one pass's session killed while it reads: the chunks it had not handed over are read
// by their workers, range by range, and the copy is still exact.
TEST_F(PgCopyTest, WhenTheOnePassIsCutOffTheWorkersReadTheirOwnChunks) {
  // 20 MB of rows, more than the sockets' buffers hold (with those, the server may have sent
  // a smaller table whole before the kill, and the pass end unharmed), in 20 chunks.
  constexpr int64_t kRows = 400000;
  src_->exec(
      "CREATE TABLE cut (a text, b int); INSERT INTO cut SELECT md5(i::text), i "
      "FROM generate_series(1, " + std::to_string(kRows) + ") AS i; ANALYZE cut");
  // Each COPY into the target waits a little, so that the pass is still reading when killed
  // (it holds at most four chunks until the workers take them).
  dst_->exec(
      "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN PERFORM "
      "pg_sleep(0.15); RETURN NULL; END$$");
  // The fast path passes the pass's bytes through; the typed path (a transformation) decodes
  // them (a chunk of about 1 MB fits its buffers, a sixteenth of max_batch_bytes).
  for (const bool typed : {false, true}) {
    SCOPED_TRACE(typed ? "typed path" : "fast path");
    const std::string table = typed ? "cut_typed" : "cut";
    dst_->exec("CREATE TABLE " + table + " (a text, b int); CREATE TRIGGER slow BEFORE INSERT ON " +
               table + " FOR EACH STATEMENT EXECUTE FUNCTION slow()");
    auto opts = options(2, kRows / 20);
    if (typed) opts.transform = [](Batch&) {};
    std::atomic<bool> done{false};
    int killed = 0;
    std::thread killer([&] {
      Pg admin(base_);
      for (int round = 0; round < 400 && !done && killed == 0; ++round) {
        killed += std::stoi(admin.scalar(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE "
            "'COPY (SELECT ctid, %' AND datname = '" +
            src_db_ + "'"));
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    });
    const auto r = run(src_url(), "SELECT * FROM cut", dst_url(), "", table, opts);
    done = true;
    killer.join();
    ASSERT_TRUE(r);
    expect_complete(*r, kRows, 2);
    EXPECT_EQ(r->fast_path, !typed) << r->path;
    EXPECT_EQ(r->partition_column, "ctid") << r->reason;
    ASSERT_EQ(killed, 1) << "the pass was not found reading: " << r->path;
    // Killed while the pass reads, or, rarely, while its COPY was starting.
    EXPECT_TRUE(r->path.find("the pass ended early") != std::string::npos ||
                r->path.find("not read in one pass") != std::string::npos)
        << r->path;
    EXPECT_EQ(pg_checksum(*dst_, table), pg_checksum(*src_, "cut"));
  }
}

TEST_F(PgCopyTest, AQueryAsTypedAtAPromptIsSplitByItsKey) {
  // A CTE, a trailing semicolon and white space, and a trailing `--` comment: parmap wraps the
  // query in its own SQL, which none of them may break.
  src_->exec(
      "CREATE TABLE typed (id int PRIMARY KEY, s text); INSERT INTO typed SELECT i, 'r' || i "
      "FROM generate_series(1, 30000) AS i; ANALYZE typed");
  const std::string cte = "WITH a AS (SELECT * FROM typed WHERE id % 3 <> 0) SELECT * FROM a";
  int n = 0;
  for (const std::string& query :
       {cte + " ORDER BY id;\n  ", cte + " ORDER BY id -- the nightly cut", cte + " ORDER BY id ;;"}) {
    const std::string table = "typed" + std::to_string(++n);
    dst_->exec("CREATE TABLE " + table + " (id int PRIMARY KEY, s text)");
    const auto r = run(src_url(), query, dst_url(), "", table, options(2, 2000));
    ASSERT_TRUE(r) << query;
    expect_complete(*r, 20000, 2);
    EXPECT_EQ(r->partition_column, "id") << query << ": " << r->reason;
    EXPECT_EQ(pg_checksum(*dst_, table),
              pg_checksum(*src_, "(SELECT * FROM typed WHERE id % 3 <> 0)"))
        << query;
  }
  // ORDER BY a position: that column of the query is the key.
  dst_->exec("CREATE TABLE typed_pos (s text, id int PRIMARY KEY)");
  const auto r = run(src_url(), "SELECT s, id FROM typed WHERE id % 3 <> 0 ORDER BY 2", dst_url(),
                     "", "typed_pos", options(2, 2000));
  ASSERT_TRUE(r);
  expect_complete(*r, 20000, 2);
  EXPECT_EQ(r->partition_column, "id") << r->reason;
  EXPECT_EQ(pg_checksum(*dst_, "(SELECT id, s FROM typed_pos)"),
            pg_checksum(*src_, "(SELECT * FROM typed WHERE id % 3 <> 0)"));
}

TEST_F(PgCopyTest, KeyFilterThatCannotReachTheScanStreamsOnce) {
  // The view hides its window function from the text check; only EXPLAIN shows that a
  // filter on rn stays above the window, so every chunk would number the whole table.
  src_->exec(
      "CREATE TABLE w (id int PRIMARY KEY, g int); INSERT INTO w SELECT i, i % 10 "
      "FROM generate_series(1, 20000) AS i; ANALYZE w;"
      "CREATE VIEW v AS SELECT row_number() OVER (ORDER BY id) AS rn, id, g FROM w");
  dst_->exec("CREATE TABLE v2 (rn bigint, id int, g int)");
  const auto r =
      run(src_url(), "SELECT * FROM v ORDER BY rn", dst_url(), "", "v2", options(3, 1000));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok());
  EXPECT_TRUE(r->partition_column.empty()) << r->reason;
  EXPECT_EQ(r->chunks_planned, 1);
  EXPECT_NE(r->reason.find("rn"), std::string::npos) << r->reason;
  EXPECT_EQ(r->total_rows_processed, 20000);
  EXPECT_EQ(pg_checksum(*dst_, "v2"), pg_checksum(*src_, "v"));
}

TEST_F(PgCopyTest, RefusedRowsAreIsolatedAndTheGoodRowsCommit) {
  src_->exec(
      "CREATE TABLE r (id int PRIMARY KEY, v int, s text); INSERT INTO r SELECT i, "
      "i % 50, CASE WHEN i % 97 = 0 THEN NULL ELSE 'ok' END FROM generate_series(1, "
      "30000) AS i; ANALYZE r");
  dst_->exec("CREATE TABLE r (id int, v int CHECK (v < 48), s text NOT NULL)");
  const std::string bad = "v >= 48 OR s IS NULL";
  const int64_t bad_rows = std::stoll(src_->scalar("SELECT count(*) FROM r WHERE " + bad));
  TempDir dir;
  // A refused row fails its whole group, whose chunks are then copied one by one (the
  // fallback is the same on both paths).
  struct Case {
    bool fast, grouped;
  };
  for (const Case c : {Case{true, false}, Case{false, false}, Case{true, true}}) {
    const bool fast = c.fast, grouped = c.grouped;
    SCOPED_TRACE(fast ? "fast path" : "typed path");
    SCOPED_TRACE(grouped ? "grouped commits" : "a commit per chunk");
    dst_->exec("TRUNCATE r; DROP TABLE IF EXISTS parmap_ledger, parmap_jobs");
    auto opts = options(2, 2000, grouped);
    opts.config.max_rejects = bad_rows;
    opts.reject_file = dir.file(std::string(fast ? "fast" : "typed") + (grouped ? "-g" : "") +
                                ".jsonl");
    if (!fast) opts.transform = [](Batch&) {};
    const auto r = run(src_url(), "SELECT * FROM r ORDER BY id", dst_url(), "", "r", opts);
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->ok()) << (r->errors.empty() ? "" : r->errors[0]);
    EXPECT_EQ(r->rows_rejected, bad_rows);
    EXPECT_EQ(pg_checksum(*dst_, "r"),
              pg_checksum(*src_, "(SELECT * FROM r WHERE NOT (" + bad + "))"));
  }
}

TEST_F(PgCopyTest, ATargetThatDropsRowsAsTheyAreWrittenFailsTheChunk) {
  // A trigger that skips rows (RETURN NULL) makes COPY take fewer rows than it was sent: the
  // chunk must not commit as complete, on either path, grouped or not, nor in reject isolation.
  src_->exec("CREATE TABLE dr (id int PRIMARY KEY, v text); INSERT INTO dr SELECT i, 'v' || i "
             "FROM generate_series(1, 8000) AS i; ANALYZE dr");
  dst_->exec(
      "CREATE TABLE dr (id int, v text); CREATE FUNCTION skip_tens() RETURNS trigger LANGUAGE "
      "plpgsql AS $$ BEGIN IF NEW.id % 10 = 0 THEN RETURN NULL; END IF; RETURN NEW; END $$; "
      "CREATE TRIGGER dr_skip BEFORE INSERT ON dr FOR EACH ROW EXECUTE FUNCTION skip_tens()");
  struct Case {
    bool fast, grouped;
    int64_t max_rejects;
  };
  for (const Case c : {Case{true, false, 0}, Case{false, false, 0}, Case{true, true, 0},
                       Case{false, true, 0}, Case{false, false, 100}}) {
    SCOPED_TRACE(c.fast ? "fast path" : "typed path");
    SCOPED_TRACE(c.grouped ? "grouped commits" : "a commit per chunk");
    SCOPED_TRACE(c.max_rejects > 0 ? "max_rejects 100" : "max_rejects 0");
    dst_->exec("TRUNCATE dr; DROP TABLE IF EXISTS parmap_ledger, parmap_jobs, parmap_runs");
    auto opts = options(2, 2000, c.grouped);
    opts.config.max_rejects = c.max_rejects;
    if (!c.fast) opts.transform = [](Batch&) {};
    const auto r = run(src_url(), "SELECT * FROM dr ORDER BY id", dst_url(), "", "dr", opts);
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->ok());
    EXPECT_EQ(r->chunks_done, 0);
    ASSERT_FALSE(r->errors.empty());
    EXPECT_NE(r->errors.front().find("took 1800 of the 2000 rows sent (200 missing)"),
              std::string::npos)
        << r->errors.front();
    EXPECT_EQ(dst_->scalar("SELECT count(*) FROM dr"), "0");
  }
}

TEST_F(PgCopyTest, ColumnsTheTargetGeneratesAreLeftOutOfTheCopy) {
  // A table copied into its clone: COPY may not write a generated column, so it is left out
  // of every chunk's rows and the target computes it (here by its own expression).
  src_->exec("CREATE TABLE gc (id int PRIMARY KEY, a int, b int GENERATED ALWAYS AS (a * 2) "
             "STORED, c text); INSERT INTO gc (id, a, c) SELECT i, i % 97, md5(i::text) FROM "
             "generate_series(1, 20000) AS i; ANALYZE gc");
  dst_->exec("CREATE TABLE gc_fast (id int PRIMARY KEY, a int, b int GENERATED ALWAYS AS (a * "
             "2) STORED, c text); "
             "CREATE TABLE gc_typed (id int, a int8, b int8 GENERATED ALWAYS AS (a * 3) STORED, "
             "c text)");
  const std::string want = src_->scalar(
      "SELECT md5(string_agg(id || ',' || a || ',' || c, ';' ORDER BY id)) FROM gc");
  for (const std::string table : {"gc_fast", "gc_typed"}) {
    SCOPED_TRACE(table);
    const auto r = run(src_url(), "SELECT * FROM gc", dst_url(), "", table, options(2, 3000));
    ASSERT_TRUE(r);
    ASSERT_TRUE(r->complete()) << (r->errors.empty() ? "" : r->errors[0]);
    EXPECT_EQ(r->fast_path, table == "gc_fast") << r->path;
    EXPECT_NE(r->path.find("column(s) b not copied: " + table + " generates them"),
              std::string::npos)
        << r->path;
    EXPECT_EQ(dst_->scalar("SELECT md5(string_agg(id || ',' || a || ',' || c, ';' ORDER BY id)) "
                           "FROM " + table),
              want);
    EXPECT_EQ(dst_->scalar("SELECT count(*) FROM " + table + " WHERE b = a * " +
                           (table == "gc_fast" ? "2" : "3")),
              "20000");
    const VerifyResult checked =
        verify_query_parallel(src_url(), "SELECT * FROM gc", dst_url(), "", table, options(2, 3000));
    EXPECT_TRUE(checked.ok()) << checked.differences.size() << " ranges differ";
  }
  // A column mapping that writes the generated column is refused before anything is written.
  auto opts = options(2, 3000);
  opts.transform = [](Batch&) {};
  dst_->exec("TRUNCATE gc_fast");
  try {
    execute_query_parallel(src_url(), "SELECT * FROM gc", dst_url(), "", "gc_fast", opts);
    ADD_FAILURE() << "a mapping that writes a generated column ran";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Schema);
    EXPECT_NE(std::string(e.what()).find("generates column(s) b itself"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(dst_->scalar("SELECT count(*) FROM gc_fast"), "0");
}

TEST_F(PgCopyTest, WorkerConnectionsKilledMidRunAreRetriedWithNothingLost) {
  const int64_t n = std::min<int64_t>(400000, test::test_rows());
  src_->exec(
      "CREATE TABLE k (id int8 PRIMARY KEY, v int8, s text); INSERT INTO k SELECT g, "
      "g * 3, 'row ' || g FROM generate_series(1, " +
      std::to_string(n) + ") g; ANALYZE k");
  // No unique key on the target: a chunk loaded twice would show in the count.
  dst_->exec("CREATE TABLE k (id int8, v int8, s text)");
  const std::string want = pg_checksum(*src_, "k");
  for (const bool grouped : {false, true})
  for (const bool typed : {false, true}) {
    SCOPED_TRACE(typed ? "typed path" : "fast path");
    SCOPED_TRACE(grouped ? "grouped commits" : "a commit per chunk");
    dst_->exec("TRUNCATE k; DROP TABLE IF EXISTS parmap_ledger, parmap_jobs");
    auto opts = options(4, std::max<int64_t>(200, n / 80), grouped);
    opts.config.retry_backoff_ms = 20;
    opts.config.max_retries = 10;
    if (typed) opts.transform = [](Batch&) {};
    std::atomic<bool> done{false};
    std::optional<ParallelResult> result;
    std::thread copy([&] {
      result = run(src_url(), "SELECT * FROM k ORDER BY id", dst_url(), "", "k", opts);
      done = true;
    });
    const int kills = kill_workers_until(done);
    copy.join();
    ASSERT_TRUE(result);
    EXPECT_TRUE(result->ok()) << (result->errors.empty() ? "" : result->errors[0]);
    EXPECT_GT(kills, 0) << "no backend was killed: the copy was too quick";
    EXPECT_GT(result->retries, 0);
    EXPECT_EQ(result->total_rows_processed, n);
    EXPECT_EQ(pg_checksum(*dst_, "k"), want) << kills << " backends killed";
  }

  // verify reads every range on both sides: killed reads are retried too, and it still finds
  // the target equal to the source.
  auto opts = options(4, std::max<int64_t>(200, n / 80));
  opts.config.retry_backoff_ms = 20;
  opts.config.max_retries = 10;
  std::atomic<bool> done{false};
  std::optional<VerifyResult> checked;
  std::thread verify([&] {
    try {
      checked = verify_query_parallel(src_url(), "SELECT * FROM k ORDER BY id", dst_url(), "",
                                      "k", opts);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "verify threw: " << e.what();
    }
    done = true;
  });
  const int kills = kill_workers_until(done);
  verify.join();
  ASSERT_TRUE(checked);
  EXPECT_TRUE(checked->ok()) << checked->differences.size() << " ranges differ";
  EXPECT_EQ(checked->expected_rows, n);
  EXPECT_EQ(checked->target_rows, n);
  EXPECT_GT(kills, 0) << "no backend was killed: the verify was too quick";
  EXPECT_GT(checked->retries, 0) << kills << " backends killed";
}

TEST_F(PgCopyTest, GroupedChunksCommitTogetherWithALedgerRowEach) {
  src_->exec(
      "CREATE TABLE g (id int8 PRIMARY KEY, v int8, s text); INSERT INTO g SELECT i, i * 7, "
      "repeat('x', i % 40) FROM generate_series(1, 60000) AS i; ANALYZE g");
  const std::string want = pg_checksum(*src_, "g");
  for (const bool typed : {false, true}) {
    SCOPED_TRACE(typed ? "typed path" : "fast path");
    const std::string table = typed ? "g_typed" : "g_fast";
    // No unique key on the target: a chunk loaded twice would show in the count.
    dst_->exec("CREATE TABLE " + table + " (id int8, v int8, s text)");
    auto opts = options(2, 1000, true);
    if (typed) opts.transform = [](Batch&) {};
    // Each chunk of a group still has its own chunk_done; a worker copying a group is one
    // busy worker.
    std::atomic<int64_t> done_rows{0}, done_events{0};
    std::atomic<int> most_busy{0};
    opts.on_progress = [&](const ProgressEvent& ev) {
      if (ev.kind == ProgressKind::ChunkDone) {
        done_rows += ev.chunk_rows;
        ++done_events;
      }
      int seen = most_busy.load();
      while (ev.workers_busy > seen && !most_busy.compare_exchange_weak(seen, ev.workers_busy)) {
      }
    };
    const auto r = run(src_url(), "SELECT * FROM g ORDER BY id", dst_url(), "", table, opts);
    ASSERT_TRUE(r);
    expect_complete(*r, 60000, 2);
    EXPECT_EQ(done_rows, 60000);
    EXPECT_EQ(done_events, 60);
    EXPECT_LE(most_busy, 2);
    EXPECT_EQ(r->chunks_planned, 60);
    EXPECT_LT(r->commits, 30) << r->commit_groups;
    EXPECT_NE(r->commit_groups.find("chunk_size auto"), std::string::npos) << r->commit_groups;
    EXPECT_EQ(pg_checksum(*dst_, table), want);
    // Each chunk has its own ledger row with its own rows, so that a rerun or verify sees
    // chunks, not groups.
    EXPECT_EQ(dst_->scalar("SELECT count(*) || ' ' || sum(rows_written) || ' ' || "
                           "count(DISTINCT chunk_id) FROM parmap_ledger WHERE job_id = '" +
                           r->job_id + "'"),
              "60 60000 60");
    EXPECT_LE(std::stoll(dst_->scalar("SELECT max(rows_written) FROM parmap_ledger WHERE "
                                      "job_id = '" + r->job_id + "'")),
              2000);
    const VerifyResult v = verify_query_parallel(src_url(), "SELECT * FROM g ORDER BY id",
                                                 dst_url(), "", table, opts);
    EXPECT_TRUE(v.ok()) << v.differences.size() << " ranges differ";
    EXPECT_EQ(v.target_rows, 60000);
  }
}

TEST_F(PgCopyTest, AutoWorkersStartWithOneAndSayWhereTheyStopped) {
  src_->exec(
      "CREATE TABLE aw (id int8 PRIMARY KEY, v int8, s text); INSERT INTO aw SELECT i, i * 7, "
      "repeat('y', i % 60) FROM generate_series(1, 200000) AS i; ANALYZE aw");
  dst_->exec("CREATE TABLE aw (id int8, v int8, s text)");
  ParallelOptions opts;
  opts.config = resolve_config(
      {{"max_workers", "auto"}, {"chunk_size", "500"}, {"min_rows_for_parallel", "10"}}, {}, 2);
  EXPECT_TRUE(opts.config.max_workers_auto);
  EXPECT_EQ(opts.config.max_workers, kAutoWorkersCeiling);
  // parmap's sessions on the source, sampled while the job runs.
  std::atomic<bool> done{false};
  std::atomic<int> most_sessions{0};
  std::thread sampler([&] {
    Pg watch(base_);
    const std::string count =
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'parmap' AND datname = '" +
        src_db_ + "'";
    while (!done) {
      const int n = std::stoi(watch.scalar(count));
      if (n > most_sessions) most_sessions = n;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  const auto r = run(src_url(), "SELECT * FROM aw ORDER BY id", dst_url(), "", "aw", opts);
  done = true;
  sampler.join();
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok()) << (r->errors.empty() ? "" : r->errors.front());
  EXPECT_EQ(r->total_rows_processed, 200000);
  EXPECT_EQ(r->chunks_done, r->chunks_planned);
  EXPECT_EQ(pg_checksum(*dst_, "aw"), pg_checksum(*src_, "aw"));
  // 400 chunks of 500 rows: enough groups to measure one worker against two at least.
  EXPECT_GE(r->workers_used, 2) << r->workers_decision;
  EXPECT_LE(r->workers_used, kAutoWorkersCeiling);
  EXPECT_NE(r->workers_decision.find("max_workers auto: "), std::string::npos)
      << r->workers_decision;
  EXPECT_EQ(dst_->scalar("SELECT count(*) FROM parmap_ledger"), std::to_string(r->chunks_done));
  // At most the workers it used held source sessions at once, beside the coordinator's, which
  // holds the exported snapshot.
  EXPECT_GE(most_sessions, 2);
  EXPECT_LE(most_sessions, r->workers_used + 1) << r->workers_decision;
}

TEST_F(PgCopyTest, PostgresToSqliteAndBack) {
  TempDir dir;
  const std::string lite = dir.file("lite.db");
  // PostgreSQL -> SQLite: integers, doubles, text, bytes, NULLs, and a date that lands as text.
  src_->exec(R"sql(
    CREATE TABLE mix (id int8 PRIMARY KEY, n int8, r float8, s text, b bytea, d date);
    INSERT INTO mix VALUES (1, NULL, NULL, NULL, NULL, NULL),
      (2, -9223372036854775808, -1.7976931348623157e308, '', '\x', '1969-07-20'),
      (3, 9223372036854775807, 5e-324, 'ünïcødé ✓ 🚀', '\x00ff0000', '2100-12-31'),
      (4, 0, 'Infinity', E'line\nbreak ''q'' "dq" \\', '\x00', '0001-01-01'),
      (5, -1, '-Infinity', 'NULL', '\xffffffff', '2262-04-11');
    INSERT INTO mix SELECT 10 + g * 2,
      CASE WHEN g % 7 = 0 THEN NULL ELSE g::int8 * 3037000493 * (1 - 2 * (g % 2)) END,
      CASE WHEN g % 5 = 0 THEN NULL ELSE (g - 1500)::float8 / 7 * power(10::float8, g % 40 - 20)
      END,
      CASE WHEN g % 3 = 0 THEN NULL ELSE repeat(chr(945 + g % 20), g % 30) || ' ' || g END,
      CASE WHEN g % 11 = 0 THEN NULL ELSE decode(repeat('00', g % 3) || md5(g::text), 'hex') END,
      CASE WHEN g % 13 = 0 THEN NULL ELSE date '1900-01-01' + g * 23 END
    FROM generate_series(1, 3000) g;
    ANALYZE mix;
  )sql");
  test::sqlite_exec(lite,
                    "CREATE TABLE mix (id INTEGER, n INTEGER, r REAL, s TEXT, b BLOB, d TEXT)");
  const int64_t rows = std::stoll(src_->scalar("SELECT count(*) FROM mix"));
  auto r = run(src_url(), "SELECT * FROM mix ORDER BY id", "sqlite://" + lite, "", "mix",
               options(4, 300));
  ASSERT_TRUE(r);
  expect_complete(*r, rows, 4);
  const char* pg_read = "SELECT id, n, r, s, encode(b, 'hex'), d::text FROM ";
  expect_same_rows(pg_rows(*src_, std::string(pg_read) + "mix", "iirtbt"),
                   sqlite_rows(lite, "SELECT id, n, r, s, b, d FROM mix"));

  // SQLite -> PostgreSQL: the same kinds, dates kept as text in a text column.
  test::sqlite_exec(
      lite,
      "CREATE TABLE back (id INTEGER PRIMARY KEY, n INTEGER, r REAL, s TEXT, b BLOB, d TEXT);"
      "INSERT INTO back VALUES (1, NULL, NULL, NULL, NULL, NULL),"
      "  (2, -9223372036854775808, -1.7976931348623157e308, '', x'', '1969-07-20'),"
      "  (3, 9223372036854775807, 4.9406564584124654e-324, 'ünïcødé ✓ 🚀', x'00ff0000',"
      "   '2100-12-31 23:59:59'),"
      "  (4, 0, 9e999, 'line' || char(10) || 'break ''q'' \"dq\" \\', x'00', '0001-01-01');"
      "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < 3000)"
      " INSERT INTO back SELECT 10 + i * 2,"
      "  CASE WHEN i % 7 = 0 THEN NULL ELSE i * 3037000493 * (1 - 2 * (i % 2)) END,"
      "  CASE WHEN i % 5 = 0 THEN NULL ELSE (i - 1500) / 7.0 * (i % 40 + 1) * 1e-3 END,"
      "  CASE WHEN i % 3 = 0 THEN NULL ELSE printf('text %d %s', i, substr('αβγ ✓ ü', 1, i % 8))"
      "  END,"
      "  CASE WHEN i % 11 = 0 THEN NULL WHEN i % 3 = 0 THEN x'00ff0000' WHEN i % 3 = 1 THEN x''"
      "       ELSE randomblob(8 + i % 24) END,"
      "  CASE WHEN i % 13 = 0 THEN NULL ELSE date('1969-12-01', printf('+%d days', i * 17)) END"
      " FROM seq;");
  dst_->exec("CREATE TABLE back (id int8, n int8, r float8, s text, b bytea, d text)");
  const int64_t back_rows = std::stoll(test::sqlite_scalar(lite, "SELECT count(*) FROM back"));
  r = run("sqlite://" + lite, "SELECT * FROM back ORDER BY id", dst_url(), "", "back",
          options(4, 300));
  ASSERT_TRUE(r);
  expect_complete(*r, back_rows, 4);
  expect_same_rows(sqlite_rows(lite, "SELECT id, n, r, s, b, d FROM back"),
                   pg_rows(*dst_, std::string(pg_read) + "back", "iirtbt"));
}

TEST_F(PgCopyTest, SqliteTextUuidsGoIntoAUuidColumnInEveryInputFormAndABadOneIsRefused) {
  // A SQLite TEXT column of uuids into a PostgreSQL uuid column is encoded as binary COPY:
  // every form the server's uuid input reads must arrive as that uuid, and text that is not a
  // uuid must be a refused row, as the server would refuse it.
  TempDir dir;
  const std::string lite = dir.file("uuids.db");
  test::sqlite_exec(lite,
                    "CREATE TABLE u (id INTEGER PRIMARY KEY, uid TEXT);"
                    "INSERT INTO u VALUES (1, 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'),"
                    " (2, '{a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11}'), (3, NULL),"
                    " (4, 'a0eebc999c0b4ef8bb6d6bb9bd380a11'), (5, 'a0eebc99-9c0b-4ef8-bb6d'),"
                    " (6, ' a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');"
                    "WITH RECURSIVE s(i) AS (SELECT 10 UNION ALL SELECT i + 1 FROM s WHERE i < 4000)"
                    " INSERT INTO u SELECT i, printf('%08x-0000-4000-8000-%012x', i, i * 7) FROM s");
  dst_->exec("CREATE TABLE u (id int8, uid uuid)");
  auto opts = options(2, 1000);
  opts.config.max_rejects = 2;
  opts.reject_file = dir.file("u.rejects.jsonl");
  const auto r = run("sqlite://" + lite, "SELECT * FROM u ORDER BY id", dst_url(), "", "u", opts);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok()) << (r->errors.empty() ? "" : r->errors[0]);
  EXPECT_EQ(r->rows_rejected, 2);
  EXPECT_EQ(dst_->scalar("SELECT string_agg(id || '=' || coalesce(uid::text, 'null'), ' ' ORDER "
                         "BY id) FROM u WHERE id < 10"),
            "1=a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11 2=a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11 "
            "3=null 4=a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  EXPECT_EQ(dst_->scalar("SELECT count(*) FROM u WHERE id >= 10 AND uid = format('%s-0000-4000-"
                         "8000-%s', lpad(to_hex(id), 8, '0'), lpad(to_hex(id * 7), 12, '0'))::uuid"),
            "3991");
  const std::string text = test::read_file(dir.file("u.rejects.jsonl"));
  EXPECT_NE(text.find("'a0eebc99-9c0b-4ef8-bb6d' is not a uuid"), std::string::npos) << text;
}

TEST_F(PgCopyTest, ParallelCopyReadsOneSnapshotWhileTheSourceChanges) {
  const int64_t n = std::min<int64_t>(500000, test::test_rows());
  const std::string ns = std::to_string(n);
  src_->exec(
      "CREATE TABLE snap (id int8 PRIMARY KEY, v int8 NOT NULL, s text);"
      "INSERT INTO snap SELECT g, g * 7, 'row ' || g FROM generate_series(1, " +
      ns + ") g; ANALYZE snap;");
  dst_->exec("CREATE TABLE snap_copy (id int8, v int8 NOT NULL, s text)");
  const std::string before = pg_checksum(*src_, "snap");

  auto opts = options(4, std::max<int64_t>(500, n / 100));
  std::atomic<bool> first_chunk{false}, copy_done{false};
  opts.on_progress = [&first_chunk](const ProgressEvent& ev) {
    if (ev.kind == ProgressKind::ChunkDone) first_chunk = true;
  };
  ParallelResult result;
  std::string error;
  std::thread copy([&] {
    try {
      result = execute_query_parallel(src_url(), "SELECT * FROM snap ORDER BY id", dst_url(), "",
                                      "snap_copy", opts);
    } catch (const std::exception& e) {
      error = e.what();
    }
    copy_done = true;
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (!first_chunk && !copy_done && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  // Committed changes of every kind while chunks are still being read: updates, deletes,
  // inserts past the end, and keys moved from early chunks into the last one.
  int during_copy = 0;
  try {
    Pg writer(src_url());
    const std::vector<std::string> changes{
        "UPDATE snap SET v = -v WHERE id % 100 = 0",
        "DELETE FROM snap WHERE id % 97 = 0",
        "INSERT INTO snap SELECT g, g, 'added' FROM generate_series(" + ns + " + 1, " + ns +
            " + 5000) g",
        "UPDATE snap SET id = id + 2 * " + ns + " WHERE id % 1009 = 1",
        "UPDATE snap SET s = NULL WHERE id > " + ns + " / 2 AND id % 3 = 0",
        "DELETE FROM snap WHERE id > " + ns + " - 1000 AND id <= " + ns,
    };
    for (const std::string& change : changes) {
      writer.exec("BEGIN; " + change + "; COMMIT");
      if (!copy_done) ++during_copy;
    }
    // Keep changing single rows across the key range until the copy ends.
    for (int64_t i = 0; !copy_done && i < 100000; ++i) {
      const std::string id = std::to_string(1 + (i * 7919) % n);
      writer.exec("UPDATE snap SET v = v + 1, s = 'changed' WHERE id = " + id);
      if (!copy_done) ++during_copy;
    }
  } catch (const std::exception& e) {
    ADD_FAILURE() << "changing the source: " << e.what();
  }
  copy.join();
  ASSERT_TRUE(error.empty()) << error;
  EXPECT_GE(during_copy, 1) << "the copy ended before the source changed";
  EXPECT_NE(pg_checksum(*src_, "snap"), before) << "the changes changed nothing";
  expect_complete(result, n, 4);
  EXPECT_EQ(pg_checksum(*dst_, "snap_copy"), before) << result.snapshot;
}

TEST_F(PgCopyTest, KilledCliRunsResumeToExactlyTheSourceRows) {
  const int64_t n = test::test_rows();
  src_->exec(
      "CREATE TABLE big (id int8 PRIMARY KEY, grp int4, amount float8, label text, note text, "
      "day date, payload bytea);"
      "INSERT INTO big SELECT g * 3, g % 201 - 100, (g::int8 * 7919 % 100003) / 7.0, "
      "'label-' || g || repeat('ü', g % 17), "
      "CASE WHEN g % 7 = 0 THEN NULL ELSE 'note ' || g % 1000 END, "
      "date '1969-12-01' + g % 40000, CASE WHEN g % 11 = 0 THEN NULL ELSE "
      "decode(md5(g::text) || '00', 'hex') END FROM generate_series(1, " +
      std::to_string(n) + ") g; ANALYZE big;");
  // No unique key on the target, so a duplicated chunk could not hide.
  dst_->exec(
      "CREATE TABLE big_copy (id int8, grp int4, amount float8, label text, note text, "
      "day date, payload bytea)");
  const std::string want = pg_checksum(*src_, "big");
  const std::string chunk = std::to_string(std::max<int64_t>(100, n / 50));
  const std::vector<std::string> args{"run",
                                      "--source",
                                      src_url(),
                                      "--target",
                                      dst_url(),
                                      "--query",
                                      "SELECT * FROM big ORDER BY id",
                                      "--target-table",
                                      "big_copy",
                                      "--workers",
                                      "2",
                                      "--chunk-size",
                                      chunk,
                                      "--min-rows-for-parallel",
                                      "1000",
                                      "-q"};
  Pg poll(dst_url());
  auto committed = [&poll] {
    if (poll.scalar("SELECT to_regclass('parmap_ledger') IS NOT NULL") != "t") return int64_t{0};
    return static_cast<int64_t>(std::stoll(poll.scalar("SELECT count(*) FROM parmap_ledger")));
  };
  int killed = 0;
  bool finished = false;
  for (int64_t at : {1, 5, 12, 20}) {
    const auto r = run_parmap(args, {}, [&] { return committed() >= at; });
    if (r.signal == SIGKILL) ++killed;
    if (r.signal != SIGKILL) {
      EXPECT_EQ(r.exit_code, 0) << r.err;
      finished = finished || r.exit_code == 0;
    }
    if (poll.scalar("SELECT to_regclass('parmap_ledger') IS NOT NULL") == "t") {
      // One statement, one snapshot: the killed client's last commit may still land.
      const auto both = dst_->rows(
          "SELECT (SELECT count(*) FROM big_copy), "
          "(SELECT coalesce(sum(rows_written), 0) FROM parmap_ledger)");
      EXPECT_EQ(both.at(0).at(0), both.at(0).at(1)) << "table rows vs ledger rows";
    }
  }
  EXPECT_GE(killed, 3) << "the job finished before the kills";
  if (!finished) {
    const auto done = run_parmap(args);
    ASSERT_EQ(done.exit_code, 0) << done.err;
    EXPECT_NE(done.out.find("(resumed run 1)"), std::string::npos) << done.out;
  }
  EXPECT_EQ(pg_checksum(*dst_, "big_copy"), want);
  // The job finished: the same command is its next run, which appends the rows once more.
  const auto again = run_parmap(args);
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("(new run 2)"), std::string::npos) << again.out;
  EXPECT_EQ(dst_->scalar("SELECT count(*) FROM big_copy"), std::to_string(2 * n));
  EXPECT_EQ(pg_checksum(*dst_, "(SELECT DISTINCT * FROM big_copy)"), want);
}

TEST_F(PgCopyTest, QuotedIdentifiersInCreateMode) {
  src_->exec(
      "CREATE TABLE \"Source Table\" (id int8 PRIMARY KEY, \"Weird Col\" text, \"select\" int8, "
      "\"MixedCase\" float8, \"quote\"\"d\" text);"
      "INSERT INTO \"Source Table\" SELECT g, 'w ' || g, g * 2, g / 4.0, "
      "CASE WHEN g % 5 = 0 THEN NULL ELSE 'q\"' || g END FROM generate_series(1, 2000) g;"
      "ANALYZE \"Source Table\";");
  dst_->exec("CREATE SCHEMA \"Mixed Case\"");
  const std::string want = pg_checksum(*src_, "\"Source Table\"");
  const std::string sql = "SELECT * FROM \"Source Table\" ORDER BY id";
  const char* columns_of =
      "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM "
      "information_schema.columns WHERE table_schema = 'Mixed Case' AND table_name = ";
  const std::string want_columns = "id,Weird Col,select,MixedCase,quote\"d";

  // Through the library, schema and table given apart.
  auto opts = options(4, 200);
  opts.mode = TargetMode::Create;
  const auto r = run(src_url(), sql, dst_url(), "Mixed Case", "my table", opts);
  ASSERT_TRUE(r);
  expect_complete(*r, 2000, 4);
  EXPECT_EQ(dst_->scalar(std::string(columns_of) + "'my table'"), want_columns);
  EXPECT_EQ(pg_checksum(*dst_, "\"Mixed Case\".\"my table\""), want);

  // Through the command line, as one quoted, schema-qualified name.
  const auto cli =
      run_parmap({"run", "--source", src_url(), "--target", dst_url(), "--query", sql,
                  "--target-table", "\"Mixed Case\".\"Other Table\"", "--mode", "create",
                  "--workers", "4", "--chunk-size", "200", "--min-rows-for-parallel", "10", "-q"});
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_EQ(dst_->scalar(std::string(columns_of) + "'Other Table'"), want_columns);
  EXPECT_EQ(pg_checksum(*dst_, "\"Mixed Case\".\"Other Table\""), want);
  EXPECT_EQ(dst_->scalar("SELECT count(*) FROM pg_tables WHERE tablename IN ('my table', "
                         "'Other Table') AND schemaname <> 'Mixed Case'"),
            "0");
}

TEST_F(PgCopyTest, WrongPasswordFailsWithoutPrintingIt) {
  src_->exec(
      "CREATE TABLE pw_src (id int8 PRIMARY KEY, s text);"
      "INSERT INTO pw_src SELECT g, 'r' || g FROM generate_series(1, 100) g;"
      "GRANT SELECT ON pw_src TO parmap_pw;");
  dst_->exec("CREATE TABLE pw_dst (id int8, s text)");
  const std::string wrong = "Wr0ng-Secret-7781";
  const std::string bad = url_with(base_, src_db_, "parmap_pw:" + wrong);
  auto args = [](const std::string& source, const std::string& target) {
    return std::vector<std::string>{"run",
                                    "--source",
                                    source,
                                    "--target",
                                    target,
                                    "--query",
                                    "SELECT * FROM pw_src ORDER BY id",
                                    "--target-table",
                                    "pw_dst"};
  };
  for (const bool as_target : {false, true}) {
    SCOPED_TRACE(as_target ? "wrong password on the target" : "wrong password on the source");
    const auto r =
        run_parmap(args(as_target ? src_url() : bad,
                        as_target ? url_with(base_, dst_db_, "parmap_pw:" + wrong) : dst_url()));
    EXPECT_TRUE(r.exit_code == 1 || r.exit_code == 2) << r.exit_code << "\n" << r.err;
    EXPECT_EQ(r.out.find(wrong), std::string::npos) << r.out;
    EXPECT_EQ(r.err.find(wrong), std::string::npos) << r.err;
    EXPECT_TRUE(r.err.find("authentication") != std::string::npos ||
                r.err.find("password") != std::string::npos)
        << r.err;
    EXPECT_EQ(dst_->scalar("SELECT count(*) FROM pw_dst"), "0");
  }

  // The right password works, and is not printed either.
  const auto ok = run_parmap(args(url_with(base_, src_db_, "parmap_pw:secret-pw"), dst_url()));
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out.find("secret-pw"), std::string::npos) << ok.out;
  EXPECT_EQ(ok.err.find("secret-pw"), std::string::npos) << ok.err;
  EXPECT_EQ(dst_->scalar("SELECT count(*) FROM pw_dst"), "100");
}

// verify against the source and against the ledger's byte hashes on the fast path; both
// name exactly the ranges that were tampered with.
TEST_F(PgCopyTest, VerifyOnTheFastPathAndAgainstTheLedger) {
  const char* ddl =
      "CREATE TABLE v (id bigint PRIMARY KEY, label text, amount numeric(14,3), "
      "at timestamptz, tags int[])";
  src_->exec(ddl);
  dst_->exec(ddl);
  src_->exec(
      "INSERT INTO v SELECT g, 'row ' || g, g * 1.125, timestamptz '2024-01-01' + g * "
      "interval '1 minute', ARRAY[g, -g] FROM generate_series(1, 40000) g");
  src_->exec("ANALYZE v");
  const auto opts = options(4, 4000);
  const std::string sql = "SELECT * FROM v ORDER BY id";
  const auto r = run(src_url(), sql, dst_url(), "", "v", opts);
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->ok()) << r->errors.front();
  EXPECT_TRUE(r->fast_path) << r->path;
  ASSERT_EQ(dst_->scalar("SELECT count(DISTINCT row_hash LIKE 'b:%') FROM parmap_ledger"), "1");
  ASSERT_EQ(dst_->scalar("SELECT bool_and(row_hash LIKE 'b:%') FROM parmap_ledger"), "t");

  for (const bool ledger : {false, true}) {
    const auto v = verify_query_parallel(src_url(), sql, dst_url(), "", "v", opts, ledger);
    EXPECT_TRUE(v.ok()) << (v.differences.empty() ? "" : v.differences.front().problem);
    EXPECT_EQ(v.ranges_checked, r->chunks_planned);
    EXPECT_EQ(v.expected_rows, 40000);
    EXPECT_EQ(v.target_rows, 40000);
  }

  dst_->exec("UPDATE v SET amount = amount + 0.001 WHERE id = 20000; DELETE FROM v WHERE id = 1");
  for (const bool ledger : {false, true}) {
    SCOPED_TRACE(ledger ? "against the ledger" : "against the source");
    const auto v = verify_query_parallel(src_url(), sql, dst_url(), "", "v", opts, ledger);
    ASSERT_EQ(v.differences.size(), 2u);
    EXPECT_EQ(v.differences[0].index, 0u);
    EXPECT_EQ(v.differences[0].expected_rows - 1, v.differences[0].target_rows);
    EXPECT_NE(v.differences[1].problem.find("different content"), std::string::npos);
    EXPECT_EQ(v.ranges_matching, v.ranges_checked - 2);
  }
}

// One run of a job at a time: a second run while the first holds the lock is refused,
// before it writes anything; the lock dies with its session.
TEST_F(PgCopyTest, ASecondRunOfARunningJobIsRefused) {
  src_->exec("CREATE TABLE l AS SELECT g AS id, g * 2 AS twice FROM generate_series(1, 5000) g");
  dst_->exec("CREATE TABLE l (id int, twice int)");
  auto opts = options(2, 1000);
  opts.job_id = "locked-job";
  {
    auto holder = connection_factory(dst_url())();
    ASSERT_TRUE(holder->try_lock_job(job_lock_key("locked-job", "l")));
    auto again = connection_factory(dst_url())();
    EXPECT_FALSE(again->try_lock_job(job_lock_key("locked-job", "l")));
    EXPECT_TRUE(again->try_lock_job(job_lock_key("other-job", "l")));
    try {
      execute_query_parallel(src_url(), "SELECT * FROM l ORDER BY id", dst_url(), "", "l", opts);
      ADD_FAILURE() << "a second run of a running job was not refused";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Config);
      EXPECT_NE(std::string(e.what()).find("job 'locked-job' is already running into l"),
                std::string::npos)
          << e.what();
    }
    EXPECT_EQ(dst_->scalar("SELECT count(*) FROM l"), "0");
    EXPECT_EQ(dst_->scalar("SELECT to_regclass('parmap_ledger') IS NULL"), "t");
  }
  const auto r = run(src_url(), "SELECT * FROM l ORDER BY id", dst_url(), "", "l", opts);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok());
  EXPECT_EQ(pg_checksum(*dst_, "l"), pg_checksum(*src_, "l"));
}

// A table named like an injection is created, loaded, truncated and verified under its own
// name; the statement inside the name never runs.
TEST_F(PgCopyTest, AHostileTableNameDropsNothing) {
  src_->exec("CREATE TABLE s AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 3000) g");
  dst_->exec("CREATE TABLE y (v int); INSERT INTO y VALUES (42)");
  const std::string quoted = "\"x\"\"; DROP TABLE y; --\"";
  for (const char* mode : {"create", "truncate"}) {
    SCOPED_TRACE(mode);
    const auto r = run_parmap({"run", "--source", src_url(), "--target", dst_url(), "--query",
                               "SELECT * FROM s ORDER BY id", "--target-table", quoted, "--mode",
                               mode, "--fresh", "--verify", "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(pg_checksum(*dst_, quoted), pg_checksum(*src_, "s"));
    EXPECT_EQ(dst_->scalar("SELECT v FROM y"), "42");
  }
}

}  // namespace
}  // namespace parmap
