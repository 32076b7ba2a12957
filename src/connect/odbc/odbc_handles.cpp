// RAII owners of ODBC handles: the session (environment and connection) and its statements.
#include "connect/odbc/odbc_handles.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace parmap::odbc {
namespace {

constexpr SQLULEN kLoginTimeoutSeconds = 10;

std::vector<Diagnostic> diagnostics(SQLSMALLINT type, SQLHANDLE handle) {
  std::vector<Diagnostic> out;
  if (handle == SQL_NULL_HANDLE) return out;
  for (SQLSMALLINT i = 1;; ++i) {
    SQLCHAR state[6] = {};
    SQLINTEGER native = 0;
    SQLCHAR message[SQL_MAX_MESSAGE_LENGTH + 1] = {};
    SQLSMALLINT length = 0;
    const SQLRETURN rc = SQLGetDiagRec(type, handle, i, state, &native, message,
                                       static_cast<SQLSMALLINT>(sizeof message), &length);
    if (!SQL_SUCCEEDED(rc)) break;
    out.push_back(Diagnostic{reinterpret_cast<const char*>(state), static_cast<int>(native),
                             reinterpret_cast<const char*>(message)});
  }
  return out;
}

// The record that says most: the first with an error SQLSTATE (class 01 is a warning), with
// the messages of the others appended, since drivers split one failure over several records.
Diagnostic summary(const std::vector<Diagnostic>& records) {
  if (records.empty()) return Diagnostic{};
  size_t main = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    if (records[i].sqlstate.substr(0, 2) != "01") {
      main = i;
      break;
    }
  }
  Diagnostic out = records[main];
  for (size_t i = 0; i < records.size(); ++i) {
    if (i == main || records[i].message.empty()) continue;
    out.message += "; " + records[i].message;
  }
  return out;
}

std::string info_string(SQLHDBC dbc, SQLUSMALLINT what) {
  SQLCHAR buffer[256] = {};
  SQLSMALLINT length = 0;
  if (!SQL_SUCCEEDED(SQLGetInfo(dbc, what, buffer, sizeof buffer, &length))) return {};
  return reinterpret_cast<const char*>(buffer);
}

}  // namespace

std::shared_ptr<Session> Session::connect(const std::string& connection_string, std::string display,
                                          std::string password) {
  auto session = std::make_shared<Session>(Token{});
  session->display_ = std::move(display);
  session->password_ = std::move(password);
  auto fail_setup = [&](const char* what) {
    throw Error(ErrorKind::Internal,
                fmt::format("odbc {}: cannot connect: {} failed", session->display_, what), {},
                ErrorContext{"odbc", {}, {}, {}});
  };
  if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_ENV, SQL_NULL_HANDLE, &session->env_))) {
    fail_setup("allocating an environment");
  }
  if (!SQL_SUCCEEDED(SQLSetEnvAttr(session->env_, SQL_ATTR_ODBC_VERSION,
                                   reinterpret_cast<SQLPOINTER>(SQL_OV_ODBC3), 0))) {
    fail_setup("asking for ODBC 3");
  }
  if (!SQL_SUCCEEDED(SQLAllocHandle(SQL_HANDLE_DBC, session->env_, &session->dbc_))) {
    fail_setup("allocating a connection");
  }
  // A server that does not answer fails the login instead of hanging the worker.
  SQLSetConnectAttr(session->dbc_, SQL_ATTR_LOGIN_TIMEOUT,
                    reinterpret_cast<SQLPOINTER>(kLoginTimeoutSeconds), 0);
  std::string text = connection_string;
  const SQLRETURN rc = SQLDriverConnect(
      session->dbc_, nullptr, reinterpret_cast<SQLCHAR*>(text.data()),
      static_cast<SQLSMALLINT>(text.size()), nullptr, 0, nullptr, SQL_DRIVER_NOPROMPT);
  // The copy held the password: wipe it before anything can throw.
  std::fill(text.begin(), text.end(), '\0');
  if (!SQL_SUCCEEDED(rc)) {
    throw session->error(SQL_HANDLE_DBC, session->dbc_, Phase::Connect, "connect");
  }
  session->connected_ = true;
  session->dbms_name_ = info_string(session->dbc_, SQL_DBMS_NAME);
  session->dbms_ = dbms_from_name(session->dbms_name_);
  const std::string quote = info_string(session->dbc_, SQL_IDENTIFIER_QUOTE_CHAR);
  // " " means the driver does not quote identifiers; the SQL standard's quote is the best bet.
  if (!quote.empty() && quote[0] != ' ') session->quote_ = quote[0];
  return session;
}

Session::~Session() {
  if (connected_) {
    // An open transaction would make the disconnect fail (25000) and leak the session.
    SQLEndTran(SQL_HANDLE_DBC, dbc_, SQL_ROLLBACK);
    SQLDisconnect(dbc_);
  }
  if (dbc_ != SQL_NULL_HDBC) SQLFreeHandle(SQL_HANDLE_DBC, dbc_);
  if (env_ != SQL_NULL_HENV) SQLFreeHandle(SQL_HANDLE_ENV, env_);
}

Error Session::error(SQLSMALLINT type, SQLHANDLE handle, Phase phase, std::string_view what,
                     std::string_view sql, std::string_view table) const {
  const Diagnostic diagnostic = summary(diagnostics(type, handle));
  ErrorKind kind = classify_diagnostic(diagnostic, dbms_, phase);
  if (interrupted_) kind = phase == Phase::Commit ? ErrorKind::InDoubt : ErrorKind::Transient;
  return make_odbc_error(kind, diagnostic, display_, password_, what, sql, table);
}

void Session::check(SQLRETURN rc, SQLSMALLINT type, SQLHANDLE handle, std::string_view what,
                    std::string_view sql, std::string_view table) const {
  if (SQL_SUCCEEDED(rc)) return;
  throw error(type, handle, Phase::Statement, what, sql, table);
}

void Session::check_interrupted() const {
  if (!interrupted_) return;
  throw Error(
      ErrorKind::Transient,
      fmt::format("odbc {}: the connection was interrupted and takes no more calls", display_),
      "HY008", ErrorContext{"odbc", {}, {}, {}});
}

void Session::add_statement(SQLHSTMT stmt) {
  std::lock_guard lock(statements_mu_);
  statements_.insert(stmt);
}

void Session::remove_statement(SQLHSTMT stmt) noexcept {
  std::lock_guard lock(statements_mu_);
  statements_.erase(stmt);
}

void Session::interrupt() noexcept {
  interrupted_ = true;
  std::lock_guard lock(statements_mu_);
  for (SQLHSTMT stmt : statements_) SQLCancel(stmt);
}

Statement::Statement(std::shared_ptr<Session> session) : session_(std::move(session)) {
  session_->check_interrupted();
  const SQLRETURN rc = SQLAllocHandle(SQL_HANDLE_STMT, session_->dbc(), &stmt_);
  if (!SQL_SUCCEEDED(rc)) {
    stmt_ = SQL_NULL_HSTMT;
    throw session_->error(SQL_HANDLE_DBC, session_->dbc(), Phase::Statement,
                          "allocating a statement");
  }
  session_->add_statement(stmt_);
}

Statement::~Statement() {
  // Unregistered first, so that interrupt() never cancels a freed handle.
  session_->remove_statement(stmt_);
  // Closed first: psqlODBC keeps the result it described for a prepared statement until the
  // cursor is closed, and freeing the handle alone leaks it.
  SQLFreeStmt(stmt_, SQL_CLOSE);
  SQLFreeHandle(SQL_HANDLE_STMT, stmt_);
}

}  // namespace parmap::odbc
