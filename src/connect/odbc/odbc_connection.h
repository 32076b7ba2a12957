// A session with one ODBC data source (unixODBC): the Connection of the ODBC driver.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connect/driver_helpers.h"
#include "connect/odbc/odbc_handles.h"
#include "connect/odbc/odbc_row_source.h"
#include "connect/odbc/odbc_types.h"
#include "connect/odbc/odbc_values.h"
#include "parmap/connection.h"

namespace parmap::odbc {

/// One ODBC session (SQLDriverConnect). Owned by one thread at a time, like every Connection;
/// sources and sinks share its session and may outlive close(). Every method throws
/// parmap::Error classified by classify_diagnostic; messages name the masked URL (which holds
/// the DSN or the driver attributes) and never the password.
///
/// The engine behind the driver (SQL_DBMS_NAME: PostgreSQL, MariaDB/MySQL, SQLite, other)
/// decides the DDL types of create_table and the ledger's, and whether writers may overlap:
/// SQLite takes one writer at a time, so its connections share a process-wide writer lock per
/// database (as the native SQLite driver's do).
class OdbcConnection final : public Connection {
 public:
  /// Connects with connection_string(url), less parmap's own parameter zero_dates (error or
  /// null: what a MySQL zero date read through the driver becomes; see ZeroDates). Throws Error(Config) for an unknown data source,
  /// driver or attribute and Error(Connect) when the login fails, naming the masked URL.
  static std::unique_ptr<OdbcConnection> open(const ConnectionUrl& url);

  /// Only open() can make the Token; the constructor is public for std::make_unique.
  class Token {
   private:
    Token() = default;
    friend class OdbcConnection;
  };
  OdbcConnection(Token, std::shared_ptr<Session> session, std::mutex* writer_lock,
                 ZeroDates zero_dates);
  ~OdbcConnection() override;
  OdbcConnection(const OdbcConnection&) = delete;
  OdbcConnection& operator=(const OdbcConnection&) = delete;

  /// "odbc".
  std::string engine() const override { return "odbc"; }
  /// MySQL: the zero_dates=null hint for a refused zero date; "" otherwise.
  std::string refused_value_hint(const Value& value) const override;
  /// Concurrent writers except on SQLite; no snapshot export, no block ranges.
  Capabilities capabilities() const override;
  /// The driver's SQL_IDENTIFIER_QUOTE_CHAR around the name, that character doubled inside.
  std::string quote_identifier(std::string_view name) const override;

  /// SQLExecDirect of `sql` as one statement (a driver may accept several).
  void execute(std::string_view sql) override;
  /// `?` parameters bound with SQLBindParameter; values as read_value returns them.
  std::vector<std::vector<Value>> query(std::string_view sql,
                                        const std::vector<Value>& params = {}) override;
  /// Turns autocommit off (SQL_ATTR_AUTOCOMMIT): the driver opens the transaction.
  void begin() override;
  /// SQLEndTran(SQL_COMMIT), then autocommit on. A lost connection is Error(InDoubt).
  void commit() override;
  /// SQLEndTran(SQL_ROLLBACK) when a transaction is open, then autocommit on; never throws.
  void rollback() noexcept override;

  /// SQLPrepare, then SQLNumResultCols and SQLDescribeCol (column_type_for); nothing runs.
  TableSchema describe_query(std::string_view sql) override;
  /// SQLColumns and SQLPrimaryKeys (catalog, not a query: a missing table does not fail a
  /// transaction). An empty schema means the session's default (PostgreSQL's current_schema()).
  std::optional<TableSchema> describe_table(const TableRef& table) override;
  /// The single primary-key column of an integer type, else nullopt.
  std::optional<std::string> integer_primary_key(const TableRef& table) override;
  /// SELECT COUNT(*) of the query: exact, and the only estimate every engine offers.
  int64_t estimate_rows(std::string_view sql) override;
  /// MIN, MAX and counts of the key over the query; a sorted sample (every k-th key) when the
  /// query has at most kMaxSampledRows keys, none above. Throws Error(Schema) naming the
  /// query's columns when `column` is not one.
  KeyStats key_stats(std::string_view sql, std::string_view column, int max_sample) override;
  /// MySQL: LONGTEXT for unbounded text (TEXT stops at 64 KiB); the defaults elsewhere.
  std::string sql_type(LedgerType type, int max_chars) const override;
  /// CREATE TABLE with ddl_type for each column, NOT NULL and the primary key kept.
  void create_table(const TableRef& table, const TableSchema& schema) override;

  /// OdbcRowSource: block fetches of `sql` with `params` bound. On SQLite and PostgreSQL the
  /// query is wrapped so that values the driver would change arrive as exact text (see
  /// exact_text_query).
  std::unique_ptr<RowSource> open_source(std::string_view sql, const std::vector<Value>& params,
                                         size_t batch_rows, size_t max_batch_bytes) override;
  /// OdbcRowSink: the prepared INSERT with parameter arrays, in the caller's transaction.
  std::unique_ptr<RowSink> open_sink(const TableRef& table,
                                     const std::vector<std::string>& columns) override;

  /// The engine's own lock, the one its native driver takes, so that runs through either
  /// driver exclude each other: PostgreSQL's pg_try_advisory_lock on the key's hash; MySQL's
  /// GET_LOCK (named by the hash); on SQLite an OFD lock on one byte of
  /// "<database>-parmap.lock" beside the main database file (PRAGMA database_list). Other
  /// engines, and in-memory SQLite databases: true.
  bool try_lock_job(std::string_view key) override;
  /// SQLite's process-wide writer lock of this database; nullptr for other engines.
  std::mutex* writer_lock() override { return writer_lock_; }
  /// SQLCancel of every statement of the session, from any thread: the running call fails
  /// with Error(Transient) (InDoubt in a commit), and so does every later one. Serialised
  /// with close() by a mutex.
  void interrupt() noexcept override;
  /// Drops this connection's share of the session (rolled back and disconnected when no
  /// source or sink holds it any more). Idempotent; never throws.
  void close() noexcept override;

  /// The engine behind the driver.
  Dbms dbms() const { return dbms_; }
  /// SQL_DBMS_NAME as the driver reports it.
  const std::string& dbms_name() const { return dbms_name_; }

  /// Keys above which key_stats takes no sample (the planner then splits [min, max] evenly).
  static constexpr int64_t kMaxSampledRows = 1'000'000;

 private:
  /// The live session; throws Error(Connect) after close(), Error(Transient) after interrupt().
  std::shared_ptr<Session> session() const;
  std::unique_ptr<Statement> statement() const;
  /// Runs a statement and reads every row.
  std::vector<std::vector<Value>> read_all(Statement& stmt, std::string_view sql);
  /// `sql` wrapped so that the values a driver would change arrive as text that parses to the
  /// exact value, how each column is read in `text_columns` (Form::None for the others; empty
  /// when all are); `sql` itself when nothing needs wrapping. SQLite's ODBC driver turns a REAL
  /// into a double through 15-digit text or an inexact parser (-1.7976931348623157e308 comes back
  /// as -inf): SQLite's 20-digit text instead. psqlODBC turns 'infinity' into 9999-12-31 23:59:59,
  /// mangles years past 9999 and converts a real through its short text: dates and timestamps as
  /// the server's text, a real as the text of its exact double; json, jsonb, interval and arrays as
  /// the driver's text, typed as the catalog says. The SQLite ODBC driver reads a NUMERIC as a
  /// double (NUMERIC(10,2) -99999999.99 as -99999999.989999995): a REAL's 20 digits, or other
  /// values' text, tagged (TextColumn::Form::Decimal).
  std::string exact_text_query(const std::string& sql, std::vector<TextColumn>& text_columns);
  /// The result columns of `sql` (prepared, not run), refined from the catalog
  /// (refine_from_catalog) on PostgreSQL and SQLite.
  std::vector<ResultColumn> describe_columns(std::string_view sql);
  /// Each column's type and declared type from the catalog of the table it reads, where the
  /// driver's description loses them: a PostgreSQL column's format_type (numeric(38,10),
  /// varchar(5), jsonb, interval, integer[]); a SQLite NUMERIC or DECIMAL column's precision
  /// (numeric(p,s); untyped without one), read exactly as text (sqlite_decimal). Unchanged for
  /// an expression or a table the catalog does not show.
  void refine_from_catalog(std::vector<ResultColumn>& columns);
  /// The schema an empty TableRef::schema means, "" when the engine has none to name.
  const std::string& default_schema();

  mutable std::mutex session_mu_;  // orders interrupt() against close()
  std::shared_ptr<Session> session_;
  std::string display_;
  Dbms dbms_;
  std::string dbms_name_;
  char quote_;
  std::mutex* writer_lock_;  // process-wide, never freed; nullptr unless SQLite
  ZeroDates zero_dates_;
  bool in_transaction_ = false;
  std::optional<std::string> default_schema_;
  int job_lock_fd_ = -1;  // SQLite: the job lock file, open while the lock is held
};

}  // namespace parmap::odbc
