// The public API: run a mapper job from a source query into a target table.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "parmap/batch.h"
#include "parmap/config.h"
#include "parmap/connection.h"
#include "parmap/error.h"
#include "parmap/pool.h"

namespace parmap {

/// How the target table is prepared.
enum class TargetMode {
  Append,    ///< insert into the existing table (default)
  Truncate,  ///< empty it first, atomically with recording the job's start
  Create,    ///< create it from the source's columns when it does not exist, then append
};
const char* to_string(TargetMode mode);
TargetMode target_mode_from_string(std::string_view text);  ///< throws Error(Config)

/// A user transformation: receives each batch read from the source and may change
/// values, drop rows (Batch::filter) or add columns. Called from worker threads, one
/// batch at a time per worker: it must be safe to call concurrently.
using Transform = std::function<void(Batch&)>;

/// One column of a job-file mapping: the target column `name` takes source column
/// `from` (default: `name`), optionally cast to `cast`, or the constant `value`.
struct ColumnMapping {
  std::string name;
  std::string from;
  std::optional<ColumnType> cast;
  std::optional<Value> value;
};

/// Builds a Transform from a column mapping (select, rename, cast, constant).
/// Throws Error(Schema) at the first batch if a `from` column does not exist.
Transform mapping_transform(std::vector<ColumnMapping> mapping);

struct ParallelResult;

/// What a ProgressEvent reports. The JSON name of each (to_string) is the `event` field of
/// `parmap run --progress json`.
enum class ProgressKind {
  JobStarted,    ///< planned, the target prepared, workers about to start (`result`: the plan)
  ChunkStarted,  ///< a worker took a chunk
  ChunkDone,     ///< a chunk committed (chunk_rows, chunk_bytes, chunk_seconds, attempt)
  ChunkRetried,  ///< an attempt failed and the chunk will be tried again (`error`)
  ChunkFailed,   ///< a chunk failed for good (`error`); the run will be incomplete
  Progress,      ///< periodic (ParallelOptions::progress_interval_ms), counters only
  JobFinished,   ///< the workers are done (`result`: the summary)
};
/// "job_started", "chunk_started", "chunk_done", "chunk_retried", "chunk_failed", "progress",
/// "job_finished".
const char* to_string(ProgressKind kind);

/// One event of a run, sent to ParallelOptions::on_progress. Chunk events come from worker
/// threads, `progress` from a timer thread, job_started and job_finished from the thread that
/// called execute_query_parallel; the callback must be thread-safe. Dry runs send none.
/// The counters (rows_done ... workers_busy) are the run's as of the event, in every kind.
struct ProgressEvent {
  ProgressKind kind = ProgressKind::ChunkDone;
  uint32_t chunk_index = 0;   ///< chunk events: the chunk
  uint32_t chunks_total = 0;  ///< chunks of the plan (including those committed earlier)
  int64_t chunk_rows = 0;     ///< chunk_done: rows the chunk wrote
  int64_t rows_done = 0;      ///< all rows committed so far in this run
  bool skipped = false;       ///< already in the ledger (never sent: such chunks are not run)
  std::string bounds;         ///< chunk events: the chunk's key range, human-readable
  /// chunk_done: bytes read from the source by the committed attempt (typed batches: their
  /// size in memory; the fast path: the engine's bytes), -1 when unknown.
  int64_t chunk_bytes = -1;
  double chunk_seconds = 0;   ///< chunk_done, chunk_failed: from chunk_started to now
  int worker = 0;             ///< chunk events: the worker (0 ... workers - 1)
  /// Chunk events of a distributed run (parmap under MPI): the rank whose worker ran the
  /// chunk; 0 otherwise.
  int rank = 0;
  int attempt = 0;            ///< chunk events: 1 for the first attempt, 2 after one retry, ...
  std::string error;          ///< chunk_retried, chunk_failed: what went wrong
  int64_t estimated_rows = 0;
  int64_t bytes_done = 0;     ///< bytes read by committed chunks so far
  int64_t chunks_done = 0;    ///< committed by this invocation
  int64_t chunks_skipped = 0; ///< committed by an earlier invocation of the run
  int64_t chunks_failed = 0;
  /// Of chunks_failed, those stopped by a row the target refused past max_rejects (a
  /// constraint, a type, a length): a rerun fails the same way until the row or target changes.
  int64_t chunks_refused = 0;
  int64_t retries = 0;
  int64_t rows_rejected = 0;
  int workers = 0;            ///< worker threads of the run
  int workers_busy = 0;       ///< workers inside a chunk now
  double elapsed_seconds = 0; ///< since the run started (planning included)
  /// job_started: the plan (reason, partition column, chunks, workers_used, snapshot, path);
  /// job_finished: the summary. Valid during the call only; null for other kinds.
  const ParallelResult* result = nullptr;
};

/// Everything about a job other than where data comes from and goes to.
struct ParallelOptions {
  ParallelConfig config;           ///< use get_parallel_config_from_params() or resolve_config()
  /// Empty: derived (derive_job_id) from the databases the connections are on, the query,
  /// the target table and the mode.
  std::string job_id;
  std::string partition_column;    ///< empty: ORDER BY key, primary key, block ranges, or none
  TargetMode mode = TargetMode::Append;
  bool fresh = false;              ///< forget the ledger of this job and start over
  Transform transform;             ///< optional
  /// Optional: every event of the run (ProgressEvent). Before events had kinds it was called
  /// after each chunk only: such callers look at `kind == ProgressKind::ChunkDone`.
  std::function<void(const ProgressEvent&)> on_progress;
  /// How often `progress` events are sent while chunks run (0: never).
  int progress_interval_ms = 1000;
  /// Set to true from any thread (a signal handler's flag, say) to stop handing out
  /// chunks; chunks in flight roll back. Optional.
  const std::atomic<bool>* cancel = nullptr;
  bool dry_run = false;            ///< plan only: no write, no ledger
  /// Where rows the target refuses go (JSON lines: job, chunk, row, error), when
  /// config.max_rejects allows any. Empty: "<job id>.rejects.jsonl" in the working folder.
  /// The file is created only when a row is rejected, and appended to by reruns.
  std::string reject_file;
};

/// Options whose config is resolved from the MAPPER_* environment
/// (get_parallel_config_from_params({})); everything else as ParallelOptions{}. What the
/// calls without options use, read at each call. Throws Error(Config) for a bad variable.
ParallelOptions default_parallel_options();

/// One planned chunk as reported back.
struct ChunkReport {
  uint32_t index;
  std::string bounds;   ///< human-readable range
  int64_t estimated_rows;
};

/// One process's share of a distributed run (parmap under MPI): what its workers committed and
/// what asking rank 0 for chunks cost it.
struct RankShare {
  int rank = 0;
  std::string host;
  int workers = 0;            ///< worker threads of the rank
  int64_t chunks = 0;         ///< chunks its workers committed
  int64_t rows = 0;           ///< rows of those chunks
  int64_t messages = 0;       ///< messages it sent to and received from rank 0 (rank 0: none)
  double wait_ms = 0;         ///< total time its workers waited for rank 0's answer
  std::string error;          ///< why the rank stopped early, or empty
};

/// What a run did. Counts refer to this run; chunks_skipped were done by an earlier run.
struct ParallelResult {
  std::string job_id;
  int64_t total_rows_processed = 0;  ///< rows committed to the target by this run
  int64_t estimated_rows = 0;
  int64_t chunks_planned = 0;
  int64_t chunks_done = 0;
  int64_t chunks_skipped = 0;
  int64_t chunks_failed = 0;
  /// Of chunks_failed, those stopped by a row the target refused past max_rejects (a
  /// constraint, a type, a length): a rerun fails the same way until the row or target changes.
  int64_t chunks_refused = 0;
  int64_t retries = 0;
  /// Refused by the target, written to reject_file: by this invocation, and by an earlier
  /// one of the same run in the chunks a resume skipped (rows read but not written).
  int64_t rows_rejected = 0;
  int64_t rows_rejected_before = 0;  ///< of rows_rejected, refused by an earlier invocation
  std::string reject_file;        ///< set when rows were rejected
  int workers_used = 0;             ///< the most workers copying at once
  /// With max_workers auto: the count it settled on and why; else empty.
  std::string workers_decision;
  bool parallel = false;
  std::string reason;             ///< why parallel or serial, and why not split
  std::string partition_column;   ///< empty: streamed as one chunk
  std::string snapshot;           ///< how consistent the source view was
  bool fast_path = false;         ///< engine-native bytes passed through, rows not decoded
  std::string path;               ///< which data path ran and why
  int64_t commits = 0;            ///< target transactions that committed chunks in this run
  /// With chunk_size auto: how chunks were grouped into commits, for the summary; else empty.
  std::string commit_groups;
  bool resumed = false;           ///< this invocation resumed a run that had not finished
  int64_t run = 0;                ///< the job's run number (1 for its first run)
  bool dry_run = false;           ///< plan only: nothing was written
  /// Every planned chunk is committed (now or by an earlier invocation of the same run) and
  /// the run is stamped finished in the ledger.
  bool finished = false;
  std::vector<uint32_t> unfinished_chunks;  ///< chunks of this run not committed
  double elapsed_seconds = 0;
  double rows_per_second = 0;
  std::vector<ChunkReport> chunks;  ///< the plan (filled for dry runs and runs alike)
  std::vector<std::string> errors;  ///< one line per failed chunk
  /// A distributed run: each rank's share, rank 0 first; empty for a run in one process.
  std::vector<RankShare> ranks;
  /// Every planned chunk is committed and the run finished: a rerun has nothing to add. A dry
  /// run is ok when it planned. Rows the target refused within max_rejects are not in the
  /// target though: complete() says none were.
  bool ok() const { return dry_run || (finished && chunks_failed == 0); }
  /// Success: every planned row is in the target (ok, and no row set aside as refused).
  bool complete() const { return ok() && rows_rejected == 0; }
};

/// Runs the job: plan, then copy chunk by chunk with `config.max_workers` workers, each
/// with its own source and target connection. Throws Error(Config) for bad input before
/// any write, Error(Cancelled) only when `options.cancel` was set, and any other Error when
/// planning or preparing the target failed after retries. A chunk that failed after retries
/// is reported in the result (chunks_failed, unfinished_chunks, errors; ok() is false) and a
/// rerun resumes the run. A job whose last run finished starts a new run (mode truncate
/// empties the table again, append appends). Thread-safe (each call is independent).
/// Without `options`, default_parallel_options() (the environment's configuration).
ParallelResult execute_query_parallel(const std::string& source_url, const std::string& source_sql,
                                      const std::string& target_url,
                                      const std::string& target_schema,
                                      const std::string& target_table,
                                      const ParallelOptions& options = default_parallel_options());

/// The same with connection factories (for programs that open connections themselves).
ParallelResult execute_query_parallel(ConnectionFactory source, const std::string& source_sql,
                                      ConnectionFactory target, const std::string& target_schema,
                                      const std::string& target_table,
                                      const ParallelOptions& options = default_parallel_options());

/// One job of a run of many (execute_jobs_parallel): a source query into a target table.
struct JobDefinition {
  std::string source_url;
  std::string source_sql;
  std::string target_url;
  std::string target_schema;
  std::string target_table;
  ParallelOptions options;  ///< the job's own; options.config.max_workers caps its workers
};

/// What a run of many jobs does when one of them fails.
enum class OnError {
  Continue,  ///< the other jobs go on (default)
  Stop,      ///< no job gets another chunk; the others end incomplete, a rerun resumes them
};
OnError on_error_from_string(std::string_view text);  ///< "stop" or "continue"; Error(Config)

/// How a run of many jobs uses its one pool of workers.
struct MultiOptions {
  int max_workers = 1;  ///< worker threads shared by every job
  OnError on_error = OnError::Continue;
  bool dry_run = false;  ///< plan every job, write nothing
};

/// One job's outcome in a run of many.
struct JobOutcome {
  std::string target_table;  ///< as displayed
  ParallelResult result;     ///< errors holds the planning error when it never started
  bool planned = false;      ///< planning and the target's preparation succeeded
  bool cancelled = false;    ///< the user cancelled before it was complete
  /// Skipped: its last run finished in an earlier invocation of this (resumed) run of many.
  bool already_complete = false;
  bool ok() const { return planned && !cancelled && result.ok(); }
};

/// What a run of many jobs did.
struct MultiResult {
  std::vector<JobOutcome> jobs;  ///< in the order given
  std::string snapshot;          ///< how consistent the source view was across the jobs
  int workers_used = 0;
  double elapsed_seconds = 0;
  /// Share of the workers' time (threads x wall time of the copy phase) not spent copying a
  /// chunk: waiting for a job to take them, or with nothing left to do.
  double idle_share = 0;
  bool cancelled = false;  ///< the user's cancel stopped the run
  bool dry_run = false;
  /// Indexes and constraints made after the data (PostgreSQL to PostgreSQL, mode create,
  /// jobs whose source is a whole table): how many, how long, or why none ("" when no job
  /// is in mode create).
  std::string table_objects;
  int64_t indexes_created = 0;
  int64_t constraints_created = 0;
  int64_t table_objects_present = 0;  ///< found already there (a rerun) and left as they are
  /// Every job complete (for a dry run: every job planned).
  bool ok() const;
};

/// Runs many jobs as one: plans each (in the given order), then one pool of
/// `multi.max_workers` threads drains the jobs' chunks, the jobs with the most rows queued
/// first, so that small tables fill the gaps at the end. Jobs reading the same PostgreSQL
/// source URL read one exported snapshot (the first such job's coordinator exports it, the
/// others import it). A worker thread holds at most one source and one target connection:
/// it closes a job's connections when it moves to another job. Each job keeps its own
/// ledger rows, run and result; a failed job does not stop the others unless
/// multi.on_error is Stop. A rerun resumes only what is missing: when some job's last run is
/// unfinished, or some jobs finished while others never started, the invocation continues the
/// earlier one and jobs whose last run finished are skipped (already_complete) rather than
/// started again; otherwise (every job finished, or none started, or options.fresh) every job
/// starts a new run with its mode's meaning. Errors are reported per job, never thrown
/// (except Error(Config) for an empty list); set any job's options.cancel to stop handing
/// out chunks.
MultiResult execute_jobs_parallel(const std::vector<JobDefinition>& jobs,
                                  const MultiOptions& multi);

/// A chunk range whose source (or ledger) and target differ.
struct ChunkDifference {
  uint32_t index = 0;
  std::string bounds;       ///< human-readable range
  int64_t expected_rows = 0;  ///< in the source, or in the ledger for verify --ledger
  int64_t target_rows = 0;
  std::string problem;      ///< what differs
};

/// What verify found. A job verifies when every range matches.
struct VerifyResult {
  std::string job_id;
  bool against_ledger = false;  ///< compared with the ledger's hashes, not the source
  std::string scope;            ///< which ranges were compared, and why so
  std::string snapshot;         ///< how consistent the source view was
  int64_t ranges_checked = 0;
  int64_t ranges_matching = 0;
  int64_t expected_rows = 0;    ///< source (or ledger) rows over all ranges
  int64_t target_rows = 0;
  int64_t retries = 0;          ///< ranges read again after a transient error
  std::vector<ChunkDifference> differences;
  double elapsed_seconds = 0;
  bool ok() const { return differences.empty(); }
};

/// Compares a job's source and target range by range (the job's stored chunks, or a new
/// plan when it never ran): row count and order-independent content hash of the rows as
/// written (after options.transform). With `against_ledger`, reads only the target and
/// compares each committed chunk with the rows and hash its run recorded in the ledger
/// (chunks the ledger lacks are differences). Takes the job's lock: it does not run
/// beside a load of the same job. Writes nothing. Throws Error(Config/Schema) for bad input.
VerifyResult verify_query_parallel(const std::string& source_url, const std::string& source_sql,
                                   const std::string& target_url, const std::string& target_schema,
                                   const std::string& target_table, const ParallelOptions& options,
                                   bool against_ledger = false);
VerifyResult verify_query_parallel(ConnectionFactory source, const std::string& source_sql,
                                   ConnectionFactory target, const std::string& target_schema,
                                   const std::string& target_table, const ParallelOptions& options,
                                   bool against_ledger = false);

/// One run of a job as the target's ledger records it (`parmap status`).
struct RunStatus {
  std::string job_id;
  int64_t run = 0;
  std::string target_table;
  std::string mode;
  /// "finished"; "running" (a parmap process holds the job's lock now); "unfinished" (the last
  /// run stopped before every chunk committed: a rerun of the same command resumes it);
  /// "abandoned" (an unfinished run that a later run replaced, e.g. with --fresh).
  std::string state;
  int64_t chunks_planned = 0;
  int64_t chunks_done = 0;
  int64_t rows = 0;          ///< rows written by the run
  std::string started_at;    ///< UTC, ISO 8601
  std::string finished_at;   ///< "" unless finished
};

/// The runs recorded in the ledger of the target at `target_url`: every job's, or `job_id`'s
/// only, oldest first per job. Reads only (a job's lock is tried to tell "running" from
/// "unfinished", and let go at once). Throws Error(Config) when the target has no ledger or
/// (with `job_id`) no such job.
std::vector<RunStatus> job_status(const std::string& target_url, const std::string& job_id = "");

/// A reusable runner bound to one configuration. Immutable after construction: execute may be
/// called from several threads at once.
class ParallelProcessor {
 public:
  explicit ParallelProcessor(ParallelConfig config) : config_(std::move(config)) {}
  const ParallelConfig& config() const { return config_; }
  /// execute_query_parallel with this processor's config replacing options.config.
  ParallelResult execute(const std::string& source_url, const std::string& source_sql,
                         const std::string& target_url, const std::string& target_schema,
                         const std::string& target_table, ParallelOptions options = {}) const;

 private:
  ParallelConfig config_;
};

/// Resolves the configuration from a job's params and the environment
/// (get_parallel_config_from_params: the job's own keys are reported, not fatal) and returns
/// a processor. Throws Error(Config) for a bad value or a near-miss key.
std::unique_ptr<ParallelProcessor> create_parallel_processor(const ParamMap& params = {});

/// Row count and order-independent content hash (hash_rows) of a query's result, read
/// through `db`; two results with equal checksums hold the same rows with the same types.
struct ContentChecksum {
  int64_t rows = 0;
  uint64_t hash = 0;
  bool operator==(const ContentChecksum&) const = default;
};
ContentChecksum content_checksum(Connection& db, const std::string& sql);
/// The same for a query with `?` parameters, each batch (at most `max_batch_bytes`) passed
/// through `transform` (when set) before it is hashed, as a job writes it; throws
/// Error(Cancelled) between batches once `*cancel` is true; `version`: the row hash's function.
ContentChecksum content_checksum(Connection& db, const std::string& sql,
                                 const std::vector<Value>& params, const Transform& transform,
                                 const std::atomic<bool>* cancel = nullptr,
                                 int64_t max_batch_bytes = int64_t{64} << 20,
                                 RowHashVersion version = kRowHashVersion);

/// The default job id: a short hash of the source's identity (identity_of: engine, host,
/// port, database; never user or password), the query, the target's identity, the target
/// table and the mode.
std::string derive_job_id(const std::string& source_identity, const std::string& source_sql,
                          const std::string& target_identity, const std::string& target_table,
                          TargetMode mode);

}  // namespace parmap
