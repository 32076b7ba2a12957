// The events of a real run reach on_progress in order, with chunk figures that add up.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "parmap/parmap.h"
#include "support/test_support.h"

namespace parmap {
namespace {

using test::sqlite_checksum;
using test::TempDir;

constexpr const char* kAll = "SELECT id, grp, amount, label, note, day, payload FROM ";

class ProgressEventsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    register_builtin_drivers();
    rows_ = std::min<int64_t>(test::test_rows(), 200000);
    test::make_mixed_table(dir_.file("src.db"), "src", rows_);
  }
  TempDir dir_;
  int64_t rows_ = 0;
};

/// What the callback saw, copied (the result pointer only lives during the call).
struct Seen {
  ProgressEvent ev;
  std::optional<ParallelResult> result;
};

TEST_F(ProgressEventsTest, TwoWorkersSendEveryKindInOrderAndChunkRowsSumToTheRowsLoaded) {
  ParallelOptions opts;
  opts.config = resolve_config({{"max_workers", "2"},
                                {"chunk_size", std::to_string(std::max<int64_t>(1, rows_ / 12))},
                                {"min_rows_for_parallel", "1"}},
                               {}, 2);
  opts.mode = TargetMode::Create;
  opts.progress_interval_ms = 20;
  std::mutex mu;
  std::vector<Seen> seen;
  opts.on_progress = [&](const ProgressEvent& ev) {
    std::lock_guard lock(mu);
    Seen s{ev, std::nullopt};
    if (ev.result) s.result = *ev.result;
    s.ev.result = nullptr;
    seen.push_back(std::move(s));
  };
  const ParallelResult r = execute_query_parallel(
      dir_.url("src.db"), "SELECT * FROM src ORDER BY id", dir_.url("dst.db"), "", "dst", opts);
  ASSERT_TRUE(r.ok()) << (r.errors.empty() ? "" : r.errors[0]);
  ASSERT_EQ(r.workers_used, 2);
  ASSERT_GE(seen.size(), 4u);

  EXPECT_EQ(seen.front().ev.kind, ProgressKind::JobStarted);
  ASSERT_TRUE(seen.front().result.has_value());
  EXPECT_EQ(seen.front().result->chunks_planned, r.chunks_planned);
  EXPECT_EQ(seen.front().result->reason, r.reason);
  EXPECT_EQ(seen.front().ev.workers, 2);
  EXPECT_EQ(seen.front().ev.chunks_total, static_cast<uint32_t>(r.chunks_planned));
  EXPECT_EQ(seen.back().ev.kind, ProgressKind::JobFinished);
  ASSERT_TRUE(seen.back().result.has_value());
  EXPECT_EQ(seen.back().result->total_rows_processed, rows_);
  EXPECT_EQ(seen.back().ev.rows_done, rows_);
  EXPECT_EQ(seen.back().ev.chunks_done, r.chunks_planned);
  EXPECT_EQ(seen.back().ev.workers_busy, 0);

  int64_t rows = 0, bytes = 0;
  std::set<uint32_t> started, done;
  std::set<int> workers;
  for (const Seen& s : seen) {
    const ProgressEvent& ev = s.ev;
    if (ev.kind == ProgressKind::ChunkStarted) {
      EXPECT_TRUE(started.insert(ev.chunk_index).second) << "chunk started twice";
      EXPECT_FALSE(ev.bounds.empty());
    }
    if (ev.kind == ProgressKind::ChunkDone) {
      EXPECT_TRUE(started.count(ev.chunk_index)) << "done before started";
      EXPECT_TRUE(done.insert(ev.chunk_index).second);
      EXPECT_EQ(ev.attempt, 1);
      EXPECT_GT(ev.chunk_bytes, 0);
      EXPECT_GE(ev.chunk_seconds, 0);
      rows += ev.chunk_rows;
      bytes += ev.chunk_bytes;
      workers.insert(ev.worker);
    }
    EXPECT_NE(ev.kind, ProgressKind::ChunkFailed);
    EXPECT_LE(ev.workers_busy, 2);
  }
  EXPECT_EQ(static_cast<int64_t>(done.size()), r.chunks_planned);
  EXPECT_EQ(rows, rows_);
  EXPECT_EQ(rows, r.total_rows_processed);
  EXPECT_EQ(bytes, seen.back().ev.bytes_done);
  for (int w : workers) EXPECT_TRUE(w == 0 || w == 1) << w;
  // And the target holds exactly the source's rows.
  EXPECT_EQ(sqlite_checksum(dir_.file("dst.db"), std::string(kAll) + "dst"),
            sqlite_checksum(dir_.file("src.db"), std::string(kAll) + "src"));
}

TEST_F(ProgressEventsTest, ADryRunSendsNoEvents) {
  ParallelOptions opts;
  opts.config = resolve_config({{"min_rows_for_parallel", "1"}}, {}, 2);
  opts.mode = TargetMode::Create;
  opts.dry_run = true;
  int events = 0;
  opts.on_progress = [&](const ProgressEvent&) { ++events; };
  const ParallelResult r = execute_query_parallel(
      dir_.url("src.db"), "SELECT * FROM src ORDER BY id", dir_.url("dst.db"), "", "dst", opts);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(events, 0);
}

}  // namespace
}  // namespace parmap
