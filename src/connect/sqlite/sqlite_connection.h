// A session with one SQLite database file: the Connection of the embedded default engine.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parmap/connection.h"

struct sqlite3;
struct sqlite3_stmt;

namespace parmap::sqlite {

/// Closes a database handle with sqlite3_close_v2, which defers the close until the
/// handle's last statement is finalized (a source may outlive close()).
struct DbCloser {
  void operator()(sqlite3* db) const noexcept;
};
/// Finalizes a prepared statement.
struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const noexcept;
};
/// An owned database handle.
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
/// An owned prepared statement.
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

/// Cap on rows per multi-row INSERT; beyond a few hundred rows the gain is nil and the
/// statement text only grows.
inline constexpr int kMaxRowsPerInsert = 500;

/// One SQLite session, opened in multi-thread mode (SQLITE_OPEN_NOMUTEX): owned by one
/// thread at a time, like every Connection. Sources and sinks it opens must not outlive
/// it. Every method throws parmap::Error classified by classify_sqlite_error.
///
/// SQLite allows one writer per database file, so capabilities() reports no concurrent
/// writers and writer_lock() returns a process-wide mutex shared by every connection to
/// the same file; readers are never serialised.
class SqliteConnection final : public Connection {
 public:
  /// Opens url.database (a file path, created if missing, or ":memory:"). URL params
  /// journal_mode, synchronous, cache_size, busy_timeout, mmap_size and temp_store are
  /// applied as PRAGMAs. Throws Error(Config) for another param or a bad value, and
  /// Error(Connect) naming the path when the file cannot be opened or is not a database.
  static std::unique_ptr<SqliteConnection> open(const ConnectionUrl& url);

  /// Only open() can make the Token; the constructor is public for std::make_unique.
  class Token {
   private:
    Token() = default;
    friend class SqliteConnection;
  };
  SqliteConnection(Token, DbPtr db, std::string path, std::mutex* writer_lock);
  ~SqliteConnection() override;
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  /// "sqlite".
  std::string engine() const override { return "sqlite"; }
  /// No concurrent writers (see writer_lock()), no snapshot export.
  Capabilities capabilities() const override;
  /// Double quotes, embedded quotes doubled: a"b -> "a""b".
  std::string quote_identifier(std::string_view name) const override;

  /// Runs one or more statements with sqlite3_exec.
  void execute(std::string_view sql) override;
  /// Runs the first statement of `sql` with `params` bound positionally; values come back
  /// as their storage class (int, double, text, Blob, null). Throws Error(Config) when the
  /// number of params does not match the statement's.
  std::vector<std::vector<Value>> query(std::string_view sql,
                                        const std::vector<Value>& params = {}) override;
  /// BEGIN IMMEDIATE: takes the write lock now rather than at the first write. With a source
  /// attached (attach_source) a plain BEGIN, since IMMEDIATE would take the write lock of the
  /// source's file too; the first INSERT takes the target's.
  void begin() override;
  /// COMMIT; on failure (SQLITE_BUSY, say) the transaction stays open for rollback().
  void commit() override;
  /// ROLLBACK when a transaction is open (sqlite3_get_autocommit), else nothing.
  void rollback() noexcept override;

  /// Types follow SQLite's affinity rules on each column's declared type; an expression
  /// (no declared type) or a NUMERIC-affinity column is Any.
  TableSchema describe_query(std::string_view sql) override;
  /// `table.schema` is an attached database name ("main", "temp"); empty means all.
  std::optional<TableSchema> describe_table(const TableRef& table) override;
  /// The single primary-key column whose declared type contains "INT" (which covers the
  /// rowid alias, INTEGER PRIMARY KEY), else nullopt.
  std::optional<std::string> integer_primary_key(const TableRef& table) override;
  std::vector<TableRef> list_tables() override;
  /// Counts the rows (SQLite keeps no statistics cheap enough to estimate from).
  int64_t estimate_rows(std::string_view sql) override;
  /// Exact min, max and counts; the sample keeps every k-th key of the sorted keys.
  /// Throws Error(Schema) naming the column and the query's columns when it is missing.
  KeyStats key_stats(std::string_view sql, std::string_view column, int max_sample) override;
  /// For "SELECT * FROM <rowid table>": the first of rowid, _rowid_, oid that is not a real
  /// column, and [min, max + 1) of it; nullopt for anything else (a view, a join, a WITHOUT
  /// ROWID table, an empty table).
  std::optional<PhysicalExtent> physical_extent(std::string_view sql) override;
  /// From EXPLAIN QUERY PLAN of a chunk's query: a plan that searches no index (only SCAN
  /// steps) would read the whole query for every chunk.
  std::optional<std::string> range_filter_problem(std::string_view sql,
                                                  std::string_view column) override;
  /// Int64 INTEGER, Double REAL, Text TEXT, Blob BLOB, Bool BOOLEAN, and no declared type
  /// for Any, so that values keep exactly the type they arrive with.
  void create_table(const TableRef& table, const TableSchema& schema) override;
  /// A schema is an attached database ("main", "temp", or ATTACH's name).
  bool schema_exists(const std::string& schema) override;

  /// A source appending each value with its actual type; a value that does not match the
  /// column's declared type turns the column into Any for that batch (never coerced).
  std::unique_ptr<RowSource> open_source(std::string_view sql, const std::vector<Value>& params,
                                         size_t batch_rows, size_t max_batch_bytes) override;
  /// A sink inserting with multi-row INSERT statements (up to kMaxRowsPerInsert rows, fewer
  /// when the columns would pass SQLite's bound-parameter limit) inside the caller's
  /// transaction: it never begins or commits. Values bind by the column's storage (Any: by
  /// each value's type). A NaN double is stored as NULL: that is SQLite's own behaviour, it
  /// has no NaN. Throws Error(Schema) at open for a missing table or column.
  std::unique_ptr<RowSink> open_sink(const TableRef& table,
                                     const std::vector<std::string>& columns) override;
  /// open_sink with an explicit cap on rows per INSERT (1 = one row per statement); the
  /// cap is further limited by SQLite's bound-parameter limit. For benchmarks and tests.
  std::unique_ptr<RowSink> open_insert_sink(const TableRef& table,
                                            const std::vector<std::string>& columns,
                                            int max_rows_per_statement);

  /// The in-engine path. A source in another SQLite file is ATTACHed to this session as
  /// "parmap_source" (a source in this session's own file needs nothing). SQLite resolves an
  /// unqualified name in the target's own database first, so a plain "SELECT * FROM table
  /// [ORDER BY ...]" is run as "SELECT * FROM parmap_source.table ...", and any other query
  /// must read no table of the target's database (the statement's authorizer tells which
  /// database each read is from) nor one named like `target`, which exists there by the time
  /// chunks run. Refused too, the session left as it was, when the source is not a SQLite
  /// file, and for a NUMERIC(p,s) column (the typed path reads it as exact decimal text).
  AttachedSource attach_source(Connection& source, std::string_view sql,
                               const TableRef& target) override;
  void detach_source() override;
  /// One "WITH rows AS (<sql>) INSERT INTO table (...) SELECT ... FROM rows WHERE
  /// parmap_tally(...)": an SQL function of this session appends each row to a batch as
  /// open_source() would read it (declared types checked the same way, Error(Data) for a value
  /// that is not of its column's declared type) and hashes it every few thousand rows. The
  /// rows inserted must be the rows tallied, or Error(Internal).
  LocalCopyResult copy_local(const TableRef& table, const std::vector<std::string>& columns,
                             std::string_view sql, const std::vector<Value>& params,
                             const std::function<void(int64_t, int64_t)>& on_rows) override;

  /// The process-wide mutex of this database file (by canonical path, so two URLs of one
  /// file share it); nullptr for in-memory databases, which no other connection can see.
  std::mutex* writer_lock() override { return writer_lock_; }
  /// sqlite3_interrupt from any thread: the running statement fails with SQLITE_INTERRUPT
  /// (Error(Transient)), and every later call on this connection with Error(Transient).
  /// Serialised with close() by a mutex: a closed handle is never touched.
  void interrupt() noexcept override;
  /// Closes the handle (an open transaction is rolled back); later calls throw
  /// Error(Connect). Idempotent.
  void close() noexcept override;
  /// An OFD write lock on one byte (by the key's hash) of "<database>-parmap.lock" beside
  /// the database file: released with the descriptor, also when the process is killed.
  /// In-memory databases: always true (no other process can see them).
  bool try_lock_job(std::string_view key) override;

  /// The database file's canonical path, or ":memory:" / "" for in-memory databases.
  const std::string& path() const { return path_; }

  /// The rows of the running copy_local, fed by its SQL function (sqlite_local_copy.h).
  struct Tally;

 private:
  /// The live handle; throws Error(Connect) after close().
  sqlite3* db() const;
  /// Prepares one statement; throws a classified Error naming `what`.
  StmtPtr prepare(std::string_view sql, std::string_view what) const;
  /// key_stats of a plain table's rowid key when its keys are every integer from its min to
  /// its max (no gaps): the same statistics as reading them all, from its count and its two
  /// ends. Full windows of keys spread over the range are checked before the count, so that
  /// a table with gaps is not counted and then read again. False (stats untouched) for any
  /// other query, key or table.
  bool dense_rowid_keys(std::string_view sql, const std::string& column, int max_sample,
                        KeyStats& stats);
  /// Throws the Error for the handle's last failure.
  [[noreturn]] void fail(int rc, std::string_view what, std::string_view sql,
                         std::string_view table = {}) const;

  DbPtr db_;
  std::mutex handle_mu_;       // orders interrupt() against close()
  sqlite3* handle_ = nullptr;  // db_ while it is open, for interrupt(); under handle_mu_
  std::atomic<bool> interrupted_{false};
  std::string path_;
  std::mutex* writer_lock_;  // process-wide, never freed; nullptr for in-memory databases
  int job_lock_fd_ = -1;     // the job lock file, open while the lock is held

  std::unique_ptr<Tally> tally_;  // set up by the first attach_source
  std::string attached_;          // the attached source's canonical path, "" when none
  std::string checked_sql_;       // the query attach_source last accepted
  std::string local_sql_;         // and what it returned for it
};

}  // namespace parmap::sqlite
