// ODBC diagnostics classified into parmap's error kinds, and the Error a failed call throws.
#include "connect/odbc/odbc_errors.h"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <optional>

#include "connect/sqlite/sqlite_errors.h"
#include "parmap/connection.h"

namespace parmap::odbc {
namespace {

struct StateKind {
  std::string_view state;  // a full SQLSTATE or a two-character class
  ErrorKind kind;
};

// Exact codes: looked up before their class.
constexpr std::array kCodeKinds = {
    StateKind{"40001", ErrorKind::Transient},  // serialization failure
    StateKind{"40P01", ErrorKind::Transient},  // PostgreSQL deadlock
    StateKind{"HYT00", ErrorKind::Timeout},    // statement timeout
    StateKind{"HYT01", ErrorKind::Timeout},    // connection timeout
    StateKind{"57014", ErrorKind::Timeout},    // PostgreSQL query_canceled (statement_timeout)
    StateKind{"57P01", ErrorKind::Transient},  // PostgreSQL admin_shutdown
    StateKind{"57P02", ErrorKind::Transient},  // PostgreSQL crash_shutdown
    StateKind{"57P03", ErrorKind::Transient},  // PostgreSQL cannot_connect_now
    StateKind{"53300", ErrorKind::Transient},  // PostgreSQL too_many_connections
    StateKind{"55P03", ErrorKind::Transient},  // PostgreSQL lock_not_available
    StateKind{"HY008", ErrorKind::Transient},  // operation cancelled (SQLCancel)
    StateKind{"42S01", ErrorKind::Schema},     // table already exists
    StateKind{"42S02", ErrorKind::Schema},     // table not found
    StateKind{"42S11", ErrorKind::Schema},     // index already exists
    StateKind{"42S12", ErrorKind::Schema},     // index not found
    StateKind{"42S21", ErrorKind::Schema},     // column already exists
    StateKind{"42S22", ErrorKind::Schema},     // column not found
    StateKind{"42P01", ErrorKind::Schema},     // PostgreSQL undefined_table
    StateKind{"42703", ErrorKind::Schema},     // PostgreSQL undefined_column
    StateKind{"42P07", ErrorKind::Schema},     // PostgreSQL duplicate_table
    StateKind{"3F000", ErrorKind::Schema},     // no such schema
    StateKind{"3D000", ErrorKind::Connect},    // no such database (from the URL)
    StateKind{"0A000", ErrorKind::Config},     // feature not supported
    StateKind{"HY024", ErrorKind::Config},     // invalid attribute value
};

constexpr std::array kClassKinds = {
    StateKind{"08", ErrorKind::Transient},  // connection exception
    StateKind{"40", ErrorKind::Transient},  // transaction rollback
    StateKind{"22", ErrorKind::Data},       // data exception
    StateKind{"23", ErrorKind::Data},       // integrity constraint violation
    StateKind{"28", ErrorKind::Connect},    // invalid authorization
    StateKind{"42", ErrorKind::Config},     // syntax error or access rule violation
    StateKind{"IM", ErrorKind::Config},     // driver manager: data source, driver, attributes
};

struct NativeKind {
  int native;
  ErrorKind kind;
};

// MySQL/MariaDB errnos that drivers report under HY000 (or a generic state).
constexpr std::array kMysqlKinds = {
    NativeKind{1205, ErrorKind::Transient},  // lock wait timeout
    NativeKind{1213, ErrorKind::Transient},  // deadlock
    NativeKind{2006, ErrorKind::Transient},  // server has gone away
    NativeKind{2013, ErrorKind::Transient},  // lost connection during query
    NativeKind{1040, ErrorKind::Transient},  // too many connections
    NativeKind{1146, ErrorKind::Schema},     // no such table
    NativeKind{1054, ErrorKind::Schema},     // unknown column
    NativeKind{1050, ErrorKind::Schema},     // table exists
    NativeKind{1062, ErrorKind::Data},       // duplicate key
    NativeKind{1048, ErrorKind::Data},       // column cannot be null
    NativeKind{1406, ErrorKind::Data},       // data too long
    NativeKind{1264, ErrorKind::Data},       // out of range
    NativeKind{1366, ErrorKind::Data},       // incorrect value
    NativeKind{1292, ErrorKind::Data},       // incorrect date/time value
    NativeKind{1045, ErrorKind::Connect},    // access denied
    NativeKind{1049, ErrorKind::Connect},    // unknown database
};

std::optional<ErrorKind> lookup(std::string_view state) {
  for (const StateKind& row : kCodeKinds) {
    if (row.state == state) return row.kind;
  }
  const std::string_view klass = state.substr(0, 2);
  for (const StateKind& row : kClassKinds) {
    if (row.state == klass) return row.kind;
  }
  return std::nullopt;
}

bool connection_lost(std::string_view state) {
  return state.empty() || state.substr(0, 2) == "08" || state == "40003" || state == "57P01" ||
         state == "57P02";
}

std::string one_line(std::string_view message) {
  std::string out;
  bool space = false;
  for (char c : message) {
    if (c == '\n' || c == '\r' || c == '\t') {
      space = true;
      continue;
    }
    if (space && !out.empty() && out.back() != ' ') out += ' ';
    space = false;
    out += c;
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == ';')) out.pop_back();
  return out;
}

}  // namespace

ErrorKind classify_diagnostic(const Diagnostic& diagnostic, Dbms dbms, Phase phase) {
  const std::string_view state = diagnostic.sqlstate;
  if (phase == Phase::Connect) {
    if (state == "IM002" || state == "IM003" || state == "HY024") return ErrorKind::Config;
    if (state.substr(0, 2) == "IM") return ErrorKind::Config;
    return ErrorKind::Connect;
  }
  if (phase == Phase::Commit && connection_lost(state)) return ErrorKind::InDoubt;
  if (state.empty()) return ErrorKind::Transient;
  if (state == "HY000" && diagnostic.native != 0) {
    if (dbms == Dbms::SQLite) {
      // The SQLite driver puts SQLite's result code in the native code.
      return sqlite::classify_sqlite_error(diagnostic.native, diagnostic.message);
    }
    if (dbms == Dbms::MySQL) {
      for (const NativeKind& row : kMysqlKinds) {
        if (row.native == diagnostic.native) return row.kind;
      }
    }
  }
  if (dbms == Dbms::MySQL) {
    // MySQL errnos are more specific than the SQLSTATE their driver picks (1205 is HY000).
    for (const NativeKind& row : kMysqlKinds) {
      if (row.native == diagnostic.native && row.kind == ErrorKind::Transient) return row.kind;
    }
  }
  return lookup(state).value_or(ErrorKind::Internal);
}

Error make_odbc_error(ErrorKind kind, const Diagnostic& diagnostic, std::string_view display,
                      std::string_view password, std::string_view what, std::string_view sql,
                      std::string_view table) {
  constexpr size_t kStatementChars = 200;
  constexpr size_t kMinMaskedPassword = 4;
  ErrorContext context;
  context.engine = "odbc";
  context.table = std::string(table);
  context.statement = std::string(sql.substr(0, kStatementChars));
  std::string text = mask_password(one_line(diagnostic.message));
  if (password.size() >= kMinMaskedPassword) {
    for (size_t at = text.find(password); at != std::string::npos; at = text.find(password, at)) {
      text.replace(at, password.size(), "****");
    }
  }
  if (text.empty()) text = "no message from the driver";
  std::string message = fmt::format("odbc {}: {} failed: {}", display, what, text);
  if (!diagnostic.sqlstate.empty()) message += fmt::format(" [{}]", diagnostic.sqlstate);
  if (!context.statement.empty()) {
    message += fmt::format(" (statement: {}{})", one_line(context.statement),
                           sql.size() > kStatementChars ? "..." : "");
  }
  return Error(kind, message, diagnostic.sqlstate, std::move(context));
}

}  // namespace parmap::odbc
