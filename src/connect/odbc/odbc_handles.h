// RAII owners of ODBC handles: the session (environment and connection) and its statements.
#pragma once

#include <sql.h>
#include <sqlext.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "connect/odbc/odbc_errors.h"
#include "connect/odbc/odbc_types.h"

namespace parmap::odbc {

/// An environment and a connected connection handle, and what every message needs. Shared by
/// the connection and the statements of its sources and sinks, so that a statement outliving
/// the connection's close() is freed before the connection handle it belongs to. Freeing the
/// last owner rolls back an open transaction and disconnects. Every statement registers itself
/// so that interrupt() can cancel it from another thread.
class Session {
 public:
  /// Connects with SQLDriverConnect (no prompt). Throws Error(Config) for an unknown data
  /// source, driver or attribute, Error(Connect) otherwise; messages name `display` (the masked
  /// URL) and never `password`.
  static std::shared_ptr<Session> connect(const std::string& connection_string, std::string display,
                                          std::string password);

  /// Only connect() can make the Token; the constructor is public for std::make_shared.
  class Token {
   private:
    Token() = default;
    friend class Session;
  };
  explicit Session(Token /*only connect() constructs*/) {}
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  SQLHDBC dbc() const { return dbc_; }
  const std::string& display() const { return display_; }
  Dbms dbms() const { return dbms_; }
  /// SQL_DBMS_NAME as the driver reports it ("PostgreSQL", "SQLite", "MariaDB").
  const std::string& dbms_name() const { return dbms_name_; }
  /// SQL_IDENTIFIER_QUOTE_CHAR; '"' when the driver reports none.
  char quote() const { return quote_; }

  /// The Error of the last failed call on `handle` (of ODBC type `type`), classified for this
  /// engine. After interrupt() every failure is Transient (InDoubt while committing).
  Error error(SQLSMALLINT type, SQLHANDLE handle, Phase phase, std::string_view what,
              std::string_view sql = {}, std::string_view table = {}) const;
  /// Throws error(...) unless `rc` is SQL_SUCCESS or SQL_SUCCESS_WITH_INFO.
  void check(SQLRETURN rc, SQLSMALLINT type, SQLHANDLE handle, std::string_view what,
             std::string_view sql = {}, std::string_view table = {}) const;
  /// Throws Error(Transient) once interrupt() was called.
  void check_interrupted() const;

  void add_statement(SQLHSTMT stmt);
  void remove_statement(SQLHSTMT stmt) noexcept;
  /// Cancels every statement of this session (SQLCancel) and makes later calls fail. From
  /// any thread; never blocks on a statement, never throws.
  void interrupt() noexcept;

 private:
  SQLHENV env_ = SQL_NULL_HENV;
  SQLHDBC dbc_ = SQL_NULL_HDBC;
  bool connected_ = false;
  std::string display_;
  std::string password_;  // only to scrub it from driver messages
  Dbms dbms_ = Dbms::Other;
  std::string dbms_name_;
  char quote_ = '"';
  std::mutex statements_mu_;  // orders interrupt() against statements being freed
  std::set<SQLHSTMT> statements_;
  std::atomic<bool> interrupted_{false};
};

/// One statement handle, registered with its session (which it keeps alive). Not
/// thread-safe, except that the session may cancel it.
class Statement {
 public:
  /// Allocates a statement on `session`; throws the classified Error.
  explicit Statement(std::shared_ptr<Session> session);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  SQLHSTMT get() const { return stmt_; }
  Session& session() const { return *session_; }
  /// Throws the classified Error of this statement unless `rc` succeeded.
  void check(SQLRETURN rc, std::string_view what, std::string_view sql = {},
             std::string_view table = {}) const {
    session_->check(rc, SQL_HANDLE_STMT, stmt_, what, sql, table);
  }

 private:
  std::shared_ptr<Session> session_;
  SQLHSTMT stmt_ = SQL_NULL_HSTMT;
};

}  // namespace parmap::odbc
