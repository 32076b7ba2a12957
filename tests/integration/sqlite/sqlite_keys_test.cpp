// Text and real partition keys on SQLite: several chunks, every row copied exactly once.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include "parmap/parmap.h"
#include "support/test_support.h"

namespace parmap {
namespace {

using test::sqlite_checksum;
using test::TempDir;

constexpr const char* kColumns = "SELECT id, name, nocase_name, score, pad FROM ";

/// One source of PARMAP_TEST_ROWS rows (kept between 60,000 and 200,000) with a text key in
/// the default (binary) collation, a text key in NOCASE, and a real key with fractions,
/// negatives, repeats and NULLs.
class SqliteKeysTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    register_builtin_drivers();
    dir_ = std::make_unique<TempDir>();
    rows_ = std::clamp<int64_t>(test::test_rows(), 60000, 200000);
    test::sqlite_exec(
        dir_->file("src.db"),
        "CREATE TABLE src (id INTEGER, name TEXT, nocase_name TEXT COLLATE NOCASE, score REAL, "
        "pad TEXT);"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " +
            std::to_string(rows_) +
            ") INSERT INTO src SELECT i, "
            "CASE WHEN i % 97 = 0 THEN NULL ELSE "
            "  substr('aAbB_-. zZ9#', 1 + i % 12, 1) || lower(hex(randomblob(3))) || "
            "  CASE WHEN i % 5 = 0 THEN upper(hex(randomblob(1))) ELSE '' END END, "
            "substr('aAbBcC', 1 + i % 6, 1) || (i % 5000), "
            "CASE WHEN i % 89 = 0 THEN NULL ELSE ((i * 7919) % 100003 - 50000) / 7.0 END, "
            "hex(randomblob(8)) FROM n;"
            // Chunks are key ranges only where an index answers them.
            "CREATE INDEX src_name ON src (name); CREATE INDEX src_nocase ON src (nocase_name);"
            "CREATE INDEX src_score ON src (score);");
  }
  static void TearDownTestSuite() { dir_.reset(); }

  /// Copies `sql` with 3 workers and chunks of rows/8 into a fresh file, and checks the
  /// plan's key, at least 4 chunks, and the target's count and checksum against the source.
  void copy_and_check(const std::string& sql, const std::string& key) {
    ParallelOptions opts;
    opts.config = resolve_config({{"max_workers", "3"},
                                  {"chunk_size", std::to_string(rows_ / 8)},
                                  {"min_rows_for_parallel", "1000"}},
                                 {}, 4);
    opts.mode = TargetMode::Create;
    const auto start = std::chrono::steady_clock::now();
    const auto r = execute_query_parallel(dir_->url("src.db"), sql, work_.url("dst.db"), "",
                                          "dst", opts);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("[ keys     ] sqlite %s: %lld rows, %lld chunks planned, %.2f s\n", key.c_str(),
                static_cast<long long>(r.total_rows_processed),
                static_cast<long long>(r.chunks_planned), seconds);
    EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
    EXPECT_TRUE(r.parallel) << r.reason;
    EXPECT_EQ(r.partition_column, key) << r.reason;
    EXPECT_GE(r.chunks_planned, 4) << r.reason;
    EXPECT_EQ(r.chunks_done, r.chunks_planned);
    EXPECT_EQ(r.total_rows_processed, rows_);
    EXPECT_EQ(sqlite_checksum(work_.file("dst.db"), std::string(kColumns) + "dst"),
              sqlite_checksum(dir_->file("src.db"), std::string(kColumns) + "src"));
  }

  static std::unique_ptr<TempDir> dir_;
  static int64_t rows_;
  TempDir work_;
};
std::unique_ptr<TempDir> SqliteKeysTest::dir_;
int64_t SqliteKeysTest::rows_ = 0;

TEST_F(SqliteKeysTest, TextKeySplitsIntoSeveralChunks) {
  copy_and_check("SELECT * FROM src ORDER BY name", "name");
}

TEST_F(SqliteKeysTest, NocaseTextKeySplitsIntoSeveralChunks) {
  // 'a1' and 'A1' are equal in NOCASE: a bound must take both to the same chunk.
  copy_and_check("SELECT * FROM src ORDER BY nocase_name", "nocase_name");
}

TEST_F(SqliteKeysTest, RealKeySplitsIntoSeveralChunks) {
  copy_and_check("SELECT * FROM src ORDER BY score", "score");
}

TEST_F(SqliteKeysTest, CompositeOrderByIsExactWhenSplitOnItsFirstColumn) {
  copy_and_check("SELECT * FROM src ORDER BY score DESC, name", "score");
}

}  // namespace
}  // namespace parmap
