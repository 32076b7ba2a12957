// A session with one PostgreSQL server over libpq: the Connection of the PostgreSQL driver.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "connect/postgres/pg_copy.h"
#include "connect/postgres/pg_session.h"
#include "parmap/connection.h"

namespace parmap::pg {

/// Rewrites `?` placeholders outside string literals, quoted identifiers, dollar quotes and
/// comments: each one becomes replace(i) for i = 0, 1, ... Returns the number replaced in
/// `count`. Pure; exposed for tests. (A jsonb `?` operator is a placeholder here: queries
/// that use it must pass no parameters, and then nothing is rewritten.)
std::string rewrite_placeholders(std::string_view sql, size_t& count,
                                 const std::function<std::string(size_t)>& replace);

/// Why a server whose server_version_num is `server_version` (150004 for 15.4) cannot split a
/// table into ctid block ranges, or nullopt when it can: before PostgreSQL 14 there is no TID
/// range scan, so every block range would read the whole table. Pure; exposed for tests.
std::optional<std::string> block_ranges_problem(int server_version);

/// One PostgreSQL session. Owned by one thread at a time, like every Connection. Every method
/// throws parmap::Error classified by classify_failure; messages name the masked URL, never a
/// password.
///
/// Snapshots: export_snapshot() leaves a REPEATABLE READ READ ONLY transaction open on this
/// connection; later statements that could fail run under a savepoint so that an error does
/// not end the exported snapshot. After import_snapshot(id) every read (query, describe,
/// statistics, sources) first makes sure a REPEATABLE READ READ ONLY transaction with that
/// snapshot is open, and keeps it open across reads; begin() ends it (it was read-only) and
/// the next read after commit()/rollback() starts a new one.
class PgConnection final : public Connection {
 public:
  /// Connects (PQconnectdbParams, see connect_params). Throws Error(Config) for an unknown
  /// URL param (naming it) or a bad option value, Error(Transient) when the server refuses
  /// for now (too many clients, starting up), and Error(Connect) otherwise; every message
  /// names the URL masked.
  static std::unique_ptr<PgConnection> open(const ConnectionUrl& url);

  /// Only open() can make the Token; the constructor is public for std::make_unique.
  class Token {
   private:
    Token() = default;
    friend class PgConnection;
  };
  PgConnection(Token, std::shared_ptr<Session> session);
  ~PgConnection() override;
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  /// "postgresql".
  std::string engine() const override { return "postgresql"; }
  /// Concurrent writers and snapshot export; block ranges on PostgreSQL 14 and later (see
  /// block_ranges_problem).
  Capabilities capabilities() const override;
  /// The server's server_version_num as libpq reported it at connect (150004), 0 when closed.
  int server_version() const;
  /// Double quotes, embedded quotes doubled: a"b -> "a""b".
  std::string quote_identifier(std::string_view name) const override;

  /// Runs one or more statements (PQexec, simple protocol).
  void execute(std::string_view sql) override;
  /// Runs one statement with `?` placeholders (rewritten to $1..$n; none are rewritten when
  /// `params` is empty) and text-format parameters. Values come back as int (int2/4/8, and
  /// bool as 0/1), double (float4/8), Blob (bytea) or text (everything else). Throws
  /// Error(Config) when the number of placeholders and params differ.
  std::vector<std::vector<Value>> query(std::string_view sql,
                                        const std::vector<Value>& params = {}) override;
  /// BEGIN (ending an open snapshot read transaction first).
  void begin() override;
  /// COMMIT. A lost connection is Error(InDoubt); a transaction the server had already
  /// failed (COMMIT answered with ROLLBACK) is Error(Transient).
  void commit() override;
  /// Ends an unfinished COPY, then ROLLBACK when a transaction is open; never throws.
  void rollback() noexcept override;

  /// Names and types from PQdescribePrepared; declared types from format_type (cached).
  TableSchema describe_query(std::string_view sql) override;
  /// From pg_attribute; an empty schema resolves through the search_path (to_regclass).
  /// Tables, views, materialized views, foreign and partitioned tables.
  std::optional<TableSchema> describe_table(const TableRef& table) override;
  /// The single primary-key column of type smallint, integer or bigint.
  std::optional<std::string> integer_primary_key(const TableRef& table) override;
  std::vector<TableRef> list_tables() override;
  /// The planner's estimate ("Plan Rows" of EXPLAIN (FORMAT JSON)); never counts.
  int64_t estimate_rows(std::string_view sql) override;
  /// The least and greatest non-null keys by ORDER BY ... LIMIT 1 (any type with an ordering:
  /// integers, numeric, text in its collation, uuid, bool, dates and times; fast with an
  /// index), rows estimated, and a sample in the key's order, read with TABLESAMPLE SYSTEM
  /// for a plain table or in full for a small query (none for a large one). Bounds are
  /// values whose text the server reads back as the key's type (a bool as 'true'/'false').
  /// A key whose type has no ordering (json, xml, point) gets no bounds (min and max null,
  /// rows the estimate, no sample), so that the plan reads its non-null keys as one chunk;
  /// a warning names the key and why. null_rows is 0 only when certain (NOT NULL column, exact count); estimated from
  /// pg_stats it is at least 1, and 1 for a large query without statistics, so that the
  /// planner always plans the NULL-key chunk when NULL keys are possible. The key "ctid" gives
  /// block numbers [0, relpages] of the plain table the query reads (Error(Config) before
  /// PostgreSQL 14, naming why). Throws Error(Schema) when the column is not in the query.
  KeyStats key_stats(std::string_view sql, std::string_view column, int max_sample) override;
  /// Each column gets its declared type when it is a PostgreSQL type name (as format_type
  /// writes it) that this server knows and that decodes to the column's type, else
  /// postgres_type_name(type) (driver_helpers.h).
  void create_table(const TableRef& table, const TableSchema& schema) override;
  bool schema_exists(const std::string& schema) override;
  void create_schema(const std::string& schema) override;
  /// From pg_index (valid indexes backing no constraint, by pg_get_indexdef) and
  /// pg_constraint (CHECK, UNIQUE, EXCLUDE, then FOREIGN KEY, by pg_get_constraintdef).
  std::vector<TableObject> table_objects(const TableRef& table) override;
  bool has_table_object(const TableRef& table, const TableObject& object) override;
  /// CREATE [UNIQUE] INDEX name ON <table> USING ... / ALTER TABLE <table> ADD CONSTRAINT
  /// name <definition>, the definition's table (and a foreign key's referenced table) named
  /// as given.
  std::string table_object_sql(const TableRef& table, const TableObject& object,
                               const std::optional<TableRef>& references) const override;

  /// COPY (<sql with params inlined as literals>) TO STDOUT (FORMAT binary), decoded by
  /// CopyDecoder. Abandoning the source mid-stream cancels the COPY.
  std::unique_ptr<RowSource> open_source(std::string_view sql, const std::vector<Value>& params,
                                         size_t batch_rows, size_t max_batch_bytes) override;
  /// COPY <table> (<columns>) FROM STDIN in binary format when CopyEncoder::binary_ok, else in
  /// text format (decided per batch: a change of mode ends one COPY and starts another).
  /// Runs inside the caller's transaction; never begins or commits. Throws Error(Schema) at
  /// open for a missing table or column; rows the server refuses are Error(Data) at write or
  /// finish, with the server's message (it names the line and column).
  std::unique_ptr<RowSink> open_sink(const TableRef& table,
                                     const std::vector<std::string>& columns) override;

  /// For the key "ctid": a TID range scan of the query's table,
  /// SELECT * FROM <table> WHERE ctid >= '(lo,0)'::tid AND ctid < '(hi,0)'::tid; other keys:
  /// Connection::chunk_query. Throws Error(Config) for "ctid" on a query that is not
  /// SELECT * FROM <table>.
  std::string chunk_query(std::string_view sql, const Chunk& chunk,
                          std::vector<Value>& params) const override;
  /// chunk_query's SQL before its integer parameters become untyped literals.
  std::string block_chunk_query(std::string_view sql, const Chunk& chunk,
                                std::vector<Value>& params) const;
  /// For "SELECT * FROM <table>" on a plain table or materialized view: "ctid" and the
  /// block numbers [0, pages) of the table in the current snapshot's transaction; else
  /// nullopt.
  std::optional<PhysicalExtent> physical_extent(std::string_view sql) override;
  /// "<relfilenode>:<snapshot xmin>" of the query's table in this session's snapshot.
  std::string position_token(std::string_view sql) override;
  /// "<oid>/<relfilenode>" of the table (its leaves' for a partitioned table).
  std::string table_token(const TableRef& table) override;
  /// The table rewritten (another relfilenode), or a visible row whose xmin is not older than
  /// the token's snapshot xmin (inserted or updated since): reads the whole table once.
  std::optional<std::string> positions_moved(std::string_view sql,
                                             const std::string& token) override;
  /// Plans SELECT * FROM (<sql>) AS src WHERE "column" >= $1 generically (EXPLAIN of a
  /// prepared statement under plan_cache_mode = force_generic_plan) and reports the filter
  /// when it lands on a node that is not a relation scan (Subquery Scan, Aggregate, ...), or
  /// that the key's type cannot be ordered (json, xml, point: no >= operator).
  std::optional<std::string> range_filter_problem(std::string_view sql,
                                                  std::string_view column) override;

  /// BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT pg_export_snapshot(). The
  /// transaction stays open. Throws Error(Internal) when a transaction is already open.
  std::optional<std::string> export_snapshot() override;
  /// Remembers the snapshot; the next read starts a transaction with it (see the class).
  void import_snapshot(const std::string& id) override;

  /// "postgresql-binary-copy".
  std::string native_format() const override { return "postgresql-binary-copy"; }
  /// COPY (<sql>) TO STDOUT (FORMAT binary); next() yields each CopyData message.
  std::unique_ptr<NativeSource> open_native_source(std::string_view sql,
                                                   const std::vector<Value>& params) override;
  /// COPY <table> (<columns>) FROM STDIN (FORMAT binary); the stream's column types must be
  /// the table's (binary COPY does not convert: a mismatch is refused by the server).
  std::unique_ptr<NativeSink> open_native_sink(const TableRef& table,
                                               const std::vector<std::string>& columns) override;

  /// For an ordinary table (or materialized view) without inheritance children that is
  /// larger than a quarter of shared_buffers (the server's own rule for reading a sequential
  /// scan through a ring of buffers): the rows that take about `chunk_bytes` in binary COPY,
  /// from their size on disk (pg_relation_size over reltuples) and their columns. 0 otherwise.
  int64_t one_pass_chunk_rows(std::string_view sql, int64_t chunk_bytes) override;
  /// COPY (SELECT ctid, * FROM table) TO STDOUT (FORMAT binary), with synchronize_seqscans
  /// and parallel workers off so that the rows come in block order; nullptr for a table
  /// that is not ordinary or has inheritance children (whose blocks restart with each).
  std::unique_ptr<PositionScan> open_position_scan(std::string_view sql) override;
  std::unique_ptr<RowSource> decode_native_rows(std::string_view sql, std::string_view header,
                                                std::string_view rows, size_t batch_rows,
                                                size_t max_batch_bytes) override;

  /// pg_try_advisory_lock on a bigint hash of the key: a session lock, so it outlives the
  /// transactions and is released when the session ends (also when the client is killed).
  bool try_lock_job(std::string_view key) override;

  /// shutdown(2) of the session's socket, from any thread: a call blocked in libpq (a COPY
  /// read or write, a result) wakes up and fails as a lost connection, Error(Transient) (or
  /// InDoubt while committing), and so does every later call. Serialised with close() by a
  /// mutex, so that a socket number already closed (and perhaps reused) is never touched.
  void interrupt() noexcept override;

  /// Finishes the session (PQfinish); sources and sinks still open fail with Error(Connect).
  /// Idempotent; never throws.
  void close() noexcept override;

  /// The URL with the password masked.
  const std::string& url() const { return url_; }

 private:
  /// A column of a table with its OID and typmod, for sinks and describe_table.
  struct TableColumn {
    ColumnInfo info;
    uint32_t type_oid = 0;
    int32_t typmod = -1;
    int key_position = 0;  ///< 1-based place in the primary key, 0 when not in it
  };

  /// The live handle; throws Error(Connect) after close().
  pg_conn* conn() const;
  /// Runs `sql` (simple protocol) and checks the result has `expected` status (a
  /// ExecStatusType); throws the classified Error otherwise.
  ResultPtr exec(std::string_view sql, int expected, std::string_view what,
                 std::string_view table = {}, bool committing = false);
  /// Runs one statement with text parameters ($1..$n already in `sql`).
  ResultPtr exec_params(std::string_view sql, const std::vector<Value>& params,
                        std::string_view what, std::string_view table = {});
  /// The bytes a row of `table` takes on disk (line pointer included), as the rows of about
  /// 64 of its `pages` picked at random average; nullopt when none holds a row. For a table
  /// never analyzed, whose row count the server's planner guesses from its columns' types.
  std::optional<double> sampled_row_bytes(const TableRef& table, int64_t pages);
  /// Runs `fn` so that an error in it does not abort an open transaction: under a savepoint
  /// when one is open (rolled back to on error), else directly.
  template <typename Fn>
  auto guarded(Fn&& fn);
  /// Throws the Error for a failed result (or a null one).
  [[noreturn]] void fail(const pg_result* result, std::string_view what, std::string_view sql,
                         std::string_view table = {}, bool committing = false) const;
  /// Before a read: with an imported snapshot, makes sure a REPEATABLE READ READ ONLY
  /// transaction with it is open (restarting one that failed).
  void ensure_read_snapshot();
  /// The result columns of a query (name, OID, typmod, format_type name).
  /// Refuses a source of 0 rows a batch (Error(Config), naming `sql`).
  void check_batch_rows(size_t batch_rows, std::string_view sql) const;
  std::vector<PgColumn> describe_columns(std::string_view sql);
  /// format_type names for (OID, typmod) pairs, from the cache or one query.
  void resolve_type_names(std::vector<PgColumn>& columns);
  /// The columns of a table, or nullopt when it does not exist.
  std::optional<std::vector<TableColumn>> table_columns(const TableRef& table);
  /// The target columns of a sink, in `columns` order; throws Error(Schema).
  std::vector<PgColumn> sink_columns(const TableRef& table,
                                     const std::vector<std::string>& columns);
  /// `sql` with `?` replaced by quoted literals (COPY takes no parameters).
  std::string inline_params(std::string_view sql, const std::vector<Value>& params);
  /// Starts `copy_sql`, a COPY ... TO STDOUT (FORMAT binary), after the session's first one
  /// has made the server's C library keep a row's memory between rows (see the definition).
  void start_copy_out(const std::string& copy_sql, std::string_view table = {});
  /// The OID of the type `declared` names on this server, or 0 (also for a pseudo-type).
  uint32_t declared_type_oid(const std::string& declared);

  std::shared_ptr<Session> session_;
  std::mutex socket_mu_;  // orders interrupt() against close()
  int socket_ = -1;       // the session's socket while it is open, else -1; under socket_mu_
  std::string url_;
  std::optional<std::string> snapshot_;  // imported snapshot id
  bool snapshot_txn_ = false;            // the open transaction is the imported snapshot's
  bool exported_ = false;                // the open transaction exported a snapshot
  bool heap_grown_ = false;              // start_copy_out's first allocation has been made
  std::map<std::pair<uint32_t, int32_t>, std::string> type_names_;
};

}  // namespace parmap::pg
