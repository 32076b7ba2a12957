// The in-engine path between SQLite files: the target's session ATTACHes the source and copies
// each chunk with INSERT ... SELECT. Its ledger must hold the same hashes as the typed path's,
// refused rows must still be isolated, and a query it cannot run exactly must copy typed.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <string>

#include "parmap/parmap.h"
#include "support/test_support.h"

namespace parmap {
namespace {

using test::sqlite_checksum;
using test::sqlite_exec;
using test::sqlite_scalar;
using test::TempDir;

constexpr const char* kColumns = "id, n, r, t, b, flag, day, ts";

class SqliteInEngineTest : public ::testing::Test {
 protected:
  void SetUp() override { register_builtin_drivers(); }

  /// Every storage class, declared types SQLite leaves to the application (BOOLEAN, DATE,
  /// TIMESTAMP) with values in their canonical and in other spellings, NULLs.
  void make_source(int64_t rows) {
    sqlite_exec(dir_.file("src.db"),
                "CREATE TABLE src (id INTEGER PRIMARY KEY, n INTEGER, r REAL, t TEXT, b BLOB, "
                "flag BOOLEAN, day DATE, ts TIMESTAMP);"
                "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < " +
                    std::to_string(rows) +
                    ") INSERT INTO src SELECT i, CASE WHEN i % 13 = 0 THEN NULL ELSE i * 7 - "
                    "50000 END, CASE WHEN i % 5 = 0 THEN -0.0 ELSE i / 3.0 END, "
                    "CASE WHEN i % 17 = 0 THEN '' ELSE printf('text %d ✓', i) END, "
                    "CASE WHEN i % 4 = 0 THEN NULL ELSE randomblob(i % 9) END, i % 2, "
                    "date('2000-01-01', printf('+%d days', i % 9000)), "
                    "CASE WHEN i % 3 = 0 THEN printf('2024-05-%02d 10:11:12', 1 + i % 28) "
                    "ELSE printf('2024-05-%02dT10:11:12.5', 1 + i % 28) END FROM seq;");
  }

  ParallelOptions options(const std::string& job) const {
    ParallelOptions o;
    o.config = resolve_config(
        {{"max_workers", "2"}, {"chunk_size", "700"}, {"min_rows_for_parallel", "10"}}, {}, 4);
    o.job_id = job;
    o.mode = TargetMode::Create;
    return o;
  }

  test::Checksum source_sum() {
    return sqlite_checksum(dir_.file("src.db"), std::string("SELECT ") + kColumns + " FROM src");
  }
  test::Checksum target_sum(const std::string& file, const std::string& table) {
    return sqlite_checksum(dir_.file(file), std::string("SELECT ") + kColumns + " FROM " + table);
  }

  TempDir dir_;
};

TEST_F(SqliteInEngineTest, CopiesExactlyAndRecordsTheTypedPathsHashes) {
  make_source(5000);
  const std::string query = "SELECT * FROM src ORDER BY id";
  const auto local = execute_query_parallel(dir_.url("src.db"), query, dir_.url("local.db"), "",
                                            "dst", options("same-job"));
  ASSERT_TRUE(local.ok()) << (local.errors.empty() ? "" : local.errors.front());
  EXPECT_EQ(local.path.rfind("in-engine path", 0), 0u) << local.path;
  EXPECT_TRUE(local.parallel) << local.reason;
  EXPECT_GE(local.chunks_planned, 5);
  EXPECT_EQ(local.total_rows_processed, 5000);
  EXPECT_EQ(target_sum("local.db", "dst"), source_sum());

  // The same job on the typed path (a transformation that changes nothing forces it).
  ParallelOptions typed_opts = options("same-job");
  typed_opts.transform = [](Batch&) {};
  const auto typed = execute_query_parallel(dir_.url("src.db"), query, dir_.url("typed.db"), "",
                                            "dst", typed_opts);
  ASSERT_TRUE(typed.ok()) << (typed.errors.empty() ? "" : typed.errors.front());
  EXPECT_EQ(typed.path.rfind("typed path", 0), 0u) << typed.path;
  EXPECT_EQ(typed.chunks_planned, local.chunks_planned);
  // Chunk by chunk, the same rows and the same hash of their values.
  const std::string ledger =
      "SELECT group_concat(chunk_id || ':' || rows_written || ':' || row_hash, ',') FROM "
      "(SELECT * FROM parmap_ledger ORDER BY chunk_id)";
  EXPECT_EQ(sqlite_scalar(dir_.file("local.db"), ledger),
            sqlite_scalar(dir_.file("typed.db"), ledger));

  // verify --ledger reads the target back and finds what the in-engine copy recorded.
  const auto verified = verify_query_parallel(dir_.url("src.db"), query, dir_.url("local.db"), "",
                                              "dst", options("same-job"), true);
  EXPECT_TRUE(verified.ok()) << (verified.differences.empty()
                                     ? ""
                                     : verified.differences.front().problem);
  EXPECT_EQ(verified.ranges_checked, local.chunks_planned);
  // A row changed after the load is found.
  sqlite_exec(dir_.file("local.db"), "UPDATE dst SET t = t || '!' WHERE id = 2500");
  const auto changed = verify_query_parallel(dir_.url("src.db"), query, dir_.url("local.db"), "",
                                             "dst", options("same-job"), true);
  EXPECT_EQ(changed.differences.size(), 1u);
}

TEST_F(SqliteInEngineTest, ATableNameBothFilesHaveIsReadFromTheSource) {
  make_source(3000);
  // The target already has a table named like the source's: inside the target's session the
  // query's unqualified name would read it instead of the source's.
  sqlite_exec(dir_.file("t.db"),
              "CREATE TABLE src (id INTEGER PRIMARY KEY, n INTEGER, r REAL, t TEXT, b BLOB, "
              "flag BOOLEAN, day DATE, ts TIMESTAMP);"
              "INSERT INTO src (id) VALUES (-1), (-2)");
  // A plain table query is run with its table named in the attached source.
  const auto plain = execute_query_parallel(dir_.url("src.db"), "SELECT * FROM src ORDER BY id",
                                            dir_.url("t.db"), "", "dst", options("plain"));
  ASSERT_TRUE(plain.ok()) << (plain.errors.empty() ? "" : plain.errors.front());
  EXPECT_EQ(plain.path.rfind("in-engine path", 0), 0u) << plain.path;
  EXPECT_EQ(target_sum("t.db", "dst"), source_sum());
  // Any other query would read the target's table: it is copied typed.
  const auto filtered =
      execute_query_parallel(dir_.url("src.db"), "SELECT * FROM src WHERE id > 0 ORDER BY id",
                             dir_.url("t.db"), "", "dst2", options("filtered"));
  ASSERT_TRUE(filtered.ok()) << (filtered.errors.empty() ? "" : filtered.errors.front());
  EXPECT_EQ(filtered.path.rfind("typed path", 0), 0u) << filtered.path;
  EXPECT_NE(filtered.path.find("reads table src of the target database"), std::string::npos)
      << filtered.path;
  EXPECT_EQ(target_sum("t.db", "dst2"), source_sum());
  EXPECT_EQ(sqlite_scalar(dir_.file("t.db"), "SELECT count(*) FROM src"), "2");
}

TEST_F(SqliteInEngineTest, AQueryReadingATableNamedLikeTheTargetIsCopiedTyped) {
  make_source(2000);
  sqlite_exec(dir_.file("src.db"), "CREATE TABLE extra (id INTEGER PRIMARY KEY, note TEXT)");
  // Created by the run before its first chunk: by then "src" in the target's session is the
  // target table itself.
  const auto r = execute_query_parallel(
      dir_.url("src.db"),
      "SELECT src.* FROM src LEFT JOIN extra ON extra.id = src.id ORDER BY src.id",
      dir_.url("t.db"), "", "src", options("join"));
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
  EXPECT_EQ(r.path.rfind("typed path", 0), 0u) << r.path;
  EXPECT_NE(r.path.find("named like the target table src"), std::string::npos) << r.path;
  EXPECT_EQ(target_sum("t.db", "src"), source_sum());
}

TEST_F(SqliteInEngineTest, LoadingTheSourcesOwnFileCopiesInEngine) {
  make_source(2000);
  const auto r = execute_query_parallel(dir_.url("src.db"), "SELECT * FROM src ORDER BY id",
                                        dir_.url("src.db"), "", "copy_of_src", options("same"));
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
  EXPECT_EQ(r.path.rfind("in-engine path", 0), 0u) << r.path;
  EXPECT_EQ(target_sum("src.db", "copy_of_src"), source_sum());
}

TEST_F(SqliteInEngineTest, ANumericColumnIsCopiedTypedAsExactDecimalText) {
  // The typed path reads NUMERIC(p,s) values as exact decimal text; SQLite's own conversion
  // of a REAL in an INSERT would print 15 digits instead.
  sqlite_exec(dir_.file("src.db"),
              "CREATE TABLE prices (id INTEGER PRIMARY KEY, price NUMERIC(10,2));"
              "INSERT INTO prices VALUES (1, 1.25), (2, 0.5), (3, '7.10'), (4, NULL)");
  const auto r = execute_query_parallel(dir_.url("src.db"), "SELECT * FROM prices ORDER BY id",
                                        dir_.url("t.db"), "", "prices", options("numeric"));
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
  EXPECT_EQ(r.path.rfind("typed path", 0), 0u) << r.path;
  EXPECT_NE(r.path.find("column price"), std::string::npos) << r.path;
  EXPECT_EQ(sqlite_scalar(dir_.file("t.db"), "SELECT count(*) FROM prices"), "4");
  EXPECT_EQ(sqlite_scalar(dir_.file("t.db"),
                          "SELECT group_concat(quote(price), ' ') FROM (SELECT price FROM prices "
                          "ORDER BY id)"),
            "'1.25' '0.5' '7.1' NULL");
}

TEST_F(SqliteInEngineTest, RowsTheTargetRefusesAreIsolatedAndTheRestCommits) {
  make_source(3000);
  // n is NULL in every 13th row: 230 rows the target's NOT NULL refuses.
  sqlite_exec(dir_.file("t.db"),
              "CREATE TABLE dst (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, r REAL, t TEXT, "
              "b BLOB, flag BOOLEAN, day DATE, ts TIMESTAMP)");
  ParallelOptions opts = options("refused");
  opts.mode = TargetMode::Append;
  opts.config.max_rejects = 1000;
  opts.reject_file = dir_.file("rejects.jsonl");
  const auto r = execute_query_parallel(dir_.url("src.db"), "SELECT * FROM src ORDER BY id",
                                        dir_.url("t.db"), "", "dst", opts);
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
  EXPECT_EQ(r.path.rfind("in-engine path", 0), 0u) << r.path;
  EXPECT_EQ(r.rows_rejected, 230);
  EXPECT_EQ(sqlite_scalar(dir_.file("t.db"), "SELECT count(*) FROM dst"), "2770");
  EXPECT_EQ(sqlite_checksum(dir_.file("t.db"), std::string("SELECT ") + kColumns + " FROM dst"),
            sqlite_checksum(dir_.file("src.db"),
                            std::string("SELECT ") + kColumns + " FROM src WHERE n IS NOT NULL"));
  std::ifstream in(dir_.file("rejects.jsonl"));
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_NE(text.str().find("NOT NULL"), std::string::npos) << text.str().substr(0, 500);
}

TEST_F(SqliteInEngineTest, AValueNotOfItsDeclaredTypeStopsTheJobNamingIt) {
  make_source(3000);
  // As on the typed path: the source's own reader refuses the value, so no target could take
  // it unchanged; the job stops and names the column and the value.
  sqlite_exec(dir_.file("src.db"), "UPDATE src SET ts = 42.5 WHERE id = 2345");
  ParallelOptions opts = options("declared");
  opts.config.max_rejects = 10;
  opts.reject_file = dir_.file("rejects.jsonl");
  const auto r = execute_query_parallel(dir_.url("src.db"), "SELECT * FROM src ORDER BY id",
                                        dir_.url("t.db"), "", "dst", opts);
  EXPECT_FALSE(r.ok());
  ASSERT_FALSE(r.errors.empty());
  EXPECT_NE(r.errors.front().find("column 'ts' is declared TIMESTAMP but holds 42.5"),
            std::string::npos)
      << r.errors.front();
  // The chunk holding it committed nothing; the others are whole.
  EXPECT_EQ(sqlite_scalar(dir_.file("t.db"), "SELECT count(*) FROM dst WHERE id = 2345"), "0");
  EXPECT_EQ(sqlite_scalar(dir_.file("t.db"), "SELECT sum(rows_written) FROM parmap_ledger"),
            sqlite_scalar(dir_.file("t.db"), "SELECT count(*) FROM dst"));
}

TEST_F(SqliteInEngineTest, ACancelStopsTheCopyAndTheRerunEndsExact) {
  make_source(20000);
  ParallelOptions opts = options("cancelled");
  std::atomic<bool> stop{false};
  std::atomic<int> done{0};
  opts.cancel = &stop;
  opts.on_progress = [&](const ProgressEvent& ev) {
    if (ev.kind == ProgressKind::ChunkDone && ++done >= 3) stop = true;
  };
  opts.mode = TargetMode::Append;
  sqlite_exec(dir_.file("t.db"),
              "CREATE TABLE dst (id INTEGER, n INTEGER, r REAL, t TEXT, b BLOB, flag BOOLEAN, "
              "day DATE, ts TIMESTAMP)");
  try {
    execute_query_parallel(dir_.url("src.db"), "SELECT * FROM src ORDER BY id", dir_.url("t.db"),
                           "", "dst", opts);
    ADD_FAILURE() << "the run was not cancelled";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Cancelled) << e.what();
  }
  const int64_t partial = std::stoll(sqlite_scalar(dir_.file("t.db"), "SELECT count(*) FROM dst"));
  EXPECT_GT(partial, 0);
  EXPECT_LT(partial, 20000);
  // Every committed chunk is whole: the rows equal the ledger's.
  EXPECT_EQ(sqlite_scalar(dir_.file("t.db"), "SELECT sum(rows_written) FROM parmap_ledger"),
            std::to_string(partial));
  opts.cancel = nullptr;
  opts.on_progress = nullptr;
  const auto r = execute_query_parallel(dir_.url("src.db"), "SELECT * FROM src ORDER BY id",
                                        dir_.url("t.db"), "", "dst", opts);
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
  EXPECT_TRUE(r.resumed);
  EXPECT_EQ(sqlite_scalar(dir_.file("t.db"), "SELECT count(*) FROM dst"), "20000");
  EXPECT_EQ(target_sum("t.db", "dst"), source_sum());
}

TEST_F(SqliteInEngineTest, AutoChunksCommitInGroupsEachWithItsOwnLedgerRow) {
  make_source(180000);  // four chunks of chunk_size auto's 50,000 rows
  const std::string query = "SELECT * FROM src ORDER BY id";
  // Groups long enough that the rate (a chunk in 0.1 s at full speed, 6 s under
  // ThreadSanitizer) does not change the count: after the first chunk, which measures the
  // rate alone, the other three are one group. Two workers cannot overlap under SQLite's one
  // writer lock: after the first chunk each (claimed before any rate is known), the next
  // group is everything left, not a half share, since each hand-over of the lock costs the
  // next writer its cache.
  for (const int workers : {1, 2}) {
    SCOPED_TRACE(std::to_string(workers) + " worker(s)");
    ParallelOptions o = options("grouped" + std::to_string(workers));
    o.config = resolve_config({{"max_workers", std::to_string(workers)},
                               {"chunk_size", "auto"},
                               {"min_rows_for_parallel", "10"}},
                              {}, 4);
    o.config.commit_group_seconds = 600;
    const std::string target = "t" + std::to_string(workers) + ".db";
    const auto r =
        execute_query_parallel(dir_.url("src.db"), query, dir_.url(target), "", "dst", o);
    ASSERT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
    EXPECT_EQ(r.path.rfind("in-engine path", 0), 0u) << r.path;
    ASSERT_EQ(r.chunks_planned, 4);
    EXPECT_GE(r.commits, 2) << r.commit_groups;
    EXPECT_LE(r.commits, workers + 1) << r.commit_groups;
    EXPECT_EQ(r.total_rows_processed, 180000);
    EXPECT_EQ(target_sum(target, "dst"), source_sum());
    EXPECT_EQ(sqlite_scalar(dir_.file(target),
                            "SELECT count(*) || ':' || sum(rows_written) FROM parmap_ledger"),
              "4:180000");
    const auto verified =
        verify_query_parallel(dir_.url("src.db"), query, dir_.url(target), "", "dst", o, true);
    EXPECT_TRUE(verified.ok()) << (verified.differences.empty()
                                       ? ""
                                       : verified.differences.front().problem);
    EXPECT_EQ(verified.ranges_checked, 4);
  }
}

TEST_F(SqliteInEngineTest, OneWorkerUnlessTheJobSetsMaxWorkers) {
  // The in-engine copy reads and writes under SQLite's one writer lock: the default worker
  // count (3 on 4 cores here) becomes 1, and the plan says why; a count the job sets is kept.
  make_source(20000);
  ParallelOptions o = options("default-workers");
  o.config = resolve_config({{"chunk_size", "700"}, {"min_rows_for_parallel", "10"}}, {}, 4);
  ASSERT_EQ(o.config.max_workers, 3);
  const std::string query = "SELECT * FROM src ORDER BY id";
  auto r = execute_query_parallel(dir_.url("src.db"), query, dir_.url("t.db"), "", "dst", o);
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
  EXPECT_EQ(r.path.rfind("in-engine path", 0), 0u) << r.path;
  EXPECT_TRUE(r.parallel) << r.reason;
  EXPECT_EQ(r.workers_used, 1);
  EXPECT_NE(r.reason.find("1 worker: the in-engine copy reads and writes under sqlite's one "
                          "writer lock"),
            std::string::npos)
      << r.reason;
  EXPECT_EQ(target_sum("t.db", "dst"), source_sum());

  ParallelOptions set = options("set-workers");
  set.mode = TargetMode::Truncate;
  r = execute_query_parallel(dir_.url("src.db"), query, dir_.url("t.db"), "", "dst", set);
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
  EXPECT_EQ(r.workers_used, 2);
  EXPECT_EQ(r.reason.find("1 worker:"), std::string::npos) << r.reason;
  EXPECT_EQ(target_sum("t.db", "dst"), source_sum());
}

}  // namespace
}  // namespace parmap
