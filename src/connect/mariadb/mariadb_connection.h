// A session with a MariaDB or MySQL server through libmariadb (the text protocol).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connect/mariadb/mariadb_types.h"
#include "parmap/connection.h"
#include "parmap/error.h"

struct st_mysql;
struct st_mysql_res;

namespace parmap::mariadb {

/// Frees a result set.
struct ResultFree {
  void operator()(st_mysql_res* result) const noexcept;
};
using ResultPtr = std::unique_ptr<st_mysql_res, ResultFree>;

/// One MariaDB/MySQL session: `mysql://user:password@host:port/database?param=value` (or
/// `mariadb://`). Owned by one thread at a time, like every Connection; sources and sinks it
/// opens must not outlive it. Every method throws parmap::Error classified by
/// classify_mariadb_error.
///
/// The session runs with time_zone '+00:00' (TIMESTAMP values read and written are UTC),
/// strict sql_mode (a value the column cannot hold is an error, never a warning and a changed
/// value) and utf8mb4. Outside begin()/commit() every statement commits on its own; inside,
/// statements after one that commits implicitly (MariaDB's DDL) still join a transaction, so
/// that the ledger's DDL may precede "truncate + record the run", which stay atomic.
///
/// MariaDB cannot share a snapshot between sessions: each source stream reads in its own
/// START TRANSACTION WITH CONSISTENT SNAPSHOT, so a chunk is consistent with itself only.
class MariadbConnection final : public Connection {
 public:
  /// Connects. URL parameters: ssl (true: require TLS), ssl_ca, ssl_cert, ssl_key,
  /// ssl_verify_server_cert (true: check the certificate's host name), connect_timeout
  /// (seconds), option_file and option_group (read a my.cnf file's [group], "client" by
  /// default when option_file is given), zero_dates (error or null: see ZeroDates), tinyint1_bool
  /// (true: TINYINT(1) is boolean; see ReadOptions). The
  /// password comes from the URL, else from MYSQL_PWD, else the option file. Throws
  /// Error(Config) for another parameter or a bad value, Error(Connect) when the server
  /// cannot be reached or refuses the login; messages never hold the password.
  static std::unique_ptr<MariadbConnection> open(const ConnectionUrl& url);

  /// Only open() can make the Token; the constructor is public for std::make_unique.
  class Token {
   private:
    Token() = default;
    friend class MariadbConnection;
  };
  MariadbConnection(Token, st_mysql* mysql, std::string where, ReadOptions read_options);
  ~MariadbConnection() override;
  MariadbConnection(const MariadbConnection&) = delete;
  MariadbConnection& operator=(const MariadbConnection&) = delete;

  /// "mariadb".
  std::string engine() const override { return "mariadb"; }
  /// Concurrent writers; no snapshot export; no block ranges.
  Capabilities capabilities() const override;
  /// Backticks, embedded backticks doubled: a`b -> `a``b`.
  std::string quote_identifier(std::string_view name) const override;

  /// Runs one or more statements (the session allows multi-statements) and drains results.
  void execute(std::string_view sql) override;
  /// Parameters are written into the statement as escaped literals (`?` outside quotes and
  /// comments); values come back typed by value_of_cell.
  std::vector<std::vector<Value>> query(std::string_view sql,
                                        const std::vector<Value>& params = {}) override;
  /// autocommit off until commit() or rollback(): see the class comment.
  void begin() override;
  void commit() override;
  void rollback() noexcept override;
  /// TEXT holds only 64 KiB in MariaDB: the ledger's plans need LONGTEXT.
  std::string sql_type(LedgerType type, int max_chars) const override;

  TableSchema describe_query(std::string_view sql) override;
  std::optional<TableSchema> describe_table(const TableRef& table) override;
  std::optional<std::string> integer_primary_key(const TableRef& table) override;
  std::vector<TableRef> list_tables() override;
  /// COUNT(*) of the query: exact (InnoDB's table statistics are often far off).
  int64_t estimate_rows(std::string_view sql) override;
  KeyStats key_stats(std::string_view sql, std::string_view column, int max_sample) override;
  /// From EXPLAIN of a chunk's query: a plan that reads every table by a full scan (type
  /// ALL or index) and none by a key lookup would read the whole query for every chunk.
  std::optional<std::string> range_filter_problem(std::string_view sql,
                                                  std::string_view column) override;
  /// Column types from ddl_type(): the declared type when MariaDB knows it, else the closest
  /// exact type (see mariadb_types.h); InnoDB, utf8mb4.
  void create_table(const TableRef& table, const TableSchema& schema) override;
  /// A schema is a database here.
  bool schema_exists(const std::string& schema) override;
  void create_schema(const std::string& schema) override;

  /// Streams the rows with mysql_use_result (nothing buffered beyond one batch) inside START
  /// TRANSACTION WITH CONSISTENT SNAPSHOT; at most one open source per connection.
  std::unique_ptr<RowSource> open_source(std::string_view sql, const std::vector<Value>& params,
                                         size_t batch_rows, size_t max_batch_bytes) override;
  /// Multi-row INSERT statements of escaped literals, up to about 1 MiB each.
  std::unique_ptr<RowSink> open_sink(const TableRef& table,
                                     const std::vector<std::string>& columns) override;

  /// GET_LOCK on a name derived from the key (MariaDB's lock names hold 64 characters);
  /// released when the session ends.
  bool try_lock_job(std::string_view key) override;

  /// Shuts the session's socket down, so that a blocked call fails at once (lost connection:
  /// Transient) and later calls throw.
  void interrupt() noexcept override;
  void close() noexcept override;

  // For this driver's sources and sinks.
  /// The live handle; throws when the connection is closed or was interrupted.
  st_mysql* handle() const;
  /// The Error of the last failed call on this session.
  Error last_error(std::string_view what, std::string_view sql = {}, std::string_view table = {}) const;
  /// `value` as a SQL literal: NULL, 42, 1.5e+300, 'escaped text', _binary'escaped bytes'.
  void append_literal(std::string& out, const Value& value) const;
  /// `bytes` escaped for a quoted literal (without the quotes), appended to `out`.
  void append_escaped(std::string& out, std::string_view bytes) const;
  /// Called by a source stream abandoned before its end: the rest of its rows would have to
  /// be read off the socket first, so the session is dropped instead.
  void abandon() noexcept;
  const std::string& where() const { return where_; }
  const ReadOptions& read_options() const { return read_options_; }
  std::string refused_value_hint(const Value& value) const override;

 private:
  void run(std::string_view sql, std::string_view what, std::string_view table = {});
  std::string inline_params(std::string_view sql, const std::vector<Value>& params) const;
  std::vector<std::vector<Value>> fetch_all(std::string_view sql, std::string_view what);

  st_mysql* mysql_;  // owned; null once closed
  std::string where_;  // host:port/database, for messages
  ReadOptions read_options_;
  bool in_transaction_ = false;
  bool source_open_ = false;  // a read snapshot transaction is open for a source
  std::mutex socket_mu_;      // interrupt() against close()
  int socket_ = -1;
  std::atomic<bool> interrupted_{false};
};

}  // namespace parmap::mariadb
