// The driver interface: Connection, RowSource, RowSink, connection URLs and the registry.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parmap/batch.h"

namespace parmap {

/// A parsed connection URL: scheme://user:password@host:port/database?key=value.
/// For sqlite, `database` is the file path ("sqlite:///tmp/a.db" -> "/tmp/a.db",
/// "sqlite://relative.db" -> "relative.db", "sqlite://:memory:" -> ":memory:").
struct ConnectionUrl {
  std::string scheme;  ///< normalised: "sqlite", "postgresql", "mysql", "odbc"
  std::string user;
  std::string password;  ///< never printed: use masked()
  std::string host;
  std::optional<int> port;
  std::string database;
  std::map<std::string, std::string> params;

  /// The URL with the password replaced by "****", safe for output and logs.
  std::string masked() const;
};

/// Parses a URL; percent-decodes user, password, database and params. Accepts
/// "postgres"/"postgresql", "mysql"/"mariadb", "sqlite"/"sqlite3", "odbc".
/// Throws Error(Config) naming the (masked) URL and what is wrong.
ConnectionUrl parse_url(std::string_view url);

/// Replaces any password in a URL-like string with "****" (for messages built from raw input).
std::string mask_password(std::string_view text);

/// `name` in double quotes with embedded quotes doubled: the SQL standard's quoting, which
/// SQLite and PostgreSQL share.
std::string quote_ansi_identifier(std::string_view name);

/// A table name, optionally schema-qualified.
struct TableRef {
  std::string schema;  ///< empty: the connection's default
  std::string name;
  /// "schema.name" or "name", unquoted, for messages.
  std::string display() const;
};

/// How an engine reads a name written without quotes.
enum class UnquotedNames {
  AsWritten,  ///< MariaDB, MySQL, SQLite: the name as it is (SQLite ignores case anyway)
  Lower,      ///< PostgreSQL: ASCII letters to lower case (MyTable is mytable)
};

/// Splits "schema.table" / "table" / "\"My Schema\".\"my table\"", each part either quoted
/// ("...", `...` or [...], kept as written) or not (read as `unquoted` says, as the engine
/// reads SQL). Throws Error(Config).
TableRef parse_table_ref(std::string_view text, UnquotedNames unquoted = UnquotedNames::AsWritten);

/// How the engine of a connection URL reads unquoted names (by its scheme; ODBC: as written).
UnquotedNames unquoted_names_of(std::string_view url);

struct ColumnInfo {
  std::string name;
  ColumnType type = ColumnType::Any;
  std::string declared_type;  ///< as the engine names it, "" when unknown
  bool not_null = false;
  bool primary_key = false;
  /// Computed by the engine (`GENERATED ALWAYS AS (...)`): a table's column no write may give
  /// a value (describe_table sets it).
  bool generated = false;
};

struct TableSchema {
  std::vector<ColumnInfo> columns;
  /// The primary key's columns in key order (describe_table fills it; empty: no key, or a
  /// query's result). create_table declares it; when it is empty, the columns marked
  /// primary_key form the key, in column order.
  std::vector<std::string> primary_key;
  int find(std::string_view name) const;  ///< index by name (case-insensitive), or -1
};

/// An index or constraint of a table besides its primary key, as the source engine defines
/// it (Connection::table_objects), to be made again on a copy of the table.
struct TableObject {
  enum class Kind {
    Index,       ///< an index that backs no constraint
    Constraint,  ///< CHECK, UNIQUE, EXCLUDE: needs only its own table
    ForeignKey,  ///< needs the referenced table, loaded: made after every other object
  };
  Kind kind = Kind::Index;
  std::string name;        ///< unquoted, as the source names it
  std::string definition;  ///< the engine's own text of it, for that engine's table_object_sql
  std::optional<TableRef> references;  ///< a foreign key's referenced table
  std::string references_text;         ///< how `definition` names it
};

/// A half-open key range [lo, hi). A null bound is open (unbounded on that side).
/// `nulls` marks the chunk that holds exactly the rows whose key IS NULL.
struct KeyRange {
  Value lo, hi;
  bool nulls = false;
};

/// A part of the rows of one key value, by physical position: used when one key value (or
/// NULL) holds more rows than a chunk, on a query that is a plain table. The rows are those
/// whose key equals `value` (IS NULL when `value` is null) and whose `position` pseudo-column
/// lies in [range.lo, range.hi) (a null bound is open). Positions are driver-defined: "ctid"
/// means PostgreSQL block numbers (a TID range scan), "rowid" a SQLite rowid.
struct KeySlice {
  Value value;
  std::string position;
  KeyRange range;
};

/// One unit of work: a key range of the partition column (or the whole query when
/// `key` is empty). Chunk ids are the index in the plan and stable across reruns
/// because the plan is stored in the ledger. The key "ctid" means PostgreSQL block
/// numbers: [lo, hi) are pages of the query's table.
struct Chunk {
  uint32_t index = 0;
  std::string key;  ///< partition column; empty: the whole query as one stream
  KeyRange range;
  int64_t estimated_rows = 0;
  /// Set: the chunk holds only this slice of one key value's rows (`range` still names the
  /// key range the value came from, [value, next key), for messages and the ledger).
  std::optional<KeySlice> slice;

  /// "chunk 3 [100, 200)" / "chunk 7 (id IS NULL)" / "chunk 0 (whole query)" /
  /// "chunk 4 (id = 7, ctid [0, 120))".
  std::string describe() const;
};

/// What is known of a partition key over a query's rows; the planner's only input.
struct KeyStats {
  std::string column;
  ColumnType type = ColumnType::Any;
  Value min, max;            ///< null when there are no non-null keys
  int64_t rows = 0;          ///< rows with a non-null key (estimate)
  int64_t null_rows = 0;     ///< rows whose key is NULL (estimate)
  std::vector<Value> sample; ///< sorted sample of keys, for quantiles; may be empty
  /// > 0 when the sample is every sample_every-th key of a read of all of them in order
  /// (rows and null_rows are then counts): a range's share of the sample is its row count to
  /// within sample_every rows. 0 when the sample is a random or statistical one.
  int64_t sample_every = 0;
  /// The keys are every integer from min to max, known from a count and the two ends without
  /// reading them (the sample is then what reading them all would have kept).
  bool every_integer = false;
};

/// Storage positions of a table's rows: the pseudo-column and the half-open extent [lo, hi)
/// that holds every row's position (see Connection::physical_extent).
struct PhysicalExtent {
  std::string column;
  int64_t lo = 0, hi = 0;
};

/// What a driver can do; the executor adapts to it.
struct Capabilities {
  bool concurrent_writers = true;  ///< false: writes to one database are serialised
  bool snapshot_export = false;    ///< workers can share one snapshot
  /// The key that cuts a plain table by its rows' physical positions, as key_stats, chunk
  /// queries and a job's partition_column name it ("ctid" on PostgreSQL); "" when the engine
  /// has none. Chunks cut by it stay exact on resume only while no row moves (position_token).
  std::string position_key;
  bool block_ranges = false;  ///< position_key ranges are answered by a range scan, not a full one
  /// key_stats reads every key and so counts the rows exactly, as estimate_rows would by
  /// reading them again (SQLite): planning then asks key_stats first and no estimate.
  bool keys_counted = false;
};

/// What Connection::attach_source found.
struct AttachedSource {
  /// The source query as the target's session must run it (its table named in the attached
  /// database, say); chunk queries are built on it. "" when the path cannot run.
  std::string sql;
  /// Why the in-engine path cannot run (the session is left as it was); "" when it can.
  std::string problem;
};

/// What one in-engine copy (Connection::copy_local) wrote.
struct LocalCopyResult {
  int64_t rows = 0;   ///< read from the source
  int64_t taken = 0;  ///< inserted into the target: fewer when the table ignores some
  uint64_t hash = 0;  ///< hash_rows of the rows as the source's open_source would read them
};

/// Yields the rows of one query in batches. Owned by one worker; not thread-safe.
class RowSource {
 public:
  virtual ~RowSource() = default;
  /// Clears `out` and fills it with up to the batch size rows (fewer when a byte
  /// bound is reached). Returns false when there are no more rows (out is empty).
  virtual bool next(Batch& out) = 0;
};

/// Bytes in the engine's own bulk format, streamed without decoding rows (the PostgreSQL
/// fast path). Counts rows and hashes each row's bytes as they pass. Not thread-safe.
class NativeSource {
 public:
  virtual ~NativeSource() = default;
  /// Points `data` at the next piece of the stream (valid until the next call); false at end.
  virtual bool next(std::string_view& data) = 0;
  virtual int64_t rows() const = 0;
  /// Order-independent hash of the rows' encoded bytes (a different kind of hash from
  /// hash_rows: the ledger says which).
  virtual uint64_t row_hash() const = 0;
  /// For several sources fed in turn into one NativeSink (chunks committed together): the
  /// stream's header is passed on only when `keep_header` (the first source) and its trailer
  /// only when `keep_trailer` (the last). Call before the first next(). A format without
  /// either ignores it.
  virtual void set_framing(bool /*keep_header*/, bool /*keep_trailer*/) {}
};

/// A plain table's rows in the native format, read in one pass in the order of their physical
/// positions, each with its position: what a plan cut by positions divides into its chunks on
/// the client (Connection::open_position_scan). Not thread-safe.
class PositionScan {
 public:
  virtual ~PositionScan() = default;
  /// Points `row` at the next row's bytes, as a NativeSource streams a row (without the
  /// stream's header and trailer; valid until the next call), and sets `position` to where
  /// it lies (a PostgreSQL block number); false at the end.
  virtual bool next(std::string_view& row, int64_t& position) = 0;
  /// What a native stream of rows starts with (before the first row) and ends with.
  virtual std::string_view header() const = 0;
  virtual std::string_view trailer() const = 0;
  /// One row's share of a NativeSource's row_hash, which is the sum of its rows' shares.
  virtual uint64_t row_hash(std::string_view row) const = 0;
};

/// Takes a NativeSource's stream into one table, inside the current transaction.
class NativeSink {
 public:
  virtual ~NativeSink() = default;
  virtual void write(std::string_view data) = 0;
  /// Ends the stream; returns rows written (as the engine counted them). Does not commit.
  virtual int64_t finish() = 0;
};

/// Writes batches into one table inside the connection's current transaction.
class RowSink {
 public:
  virtual ~RowSink() = default;
  virtual void write(const Batch& batch) = 0;
  /// Flushes anything buffered; returns rows written. Does not commit.
  virtual int64_t finish() = 0;
};

/// Column types of parmap's own tables (the ledger), named by each engine (Connection::sql_type).
enum class LedgerType {
  Text,         ///< unbounded text: plans, bounds, table names
  BoundedText,  ///< text of at most a given length, fit for a key: job ids, timestamps, hashes
  BigInt,       ///< a 64-bit integer
};

/// One database session. Owned by one worker for its whole life; not thread-safe.
/// Every method throws Error with the kind classified by the driver.
class Connection {
 public:
  virtual ~Connection() = default;

  virtual std::string engine() const = 0;
  virtual Capabilities capabilities() const = 0;
  /// Quotes an identifier ("a""b") for this engine.
  virtual std::string quote_identifier(std::string_view name) const = 0;
  /// Quotes a table reference, schema-qualified when it has a schema.
  std::string quote_table(const TableRef& table) const;

  /// Runs one or more statements with no result rows.
  virtual void execute(std::string_view sql) = 0;
  /// Runs a query with positional parameters and returns all rows (for small results).
  /// Placeholders are `?` on every engine; a driver whose engine numbers them translates.
  virtual std::vector<std::vector<Value>> query(std::string_view sql,
                                                const std::vector<Value>& params = {}) = 0;
  virtual void begin() = 0;
  virtual void commit() = 0;
  /// Rolls back if a transaction is open; never throws.
  virtual void rollback() noexcept = 0;

  /// Savepoints inside the open transaction, so that a failed part of it can be undone
  /// without losing the rest (reject isolation). `name` is a plain identifier chosen by the
  /// caller, passed unquoted. The defaults run the SQL-standard statements SAVEPOINT name,
  /// RELEASE SAVEPOINT name and ROLLBACK TO SAVEPOINT name; an engine that spells them
  /// otherwise overrides all three. rollback_to_savepoint keeps the savepoint (release it
  /// after).
  virtual void savepoint(std::string_view name);
  virtual void release_savepoint(std::string_view name);
  virtual void rollback_to_savepoint(std::string_view name);

  /// Removes every row of `table` inside the open transaction and atomically with it: a
  /// rollback brings the rows back, and nothing is committed before commit(). The default is
  /// DELETE FROM table; an engine must not use a statement that commits on its own (MySQL's
  /// TRUNCATE).
  virtual void truncate_in_transaction(const TableRef& table);

  /// Columns and types of a query's result, without reading its rows.
  virtual TableSchema describe_query(std::string_view sql) = 0;
  /// Columns of a table, or nullopt when it does not exist.
  virtual std::optional<TableSchema> describe_table(const TableRef& table) = 0;
  /// The table's single-column integer primary key, if it has one.
  virtual std::optional<std::string> integer_primary_key(const TableRef& table) = 0;
  /// The base tables (not views) a table selection chooses from: every user schema's on
  /// PostgreSQL, the connected database's on MariaDB and MySQL (no schema), the file's on
  /// SQLite (no schema). Throws Error(Config) on an engine that cannot list them.
  virtual std::vector<TableRef> list_tables();
  /// Estimated rows of a query's result.
  virtual int64_t estimate_rows(std::string_view sql) = 0;
  /// Statistics of `column` over the query's rows, with a sorted sample of at most
  /// `max_sample` keys.
  virtual KeyStats key_stats(std::string_view sql, std::string_view column, int max_sample) = 0;
  /// The engine's name of a column type of parmap's own tables (the ledger); `max_chars` bounds
  /// BoundedText and is ignored otherwise. The defaults are TEXT, VARCHAR(max_chars) and BIGINT,
  /// the types SQLite and PostgreSQL ledgers have always had; an engine that spells them
  /// otherwise, or whose unbounded text cannot be stored or keyed the same way, overrides it.
  virtual std::string sql_type(LedgerType type, int max_chars) const;
  /// Creates the table with these columns (engine types mapped from ColumnType) and
  /// schema.primary_key.
  virtual void create_table(const TableRef& table, const TableSchema& schema) = 0;
  /// Whether a schema (PostgreSQL) or database (MariaDB, MySQL) of this name exists. Engines
  /// without schemas return true.
  virtual bool schema_exists(const std::string& /*schema*/) { return true; }
  /// Creates the schema if it is missing (CREATE SCHEMA / DATABASE IF NOT EXISTS). Throws
  /// Error(Config) on an engine that has none.
  virtual void create_schema(const std::string& schema);

  /// The table's indexes and constraints besides its primary key and NOT NULL, in an order
  /// that makes them again (foreign keys last). Empty on engines that do not copy them.
  virtual std::vector<TableObject> table_objects(const TableRef& /*table*/) { return {}; }
  /// Whether `table` already has an index or constraint named object.name (of the same kind).
  virtual bool has_table_object(const TableRef& /*table*/, const TableObject& /*object*/) {
    return false;
  }
  /// The statement that makes `object` (read by table_objects of a connection to the same
  /// engine) on `table`, a foreign key referencing `references`. Throws Error(Internal) on an
  /// engine that does not copy them.
  virtual std::string table_object_sql(const TableRef& table, const TableObject& object,
                                       const std::optional<TableRef>& references) const;

  /// Streams the rows of `sql` bound with `params`, `batch_rows` rows a batch at most,
  /// fewer when a batch reaches `max_batch_bytes`.
  /// Placeholders in `sql` are `?`, as in query().
  virtual std::unique_ptr<RowSource> open_source(std::string_view sql,
                                                 const std::vector<Value>& params,
                                                 size_t batch_rows, size_t max_batch_bytes) = 0;
  /// A sink inserting into `table`'s `columns` (in batch column order).
  virtual std::unique_ptr<RowSink> open_sink(const TableRef& table,
                                             const std::vector<std::string>& columns) = 0;

  /// The SQL that reads one chunk, with its parameters appended to `params`. The default
  /// wraps the query: SELECT * FROM (<sql>) AS src WHERE key >= ? AND key < ?.
  virtual std::string chunk_query(std::string_view sql, const Chunk& chunk,
                                  std::vector<Value>& params) const;

  /// The pseudo-column by which the rows of `sql` can be range-filtered in storage order,
  /// and its extent [lo, hi), when `sql` is a plain "SELECT * FROM table" whose table has
  /// one: "ctid" block numbers on PostgreSQL tables, "rowid" on SQLite rowid tables. nullopt
  /// otherwise (a view, a join, a WITHOUT ROWID table, an engine without one). Used to split
  /// a key value holding more rows than a chunk (KeySlice).
  virtual std::optional<PhysicalExtent> physical_extent(std::string_view /*sql*/) {
    return std::nullopt;
  }

  /// For a plan cut on physical positions (physical_extent: ctid block ranges, KeySlice): a
  /// token of where the query's table's rows are, as this session's snapshot sees them, taken
  /// when the plan is made and stored with it. "" when positions cannot move under a plan or
  /// the engine cannot tell.
  virtual std::string position_token(std::string_view /*sql*/) { return {}; }
  /// Which storage a target table's rows are in, as this session sees it: another token after
  /// the table was emptied (TRUNCATE) or dropped and made again, or rewritten. Stored with a
  /// run's plan once the run has prepared the table; a resume whose table has another token
  /// cannot trust the run's committed chunks to be there. "" when the engine cannot tell.
  virtual std::string table_token(const TableRef& /*table*/) { return {}; }
  /// Why rows of the query's table may no longer be where they were when `token` was taken
  /// (rows inserted or updated since, which moves them; the table rewritten), or nullopt when
  /// none can have moved. A resumed run whose committed chunks were cut by position must not
  /// continue when they may have: a moved row would be copied twice or never.
  virtual std::optional<std::string> positions_moved(std::string_view /*sql*/,
                                                     const std::string& /*token*/) {
    return std::nullopt;
  }

  /// Why a key-range filter on `column` would not reach the scan of the query's table (so
  /// that every chunk would run the whole query), or nullopt when it does or the engine
  /// cannot tell. Used by the planner to fall back to one stream.
  virtual std::optional<std::string> range_filter_problem(std::string_view /*sql*/,
                                                          std::string_view /*column*/) {
    return std::nullopt;
  }

  /// Snapshot sharing (ARCHITECTURE.md, decision 2). The coordinator's export_snapshot()
  /// opens a REPEATABLE READ transaction (kept open for the whole run; later queries on this
  /// connection run inside it) and returns the snapshot's id, or nullopt when the engine
  /// cannot share one. A worker's source connection gets import_snapshot(id) before its
  /// first read, and again after any reconnect.
  virtual std::optional<std::string> export_snapshot() { return std::nullopt; }
  virtual void import_snapshot(const std::string& /*id*/) {}

  /// As a source: why a value this connection read may be one other engines refuse, and how
  /// to read it otherwise (MariaDB's zero dates and its zero_dates=null parameter); "" when
  /// there is nothing to say. Added to the message of a refused row.
  virtual std::string refused_value_hint(const Value& /*value*/) const { return {}; }

  /// The engine's bulk byte format name ("postgresql-binary-copy"), or "" when it has no
  /// native stream. Two connections with the same non-empty format can use the fast path.
  virtual std::string native_format() const { return {}; }
  /// Streams `sql`'s rows in the native format. Throws Error(Internal) when unsupported.
  virtual std::unique_ptr<NativeSource> open_native_source(std::string_view sql,
                                                           const std::vector<Value>& params);
  /// Takes a native stream into `table`'s `columns`. Throws Error(Internal) when unsupported.
  virtual std::unique_ptr<NativeSink> open_native_sink(const TableRef& table,
                                                       const std::vector<std::string>& columns);
  /// Whether one sequential pass over `sql` (a plain table) would read it faster than ranges
  /// of its positions or of a key: PostgreSQL's sequential scan of a table larger than a
  /// quarter of shared_buffers reads through a small ring of buffers, where range scans evict
  /// other pages. The planner then cuts the table by positions, and the fast and typed paths
  /// read it with open_position_scan, which holds a chunk's rows for its writer. Returns how
  /// many of the table's rows take about `chunk_bytes` (at least 1), or 0 for no pass.
  virtual int64_t one_pass_chunk_rows(std::string_view /*sql*/, int64_t /*chunk_bytes*/) {
    return 0;
  }
  /// The rows of `sql`, a plain table, in one pass in position order (after import_snapshot,
  /// in the run's snapshot); nullptr when the engine or this table cannot (a partitioned
  /// table has one order of positions per partition).
  virtual std::unique_ptr<PositionScan> open_position_scan(std::string_view /*sql*/) {
    return nullptr;
  }
  /// Rows of `sql` in the native format (as a PositionScan gives them: after `header`, without
  /// the trailer) decoded into batches as open_source(sql) would read them, for the typed path
  /// fed by the one pass. `header` and `rows` must outlive the source. nullptr where the
  /// engine cannot; an engine whose one_pass_chunk_rows can be above 0 must.
  virtual std::unique_ptr<RowSource> decode_native_rows(std::string_view /*sql*/,
                                                        std::string_view /*header*/,
                                                        std::string_view /*rows*/,
                                                        size_t /*batch_rows*/,
                                                        size_t /*max_batch_bytes*/) {
    return nullptr;
  }

  /// The in-engine path, a target-side capability: when this session can read the source's
  /// database itself, a chunk's rows need never leave the engine (SQLite: the source's file
  /// ATTACHed to the target's session, one INSERT ... SELECT per chunk). Makes this session
  /// ready for copy_local() from `source` running `sql` into `target` (outside any
  /// transaction). Cheap once ready.
  virtual AttachedSource attach_source(Connection& source, std::string_view sql,
                                       const TableRef& target);
  /// Undoes attach_source(), outside any transaction; nothing when not attached.
  virtual void detach_source() {}
  /// Inserts the rows of `sql` (a chunk query of the attached source, with `params`) into
  /// `table`'s `columns`, position by position, inside the caller's transaction. Returns the
  /// rows written and their hash_rows() as the source's open_source() would have read them
  /// (the ledger's value hash). `on_rows(rows, bytes)` is called every few thousand rows; it
  /// may throw (a cancel) to stop the statement. Throws Error(Internal) when unsupported.
  virtual LocalCopyResult copy_local(const TableRef& table, const std::vector<std::string>& columns,
                                     std::string_view sql, const std::vector<Value>& params,
                                     const std::function<void(int64_t, int64_t)>& on_rows);

  /// For engines that take one writer at a time: the lock that every writer to the
  /// same database holds from begin() to commit(). nullptr when writers may overlap.
  virtual std::mutex* writer_lock() { return nullptr; }

  /// Takes the lock that keeps two runs of one job off one target at a time, keyed by
  /// `key` (job_lock_key()): true when taken, false when another session holds it. Held
  /// until close(), and released by the engine when the process dies (a PostgreSQL advisory
  /// lock, an OFD lock on a file beside a SQLite database). Engines without one return true.
  virtual bool try_lock_job(std::string_view /*key*/) { return true; }

  /// The one method another thread may call (the chunk watchdog): makes the call this
  /// connection is blocked in, and every later one, fail promptly with Error(Transient) (or
  /// InDoubt for a commit); the owner then discards the connection. Safe to call
  /// concurrently with any method of the owner, including close(), but not with the
  /// destructor: the caller must know the object is alive. Never blocks, never throws.
  /// The default does nothing (the call runs to its end).
  virtual void interrupt() noexcept {}

  /// Drops the session; later calls throw. Idempotent, never throws.
  virtual void close() noexcept = 0;

  /// Which database this session is on, without user or password: identity_of() of the URL
  /// it was opened with (set by DriverRegistry::open). Part of a derived job id.
  const std::string& identity() const { return identity_; }
  void set_identity(std::string identity) { identity_ = std::move(identity); }

 private:
  std::string identity_;
};

/// A database's identity, without user, password or session options: "postgresql://host:port/
/// database" (default port 5432), "sqlite:///absolute/path.db", the same shape for others.
std::string identity_of(const ConnectionUrl& url);

/// The lock key of a job on a target table: the job id and the table, so that one job id
/// loading two tables does not block itself.
std::string job_lock_key(std::string_view job_id, std::string_view target_table);

using ConnectionFactory = std::function<std::unique_ptr<Connection>()>;

/// scheme -> opener. Drivers add themselves through an explicit call
/// (register_builtin_drivers), never a static initialiser. Thread-safe.
class DriverRegistry {
 public:
  using Opener = std::function<std::unique_ptr<Connection>(const ConnectionUrl&)>;
  /// Checks a URL before anything opens it (see check_url); throws Error(Config).
  using Checker =
      std::function<void(const ConnectionUrl&, std::string_view setting, bool is_source)>;
  static DriverRegistry& instance();
  void add(const std::string& scheme, Opener opener, Checker checker = {});
  /// Opens a connection; throws Error(Config) for an unknown scheme.
  std::unique_ptr<Connection> open(const ConnectionUrl& url) const;
  /// Runs the scheme's checker, if it has one (an unknown scheme passes: open() reports it).
  void check(const ConnectionUrl& url, std::string_view setting, bool is_source) const;
  bool has(const std::string& scheme) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, Opener> openers_;
  std::map<std::string, Checker> checkers_;
};

/// Registers every driver compiled into this build. Idempotent, thread-safe.
void register_builtin_drivers();

/// Checks a URL before anything opens it, as its driver asks: a typo must be a usage error
/// (exit 2) that names `setting` ("source", "target"), not a side effect (opening a missing
/// SQLite file would create an empty database). Throws Error(Config). Registers the built-in
/// drivers first.
void check_url(const ConnectionUrl& url, std::string_view setting, bool is_source);

/// Parses `url` and returns a factory opening a new connection per call.
ConnectionFactory connection_factory(const std::string& url);

}  // namespace parmap
