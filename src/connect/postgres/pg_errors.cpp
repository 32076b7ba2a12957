// PostgreSQL SQLSTATEs classified into parmap's error kinds, and the Error a failed call throws.
#include "connect/postgres/pg_errors.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>

#include "parmap/connection.h"

namespace parmap::pg {
namespace {

struct StateKind {
  std::string_view state;  // a full SQLSTATE or a two-character class
  ErrorKind kind;
};

// Exact codes: looked up before their class, so a row here overrides the class below.
constexpr std::array kCodeKinds = {
    StateKind{"57P01", ErrorKind::Transient},  // admin_shutdown
    StateKind{"57P02", ErrorKind::Transient},  // crash_shutdown
    StateKind{"57P03", ErrorKind::Transient},  // cannot_connect_now
    StateKind{"57014", ErrorKind::Timeout},    // query_canceled: a timeout or another session
    StateKind{"25P03", ErrorKind::Timeout},    // idle_in_transaction_session_timeout
    StateKind{"57P05", ErrorKind::Timeout},    // idle_session_timeout (PostgreSQL 14+)
    StateKind{"40001", ErrorKind::Transient},  // serialization_failure
    StateKind{"40P01", ErrorKind::Transient},  // deadlock_detected
    StateKind{"53300", ErrorKind::Transient},  // too_many_connections
    StateKind{"55P03", ErrorKind::Transient},  // lock_not_available
    StateKind{"42P01", ErrorKind::Schema},     // undefined_table
    StateKind{"42703", ErrorKind::Schema},     // undefined_column
    StateKind{"42P07", ErrorKind::Schema},     // duplicate_table
    StateKind{"42P06", ErrorKind::Schema},     // duplicate_schema
    StateKind{"42601", ErrorKind::Config},     // syntax_error
    StateKind{"3D000", ErrorKind::Connect},    // invalid_catalog_name: no such database
    StateKind{"3F000", ErrorKind::Schema},     // invalid_schema_name: no such schema
    StateKind{"0A000", ErrorKind::Config},     // feature_not_supported
};

// Classes (the first two characters).
constexpr std::array kClassKinds = {
    StateKind{"08", ErrorKind::Transient},  // connection exception
    StateKind{"22", ErrorKind::Data},       // data exception
    StateKind{"23", ErrorKind::Data},       // integrity constraint violation
    StateKind{"28", ErrorKind::Connect},    // invalid authorization specification
    StateKind{"42", ErrorKind::Config},     // syntax error or access rule violation
};

struct MessageKind {
  std::string_view fragment;  // lower case
  ErrorKind kind;
};

// libpq reports connection failures as text only. First match wins.
constexpr std::array kConnectMessageKinds = {
    MessageKind{"invalid connection option", ErrorKind::Config},
    MessageKind{"invalid integer value", ErrorKind::Config},
    MessageKind{"invalid sslmode value", ErrorKind::Config},
    MessageKind{"invalid gssencmode value", ErrorKind::Config},
    MessageKind{"invalid target_session_attrs value", ErrorKind::Config},
    MessageKind{"invalid channel_binding value", ErrorKind::Config},
    MessageKind{"invalid value for parameter", ErrorKind::Config},
    MessageKind{"invalid port number", ErrorKind::Config},
    MessageKind{"could not match", ErrorKind::Config},  // "could not match 2 port numbers..."
    MessageKind{"sorry, too many clients", ErrorKind::Transient},
    MessageKind{"remaining connection slots are reserved", ErrorKind::Transient},
    MessageKind{"the database system is starting up", ErrorKind::Transient},
    MessageKind{"the database system is shutting down", ErrorKind::Transient},
    MessageKind{"the database system is in recovery mode", ErrorKind::Transient},
    MessageKind{"the database system is not yet accepting connections", ErrorKind::Transient},
    MessageKind{"the database system is not accepting connections", ErrorKind::Transient},
};

std::string to_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_sqlstate_char(char c) {
  return std::isdigit(static_cast<unsigned char>(c)) != 0 ||
         std::isupper(static_cast<unsigned char>(c)) != 0;
}

struct TimeoutHint {
  std::string_view fragment;  // lower case, in the server's message
  std::string_view setting;
};

// What ended a statement from the server's side, by the words PostgreSQL uses for it.
constexpr std::array kTimeoutHints = {
    TimeoutHint{"statement timeout", "statement_timeout"},
    TimeoutHint{"lock timeout", "lock_timeout"},
    TimeoutHint{"idle-in-transaction timeout", "idle_in_transaction_session_timeout"},
    TimeoutHint{"idle-session timeout", "idle_session_timeout"},
    TimeoutHint{"transaction timeout", "transaction_timeout"},
};

}  // namespace

std::string server_cancel_hint(std::string_view sqlstate, std::string_view server_message) {
  const std::string lower = to_lower(server_message);
  for (const TimeoutHint& hint : kTimeoutHints) {
    if (lower.find(hint.fragment) == std::string::npos) continue;
    return fmt::format(
        "the server's {0} ended it; raise it for parmap's sessions with the URL parameter "
        "options=-c%20{0}%3D0 (or ALTER ROLE ... SET {0})",
        hint.setting);
  }
  if (lower.find("conflict with recovery") != std::string::npos) {
    return "a standby cancelled it (conflict with recovery); read from the primary, or raise "
           "max_standby_streaming_delay / enable hot_standby_feedback on the standby";
  }
  if (sqlstate == "57014") {
    return "another session cancelled it (pg_cancel_backend, an administrator or a monitoring "
           "job)";
  }
  return {};
}

ErrorKind classify_sqlstate(std::string_view sqlstate) {
  if (sqlstate.size() != 5 || !std::all_of(sqlstate.begin(), sqlstate.end(), is_sqlstate_char)) {
    return ErrorKind::Internal;
  }
  for (const StateKind& row : kCodeKinds) {
    if (row.state == sqlstate) return row.kind;
  }
  const std::string_view klass = sqlstate.substr(0, 2);
  for (const StateKind& row : kClassKinds) {
    if (row.state == klass) return row.kind;
  }
  return ErrorKind::Internal;
}

ErrorKind classify_failure(std::string_view sqlstate, bool connection_lost, bool committing) {
  const bool lost = connection_lost || sqlstate.empty() || sqlstate.substr(0, 2) == "08" ||
                    sqlstate == "57P01" || sqlstate == "57P02";
  if (lost) return committing ? ErrorKind::InDoubt : ErrorKind::Transient;
  return classify_sqlstate(sqlstate);
}

ErrorKind classify_connect_message(std::string_view message) {
  const std::string lower = to_lower(message);
  for (const MessageKind& rule : kConnectMessageKinds) {
    if (lower.find(rule.fragment) != std::string::npos) return rule.kind;
  }
  return ErrorKind::Connect;
}

std::string one_line(std::string_view message) {
  std::string out;
  out.reserve(message.size());
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
  while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back())) != 0) out.pop_back();
  return out;
}

Error make_pg_error(ErrorKind kind, std::string_view sqlstate, std::string_view server_message,
                    std::string_view url, std::string_view what, std::string_view sql,
                    std::string_view table) {
  constexpr size_t kStatementChars = 200;
  ErrorContext context;
  context.engine = "postgresql";
  context.table = std::string(table);
  context.statement = std::string(sql.substr(0, kStatementChars));
  std::string text = mask_password(one_line(server_message));
  if (text.empty()) text = "no message from the server";
  std::string message = fmt::format("postgresql {}: {} failed: {}", url, what, text);
  if (!sqlstate.empty()) message += fmt::format(" [{}]", sqlstate);
  if (const std::string hint = server_cancel_hint(sqlstate, server_message); !hint.empty()) {
    message += ": " + hint;
  }
  if (!context.statement.empty()) {
    message += fmt::format(" (statement: {}{})", one_line(context.statement),
                           sql.size() > kStatementChars ? "..." : "");
  }
  return Error(kind, message, std::string(sqlstate), std::move(context));
}

}  // namespace parmap::pg
