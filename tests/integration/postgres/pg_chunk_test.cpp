// PostgreSQL: chunks follow the real rows when statistics are wrong (a misjudged join, a
// view, stale statistics) and a key value holding half the table is split by blocks.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>

#include "parmap/parmap.h"
#include "support/chunk_support.h"
#include "support/pg_support.h"
#include "support/test_support.h"

namespace parmap {
namespace {

using test::pg_checksum;

class PgChunkTest : public test::PgTwoDatabasesTest {
 protected:
  static ParallelOptions options(int64_t chunk_size) {
    ParallelOptions o;
    o.config = resolve_config({{"max_workers", "3"},
                               {"chunk_size", std::to_string(chunk_size)},
                               {"min_rows_for_parallel", "10"}},
                              {}, 8);
    o.mode = TargetMode::Create;
    return o;
  }

  std::optional<ParallelResult> run(const std::string& sql, const std::string& table,
                                    int64_t chunk_size) {
    try {
      return execute_query_parallel(src_url(), sql, dst_url(), "", table, options(chunk_size));
    } catch (const std::exception& e) {
      ADD_FAILURE() << "execute_query_parallel threw: " << e.what();
      return std::nullopt;
    }
  }

  int64_t largest_chunk() {
    return std::stoll(dst_->scalar("SELECT max(rows_written) FROM parmap_ledger"));
  }

  /// The run is complete, the target equals the source query, and no chunk held more than
  /// twice the chunk size.
  void expect_exact(const ParallelResult& r, const std::string& sql, const std::string& table,
                    int64_t rows, int64_t chunk_size) {
    EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
    EXPECT_EQ(r.total_rows_processed, rows);
    EXPECT_EQ(r.chunks_done, r.chunks_planned);
    EXPECT_EQ(dst_->scalar("SELECT count(*) FROM " + table), std::to_string(rows));
    EXPECT_EQ(pg_checksum(*dst_, table), pg_checksum(*src_, "(" + sql + ")"));
    EXPECT_LE(largest_chunk(), 2 * chunk_size) << r.reason;
    EXPECT_EQ(dst_->scalar("SELECT sum(rows_written) FROM parmap_ledger"), std::to_string(rows));
  }
};

/// Real rows of the misjudged join: 300,000 at full size, fewer with PARMAP_TEST_ROWS, never
/// so few that the chunk-size assertions mean nothing.
int64_t join_rows() { return std::clamp<int64_t>(test::test_rows() * 3, 60000, 300000); }

// b.g = a.g % 55 is an equality on an expression without statistics: the planner assumes
// 200 distinct values and expects 55/200 of the real rows (82,500 of 300,000).
constexpr const char* kJoinSetup =
    "CREATE TABLE a (id bigint PRIMARY KEY, g int NOT NULL, pad text);"
    "CREATE TABLE b (g int PRIMARY KEY, name text NOT NULL);"
    "INSERT INTO b SELECT i, 'name ' || i FROM generate_series(0, 54) i;";
constexpr const char* kJoinSql =
    "SELECT a.id, a.g, b.name, a.pad FROM a JOIN b ON b.g = a.g % 55 ORDER BY a.id";

TEST_F(PgChunkTest, UnderEstimatedJoinIsCutAtRealRows) {
  const int64_t n = join_rows();
  const int64_t chunk = n / 15;
  src_->exec(kJoinSetup);
  src_->exec("INSERT INTO a SELECT i, i * 7, md5(i::text) FROM generate_series(1, " +
             std::to_string(n) + ") i; ANALYZE a; ANALYZE b;");
  const int64_t before = test::largest_estimated_chunk(src_url(), kJoinSql, "id", chunk);
  std::cout << "[ chunk ] misjudged join: " << n << " rows, chunk_size " << chunk
            << "; estimate-only plan's largest chunk " << before << " rows\n";
  EXPECT_GT(before, 2 * chunk) << "the join's estimate is right: the test shows nothing";

  const auto r = run(kJoinSql, "j", chunk);
  ASSERT_TRUE(r);
  std::cout << "[ chunk ] after: " << r->chunks_planned << " chunks, largest " << largest_chunk()
            << " rows; " << r->reason << "\n";
  EXPECT_TRUE(r->parallel) << r->reason;
  expect_exact(*r, kJoinSql, "j", n, chunk);
}

TEST_F(PgChunkTest, UnderEstimatedJoinOnATextKeyIsCutAtRealRows) {
  // Text keys in the database's collation, with duplicates: the ranked keys and the range
  // filters must agree on the order.
  const int64_t n = std::clamp<int64_t>(test::test_rows(), 40000, 100000);
  const int64_t chunk = n / 10;
  src_->exec(kJoinSetup);
  src_->exec(
      "INSERT INTO a SELECT i, i * 7, 'Key ' || (i % 5000) || ' ' || left(md5(i::text), 2) "
      "FROM generate_series(1, " +
      std::to_string(n) + ") i; CREATE INDEX a_pad ON a (pad); ANALYZE a; ANALYZE b;");
  const std::string sql =
      "SELECT a.id, a.g, b.name, a.pad FROM a JOIN b ON b.g = a.g % 55 ORDER BY a.pad";
  const int64_t before = test::largest_estimated_chunk(src_url(), sql, "pad", chunk);
  std::cout << "[ chunk ] misjudged join, text key: " << n << " rows, chunk_size " << chunk
            << "; estimate-only plan's largest chunk " << before << " rows\n";
  EXPECT_GT(before, 2 * chunk);

  const auto r = run(sql, "jt", chunk);
  ASSERT_TRUE(r);
  std::cout << "[ chunk ] after: " << r->chunks_planned << " chunks, largest " << largest_chunk()
            << " rows; " << r->reason << "\n";
  expect_exact(*r, sql, "jt", n, chunk);
}

TEST_F(PgChunkTest, ViewOverMisjudgedJoinRunsInSeveralChunks) {
  // The estimate (7/200 of the rows) is below chunk_size: before, one serial chunk.
  const int64_t n = std::clamp<int64_t>(test::test_rows(), 40000, 200000);
  const int64_t chunk = n / 10;
  src_->exec(
      "CREATE TABLE a (id bigint PRIMARY KEY, g int NOT NULL);"
      "CREATE TABLE b (g int PRIMARY KEY, name text NOT NULL);"
      "INSERT INTO b SELECT i, 'name ' || i FROM generate_series(0, 6) i;"
      "INSERT INTO a SELECT i, i * 3 FROM generate_series(1, " +
      std::to_string(n) +
      ") i; ANALYZE a; ANALYZE b;"
      "CREATE VIEW v AS SELECT a.id, a.g, b.name FROM a JOIN b ON b.g = a.g % 7;");
  const std::string sql = "SELECT * FROM v ORDER BY id";
  const int64_t before = test::largest_estimated_chunk(src_url(), sql, "id", chunk);
  std::cout << "[ chunk ] view: " << n << " rows, chunk_size " << chunk
            << "; estimate-only plan's largest chunk " << before << " rows\n";
  EXPECT_EQ(before, n) << "the view's estimate is right: the test shows nothing";

  const auto r = run(sql, "vv", chunk);
  ASSERT_TRUE(r);
  std::cout << "[ chunk ] after: " << r->chunks_planned << " chunks, largest " << largest_chunk()
            << " rows; " << r->reason << "\n";
  EXPECT_TRUE(r->parallel) << r->reason;
  EXPECT_GE(r->chunks_planned, 5) << r->reason;
  expect_exact(*r, sql, "vv", n, chunk);
}

TEST_F(PgChunkTest, StaleStatisticsTableIsCutAtRealRows) {
  // Analyzed with 1,000 rows, then bulk-loaded with no ANALYZE: the histogram knows nothing
  // of the keys that came after.
  const int64_t n = std::clamp<int64_t>(test::test_rows(), 40000, 200000);
  const int64_t chunk = n / 10;
  src_->exec(
      "CREATE TABLE s (id bigint PRIMARY KEY, k bigint NOT NULL, pad text) WITH "
      "(autovacuum_enabled = false);"
      "INSERT INTO s SELECT i, i, 'x' FROM generate_series(1, 1000) i; ANALYZE s;"
      "INSERT INTO s SELECT i, 1000 + (i % 97), md5(i::text) FROM generate_series(1001, " +
      std::to_string(n) + ") i;");
  const std::string sql = "SELECT * FROM s ORDER BY k";
  const int64_t before = test::largest_estimated_chunk(src_url(), sql, "k", chunk);
  std::cout << "[ chunk ] stale statistics: " << n << " rows, chunk_size " << chunk
            << "; estimate-only plan's largest chunk " << before << " rows\n";

  const auto r = run(sql, "ss", chunk);
  ASSERT_TRUE(r);
  std::cout << "[ chunk ] after: " << r->chunks_planned << " chunks, largest " << largest_chunk()
            << " rows; " << r->reason << "\n";
  expect_exact(*r, sql, "ss", n, chunk);
}

TEST_F(PgChunkTest, KeyValueHoldingHalfTheTableIsSplitByBlocks) {
  const int64_t n = std::clamp<int64_t>(test::test_rows() * 2, 40000, 200000);
  const int64_t chunk = n / 10;
  src_->exec(
      "CREATE TABLE h (id bigint PRIMARY KEY, grp bigint, pad text);"
      "INSERT INTO h SELECT i, CASE WHEN i % 2 = 0 THEN 0 ELSE i END, md5(i::text) "
      "FROM generate_series(1, " +
      std::to_string(n) + ") i; CREATE INDEX ON h (grp); ANALYZE h;");
  const std::string sql = "SELECT * FROM h ORDER BY grp";
  const int64_t before = test::largest_estimated_chunk(src_url(), sql, "grp", chunk);
  std::cout << "[ chunk ] heavy hitter: " << n << " rows, chunk_size " << chunk
            << "; estimate-only plan's largest chunk " << before << " rows\n";
  EXPECT_GE(before, n / 2);

  const auto r = run(sql, "hh", chunk);
  ASSERT_TRUE(r);
  std::cout << "[ chunk ] after: " << r->chunks_planned << " chunks, largest " << largest_chunk()
            << " rows; " << r->reason << "\n";
  EXPECT_NE(r->reason.find("by ctid"), std::string::npos) << r->reason;
  expect_exact(*r, sql, "hh", n, chunk);

  // The ranges of a plan with block slices are verified as one whole.
  const VerifyResult v = verify_query_parallel(src_url(), sql, dst_url(), "", "hh", options(chunk));
  EXPECT_TRUE(v.ok()) << v.scope;
}

TEST_F(PgChunkTest, HeavyValueOfAViewStaysOneChunkAndSaysWhy) {
  const int64_t n = 30000;
  const int64_t chunk = 3000;
  src_->exec(
      "CREATE TABLE h (id bigint PRIMARY KEY, grp bigint);"
      "INSERT INTO h SELECT i, CASE WHEN i % 2 = 0 THEN 0 ELSE i END "
      "FROM generate_series(1, 30000) i; CREATE INDEX h_grp ON h (grp); ANALYZE h;"
      "CREATE VIEW hv AS SELECT * FROM h;");
  const std::string sql = "SELECT * FROM hv ORDER BY grp";
  const auto r = run(sql, "hv2", chunk);
  ASSERT_TRUE(r);
  EXPECT_NE(r->reason.find("stays one chunk"), std::string::npos) << r->reason;
  EXPECT_TRUE(r->ok());
  EXPECT_EQ(r->total_rows_processed, n);
  EXPECT_EQ(pg_checksum(*dst_, "hv2"), pg_checksum(*src_, "(" + sql + ")"));
  EXPECT_EQ(largest_chunk(), n / 2);
}

TEST_F(PgChunkTest, KeyWithoutAnIndexIsNotReadOncePerChunk) {
  // ORDER BY a column no index answers: range chunks would each read the whole table (the
  // cost of OFFSET paging). The table is split by block ranges instead, and the same rows
  // through a view (no blocks) are read as one stream.
  const int64_t n = std::clamp<int64_t>(test::test_rows(), 20000, 100000);
  const int64_t chunk = n / 20;
  src_->exec("CREATE TABLE nx (id bigint, v text); INSERT INTO nx SELECT i, md5(i::text) "
             "FROM generate_series(1, " + std::to_string(n) + ") i; ANALYZE nx;"
             "CREATE VIEW nxv AS SELECT * FROM nx;");
  const std::string sql = "SELECT * FROM nx ORDER BY v";
  const auto r = run(sql, "nx", chunk);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->partition_column, "ctid") << r->reason;
  EXPECT_NE(r->reason.find("no index on v answers a key range"), std::string::npos) << r->reason;
  EXPECT_GE(r->chunks_planned, 4) << r->reason;
  expect_exact(*r, sql, "nx", n, chunk);

  dst_->exec("DROP TABLE parmap_ledger");
  const std::string view_sql = "SELECT * FROM nxv ORDER BY v";
  const auto v = run(view_sql, "nxv", chunk);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->chunks_planned, 1) << v->reason;
  EXPECT_NE(v->reason.find("streamed as one chunk"), std::string::npos) << v->reason;
  EXPECT_TRUE(v->ok());
  EXPECT_EQ(dst_->scalar("SELECT count(*) FROM nxv"), std::to_string(n));
  EXPECT_EQ(pg_checksum(*dst_, "nxv"), pg_checksum(*src_, "(" + view_sql + ")"));
}

}  // namespace
}  // namespace parmap
