// The tracker's events, their JSON form and the status line, without a database.
#include "progress/progress_tracker.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "progress/event_json.h"
#include "progress/reporters.h"

namespace parmap {
namespace {

Chunk chunk(uint32_t index) {
  Chunk c;
  c.index = index;
  return c;
}

TEST(ProgressTracker, ARetriedAndAFailedChunkCountAndResetTheirBytes) {
  std::vector<ProgressEvent> seen;
  std::vector<std::string> reasons;
  ParallelOptions opts;
  opts.progress_interval_ms = 0;
  opts.on_progress = [&](const ProgressEvent& ev) {
    seen.push_back(ev);
    if (ev.result) reasons.push_back(ev.result->reason);
    seen.back().result = nullptr;
  };
  ParallelResult plan;
  plan.reason = "parallel: 2 chunks";
  plan.chunks_planned = 2;
  plan.estimated_rows = 20;
  plan.workers_used = 1;
  plan.chunks = {{0, "[0, 10)", 10}, {1, "[10, 20)", 10}};
  std::atomic<int64_t> rejected{3};
  ProgressTracker t(opts);
  t.start_job(plan, std::chrono::steady_clock::now(), &rejected);
  t.chunk_started(chunk(0));
  t.add_bytes(0, 100);
  t.chunk_retried(chunk(0), 1, "connection lost");
  t.add_bytes(0, 40);
  t.chunk_done(chunk(0), 10, 2);
  t.chunk_started(chunk(1));
  t.chunk_failed(chunk(1), 1, "refused");
  ParallelResult end = plan;
  end.reason = "finished";
  end.retries = 1;
  t.finish_job(end);
  t.finish_job(end);  // once only

  std::vector<ProgressKind> kinds;
  for (const auto& e : seen) kinds.push_back(e.kind);
  EXPECT_EQ(kinds, (std::vector<ProgressKind>{ProgressKind::JobStarted, ProgressKind::ChunkStarted,
                                              ProgressKind::ChunkRetried, ProgressKind::ChunkDone,
                                              ProgressKind::ChunkStarted, ProgressKind::ChunkFailed,
                                              ProgressKind::JobFinished}));
  EXPECT_EQ(reasons, (std::vector<std::string>{"parallel: 2 chunks", "finished"}));
  EXPECT_EQ(seen[1].workers_busy, 1);
  EXPECT_EQ(seen[2].attempt, 1);
  EXPECT_EQ(seen[2].error, "connection lost");
  EXPECT_EQ(seen[2].retries, 1);
  EXPECT_EQ(seen[3].chunk_bytes, 40);  // the committed attempt's bytes only
  EXPECT_EQ(seen[3].chunk_rows, 10);
  EXPECT_EQ(seen[3].attempt, 2);
  EXPECT_EQ(seen[3].rows_done, 10);
  EXPECT_EQ(seen[3].workers_busy, 0);
  EXPECT_EQ(seen[5].chunk_index, 1u);
  EXPECT_EQ(seen[5].chunks_failed, 1);
  EXPECT_EQ(seen[6].chunks_done, 1);
  EXPECT_EQ(seen[6].bytes_done, 40);
  EXPECT_EQ(seen[6].rows_rejected, 3);
  EXPECT_EQ(seen[6].workers_busy, 0);
  for (const auto& e : seen) EXPECT_EQ(e.chunks_total, 2u);
}

TEST(ProgressTracker, SendsNothingWithoutACallbackNorBeforeTheJobStarts) {
  ParallelOptions opts;
  ProgressTracker t(opts);
  t.chunk_started(chunk(0));
  t.add_bytes(0, 5);  // no chunk table yet: ignored
  t.chunk_done(chunk(0), 1, 1);
  t.finish_job(ParallelResult{});
  SUCCEED();
}

TEST(ProgressTracker, ACallbackThatThrowsOnAChunksErrorPathIsLoggedNotThrown) {
  ParallelOptions opts;
  opts.progress_interval_ms = 0;
  opts.on_progress = [](const ProgressEvent& ev) {
    if (ev.kind == ProgressKind::ChunkRetried || ev.kind == ProgressKind::ChunkFailed) {
      throw std::runtime_error("callback bug");
    }
  };
  ParallelResult plan;
  plan.chunks = {{0, "[0, 10)", 10}};
  ProgressTracker t(opts);
  t.start_job(plan, std::chrono::steady_clock::now(), nullptr);
  t.chunk_started(chunk(0));
  EXPECT_NO_THROW(t.chunk_retried(chunk(0), 1, "lost"));
  EXPECT_NO_THROW(t.chunk_failed(chunk(0), 2, "lost again"));
}

TEST(ProgressTracker, PeriodicEventsComeFromTheTimerUntilTheJobFinishes) {
  std::atomic<int> progress{0};
  ParallelOptions opts;
  opts.progress_interval_ms = 5;
  opts.on_progress = [&](const ProgressEvent& ev) {
    if (ev.kind == ProgressKind::Progress) ++progress;
  };
  ParallelResult plan;
  ProgressTracker t(opts);
  t.start_job(plan, std::chrono::steady_clock::now(), nullptr);
  while (progress < 3) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  t.finish_job(plan);
  const int after = progress;
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(progress, after);
}

TEST(EventJson, EachKindCarriesItsFields) {
  ParallelResult plan;
  plan.job_id = "j";
  plan.reason = "parallel: estimate 100 >= min_rows_for_parallel 10";
  ProgressEvent started;
  started.kind = ProgressKind::JobStarted;
  started.result = &plan;
  const auto s = event_json(started);
  EXPECT_EQ(s["event"], "job_started");
  EXPECT_EQ(s["reason"], plan.reason);
  EXPECT_EQ(s["job_id"], "j");
  EXPECT_FALSE(s.contains("chunk"));
  EXPECT_EQ(s["time"].get<std::string>().back(), 'Z');

  ProgressEvent done;
  done.kind = ProgressKind::ChunkDone;
  done.chunk_index = 4;
  done.bounds = "[1, 2)";
  done.chunk_rows = 7;
  done.chunk_bytes = 70;
  done.attempt = 1;
  const auto d = event_json(done);
  EXPECT_EQ(d["event"], "chunk_done");
  EXPECT_EQ(d["chunk"], 4);
  EXPECT_EQ(d["rows"], 7);
  EXPECT_EQ(d["bytes"], 70);
  EXPECT_TRUE(d.contains("seconds") && d.contains("worker"));
  EXPECT_FALSE(d.contains("error"));

  ProgressEvent failed;
  failed.kind = ProgressKind::ChunkFailed;
  failed.error = "boom";
  EXPECT_EQ(event_json(failed)["error"], "boom");
  EXPECT_FALSE(event_json(failed).contains("rows"));
}

TEST(StatusText, ShowsPercentRatesEtaAndCounts) {
  RateMeter rates;
  rates.sample(1.0, 1000, 2000000);
  rates.sample(2.0, 2000, 4000000);
  ProgressEvent ev;
  ev.kind = ProgressKind::Progress;
  ev.estimated_rows = 10000;
  ev.rows_done = 2000;
  ev.chunks_total = 10;
  ev.chunks_done = 2;
  ev.workers = 2;
  ev.workers_busy = 2;
  EXPECT_EQ(
      status_text(ev, rates),
      " 20.0%  2,000 of ~10,000 rows  1000 rows/s  2.0 MB/s  ETA 0:08  chunks 2/10  busy 2/2  "
      "retries 0  rejects 0");
  ev.kind = ProgressKind::JobFinished;
  ev.rows_done = 9000;  // the estimate was high
  ev.chunks_done = 10;
  ev.elapsed_seconds = 65;
  EXPECT_EQ(status_text(ev, rates).substr(0, 20), "100.0%  9,000 rows  ");
  EXPECT_NE(status_text(ev, rates).find("in 1:05"), std::string::npos);
}

}  // namespace
}  // namespace parmap
