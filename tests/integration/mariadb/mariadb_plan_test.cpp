// Planning on a MariaDB source: a key no index answers is read once, not once per chunk.
#include <gtest/gtest.h>

#include <string>

#include "parmap/parmap.h"
#include "support/mariadb_support.h"
#include "support/test_support.h"

namespace parmap {
namespace {

class MariadbPlanTest : public test::MariadbTest {
 protected:
  /// Chunks of 1,000 rows, 2 workers, mode create.
  static ParallelOptions options() {
    ParallelOptions opts;
    opts.config = resolve_config(
        {{"max_workers", "2"}, {"chunk_size", "1000"}, {"min_rows_for_parallel", "10"}}, {}, 4);
    opts.mode = TargetMode::Create;
    return opts;
  }
};

TEST_F(MariadbPlanTest, KeyWithoutAnIndexIsReadOnceNotPerChunk) {
  my_->exec(
      "CREATE TABLE nx (id BIGINT PRIMARY KEY, v VARCHAR(40), w INT, KEY (w));"
      "INSERT INTO nx SELECT seq, MD5(seq), seq % 1000 FROM seq_1_to_20000");
  test::TempDir dir;
  const ParallelOptions opts = options();

  // v has no index: each range chunk would read the whole table.
  const auto r =
      execute_query_parallel(my_url(), "SELECT * FROM nx ORDER BY v", dir.url("t.db"), "", "v", opts);
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
  EXPECT_EQ(r.chunks_planned, 1) << r.reason;
  EXPECT_NE(r.reason.find("no index on v answers a key range (MariaDB reads nx by a full scan)"),
            std::string::npos)
      << r.reason;
  EXPECT_EQ(r.total_rows_processed, 20000);
  EXPECT_EQ(test::sqlite_scalar(dir.file("t.db"), "SELECT count(DISTINCT id) FROM v"), "20000");

  // w has one: ranges as planned.
  const auto w =
      execute_query_parallel(my_url(), "SELECT * FROM nx ORDER BY w", dir.url("t.db"), "", "w", opts);
  EXPECT_TRUE(w.ok()) << (w.errors.empty() ? "" : w.errors.front());
  EXPECT_EQ(w.partition_column, "w") << w.reason;
  EXPECT_GE(w.chunks_planned, 10) << w.reason;
  EXPECT_EQ(test::sqlite_scalar(dir.file("t.db"), "SELECT count(DISTINCT id) FROM w"), "20000");
}

TEST_F(MariadbPlanTest, IndexedTextKeyUnderACaseInsensitiveCollationIsCutIntoRanges) {
  // Most keys start with a, A, ä or Ä, which utf8mb4_general_ci sorts as one letter: a probe
  // range from 'a' to 'b' would hold most of the table and be read by a full scan, and the
  // job would wrongly run as one stream.
  my_->exec(
      "CREATE TABLE ci (k VARCHAR(40) NOT NULL, v INT, KEY (k)) DEFAULT CHARSET utf8mb4 "
      "COLLATE utf8mb4_general_ci;"
      "INSERT INTO ci SELECT ELT(seq % 5 + 1, CONCAT('a', seq % 700), CONCAT('A', seq % 700), "
      "CONCAT('a', seq % 700, ' '), CONCAT('Ä', seq % 700), CONCAT('b', seq)), seq "
      "FROM seq_1_to_30000");
  test::TempDir dir;
  const ParallelOptions opts = options();
  const auto r =
      execute_query_parallel(my_url(), "SELECT * FROM ci ORDER BY k", dir.url("t.db"), "", "ci", opts);
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
  EXPECT_EQ(r.partition_column, "k") << r.reason;
  EXPECT_GE(r.chunks_planned, 10) << r.reason;
  // Keys equal under the collation but not byte for byte all arrive, each once.
  EXPECT_EQ(test::sqlite_scalar(dir.file("t.db"), "SELECT count(DISTINCT v) || ' ' || count(*) || "
                                                  "' ' || sum(v) FROM ci"),
            "30000 30000 450015000");
  // Each key as it was: case, accent and trailing space kept.
  EXPECT_EQ(test::sqlite_scalar(dir.file("t.db"),
                                "SELECT sum(length(k) * v % 9973) || ' ' || sum(k LIKE '% ') || "
                                "' ' || sum(substr(k, 1, 1) = 'Ä') || ' ' || sum(substr(k, 1, 1) "
                                "= 'A') FROM ci"),
            my_->scalar("SELECT CONCAT(SUM(CHAR_LENGTH(k) * v % 9973), ' ', SUM(k LIKE BINARY "
                        "'% '), ' ', SUM(LEFT(k, 1) = BINARY 'Ä'), ' ', SUM(LEFT(k, 1) = BINARY "
                        "'A')) FROM ci"));
}

TEST_F(MariadbPlanTest, TableWhosePrimaryKeyIsAUuidIsCutIntoRangesOfIt) {
  // SELECT * FROM a table keyed by a uuid (or any one column not an integer): MariaDB has no
  // physical positions to split by, so without its key the table was one stream.
  my_->exec("CREATE TABLE uk (id UUID PRIMARY KEY, n INT, s VARCHAR(20));"
            "INSERT INTO uk SELECT UUID(), seq, CONCAT('s', seq) FROM seq_1_to_20000;"
            "CREATE TABLE ck (a INT, b VARCHAR(8), n INT, PRIMARY KEY (a, b));"
            "INSERT INTO ck SELECT seq % 7, CONCAT('b', seq), seq FROM seq_1_to_3000");
  test::TempDir dir;
  auto r = execute_query_parallel(my_url(), "SELECT * FROM uk", dir.url("t.db"), "", "uk",
                                  options());
  ASSERT_TRUE(r.complete()) << (r.errors.empty() ? "" : r.errors.front());
  EXPECT_EQ(r.partition_column, "id") << r.reason;
  EXPECT_NE(r.reason.find("the primary key of uk"), std::string::npos) << r.reason;
  EXPECT_GE(r.chunks_planned, 10) << r.reason;
  EXPECT_EQ(test::sqlite_scalar(dir.file("t.db"), "SELECT count(DISTINCT id) || ' ' || count(*) "
                                                  "|| ' ' || sum(n) FROM uk"),
            "20000 20000 200010000");
  EXPECT_EQ(test::sqlite_scalar(dir.file("t.db"), "SELECT sum(length(s)) FROM uk WHERE s = 's' || n"),
            my_->scalar("SELECT SUM(LENGTH(s)) FROM uk"));
  // Every uuid arrived as the source holds it.
  EXPECT_EQ(test::sqlite_scalar(dir.file("t.db"), "SELECT group_concat(id, ',') FROM (SELECT id "
                                                  "FROM uk ORDER BY n LIMIT 5)"),
            my_->scalar("SELECT GROUP_CONCAT(id ORDER BY n SEPARATOR ',') FROM (SELECT id, n "
                        "FROM uk ORDER BY n LIMIT 5) AS f"));
  // A key of two columns is cut on its first: every row in exactly one range of it.
  r = execute_query_parallel(my_url(), "SELECT * FROM ck", dir.url("t.db"), "", "ck", options());
  ASSERT_TRUE(r.complete()) << (r.errors.empty() ? "" : r.errors.front());
  EXPECT_EQ(r.partition_column, "a") << r.reason;
  EXPECT_NE(r.reason.find("the first column of the primary key (a, b) of ck"), std::string::npos)
      << r.reason;
  EXPECT_GE(r.chunks_planned, 2) << r.reason;
  EXPECT_EQ(test::sqlite_scalar(dir.file("t.db"), "SELECT count(*) || ' ' || sum(n) || ' ' || "
                                                  "count(DISTINCT a || '/' || b) FROM ck"),
            "3000 4501500 3000");
}

TEST_F(MariadbPlanTest, TableFlagQuotesTheNameAsMariadbDoes) {
  // --table NAME on a MariaDB source: the name in backticks (double quotes would be a string).
  my_->exec("CREATE TABLE `order` (id BIGINT PRIMARY KEY, v VARCHAR(10));"
            "INSERT INTO `order` SELECT seq, CONCAT('v', seq) FROM seq_1_to_500");
  test::TempDir dir;
  const auto r = test::run_parmap({"run", "--source", my_url(), "--target", dir.url("t.db"),
                                   "--table", "order", "--target-table", "o", "--mode", "create",
                                   "-q"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(test::sqlite_scalar(dir.file("t.db"), "SELECT count(DISTINCT id) FROM o"), "500");
  EXPECT_EQ(test::sqlite_scalar(dir.file("t.db"), "SELECT v FROM o WHERE id = 500"), "v500");
}

}  // namespace
}  // namespace parmap
