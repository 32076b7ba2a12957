// The job runner's internal class: one job's state, shared by planning, running, chunk copy,
// reject isolation and verify (each in its own file under src/exec/).
#pragma once

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cctype>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "exec/chunk_feed.h"
#include "exec/ledger.h"
#include "exec/position_stream.h"
#include "exec/watchdog.h"
#include "parmap/parmap.h"
#include "plan/plan.h"
#include "progress/progress_tracker.h"

namespace parmap {

using Clock = std::chrono::steady_clock;

/// Rows per batch handed from a source to a sink.
inline constexpr size_t kBatchRows = 10000;

/// Chunks copied in one attempt and committed in one target transaction: one chunk, or with
/// chunk_size auto a run of queued ones.
using ChunkGroup = std::vector<const Chunk*>;
/// "chunk 3 [...]" for one chunk; the count and the first and last chunk for a group.
std::string describe_group(const ChunkGroup& group);

/// Runs `fn` inside one target transaction, holding the engine's writer lock if it has one.
template <typename Fn>
void in_write_transaction(Connection& db, Fn&& fn) {
  std::unique_lock<std::mutex> guard;
  if (auto* lock = db.writer_lock()) guard = std::unique_lock(*lock);
  db.begin();
  try {
    fn();
    db.commit();
  } catch (...) {
    db.rollback();
    throw;
  }
}

/// How long to wait before retry number `attempt` (0-based): exponential from
/// retry_backoff_ms, capped at 30 s, with jitter (50-100%) so that workers do not retry in step.
inline std::chrono::milliseconds backoff_delay(const ParallelConfig& config, int attempt,
                                               std::mt19937_64& rng) {
  const double base = config.retry_backoff_ms * std::pow(2.0, attempt);
  const double capped = std::min(base, 30000.0);
  const double jitter = std::uniform_real_distribution<double>(0.5, 1.0)(rng);
  return std::chrono::milliseconds(static_cast<int64_t>(capped * jitter));
}

/// The rows a bulk write's target took against those sent: a trigger or rule that skips rows,
/// or a conflict clause that ignores them (SQLite's ON CONFLICT IGNORE), would leave rows out
/// of a chunk that commits as complete. Throws Error(Schema) naming the table.
void check_rows_taken(const TableRef& table, int64_t sent, int64_t taken);

inline bool retryable(ErrorKind kind) {
  return kind == ErrorKind::Transient || kind == ErrorKind::InDoubt ||
         kind == ErrorKind::Connect || kind == ErrorKind::Timeout;
}

/// The source query as parmap wraps it in its own SQL (`SELECT ... FROM (<query>) AS src`):
/// without the trailing semicolons and white space a query typed at a prompt ends with, and
/// with a line break after a trailing `--` comment, which would otherwise comment out what
/// follows it.
std::string tidy_query(std::string_view sql);

/// One job (run or verify) from its inputs to its result. Owns the coordinator's sessions and
/// the workers' pool; run() and verify() are each called once, from one thread, and start and
/// join the worker threads themselves. Throws Error.
class Executor {
 public:
  Executor(ConnectionFactory source, std::string sql, ConnectionFactory target, TableRef table,
           const ParallelOptions& options, std::string job_id)
      : pool_(source, target),
        source_factory_(std::move(source)),
        target_factory_(std::move(target)),
        given_sql_(std::move(sql)),
        sql_(tidy_query(given_sql_)),
        table_(std::move(table)),
        opts_(options),
        config_(options.config),
        job_id_(std::move(job_id)) {}

  /// The job id: given, or derived once the coordinator's sessions say which databases they
  /// are on (derive_job_id).
  const std::string& job_id() const { return job_id_; }

  ParallelResult run();

  // The run in phases, for a runner that drives several jobs with one pool of threads
  // (multi_run.cpp); run() is start(), worker threads calling step(), then finish().

  /// Before start(): read the source through this exported snapshot (another job's
  /// coordinator holds it open) instead of exporting one of its own.
  void share_snapshot(std::string id) { shared_snapshot_ = std::move(id); }
  /// The snapshot the chunks read ("" when the engine has none): exported here, or shared.
  const std::string& snapshot() const { return snapshot_; }
  /// Plans (or loads the stored plan), prepares the target and fills the queue, with
  /// retries; returns the result so far (complete for a dry run). Throws Error.
  const ParallelResult& start();
  /// Before start(): take the job's lock through `lock` (a session shared by the jobs of a
  /// run on one target) instead of on the coordinator's own target session, which then
  /// closes once the target is prepared. `lock(key)` returns false when another process
  /// holds it.
  void share_job_lock(std::function<bool(const std::string&)> lock) {
    shared_lock_ = std::move(lock);
  }
  /// Before start(): mode create may make a missing target schema (a table selection mapped
  /// to it). Otherwise a missing schema is an error naming it, in every mode.
  void allow_schema_creation() { create_schema_ = true; }
  /// Before finish(): a complete run is not stamped finished by finish() but by
  /// stamp_finished(), once what follows the data (indexes, constraints) is made too.
  void defer_finished_stamp() { defer_stamp_ = true; }
  /// After finish() of a complete run deferred: stamps it finished. Throws Error.
  void stamp_finished();
  /// The run's chunks are all committed (finish() has run).
  bool data_complete() const { return data_complete_; }
  /// Worker threads this job may use at once: 1 for a serial plan, 0 with nothing to do.
  int workers_allowed() const { return result_.workers_used; }
  /// Rows of the chunks still queued, as estimated by the plan (the larger go first).
  int64_t queued_rows() const;
  /// One unit of work from the queue on the calling thread; false when the queue is drained,
  /// the job stopped or the user cancelled. Thread-safe among workers.
  bool step();
  /// Closes the calling thread's connections of this job (a worker leaving it).
  void release_thread() noexcept { pool_.release_thread_connections(); }
  /// Hands out no more chunks; `why` is reported if the job ends incomplete. Thread-safe.
  void halt(const std::string& why);
  /// True once a chunk failed after its retries.
  bool failed() const { return chunks_failed_ > 0; }
  /// After the workers are joined: counts, the finished stamp when complete, the sessions
  /// closed. Throws Error(Cancelled) when the user cancelled an incomplete run.
  ParallelResult finish();
  /// Compares source (or ledger) and target range by range; see verify_query_parallel.
  VerifyResult verify(bool against_ledger);

  // A distributed run (src/dist/): rank 0 runs the job as start(), step() and finish() do and
  // also hands chunks to the other ranks; each of those follows rank 0's run of the job.

  /// Before start() on rank 0: chunks go out one at a time (no commit groups), so that every
  /// rank takes its share to the end.
  void distribute() { distributed_ = true; }
  /// On rank 0, after start(): the next queued chunk for a worker of `rank`, or nullopt when
  /// the queue is drained or the job stopped. Thread-safe.
  std::optional<uint32_t> claim_for(int rank);
  /// On rank 0: a worker of `rank` committed chunk `index`. Thread-safe.
  void remote_committed(int rank, uint32_t index, int64_t rows, int attempt);
  /// On rank 0: chunk `index` failed on `rank` after its retries. Thread-safe.
  void remote_failed(int rank, uint32_t index, const std::string& error, bool refused);
  /// Before start() on another rank: run rank 0's run `run` of job `job_id` as stored in the
  /// target's ledger (the plan, not a new one), reading the source through `snapshot` ("" when
  /// the engine has none), taking chunks from `feed` (which must outlive the run). start()
  /// then neither locks the job nor writes to the target; throws Error(Internal) when the
  /// ledger has no such unfinished run.
  void follow(std::string job_id, int64_t run, std::string snapshot, ChunkFeed* feed) {
    job_id_ = std::move(job_id);
    follow_run_ = run;
    shared_snapshot_ = std::move(snapshot);
    feed_ = feed;
  }
  /// On a following rank, after its workers are joined: closes the sessions and returns the
  /// rank's own counts (the run's result is rank 0's).
  ParallelResult leave();
  /// On rank 0, before finish(): each rank's share, rank 0 first (finish() fills in rank 0's
  /// chunks and rows, and the job_finished event and the result carry them).
  void record_ranks(std::vector<RankShare> ranks) { result_.ranks = std::move(ranks); }

 private:
  StoredPlan make_plan(Connection& src, const TableSchema& src_schema);
  /// In one target transaction: the ledger tables, the table (mode create), and for a new run
  /// the truncation (mode truncate) with the run's record, so that neither exists without
  /// the other.
  void prepare_target(Connection& tgt, const TableSchema& out_schema, bool table_exists);
  /// The source's query for one chunk: Connection::chunk_query of `base`, with the columns
  /// the target generates left out.
  std::string source_chunk_sql(const Connection& src, std::string_view base, const Chunk& chunk,
                               std::vector<Value>& params) const;
  /// Leaves out of the copy the query's columns the existing target generates itself; refuses
  /// them when a transformation makes the rows (it would have to leave them out).
  void leave_out_generated_columns();
  /// Runs one phase of the run that is not a chunk (`what`: "planning", "recording the job
  /// as finished") with the policy chunks get: `attempt(n)` is called again after a transient
  /// error, a server-side timeout or a lost connection, up to max_retries, with backoff.
  /// `attempt` opens its own sessions and runs under the watchdog.
  template <typename Fn>
  void with_retries(const std::string& what, Fn&& attempt);
  /// Plans and prepares the target on new coordinator sessions, retried as with_retries says.
  void plan_with_retries();
  /// The run ends with `error` before it could finish: job_finished (ok false) with the error
  /// still goes to on_progress, whether or not job_started did.
  void fail_progress(const std::string& error);
  /// Mode create, a target table still missing: when the source query is a whole table,
  /// out_schema_ gets its primary key and NOT NULL columns (the table is created with them).
  void carry_constraints();
  /// Forgets what an abandoned attempt at planning found, before the next attempt.
  void reset_plan();
  /// On a resume: when the target holds fewer rows than the run's committed chunks wrote
  /// (emptied by DELETE, TRUNCATE or a new table, on any engine), says so; nullopt when it
  /// holds at least as many, or when the engine cannot count that way (a warning says so).
  std::optional<std::string> committed_rows_missing(
      const std::map<uint32_t, LedgerEntry>& committed);
  /// Takes the job's lock on the coordinator's target session, or refuses.
  void lock_job();
  /// Stamps the job finished in the ledger, on a new session when the coordinator's died.
  void mark_finished();
  /// Rows and ledger-form hash of one range of the target table, read back, by the function
  /// the ledger prefix `kind` names ("w:", "b:" or the older "v:").
  std::pair<int64_t, std::string> sum_target(Connection& tgt, const Chunk& chunk,
                                             const std::string& kind);
  /// Rows and "w:<hex>" hash of one range of the source query, transformed as when written.
  std::pair<int64_t, std::string> sum_source(Connection& src, const Chunk& chunk);
  /// On the coordinator's open sessions (coord_src_, coord_tgt_): checks the input, loads or
  /// makes the plan and fills the queue of chunks still to do. Writes nothing.
  void prepare();
  /// Mode truncate empties the target before the chunks read the source: where the source
  /// query reads that table on the same database and no snapshot keeps its rows for the
  /// readers (SQLite, MariaDB), it would copy an emptied table. Refused (Config).
  void refuse_truncating_the_source() const;
  /// On the fast path, a new run of a plan cut by positions: starts the one pass over the
  /// table that hands each chunk its rows (when the source can read it so), and orders the
  /// queue as the pass reads.
  void start_position_stream();
  void choose_path(Connection& src, Connection& tgt, const TableSchema& src_schema,
                   const std::optional<TableSchema>& target_schema);
  /// Worker `id` (0-based) copies groups until the queue is drained, a failure stops the job,
  /// or (max_workers auto) its id is beyond the workers wanted.
  void worker(int id);
  /// max_workers auto: waits until worker `id` is wanted; false when it never will be.
  bool wait_turn(int id);
  /// max_workers auto: after each group, compares the rows per second of the current worker
  /// count with the best so far, and adds a worker or settles (under claim_mu_).
  void scale_workers();
  /// The next chunks for this worker, in queue order: one, or with grouping_ as many as
  /// take about kGroupSeconds at the measured rate, never more than a share of what is left
  /// that keeps every worker busy to the end. Empty: the queue is drained.
  ChunkGroup claim();
  /// Records how long a claimed group took, for the size of the next ones.
  void measured(size_t chunks, double seconds);
  /// How long a group should take: about 2 s, within a quarter of chunk_timeout_s.
  double group_seconds() const;
  /// Copies a group in one attempt; if that fails in any way, each of its chunks goes
  /// through run_chunk on its own (retries, reject isolation), after the ledger says it was
  /// not committed.
  void run_group(const ChunkGroup& group);
  /// `check_ledger`: ask the ledger first whether the chunk is committed (after a failed
  /// group whose commit may have gone through).
  void run_chunk(const Chunk& chunk, bool check_ledger = false);
  /// Counts a committed chunk and sends its chunk_done (`attempt`: 1-based).
  void chunk_committed(const Chunk& chunk, int64_t rows, int attempt);
  /// Attempt `attempt` (1-based) at a group (or one chunk); returns each chunk's rows written.
  std::vector<int64_t> copy_group(const ChunkGroup& group, int attempt);
  /// The same on the fast path: native bytes from source to target, not decoded.
  std::vector<int64_t> copy_group_native(const ChunkGroup& group, int attempt, Connection& src,
                                         Connection& tgt);
  /// How long a writer waits for the one pass to reach its chunk: chunk_timeout_s, else a day.
  Clock::time_point stream_deadline() const;
  /// Writes a chunk's rows from the one pass into `sink` in slices, counting its progress.
  void write_in_slices(NativeSink& sink, std::string_view rows, const Chunk& chunk);
  /// The same on the in-engine path: the target's session reads the source itself, running
  /// `local_sql` (attach_source's form of the query).
  std::vector<int64_t> copy_group_local(const ChunkGroup& group, int attempt,
                                        const std::string& local_sql, Connection& src,
                                        Connection& tgt);
  /// The calling thread's worker number in this job (0-based, in order of first chunk), as
  /// the ledger records it. Thread-safe.
  int worker_number();
  /// After a data error: reads the whole chunk again and writes it in halving slices, each
  /// under a savepoint, until the refused rows are isolated; they go to the reject file
  /// (within max_rejects) and the others commit. Returns rows written.
  int64_t copy_chunk_isolating(const Chunk& chunk, int attempt);
  void write_isolating(const Connection& src, Connection& tgt, const Chunk& chunk,
                       const Batch& rows, size_t begin, size_t end, int64_t& written, uint64_t& hash,
                       std::vector<std::string>& rejects);
  void save_rejects(const std::vector<std::string>& rejects);
  bool cancelled() const { return opts_.cancel && opts_.cancel->load(); }

  ConnectionPoolManager pool_;
  ConnectionFactory source_factory_, target_factory_;
  /// The query as given, which the derived job id hashes (as earlier versions did), and as
  /// parmap runs it (tidy_query), which plans store.
  const std::string given_sql_;
  const std::string sql_;
  const TableRef table_;
  const ParallelOptions& opts_;
  const ParallelConfig config_;
  std::string job_id_;  ///< set before prepare() returns
  int64_t run_no_ = 1;  ///< the run this invocation resumes or starts
  bool verifying_ = false;  ///< verify(): the plan is the last run's, finished or not
  bool verifying_ledger_ = false;  ///< verify against the ledger's hashes, not the source
  bool new_run_ = true; ///< false: resuming an unfinished run
  std::optional<JobRecord> job_;  ///< the ledger's record of this job

  std::unique_ptr<Connection> coord_src_, coord_tgt_;  ///< the coordinator's sessions
  std::string position_key_;  ///< the source's Capabilities::position_key, set by prepare()
  std::function<bool(const std::string&)> shared_lock_;  ///< set: the job lock lives there
  bool defer_stamp_ = false;
  bool create_schema_ = false;
  bool data_complete_ = false;
  TableSchema out_schema_;                  ///< the columns written, in order
  std::optional<TableSchema> target_schema_;  ///< nullopt: the table does not exist yet
  std::optional<StoredPlan> stored_;        ///< the ledger's plan of this job
  std::map<uint32_t, LedgerEntry> committed_;

  ParallelResult result_;
  StoredPlan plan_;
  std::vector<std::string> out_columns_;
  /// Source columns the target generates itself (GENERATED ALWAYS AS): left out of every
  /// chunk's rows by a projection around its query (source_chunk_sql).
  std::vector<std::string> generated_;
  std::string snapshot_;  ///< exported or shared snapshot id, "" when the engine has none
  std::string shared_snapshot_;  ///< another coordinator's snapshot to import, or ""
  Clock::time_point t0_;
  std::string halted_;  ///< why halt() stopped the job, under errors_mu_
  bool fast_path_ = false;
  bool local_path_ = false;  ///< the target's engine copies each chunk itself (copy_local)
  std::vector<const Chunk*> queue_;
  /// Commit groups of consecutive chunks (chunk_size auto, a target with concurrent writers).
  bool grouping_ = false;
  int workers_ = 1;  ///< worker threads of this run
  // max_workers auto, under claim_mu_: workers wanted now, the measurement window, the best.
  bool auto_workers_ = false;
  int active_ = 1;
  int most_active_ = 1;
  bool scaling_ = false;
  std::condition_variable turn_cv_;
  Clock::time_point window_start_;
  int64_t window_rows_ = 0;  ///< rows_done_ when the window started
  int64_t window_groups_ = 0;  ///< groups finished in the window
  double best_rate_ = 0;
  int best_workers_ = 1;
  std::string workers_decision_;
  mutable std::mutex claim_mu_;
  size_t next_ = 0;                ///< the next queued chunk to claim, under claim_mu_
  double seconds_per_chunk_ = 0;   ///< smoothed, from the groups done; 0: none yet
  std::atomic<int64_t> chunks_refused_{0};  ///< failed by a row the target refused
  std::atomic<int64_t> commits_{0};      ///< target transactions that committed chunks
  std::atomic<size_t> largest_group_{0};
  std::atomic<int64_t> rows_done_{0}, chunks_done_{0}, chunks_failed_{0}, retries_{0};
  std::atomic<int64_t> rejected_{0};  ///< rows rejected, counted against max_rejects
  /// Rows the target refused in the chunks an earlier invocation of this run committed (a
  /// resume skips them; their rows are in the reject file, not the target).
  int64_t rejected_before_ = 0;
  std::string reject_path_;
  std::mutex reject_mu_;
  std::atomic<bool> stop_{false};
  std::mutex errors_mu_;
  std::mutex done_mu_;
  std::set<uint32_t> done_;  ///< chunks committed by this invocation, under done_mu_
  std::mutex workers_mu_;
  std::map<std::thread::id, int> worker_numbers_;  ///< under workers_mu_
  bool distributed_ = false;  ///< rank 0 of a distributed run
  int64_t follow_run_ = 0;    ///< > 0: following rank 0's run of that number
  ChunkFeed* feed_ = nullptr;  ///< a following rank's source of chunks
  std::atomic<int64_t> remote_chunks_{0}, remote_rows_{0};  ///< committed by other ranks
  ProgressTracker progress_{opts_};  ///< the events sent to opts_.on_progress
  /// The fast path's one pass over a table planned by positions (start_position_stream),
  /// or null: each chunk reads its own range.
  std::unique_ptr<PositionStream> stream_;
  std::once_flag stream_once_;
  /// Bounds each chunk attempt (chunk_timeout_s). Declared last: destroyed (its thread
  /// joined) before the connections it may interrupt.
  Watchdog watchdog_{std::chrono::seconds(config_.chunk_timeout_s)};
};

template <typename Fn>
void Executor::with_retries(const std::string& what, Fn&& attempt) {
  std::mt19937_64 rng(std::hash<std::string>{}(what) ^
                      static_cast<uint64_t>(Clock::now().time_since_epoch().count()));
  for (int n = 0;; ++n) {
    try {
      attempt(n);
      return;
    } catch (const Error& e) {
      if (!retryable(e.kind()) || n >= config_.max_retries || cancelled()) throw;
      ++retries_;
      spdlog::warn("job {}: {}: {} (attempt {} of {}), retrying on new connections",
                   job_id_.empty() ? "(new)" : job_id_, what, e.what(), n + 1,
                   config_.max_retries + 1);
      std::this_thread::sleep_for(backoff_delay(config_, n, rng));
    }
  }
}

}  // namespace parmap
