// Resuming a run whose chunks are cut by physical position (ctid) after the source changed, for
// a table and for a partitioned table.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <string>

#include "parmap/parmap.h"
#include "support/pg_support.h"
#include "support/test_support.h"

namespace parmap {
namespace {

using test::pg_checksum;

class PgResumeTest : public test::PgTwoDatabasesTest {
 protected:
  static constexpr const char* kQuery = "SELECT * FROM nokey";

  /// A source table with no key column at all (so the plan cuts it by ctid), and its target
  /// with no unique key (a row copied twice would show in the count).
  void make_tables(int64_t rows) {
    src_->exec("CREATE TABLE nokey (a int8, b text); INSERT INTO nokey SELECT g, 'row ' || g || "
               "repeat('x', g % 50) FROM generate_series(1, " +
               std::to_string(rows) + ") g; ANALYZE nokey");
    dst_->exec("CREATE TABLE nokey (a int8, b text)");
  }

  ParallelOptions options(TargetMode mode) const {
    ParallelOptions opts;
    opts.config = resolve_config(
        {{"max_workers", "2"}, {"chunk_size", "4000"}, {"min_rows_for_parallel", "10"}}, {}, 8);
    opts.job_id = "ctid-resume";
    opts.mode = mode;
    return opts;
  }

  /// Starts the job and cancels it (the caller's flag) once `chunks` chunks committed.
  void run_partly(int chunks) {
    ParallelOptions opts = options(TargetMode::Append);
    std::atomic<bool> stop{false};
    std::atomic<int> seen{0};
    opts.cancel = &stop;
    opts.on_progress = [&](const ProgressEvent& ev) {
      if (ev.kind == ProgressKind::ChunkDone && ++seen >= chunks) stop = true;
    };
    try {
      execute_query_parallel(src_url(), kQuery, dst_url(), "", "nokey", opts);
      FAIL() << "the run was not cancelled";
    } catch (const Error& e) {
      ASSERT_EQ(e.kind(), ErrorKind::Cancelled) << e.what();
    }
    const std::string plan = dst_->scalar("SELECT plan FROM parmap_jobs");
    ASSERT_NE(plan.find("\"partition_column\":\"ctid\""), std::string::npos) << plan;
    ASSERT_NE(plan.find("\"position_token\""), std::string::npos) << plan;
  }

  /// The same rows in a keyless partitioned table of unequal partitions, one of them
  /// partitioned again: the plan cuts it by block ranges, each read from every partition.
  void make_partitioned_tables(int64_t rows) {
    src_->exec(
        "CREATE TABLE nokey (a int8, b text) PARTITION BY RANGE (a);"
        "CREATE TABLE nokey_big PARTITION OF nokey FOR VALUES FROM (MINVALUE) TO (" +
        std::to_string(rows * 6 / 10) +
        ");"
        "CREATE TABLE nokey_mid PARTITION OF nokey FOR VALUES FROM (" +
        std::to_string(rows * 6 / 10) + ") TO (" + std::to_string(rows * 9 / 10) +
        ") PARTITION BY LIST ((a % 2));"
        "CREATE TABLE nokey_mid_even PARTITION OF nokey_mid FOR VALUES IN (0);"
        "CREATE TABLE nokey_mid_odd PARTITION OF nokey_mid FOR VALUES IN (1);"
        "CREATE TABLE nokey_small PARTITION OF nokey FOR VALUES FROM (" +
        std::to_string(rows * 9 / 10) +
        ") TO (MAXVALUE);"
        "INSERT INTO nokey SELECT g, 'row ' || g || repeat('x', g % 50) FROM "
        "generate_series(1, " +
        std::to_string(rows) + ") g; ANALYZE nokey");
    dst_->exec("CREATE TABLE nokey (a int8, b text)");
  }

  int64_t target_rows() { return std::stoll(dst_->scalar("SELECT count(*) FROM nokey")); }

  /// Rerun in mode truncate after a refused resume: a new run (2) empties the table and loads
  /// it again, exactly.
  void expect_a_truncate_run_to_start_over() {
    const auto r = execute_query_parallel(src_url(), kQuery, dst_url(), "", "nokey",
                                          options(TargetMode::Truncate));
    EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
    EXPECT_FALSE(r.resumed);
    EXPECT_EQ(r.run, 2);
    EXPECT_EQ(pg_checksum(*dst_, "nokey"), pg_checksum(*src_, "nokey"));
  }
};

TEST_F(PgResumeTest, KeylessPartitionedTableIsSplitByBlocksAndResumedExactly) {
  make_partitioned_tables(100000);
  run_partly(3);
  EXPECT_GT(target_rows(), 0);
  const auto r =
      execute_query_parallel(src_url(), kQuery, dst_url(), "", "nokey", options(TargetMode::Append));
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
  EXPECT_TRUE(r.resumed);
  EXPECT_EQ(r.partition_column, "ctid") << r.reason;
  // The largest partition (60,000 rows) sets the block ranges: about 60,000 / 4,000 chunks.
  EXPECT_GE(r.chunks_planned, 10) << r.reason;
  EXPECT_GE(r.chunks_skipped, 3);
  EXPECT_NE(r.path.find("chunks were committed earlier): each chunk read its own range"),
            std::string::npos)
      << r.path;
  EXPECT_EQ(target_rows(), 100000);
  EXPECT_EQ(pg_checksum(*dst_, "nokey"), pg_checksum(*src_, "nokey"));
}

TEST_F(PgResumeTest, PartitionedRunIsNotResumedAfterAPartitionWasDetached) {
  make_partitioned_tables(60000);
  run_partly(2);
  const int64_t before = target_rows();
  src_->exec("ALTER TABLE nokey DETACH PARTITION nokey_small");
  try {
    execute_query_parallel(src_url(), kQuery, dst_url(), "", "nokey", options(TargetMode::Append));
    ADD_FAILURE() << "a ctid run was resumed after its partitions changed";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config) << e.what();
    EXPECT_NE(std::string(e.what()).find("partition attached or detached"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(target_rows(), before) << "the refused resume wrote rows";
}

TEST_F(PgResumeTest, CtidRunResumedWithoutChangesIsExact) {
  make_tables(100000);
  run_partly(3);
  const int64_t before = target_rows();
  EXPECT_GT(before, 0);
  const auto r =
      execute_query_parallel(src_url(), kQuery, dst_url(), "", "nokey", options(TargetMode::Append));
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
  EXPECT_TRUE(r.resumed);
  EXPECT_EQ(r.partition_column, "ctid");
  EXPECT_GE(r.chunks_skipped, 3);
  EXPECT_EQ(pg_checksum(*dst_, "nokey"), pg_checksum(*src_, "nokey"));
}

TEST_F(PgResumeTest, CtidRunResumesWhileAnOlderTransactionStaysOpenOnTheServer) {
  // A transaction that began before the rows were written and is still open when the plan is
  // made: the plan's snapshot has its xid as xmin, and every row written after it has a
  // newer xid. Those rows had committed before the plan, so the resume must go on.
  test::Pg old(src_url());
  old.exec("BEGIN");
  old.scalar("SELECT pg_current_xact_id()");  // takes an xid, so it holds the snapshot's xmin
  make_tables(30000);
  run_partly(2);
  const auto r =
      execute_query_parallel(src_url(), kQuery, dst_url(), "", "nokey", options(TargetMode::Append));
  EXPECT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors.front());
  EXPECT_TRUE(r.resumed);
  EXPECT_GE(r.chunks_skipped, 2);
  EXPECT_EQ(pg_checksum(*dst_, "nokey"), pg_checksum(*src_, "nokey"));
  old.exec("COMMIT");
}

TEST_F(PgResumeTest, CtidRunIsNotResumedAfterAnUpdateMovedRows) {
  make_tables(100000);
  run_partly(3);
  const int64_t before = target_rows();
  // An UPDATE writes new row versions at the end of the table: rows of chunks already
  // committed move into chunks not yet copied.
  src_->exec("UPDATE nokey SET b = b || '!' WHERE a % 97 = 0");
  try {
    execute_query_parallel(src_url(), kQuery, dst_url(), "", "nokey", options(TargetMode::Append));
    ADD_FAILURE() << "a ctid run was resumed after rows moved";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config) << e.what();
    const std::string what = e.what();
    EXPECT_NE(what.find("inserted or updated since"), std::string::npos) << what;
    EXPECT_NE(what.find("--fresh --mode truncate"), std::string::npos) << what;
  }
  EXPECT_EQ(target_rows(), before) << "the refused resume wrote rows";

  // In truncate mode the run starts over instead.
  expect_a_truncate_run_to_start_over();
}

TEST_F(PgResumeTest, CtidRunIsNotResumedAfterTheTableWasRewritten) {
  make_tables(60000);
  run_partly(2);
  src_->exec("DELETE FROM nokey WHERE a % 2 = 0");
  src_->exec("VACUUM FULL nokey");
  try {
    execute_query_parallel(src_url(), kQuery, dst_url(), "", "nokey", options(TargetMode::Append));
    ADD_FAILURE() << "a ctid run was resumed after VACUUM FULL";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config) << e.what();
    EXPECT_NE(std::string(e.what()).find("was rewritten"), std::string::npos) << e.what();
  }
}

TEST_F(PgResumeTest, RunIsNotResumedIntoATargetEmptiedOrReplacedSinceItBegan) {
  // The ledger says which chunks the run committed; a table emptied or made again since no
  // longer holds them, and a resume that skipped them would finish with their rows missing.
  make_tables(60000);
  run_partly(2);
  ASSERT_NE(dst_->scalar("SELECT plan FROM parmap_jobs").find("\"target_token\""),
            std::string::npos);
  ASSERT_GT(target_rows(), 0);
  auto refused = [&](const std::string& change,
                     const std::string& why = "table nokey was emptied or replaced") {
    try {
      execute_query_parallel(src_url(), kQuery, dst_url(), "", "nokey",
                             options(TargetMode::Append));
      ADD_FAILURE() << "the run was resumed after " << change;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Config) << e.what();
      const std::string what = e.what();
      EXPECT_NE(what.find(why), std::string::npos) << what;
      EXPECT_NE(what.find("--fresh --mode truncate"), std::string::npos) << what;
    }
  };
  // A DELETE leaves the table's storage as it was; the count of its rows says.
  const int64_t held = target_rows();
  dst_->exec("DELETE FROM nokey WHERE a % 2 = 0");
  const int64_t left = target_rows();
  ASSERT_LT(left, held);
  refused("a DELETE", fmt::format("table nokey holds {} row(s), fewer than the {}", left, held));
  EXPECT_EQ(target_rows(), left) << "the refused resume wrote rows after a DELETE";
  dst_->exec("TRUNCATE nokey");
  refused("TRUNCATE");
  EXPECT_EQ(target_rows(), 0) << "the refused resume wrote rows after TRUNCATE";
  dst_->exec("DROP TABLE nokey; CREATE TABLE nokey (a int8, b text)");
  refused("DROP and CREATE");
  EXPECT_EQ(target_rows(), 0) << "the refused resume wrote rows after DROP and CREATE";

  // In truncate mode the run starts over.
  expect_a_truncate_run_to_start_over();
}

}  // namespace
}  // namespace parmap
