// SQLite: a key value holding half the table is split by rowid; a view's is not (and the
// plan says why). SQLite has no stale estimate: its estimate_rows counts the rows.
#include <gtest/gtest.h>

#include <filesystem>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <iostream>
#include <string>

#include "parmap/error.h"
#include "parmap/parmap.h"
#include "support/chunk_support.h"
#include "support/test_support.h"

namespace parmap {
namespace {

using test::sqlite_checksum;
using test::sqlite_exec;
using test::sqlite_scalar;
using test::TempDir;

class SqliteChunkTest : public ::testing::Test {
 protected:
  void SetUp() override { register_builtin_drivers(); }

  static ParallelOptions options(int64_t chunk_size) {
    ParallelOptions o;
    o.config = resolve_config({{"max_workers", "3"},
                               {"chunk_size", std::to_string(chunk_size)},
                               {"min_rows_for_parallel", "10"}},
                              {}, 4);
    o.mode = TargetMode::Create;
    return o;
  }

  /// Table h: `rows` rows, every second one in group 0, the others each in a group of its
  /// own; view hv over it.
  void make_source(int64_t rows) {
    sqlite_exec(dir_.file("src.db"),
                "CREATE TABLE h (id INTEGER PRIMARY KEY, grp INTEGER, pad TEXT);"
                "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < " +
                    std::to_string(rows) +
                    ") INSERT INTO h SELECT i, CASE WHEN i % 2 = 0 THEN 0 ELSE i END, "
                    "hex(randomblob(8)) FROM s;"
                    "CREATE INDEX h_grp ON h (grp); CREATE VIEW hv AS SELECT * FROM h;");
  }

  int64_t largest_chunk() {
    return std::stoll(
        sqlite_scalar(dir_.file("dst.db"), "SELECT max(rows_written) FROM parmap_ledger"));
  }

  TempDir dir_;
};

TEST_F(SqliteChunkTest, KeyValueHoldingHalfTheTableIsSplitByRowid) {
  const int64_t n = std::clamp<int64_t>(test::test_rows(), 20000, 200000);
  const int64_t chunk = n / 10;
  make_source(n);
  const std::string sql = "SELECT * FROM h ORDER BY grp";
  const int64_t before = test::largest_estimated_chunk(dir_.url("src.db"), sql, "grp", chunk);
  std::cout << "[ chunk ] sqlite heavy hitter: " << n << " rows, chunk_size " << chunk
            << "; estimate-only plan's largest chunk " << before << " rows\n";
  EXPECT_GE(before, n / 2);

  const auto r =
      execute_query_parallel(dir_.url("src.db"), sql, dir_.url("dst.db"), "", "t", options(chunk));
  std::cout << "[ chunk ] after: " << r.chunks_planned << " chunks, largest " << largest_chunk()
            << " rows; " << r.reason << "\n";
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
  EXPECT_NE(r.reason.find("by rowid"), std::string::npos) << r.reason;
  EXPECT_EQ(r.total_rows_processed, n);
  EXPECT_LE(largest_chunk(), 2 * chunk);
  EXPECT_EQ(sqlite_checksum(dir_.file("dst.db"), "SELECT id, grp, pad FROM t"),
            sqlite_checksum(dir_.file("src.db"), "SELECT id, grp, pad FROM h"));

  // Verify reads the stored plan back; key values split by rowid are compared as one whole.
  const VerifyResult v =
      verify_query_parallel(dir_.url("src.db"), sql, dir_.url("dst.db"), "", "t", options(chunk));
  EXPECT_TRUE(v.ok()) << v.scope;
}

TEST_F(SqliteChunkTest, CancelledRunWithRowidSlicesResumesFromTheStoredPlan) {
  const int64_t n = 20000;
  const int64_t chunk = 2000;
  make_source(n);
  const std::string sql = "SELECT * FROM h ORDER BY grp";
  std::atomic<bool> cancel{false};
  auto opts = options(chunk);
  opts.config.max_workers = 1;
  opts.cancel = &cancel;
  int done = 0;
  opts.on_progress = [&](const ProgressEvent& e) {
    if (e.kind == ProgressKind::ChunkDone && ++done == 4) cancel = true;
  };
  try {
    const auto first =
        execute_query_parallel(dir_.url("src.db"), sql, dir_.url("dst.db"), "", "t", opts);
    EXPECT_FALSE(first.ok() && first.chunks_done == first.chunks_planned);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Cancelled) << e.what();
  }
  const int64_t committed =
      std::stoll(sqlite_scalar(dir_.file("dst.db"), "SELECT count(*) FROM parmap_ledger"));
  ASSERT_GE(committed, 4);

  opts.cancel = nullptr;
  opts.on_progress = nullptr;
  const auto r = execute_query_parallel(dir_.url("src.db"), sql, dir_.url("dst.db"), "", "t", opts);
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
  EXPECT_TRUE(r.resumed);
  EXPECT_NE(r.reason.find("by rowid"), std::string::npos) << r.reason;
  EXPECT_EQ(r.chunks_skipped, committed);
  EXPECT_EQ(sqlite_scalar(dir_.file("dst.db"), "SELECT count(*) FROM t"), std::to_string(n));
  EXPECT_EQ(sqlite_checksum(dir_.file("dst.db"), "SELECT id, grp, pad FROM t"),
            sqlite_checksum(dir_.file("src.db"), "SELECT id, grp, pad FROM h"));
}

TEST_F(SqliteChunkTest, NullKeysHoldingHalfTheTableAreSplitByRowid) {
  const int64_t n = 20000;
  const int64_t chunk = 2000;
  sqlite_exec(dir_.file("src.db"),
              "CREATE TABLE h (id INTEGER PRIMARY KEY, grp INTEGER, pad TEXT);"
              "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 20000) "
              "INSERT INTO h SELECT i, CASE WHEN i % 2 = 0 THEN NULL ELSE i END, 'p' || i FROM s;"
              "CREATE INDEX h_grp ON h (grp);");
  const std::string sql = "SELECT * FROM h ORDER BY grp";
  const auto r =
      execute_query_parallel(dir_.url("src.db"), sql, dir_.url("dst.db"), "", "t", options(chunk));
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
  EXPECT_NE(r.reason.find("grp IS NULL (10000 rows) split"), std::string::npos) << r.reason;
  EXPECT_EQ(r.total_rows_processed, n);
  EXPECT_LE(largest_chunk(), 2 * chunk);
  EXPECT_EQ(sqlite_checksum(dir_.file("dst.db"), "SELECT id, grp, pad FROM t"),
            sqlite_checksum(dir_.file("src.db"), "SELECT id, grp, pad FROM h"));
}

TEST_F(SqliteChunkTest, HeavyValueOfAViewStaysOneChunkAndSaysWhy) {
  const int64_t n = 20000;
  const int64_t chunk = 2000;
  make_source(n);
  const std::string sql = "SELECT * FROM hv ORDER BY grp";
  const auto r =
      execute_query_parallel(dir_.url("src.db"), sql, dir_.url("dst.db"), "", "t", options(chunk));
  EXPECT_TRUE(r.ok());
  EXPECT_NE(r.reason.find("stays one chunk"), std::string::npos) << r.reason;
  EXPECT_EQ(r.total_rows_processed, n);
  EXPECT_EQ(largest_chunk(), n / 2);
  EXPECT_EQ(sqlite_checksum(dir_.file("dst.db"), "SELECT id, grp, pad FROM t"),
            sqlite_checksum(dir_.file("src.db"), "SELECT id, grp, pad FROM h"));
}

TEST_F(SqliteChunkTest, KeyWithoutAnIndexIsReadOnceNotPerChunk) {
  // ORDER BY a column no index answers: SQLite would scan the whole table for every range
  // chunk (the cost of OFFSET paging), so the query is read as one stream.
  const int64_t n = 20000;
  sqlite_exec(dir_.file("src.db"),
              "CREATE TABLE nx (id INTEGER PRIMARY KEY, v TEXT);"
              "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 20000) "
              "INSERT INTO nx SELECT i, hex(randomblob(8)) FROM s;");
  const auto r = execute_query_parallel(dir_.url("src.db"), "SELECT * FROM nx ORDER BY v",
                                        dir_.url("dst.db"), "", "t", options(1000));
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
  EXPECT_EQ(r.chunks_planned, 1) << r.reason;
  EXPECT_NE(r.reason.find("no index on v answers a key range (SQLite plans SCAN nx)"),
            std::string::npos)
      << r.reason;
  EXPECT_EQ(r.total_rows_processed, n);
  EXPECT_EQ(sqlite_checksum(dir_.file("dst.db"), "SELECT id, v FROM t"),
            sqlite_checksum(dir_.file("src.db"), "SELECT id, v FROM nx"));
}

TEST_F(SqliteChunkTest, ChunksCutFromEveryKeyAreNotCountedAgainAndHoldWhatThePlanSaid) {
  // Planning reads every key of a SQLite query once, so its sample is every k-th key and a
  // chunk's estimate is its count to within k rows: no chunk is counted again. Keys crowd at
  // the low end (ids 1..n/2 each once, then one key in 64 of a range 64 times wider).
  const int64_t n = 40000;
  const int64_t chunk = 2000;
  sqlite_exec(dir_.file("src.db"),
              "CREATE TABLE sk (id INTEGER PRIMARY KEY, pad TEXT);"
              "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 40000) "
              "INSERT INTO sk SELECT CASE WHEN i <= 20000 THEN i ELSE 20000 + (i - 20000) * 64 "
              "END, hex(randomblob(6)) FROM s;");
  const auto r = execute_query_parallel(dir_.url("src.db"), "SELECT * FROM sk ORDER BY id",
                                        dir_.url("dst.db"), "", "t", options(chunk));
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
  EXPECT_NE(r.reason.find("chunk sizes from reading every key (exact to "), std::string::npos)
      << r.reason;
  EXPECT_EQ(r.reason.find("counted ("), std::string::npos) << r.reason;
  EXPECT_EQ(r.total_rows_processed, n);
  // Every chunk holds about chunk_size rows, on both sides of the change in density: the
  // plan's estimates are the counts, and the ledger holds the real rows of each.
  EXPECT_EQ(r.chunks_planned, n / chunk) << r.reason;
  EXPECT_LE(largest_chunk(), chunk + chunk / 8);
  EXPECT_GE(std::stoll(sqlite_scalar(dir_.file("dst.db"),
                                     "SELECT min(rows_written) FROM parmap_ledger")),
            chunk - chunk / 8);
  EXPECT_EQ(sqlite_checksum(dir_.file("dst.db"), "SELECT id, pad FROM t"),
            sqlite_checksum(dir_.file("src.db"), "SELECT id, pad FROM sk"));
}

TEST_F(SqliteChunkTest, RowidKeysWithoutGapsArePlannedFromTheirCountAndEnds) {
  // ids 101..30100, each once: the count and the two ends say which keys there are, so
  // planning reads none of them, and the chunks hold what the plan says.
  const int64_t n = 30000;
  const int64_t chunk = 2000;
  const std::string rows =
      "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 30000) ";
  sqlite_exec(dir_.file("src.db"), "CREATE TABLE dk (id INTEGER PRIMARY KEY, pad TEXT);" + rows +
                                       "INSERT INTO dk SELECT 100 + i, hex(randomblob(6)) FROM s;");
  auto copy = [&](const std::string& table, const std::string& columns) {
    std::filesystem::remove(dir_.file("dst.db"));
    const auto r = execute_query_parallel(dir_.url("src.db"),
                                          "SELECT * FROM " + table + " ORDER BY id",
                                          dir_.url("dst.db"), "", "t", options(chunk));
    EXPECT_TRUE(r.ok()) << table << ": " << (r.errors.empty() ? "" : r.errors.front());
    EXPECT_EQ(r.total_rows_processed, n) << table;
    EXPECT_EQ(sqlite_checksum(dir_.file("dst.db"), "SELECT " + columns + " FROM t"),
              sqlite_checksum(dir_.file("src.db"), "SELECT " + columns + " FROM " + table))
        << table;
    return r;
  };
  const auto dense = copy("dk", "id, pad");
  EXPECT_NE(dense.reason.find("every integer between them is a key"), std::string::npos)
      << dense.reason;
  EXPECT_EQ(dense.chunks_planned, n / chunk) << dense.reason;
  EXPECT_LE(largest_chunk(), chunk + chunk / 8);
  EXPECT_GE(std::stoll(sqlite_scalar(dir_.file("dst.db"),
                                     "SELECT min(rows_written) FROM parmap_ledger")),
            chunk - chunk / 8);

  // One key missing: the keys are read.
  sqlite_exec(dir_.file("src.db"),
              "CREATE TABLE gap (id INTEGER PRIMARY KEY, pad TEXT);"
              "INSERT INTO gap SELECT * FROM dk WHERE id <> 5000;"
              "INSERT INTO gap VALUES (30101, 'last');");
  const auto gap = copy("gap", "id, pad");
  EXPECT_NE(gap.reason.find("from reading every key"), std::string::npos) << gap.reason;
  // That read is the count too: the plan's rows are exact, and the table was not counted
  // before it.
  EXPECT_NE(gap.reason.find("counted 30000 rows"), std::string::npos) << gap.reason;
  EXPECT_EQ(gap.estimated_rows, n);

  // Keys SQLite keeps in an index of their own may be any value: 2.5 among the integers keeps
  // the count and the ends of a range without gaps, but the keys are not its integers.
  for (const std::string table : {"desc_key", "no_rowid"}) {
    sqlite_exec(dir_.file("src.db"),
                "CREATE TABLE " + table + " (id INTEGER" +
                    (table == "desc_key" ? " PRIMARY KEY DESC, pad TEXT)"
                                         : ", pad TEXT, PRIMARY KEY (id)) WITHOUT ROWID") +
                    ";" + rows + "INSERT INTO " + table +
                    " SELECT CASE WHEN i % 10 = 3 THEN i - 0.5 ELSE i END, hex(randomblob(6)) "
                    "FROM s;");
    // Planned only: the created target's INTEGER PRIMARY KEY would refuse 2.5.
    ParallelOptions plan_only = options(chunk);
    plan_only.dry_run = true;
    const auto r = execute_query_parallel(dir_.url("src.db"),
                                          "SELECT * FROM " + table + " ORDER BY id",
                                          dir_.url("dst.db"), "", table, plan_only);
    EXPECT_TRUE(r.ok()) << table << ": " << (r.errors.empty() ? "" : r.errors.front());
    EXPECT_NE(r.reason.find("from reading every key"), std::string::npos)
        << table << ": " << r.reason;
  }
}

}  // namespace
}  // namespace parmap
