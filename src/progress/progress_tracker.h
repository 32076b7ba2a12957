// A run's progress: counters kept as chunks start, commit, retry and fail, turned into the
// ProgressEvents a caller's on_progress receives, with a timer thread for periodic ones.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "parmap/parmap.h"

namespace parmap {

/// "[100, 200)" from "chunk 3 [100, 200)": a chunk event names the chunk by its index already.
std::string bounds_of(const Chunk& chunk);

/// Owned by one run (Executor). Every method is cheap and does nothing visible when the
/// options have no on_progress. Thread-safe: chunk methods are called from worker threads
/// (add_bytes also from their reader threads), start_job and finish_job from the run's own
/// thread. Exceptions thrown by the callback propagate to the caller of the method, but for
/// chunk_retried and chunk_failed (called while a chunk's error is handled): those are logged.
class ProgressTracker {
 public:
  explicit ProgressTracker(const ParallelOptions& options);
  ~ProgressTracker();
  ProgressTracker(const ProgressTracker&) = delete;
  ProgressTracker& operator=(const ProgressTracker&) = delete;

  /// Sends job_started with `plan` (the planned result: chunks, workers_used, chunks_skipped,
  /// retries so far) and starts the periodic events. `rejected` is the run's count of refused
  /// rows, read for every event; it must outlive the tracker.
  void start_job(const ParallelResult& plan, std::chrono::steady_clock::time_point started,
                 const std::atomic<int64_t>* rejected);
  void chunk_started(const Chunk& chunk);
  /// A chunk handed to a worker of another rank of a distributed run: each rank is one
  /// worker lane here, and the chunk's events carry the rank.
  void chunk_started_remote(const Chunk& chunk, int rank);
  /// Bytes read for `chunk_index`'s current attempt (any thread).
  void add_bytes(uint32_t chunk_index, int64_t bytes) {
    if (chunk_index < bytes_.size())
      bytes_[chunk_index].fetch_add(bytes, std::memory_order_relaxed);
  }
  /// `attempt` is the 1-based attempt that failed; the chunk's bytes start again.
  void chunk_retried(const Chunk& chunk, int attempt, const std::string& error);
  void chunk_done(const Chunk& chunk, int64_t rows, int attempt);
  void chunk_failed(const Chunk& chunk, int attempt, const std::string& error);
  /// A chunk left without result (the user's cancel): it no longer keeps its worker busy.
  void chunk_stopped(const Chunk& chunk);
  /// Stops the periodic events and sends job_finished with `result` (once).
  void finish_job(const ParallelResult& result);
  /// The same for a run that failed, also one that failed before start_job (planning): a
  /// consumer always receives job_finished (once).
  void fail_job(const ParallelResult& result);

 private:
  struct Running {
    std::chrono::steady_clock::time_point started;
    int worker = 0;
    int rank = 0;
  };
  bool active() const { return static_cast<bool>(on_progress_) && started_flag_; }
  /// An event of `kind` with the run's counters filled in.
  ProgressEvent event(ProgressKind kind) const;
  /// Fills the chunk fields and forgets the chunk when `finished`.
  void fill_chunk(ProgressEvent& ev, const Chunk& chunk, bool finished);
  void stop_timer();
  /// Forgets a running chunk; its worker is no longer busy when it was its last (under mu_).
  void release(std::map<uint32_t, Running>::iterator it);

  std::function<void(const ProgressEvent&)> on_progress_;
  const int interval_ms_;
  bool started_flag_ = false;
  bool finished_ = false;
  std::chrono::steady_clock::time_point t0_;
  const std::atomic<int64_t>* rejected_ = nullptr;
  uint32_t chunks_total_ = 0;
  int64_t estimated_rows_ = 0;
  int workers_ = 0;
  int64_t chunks_skipped_ = 0;
  std::atomic<int64_t> rows_done_{0}, bytes_done_{0}, chunks_done_{0}, chunks_failed_{0},
      retries_{0};
  std::atomic<int> busy_{0};
  std::vector<std::atomic<int64_t>> bytes_;  ///< by chunk index: the current attempt's bytes
  mutable std::mutex mu_;
  std::map<uint32_t, Running> running_;        ///< under mu_
  std::map<std::thread::id, int> worker_ids_;  ///< under mu_: in order of first chunk
  std::map<int, int> rank_lanes_;              ///< under mu_: other ranks' lanes, by rank
  std::map<int, int> running_per_worker_;      ///< under mu_: chunks running, by worker

  std::mutex timer_mu_;
  std::condition_variable timer_cv_;
  bool timer_stop_ = false;  ///< under timer_mu_
  std::thread timer_;
};

}  // namespace parmap
