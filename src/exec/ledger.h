// The ledger on the target: which jobs exist, their stored plan, and which chunks committed.
#pragma once

#include <cstdint>
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
  std::vector<Chunk> chunks;

  std::string to_json() const;
  static StoredPlan from_json(const std::string& text);  ///< throws Error(Internal)
};

/// One committed chunk as the ledger holds it.
struct LedgerEntry {
  uint32_t chunk_id = 0;
  int64_t rows = 0;      ///< rows written
  int64_t rows_read = 0; ///< rows read from the source (more than written: rows rejected)
  std::string row_hash;  ///< "v:<hex>" or "b:<hex>", see HashKind
};

/// What a chunk's row_hash was computed over: the values written, after any transformation
/// and without refused rows (hash_rows, the same for every engine), or the engine-native
/// bytes of each row (the fast path, never decoded). Stored as a prefix: "v:<16 hex>" or
/// "b:<16 hex>". `verify --ledger` recomputes it from the target.
enum class HashKind { Values, Bytes };

/// Reads and writes the two ledger tables (parmap_jobs, parmap_ledger) through a target
/// connection. Writes happen inside the caller's transaction, so a chunk's rows and its
/// ledger row commit together or not at all. Not thread-safe (one per connection use).
class Ledger {
 public:
  static constexpr const char* kJobsTable = "parmap_jobs";
  static constexpr const char* kChunksTable = "parmap_ledger";

  explicit Ledger(Connection& target) : db_(target) {}

  /// Creates the tables if missing (its own statement; safe to repeat).
  void ensure_tables();
  /// True when the ledger tables exist (a dry run must not create them).
  bool exists();
  /// The stored plan of `job_id`, if the job was started before.
  std::optional<StoredPlan> load_plan(const std::string& job_id);
  /// Committed chunks of `job_id` by chunk id.
  std::map<uint32_t, LedgerEntry> committed(const std::string& job_id);
  /// Rows written by one chunk when it is committed, else nullopt (resolves a commit whose
  /// outcome was unknown).
  std::optional<int64_t> committed_rows(const std::string& job_id, uint32_t chunk_id);
  /// Records a new job and its plan.
  void insert_job(const std::string& job_id, const std::string& target_table,
                  const StoredPlan& plan);
  /// Records a chunk as committed; call inside the chunk's transaction.
  void record_chunk(const std::string& job_id, const Chunk& chunk, int64_t rows_read,
                    int64_t rows_written, HashKind kind, uint64_t row_hash);
  /// Marks the job finished (every chunk committed).
  void mark_finished(const std::string& job_id);
  /// Drops every trace of the job (for --fresh); call inside a transaction.
  void forget_job(const std::string& job_id);

 private:
  Connection& db_;
};

/// Hex form of a 64-bit hash, as stored in the ledger.
std::string hash_hex(uint64_t hash);

}  // namespace parmap
