// The ledger on the target: which jobs exist, their stored plan, and which chunks committed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "parmap/connection.h"
#include "plan/plan.h"

namespace parmap {

/// A job's plan as stored in parmap_jobs, so that a rerun uses exactly the same chunks.
struct StoredPlan {
  std::string source_sql;        ///< the query the plan was made for
  std::string target_table;      ///< and the table it loads
  std::string partition_column;  ///< empty: one whole-query chunk
  bool parallel = false;
  std::string reason;
  int64_t estimated_rows = 0;
  std::vector<std::string> columns;  ///< the target columns written, in order
  /// Connection::position_token of the source when the plan cuts by physical position (ctid
  /// ranges, key slices); "" otherwise. A resume checks that no row has moved since.
  std::string position_token;
  /// Connection::table_token of the target table once the run prepared it (created, emptied);
  /// "" when the engine cannot tell. A resume checks that the table is still the same.
  std::string target_token;
  std::vector<Chunk> chunks;

  std::string to_json() const;
  static StoredPlan from_json(const std::string& text);  ///< throws Error(Internal)
};

/// A job as parmap_jobs holds it: the plan of its current (last) run, which run that is, and
/// whether that run finished.
struct JobRecord {
  StoredPlan plan;
  int64_t run = 1;
  bool finished = false;
};

/// One run of a job as parmap_runs holds it, with what it committed (for `parmap status`).
struct RunRecord {
  std::string job_id;
  int64_t run = 0;
  std::string target_table;
  std::string mode;
  std::string started_at;
  std::string finished_at;  ///< "" while the run has not finished
  int64_t chunks_planned = 0;
  int64_t chunks_done = 0;  ///< committed chunks (the current run's, read from the ledger)
  int64_t rows = 0;         ///< rows written
  bool current = false;     ///< the job's last run (the one a rerun resumes)
};

/// One committed chunk as the ledger holds it.
struct LedgerEntry {
  uint32_t chunk_id = 0;
  int64_t rows = 0;      ///< rows written
  int64_t rows_read = 0; ///< rows read from the source (more than written: rows rejected)
  std::string row_hash;  ///< "w:<hex>", "b:<hex>" or "v:<hex>", see HashKind
};

/// When and by whom a chunk was copied, for its ledger row (parmap report draws it).
struct ChunkStamp {
  std::string started_at;  ///< UTC, ISO 8601 with milliseconds: when the chunk's read began
  int worker = 0;          ///< the job's worker (0-based, in order of first chunk)
  int attempt = 1;         ///< 1 for the first attempt, 2 after one retry, ...
};

/// One committed chunk with when and by whom, for `parmap report`. Rows of a ledger made before
/// these were recorded have an empty started_at and worker and attempt -1.
struct LedgerChunk {
  uint32_t chunk_id = 0;
  std::string lo, hi;        ///< the bounds as serialized
  int64_t rows = 0;          ///< rows written
  std::string started_at;    ///< "" when not recorded
  std::string committed_at;  ///< UTC, ISO 8601 (whole seconds in older ledgers)
  int worker = -1;
  int attempt = -1;
};

/// UTC now in ISO 8601 with milliseconds, as the ledger stores chunk times.
std::string now_utc_millis();

/// What a chunk's row_hash was computed over: the values written, after any transformation
/// and without refused rows (hash_rows, the same for every engine), or the engine-native
/// bytes of each row (the fast path, never decoded). Stored as a prefix: "w:<16 hex>" for
/// values (hash_rows), "b:<16 hex>" for bytes; "v:<16 hex>" is the values' hash of parmap
/// before 2026-12-03 (RowHashVersion::Fnv1a), still read. `verify --ledger` recomputes it
/// from the target with the function the prefix names.
enum class HashKind { Values, Bytes };
inline constexpr const char* kValuesHashPrefix = "w:";
inline constexpr const char* kFnvValuesHashPrefix = "v:";
inline constexpr const char* kBytesHashPrefix = "b:";

/// Reads and writes the two ledger tables (parmap_jobs, parmap_ledger) through a target
/// connection. Writes happen inside the caller's transaction, so a chunk's rows and its
/// ledger row commit together or not at all. Not thread-safe (one per connection use).
class Ledger {
 public:
  static constexpr const char* kJobsTable = "parmap_jobs";
  static constexpr const char* kChunksTable = "parmap_ledger";
  static constexpr const char* kRunsTable = "parmap_runs";

  explicit Ledger(Connection& target) : db_(target) {}

  /// Creates the tables if missing, and adds the columns an older parmap did not make (run in
  /// parmap_jobs; started_at, worker, attempt in parmap_ledger), safe to repeat; call inside
  /// the caller's transaction.
  void ensure_tables();
  /// True when the ledger tables exist (a dry run must not create them).
  bool exists();
  /// The stored plan of `job_id`, if the job was started before.
  std::optional<StoredPlan> load_plan(const std::string& job_id);
  /// The job's current run and its plan, if the job was started before.
  std::optional<JobRecord> load_job(const std::string& job_id);
  /// Every run of `job_id` (every job's when empty), oldest first, with committed rows.
  std::vector<RunRecord> runs(const std::string& job_id);
  /// Committed chunks of `job_id` by chunk id.
  std::map<uint32_t, LedgerEntry> committed(const std::string& job_id);
  /// Committed chunks of `job_id` with their times, worker and attempt, in chunk order.
  std::vector<LedgerChunk> chunk_history(const std::string& job_id);
  /// Rows written by one chunk when it is committed, else nullopt (resolves a commit whose
  /// outcome was unknown).
  std::optional<int64_t> committed_rows(const std::string& job_id, uint32_t chunk_id);
  /// Starts run `run` of the job with this plan: forgets the chunks of its earlier run and
  /// records the run. Call inside the transaction that prepares the target (and truncates it,
  /// for mode truncate), so that a crash cannot leave one without the other.
  void start_run(const std::string& job_id, const std::string& target_table,
                 const StoredPlan& plan, int64_t run, const std::string& mode);
  /// Records a chunk as committed, with when it started, its worker and attempt (committed_at
  /// is now); call inside the chunk's transaction.
  void record_chunk(const std::string& job_id, const Chunk& chunk, int64_t rows_read,
                    int64_t rows_written, HashKind kind, uint64_t row_hash,
                    const ChunkStamp& stamp);
  /// Marks run `run` of the job finished (every chunk committed), with its totals.
  void mark_finished(const std::string& job_id, int64_t run);

 private:
  /// CREATE TABLE / ALTER TABLE ... ADD COLUMN, unless the table or column is there, or
  /// another process makes it meanwhile (once).
  void create_table(std::string_view table, const std::string& columns);
  void add_column(std::string_view table, std::string_view column, const std::string& definition);
  void once(const std::function<bool()>& done, const std::string& ddl);
  Connection& db_;
};

/// Hex form of a 64-bit hash, as stored in the ledger.
std::string hash_hex(uint64_t hash);

}  // namespace parmap
