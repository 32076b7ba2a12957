// Counters of a run's chunks turned into ProgressEvents, and the timer of periodic events.
#include "progress/progress_tracker.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace parmap {

using Clock = std::chrono::steady_clock;

const char* to_string(ProgressKind kind) {
  switch (kind) {
    case ProgressKind::JobStarted:
      return "job_started";
    case ProgressKind::ChunkStarted:
      return "chunk_started";
    case ProgressKind::ChunkDone:
      return "chunk_done";
    case ProgressKind::ChunkRetried:
      return "chunk_retried";
    case ProgressKind::ChunkFailed:
      return "chunk_failed";
    case ProgressKind::Progress:
      return "progress";
    case ProgressKind::JobFinished:
      return "job_finished";
  }
  return "unknown";
}

namespace {

/// Sends an event from a chunk's error path, where a callback's exception has nowhere to go
/// (the chunk's own error is being handled): it is logged instead.
void send_quietly(const std::function<void(const ProgressEvent&)>& fn, const ProgressEvent& ev) {
  try {
    fn(ev);
  } catch (const std::exception& e) {
    spdlog::warn("progress callback failed on {}: {}", to_string(ev.kind), e.what());
  }
}

}  // namespace

std::string bounds_of(const Chunk& chunk) {
  std::string text = chunk.describe();
  if (text.rfind("chunk ", 0) == 0) {
    const size_t space = text.find(' ', 6);
    if (space != std::string::npos) text.erase(0, space + 1);
  }
  return text;
}

ProgressTracker::ProgressTracker(const ParallelOptions& options)
    : on_progress_(options.on_progress), interval_ms_(options.progress_interval_ms) {}

ProgressTracker::~ProgressTracker() { stop_timer(); }

void ProgressTracker::stop_timer() {
  {
    std::lock_guard lock(timer_mu_);
    timer_stop_ = true;
  }
  timer_cv_.notify_all();
  if (timer_.joinable()) timer_.join();
}

ProgressEvent ProgressTracker::event(ProgressKind kind) const {
  ProgressEvent ev;
  ev.kind = kind;
  ev.chunks_total = chunks_total_;
  ev.estimated_rows = estimated_rows_;
  ev.rows_done = rows_done_.load();
  ev.bytes_done = bytes_done_.load();
  ev.chunks_done = chunks_done_.load();
  ev.chunks_skipped = chunks_skipped_;
  ev.chunks_failed = chunks_failed_.load();
  ev.retries = retries_.load();
  ev.rows_rejected = rejected_ ? rejected_->load() : 0;
  ev.workers = workers_;
  ev.workers_busy = busy_.load();
  ev.elapsed_seconds = std::chrono::duration<double>(Clock::now() - t0_).count();
  return ev;
}

void ProgressTracker::start_job(const ParallelResult& plan, Clock::time_point started,
                                const std::atomic<int64_t>* rejected) {
  if (!on_progress_) return;
  t0_ = started;
  rejected_ = rejected;
  chunks_total_ = static_cast<uint32_t>(plan.chunks_planned);
  estimated_rows_ = plan.estimated_rows;
  workers_ = plan.workers_used;
  chunks_skipped_ = plan.chunks_skipped;
  retries_ = plan.retries;
  uint32_t max_index = 0;
  for (const auto& c : plan.chunks) max_index = std::max(max_index, c.index + 1);
  bytes_ = std::vector<std::atomic<int64_t>>(max_index);
  started_flag_ = true;
  ProgressEvent ev = event(ProgressKind::JobStarted);
  ev.result = &plan;
  on_progress_(ev);
  if (interval_ms_ > 0) {
    timer_ = std::thread([this] {
      std::unique_lock lock(timer_mu_);
      while (!timer_cv_.wait_for(lock, std::chrono::milliseconds(interval_ms_),
                                 [this] { return timer_stop_; })) {
        lock.unlock();
        try {
          on_progress_(event(ProgressKind::Progress));
        } catch (const std::exception& e) {
          // Nobody waits on this thread to hear it: the periodic events stop, the run goes on.
          spdlog::warn("progress callback failed, periodic progress events stopped: {}", e.what());
          return;
        }
        lock.lock();
      }
    });
  }
}

void ProgressTracker::fill_chunk(ProgressEvent& ev, const Chunk& chunk, bool finished) {
  ev.chunk_index = chunk.index;
  ev.bounds = bounds_of(chunk);
  std::lock_guard lock(mu_);
  auto it = running_.find(chunk.index);
  if (it == running_.end()) return;
  ev.worker = it->second.worker;
  ev.rank = it->second.rank;
  ev.chunk_seconds = std::chrono::duration<double>(Clock::now() - it->second.started).count();
  if (finished) {
    release(it);
    ev.workers_busy = busy_.load();
  }
}

void ProgressTracker::release(std::map<uint32_t, Running>::iterator it) {
  // A worker is busy while it has a chunk running: one, or a group committed together.
  if (--running_per_worker_[it->second.worker] == 0) --busy_;
  running_.erase(it);
}

void ProgressTracker::chunk_started(const Chunk& chunk) {
  if (!active()) return;
  {
    std::lock_guard lock(mu_);
    // Workers are numbered in the order they take their first chunk: stable for a run, and
    // without a change to how the pool starts them.
    auto [it, added] =
        worker_ids_.try_emplace(std::this_thread::get_id(), static_cast<int>(worker_ids_.size()));
    // A chunk of a failed group starts again on its own: it is already running.
    auto [run, fresh] = running_.try_emplace(chunk.index, Running{Clock::now(), it->second, 0});
    if (fresh && running_per_worker_[it->second]++ == 0) ++busy_;
  }
  if (chunk.index < bytes_.size()) bytes_[chunk.index] = 0;
  ProgressEvent ev = event(ProgressKind::ChunkStarted);
  fill_chunk(ev, chunk, false);
  ev.attempt = 1;
  on_progress_(ev);
}

void ProgressTracker::chunk_started_remote(const Chunk& chunk, int rank) {
  if (!active()) return;
  {
    std::lock_guard lock(mu_);
    // A lane per rank after this process's own workers' lanes, in order of first chunk.
    auto [it, added] =
        rank_lanes_.try_emplace(rank, workers_ + static_cast<int>(rank_lanes_.size()));
    auto [run, fresh] = running_.try_emplace(chunk.index, Running{Clock::now(), it->second, rank});
    if (fresh && running_per_worker_[it->second]++ == 0) ++busy_;
  }
  ProgressEvent ev = event(ProgressKind::ChunkStarted);
  fill_chunk(ev, chunk, false);
  ev.attempt = 1;
  on_progress_(ev);
}

void ProgressTracker::chunk_retried(const Chunk& chunk, int attempt, const std::string& error) {
  if (!active()) return;
  ++retries_;
  if (chunk.index < bytes_.size()) bytes_[chunk.index] = 0;
  ProgressEvent ev = event(ProgressKind::ChunkRetried);
  fill_chunk(ev, chunk, false);
  ev.attempt = attempt;
  ev.error = error;
  send_quietly(on_progress_, ev);
}

void ProgressTracker::chunk_done(const Chunk& chunk, int64_t rows, int attempt) {
  if (!active()) return;
  const int64_t bytes = chunk.index < bytes_.size() ? bytes_[chunk.index].load() : -1;
  rows_done_ += rows;
  if (bytes > 0) bytes_done_ += bytes;
  ++chunks_done_;
  ProgressEvent ev = event(ProgressKind::ChunkDone);
  fill_chunk(ev, chunk, true);
  ev.chunk_rows = rows;
  ev.chunk_bytes = bytes;
  ev.attempt = attempt;
  on_progress_(ev);
}

void ProgressTracker::chunk_failed(const Chunk& chunk, int attempt, const std::string& error) {
  if (!active()) return;
  ++chunks_failed_;
  ProgressEvent ev = event(ProgressKind::ChunkFailed);
  fill_chunk(ev, chunk, true);
  ev.attempt = attempt;
  ev.error = error;
  send_quietly(on_progress_, ev);
}

void ProgressTracker::chunk_stopped(const Chunk& chunk) {
  if (!active()) return;
  std::lock_guard lock(mu_);
  if (auto it = running_.find(chunk.index); it != running_.end()) release(it);
}

void ProgressTracker::finish_job(const ParallelResult& result) {
  if (!active() || finished_) return;
  finished_ = true;
  stop_timer();
  ProgressEvent ev = event(ProgressKind::JobFinished);
  // The result's own counters are final (retries include planning's and the finish stamp's).
  ev.retries = result.retries;
  ev.elapsed_seconds = result.elapsed_seconds;
  ev.result = &result;
  on_progress_(ev);
}

void ProgressTracker::fail_job(const ParallelResult& result) {
  if (started_flag_) return finish_job(result);
  if (!on_progress_ || finished_) return;
  finished_ = true;
  ProgressEvent ev;
  ev.kind = ProgressKind::JobFinished;
  ev.retries = result.retries;
  ev.estimated_rows = result.estimated_rows;
  ev.chunks_total = static_cast<uint32_t>(result.chunks_planned);
  ev.elapsed_seconds = result.elapsed_seconds;
  ev.result = &result;
  on_progress_(ev);
}

}  // namespace parmap
