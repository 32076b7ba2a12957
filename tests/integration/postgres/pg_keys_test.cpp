// Partition keys of every orderable PostgreSQL type, on the fast and the typed path: the
// chunks' ranges must cover every row exactly once in the server's own order.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "connect/postgres/pg_connection.h"
#include "parmap/parmap.h"
#include "support/pg_support.h"
#include "support/test_support.h"

namespace parmap {
namespace {

using test::pg_checksum;

class PgKeysTest : public test::PgTwoDatabasesTest {
 protected:
  /// PARMAP_TEST_ROWS, kept between 60,000 and 200,000: enough rows for several chunks of
  /// a realistic size, few enough for a shared machine.
  static int64_t rows() { return std::clamp<int64_t>(test::test_rows(), 60000, 200000); }

  /// Copies `sql` into a fresh target table with `columns` ("(id int, ...)") on the fast
  /// path and on the typed path (an identity transform forces decoding) with 3 workers and
  /// about 8 chunks, and checks that the plan split on `key` into at least `min_chunks`
  /// chunks, and the target's count and the server's checksum against `source` (a table or
  /// a parenthesised query).
  void copy_both_paths(const std::string& key, const std::string& sql, const std::string& source,
                       const std::string& columns, int64_t min_chunks = 4) {
    // Chunks are key ranges only where an index answers them (else every chunk would read
    // the whole table): the key gets one, as a key a user splits on has.
    src_->exec("CREATE INDEX IF NOT EXISTS " + source + "_" + key + "_range ON " + source + " (" +
               key + ")");
    const std::string want = pg_checksum(*src_, source);
    const int64_t want_rows = std::stoll(src_->scalar("SELECT count(*) FROM " + source + " s"));
    for (const bool typed : {false, true}) {
      const std::string table = typed ? "typed_copy" : "fast_copy";
      SCOPED_TRACE(table);
      dst_->exec("CREATE TABLE " + table + " " + columns);
      ParallelOptions opts;
      opts.config = resolve_config({{"max_workers", "3"},
                                    {"chunk_size", std::to_string(want_rows / 8)},
                                    {"min_rows_for_parallel", "10"}},
                                   {}, 8);
      if (typed) opts.transform = [](Batch&) {};
      const auto start = std::chrono::steady_clock::now();
      ParallelResult r;
      try {
        r = execute_query_parallel(src_url(), sql, dst_url(), "", table, opts);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "execute_query_parallel threw: " << e.what();
        continue;
      }
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("[ keys     ] %s %s: %lld rows, %lld chunks planned, %.2f s\n", key.c_str(),
                  table.c_str(), static_cast<long long>(r.total_rows_processed),
                  static_cast<long long>(r.chunks_planned), seconds);
      EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
      EXPECT_EQ(r.partition_column, key) << r.reason;
      EXPECT_GE(r.chunks_planned, min_chunks) << r.reason;
      EXPECT_EQ(r.chunks_done, r.chunks_planned);
      EXPECT_EQ(r.fast_path, !typed) << r.path;
      EXPECT_EQ(r.total_rows_processed, want_rows);
      EXPECT_EQ(dst_->scalar("SELECT count(*) FROM " + table), std::to_string(want_rows));
      EXPECT_EQ(pg_checksum(*dst_, table), want);
    }
  }

  /// `n` as SQL text.
  static std::string n() { return std::to_string(rows()); }
};

TEST_F(PgKeysTest, UuidKey) {
  // No min(uuid) in PostgreSQL; every 50th key is NULL.
  src_->exec("CREATE TABLE u (id int, k uuid, pad text); INSERT INTO u SELECT i, CASE WHEN i % "
             "50 = 0 THEN NULL ELSE gen_random_uuid() END, md5(i::text) FROM generate_series(1, " +
             n() + ") AS i; ANALYZE u");
  copy_both_paths("k", "SELECT * FROM u ORDER BY k", "u", "(id int, k uuid, pad text)");
}

TEST_F(PgKeysTest, UuidPrimaryKeyUsesItsIndex) {
  src_->exec("CREATE TABLE u (k uuid PRIMARY KEY, id int); INSERT INTO u SELECT "
             "gen_random_uuid(), i FROM generate_series(1, " + n() + ") AS i; ANALYZE u");
  copy_both_paths("k", "SELECT * FROM u ORDER BY k", "u", "(k uuid PRIMARY KEY, id int)");
}

/// Words whose order differs between byte (C) order and a linguistic order: case, accents,
/// punctuation and spaces.
constexpr const char* kWords =
    "(ARRAY['apple', 'Apple', 'APPLE', '_apple', '-apple', 'apple.', 'Äpfel', 'éclair', "
    "'eclair', 'Zebra', 'zebra', 'a b', 'a-b', 'ab', 'Ab', '#1', '10', '9', 'ß', 'ss', "
    "'Œuvre', 'oeuvre', ''])";

std::string text_rows(const std::string& table, const std::string& n) {
  return "INSERT INTO " + table + " SELECT i, CASE WHEN i % 97 = 0 THEN NULL ELSE " + kWords +
         "[1 + i % 23] || CASE WHEN i % 3 = 0 THEN '' ELSE ' ' || (i % 1000)::text END END "
         "FROM generate_series(1, " + n + ") AS i; ANALYZE " + table;
}

TEST_F(PgKeysTest, TextKeyInAnIcuCollation) {
  if (src_->scalar("SELECT count(*) FROM pg_collation WHERE collname = 'en-x-icu'") != "1") {
    GTEST_SKIP() << "the server has no ICU collation en-x-icu; the linguistic case is skipped";
  }
  src_->exec("CREATE TABLE t (id int, k text COLLATE \"en-x-icu\")");
  src_->exec(text_rows("t", n()));
  // The case is meaningful only when the orders differ.
  ASSERT_NE(src_->scalar("SELECT string_agg(DISTINCT k, '|' ORDER BY k) FROM t"),
            src_->scalar("SELECT string_agg(DISTINCT k COLLATE \"C\", '|' ORDER BY k COLLATE "
                         "\"C\") FROM t"));
  copy_both_paths("k", "SELECT * FROM t ORDER BY k", "t", "(id int, k text)");
}

TEST_F(PgKeysTest, TextKeyWithMixedCaseAndPunctuation) {
  // The database's default collation (C on the test server, linguistic elsewhere).
  src_->exec("CREATE TABLE t (id int, k text)");
  src_->exec(text_rows("t", n()));
  copy_both_paths("k", "SELECT * FROM t ORDER BY k", "t", "(id int, k text)");
}

TEST_F(PgKeysTest, VarcharPrimaryKeyInAnIcuCollation) {
  if (src_->scalar("SELECT count(*) FROM pg_collation WHERE collname = 'und-x-icu'") != "1") {
    GTEST_SKIP() << "the server has no ICU collation und-x-icu; the linguistic case is skipped";
  }
  src_->exec("CREATE TABLE t (id int, k varchar(40) COLLATE \"und-x-icu\" PRIMARY KEY); "
             "INSERT INTO t SELECT i, " + std::string(kWords) +
             "[1 + i % 23] || ' ' || i::text FROM generate_series(1, " + n() +
             ") AS i; ANALYZE t");
  copy_both_paths("k", "SELECT * FROM t ORDER BY k", "t", "(id int, k varchar(40))");
}

TEST_F(PgKeysTest, TimestampTimestamptzAndDateKeys) {
  // The sessions parmap opens on the source run in another time zone than UTC, across
  // daylight-saving changes: timestamptz bounds carry their offset.
  admin_->exec("ALTER DATABASE " + src_db_ + " SET timezone = 'America/New_York'");
  src_->exec(
      "CREATE TABLE tt (id int, ts timestamp, tz timestamptz, d date); INSERT INTO tt SELECT i, "
      "CASE WHEN i % 61 = 0 THEN NULL ELSE timestamp '2019-12-31 23:00' + (i * 7919 % 500000) * "
      "interval '97 seconds' + (i % 1000) * interval '1 microsecond' END, "
      "CASE WHEN i % 67 = 0 THEN NULL ELSE timestamptz '2020-03-01 00:00+00' + (i::int8 * 104729 % "
      "400000) * interval '1 minute 3.000001 seconds' END, "
      "CASE WHEN i % 71 = 0 THEN NULL ELSE date '1999-01-01' + (i * 31 % 20000) END "
      "FROM generate_series(1, " + n() + ") AS i; ANALYZE tt");
  const std::string columns = "(id int, ts timestamp, tz timestamptz, d date)";
  for (const char* key : {"ts", "tz", "d"}) {
    SCOPED_TRACE(key);
    copy_both_paths(key, std::string("SELECT * FROM tt ORDER BY ") + key, "tt", columns);
    dst_->exec("DROP TABLE fast_copy; DROP TABLE typed_copy");
  }
}

TEST_F(PgKeysTest, NumericKeyWithFractions) {
  src_->exec("CREATE TABLE nm (id int, k numeric(20, 6), pad text); INSERT INTO nm SELECT i, "
             "CASE WHEN i % 89 = 0 THEN NULL ELSE ((i * 7919) % 100003 - 50000) / 7.0 END, "
             "md5(i::text) FROM generate_series(1, " + n() + ") AS i; ANALYZE nm");
  copy_both_paths("k", "SELECT * FROM nm ORDER BY k", "nm", "(id int, k numeric(20, 6), pad text)");
}

TEST_F(PgKeysTest, BoolKey) {
  // Two values (no min(bool)): at least the false, true and NULL chunks.
  src_->exec("CREATE TABLE b (id int, k bool); INSERT INTO b SELECT i, CASE WHEN i % 41 = 0 "
             "THEN NULL ELSE i % 3 = 0 END FROM generate_series(1, " + n() + ") AS i; ANALYZE b");
  copy_both_paths("k", "SELECT * FROM b ORDER BY k", "b", "(id int, k bool)", 3);
}

TEST_F(PgKeysTest, CompositeOrderByIsExactWhenSplitOnItsFirstColumn) {
  // Ranges on a alone cover every (a, b) once, with many rows per value of a.
  src_->exec("CREATE TABLE ab (a int, b text, c float8); INSERT INTO ab SELECT i % 997, "
             "md5(i::text), i / 3.0 FROM generate_series(1, " + n() + ") AS i; ANALYZE ab");
  copy_both_paths("a", "SELECT * FROM ab ORDER BY a, b", "ab", "(a int, b text, c float8)");
}

TEST_F(PgKeysTest, CompositeOrderByOnTextAndUuid) {
  src_->exec("CREATE TABLE ab (a text, b uuid, c int); INSERT INTO ab SELECT "
             "chr(65 + i % 26) || chr(97 + i % 7), gen_random_uuid(), i "
             "FROM generate_series(1, " + n() + ") AS i; ANALYZE ab");
  copy_both_paths("a", "SELECT * FROM ab ORDER BY a DESC, b", "ab", "(a text, b uuid, c int)");
}

TEST_F(PgKeysTest, UnorderableKeyIsNamedAndTheTableSplitsByBlocks) {
  // json and point have no ordering: named as the partition column they must not fail the
  // job. (The typed path does not decode point, so point runs the fast path only.)
  src_->exec("CREATE TABLE js (id int, k json); INSERT INTO js SELECT i, CASE WHEN i % 13 = 0 "
             "THEN NULL ELSE json_build_object('i', i, 's', md5(i::text)) END "
             "FROM generate_series(1, 60000) AS i; ANALYZE js;"
             "CREATE TABLE pt (id int, k point); INSERT INTO pt SELECT i, point(i, -i) "
             "FROM generate_series(1, 60000) AS i; ANALYZE pt");
  struct Case {
    const char* table;
    const char* columns;
    bool typed;
  };
  for (const Case c : {Case{"js", "(id int, k json)", false}, Case{"js", "(id int, k json)", true},
                       Case{"pt", "(id int, k point)", false}}) {
    SCOPED_TRACE(std::string(c.table) + (c.typed ? " typed" : " fast"));
    dst_->exec(std::string("DROP TABLE IF EXISTS ") + c.table + "; CREATE TABLE " + c.table +
               " " + c.columns);
    ParallelOptions opts;
    opts.config = resolve_config(
        {{"max_workers", "3"}, {"chunk_size", "5000"}, {"min_rows_for_parallel", "10"}}, {}, 8);
    opts.partition_column = "k";
    opts.job_id = std::string("unorderable-") + c.table + (c.typed ? "-typed" : "-fast");
    if (c.typed) opts.transform = [](Batch&) {};
    ParallelResult r;
    try {
      r = execute_query_parallel(src_url(), std::string("SELECT * FROM ") + c.table, dst_url(),
                                 "", c.table, opts);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "execute_query_parallel threw: " << e.what();
      continue;
    }
    EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
    EXPECT_NE(r.reason.find("'k'"), std::string::npos) << r.reason;
    // One chunk of the non-null keys and one of the NULL keys at most.
    // The key cannot be cut into ranges; the plain table still splits by block ranges.
    EXPECT_NE(r.reason.find("cannot be cut into ranges"), std::string::npos) << r.reason;
    EXPECT_EQ(r.partition_column, "ctid") << r.reason;
    EXPECT_GE(r.chunks_planned, 2) << r.reason;
    EXPECT_EQ(r.chunks_done, r.chunks_planned) << r.reason;
    EXPECT_EQ(r.total_rows_processed, 60000);
    EXPECT_EQ(pg_checksum(*dst_, c.table), pg_checksum(*src_, c.table));
  }
}

TEST(PgBlockRanges, NeedAServerWithTheTidRangeScan) {
  const std::optional<std::string> old = pg::block_ranges_problem(130011);
  ASSERT_TRUE(old.has_value());
  EXPECT_NE(old->find("130011"), std::string::npos) << *old;
  EXPECT_NE(old->find("PostgreSQL 14"), std::string::npos) << *old;
  EXPECT_FALSE(pg::block_ranges_problem(140000).has_value());
  EXPECT_FALSE(pg::block_ranges_problem(170002).has_value());
}

class PgBlockRangesLive : public test::PgTwoDatabasesTest {};

TEST_F(PgBlockRangesLive, CapabilityFollowsTheServerVersion) {
  const int version = std::stoi(src_->scalar("SHOW server_version_num"));
  auto c = DriverRegistry::instance().open(parse_url(src_url()));
  EXPECT_EQ(c->capabilities().block_ranges, version >= 140000);
}

}  // namespace
}  // namespace parmap
