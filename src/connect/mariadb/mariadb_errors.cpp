// MariaDB/MySQL error numbers classified into parmap's error kinds.
#include "connect/mariadb/mariadb_errors.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace parmap::mariadb {
namespace {

struct CodeKind {
  unsigned int code;
  ErrorKind kind;
};

// Looked up before the SQLSTATE class, so a row here overrides it.
constexpr std::array kCodeKinds = {
    CodeKind{1040, ErrorKind::Transient},  // ER_CON_COUNT_ERROR: too many connections
    CodeKind{1045, ErrorKind::Connect},    // ER_ACCESS_DENIED_ERROR
    CodeKind{1044, ErrorKind::Connect},    // ER_DBACCESS_DENIED_ERROR
    CodeKind{1049, ErrorKind::Connect},    // ER_BAD_DB_ERROR: unknown database
    CodeKind{1053, ErrorKind::Transient},  // ER_SERVER_SHUTDOWN
    CodeKind{1205, ErrorKind::Transient},  // ER_LOCK_WAIT_TIMEOUT
    CodeKind{1213, ErrorKind::Transient},  // ER_LOCK_DEADLOCK
    CodeKind{1317, ErrorKind::Timeout},    // ER_QUERY_INTERRUPTED: KILL QUERY
    CodeKind{1927, ErrorKind::Transient},  // ER_CONNECTION_KILLED: KILL CONNECTION
    CodeKind{1969, ErrorKind::Timeout},    // ER_STATEMENT_TIMEOUT: max_statement_time
    CodeKind{3024, ErrorKind::Timeout},    // MySQL's max_execution_time
    CodeKind{4031, ErrorKind::Timeout},    // idle transaction timeout: the session was ended
    CodeKind{1146, ErrorKind::Schema},     // ER_NO_SUCH_TABLE
    CodeKind{1054, ErrorKind::Schema},     // ER_BAD_FIELD_ERROR: unknown column
    CodeKind{1050, ErrorKind::Schema},     // ER_TABLE_EXISTS_ERROR
    CodeKind{1136, ErrorKind::Schema},     // ER_WRONG_VALUE_COUNT_ON_ROW
    CodeKind{1062, ErrorKind::Data},       // ER_DUP_ENTRY
    CodeKind{1048, ErrorKind::Data},       // ER_BAD_NULL_ERROR
    CodeKind{1264, ErrorKind::Data},       // ER_WARN_DATA_OUT_OF_RANGE
    CodeKind{1265, ErrorKind::Data},       // WARN_DATA_TRUNCATED
    CodeKind{1292, ErrorKind::Data},       // ER_TRUNCATED_WRONG_VALUE (dates, numbers)
    CodeKind{1366, ErrorKind::Data},       // ER_TRUNCATED_WRONG_VALUE_FOR_FIELD
    CodeKind{1367, ErrorKind::Data},       // ER_ILLEGAL_VALUE_FOR_TYPE
    CodeKind{1406, ErrorKind::Data},       // ER_DATA_TOO_LONG
    CodeKind{1411, ErrorKind::Data},       // ER_WRONG_VALUE_FOR_TYPE
    CodeKind{1451, ErrorKind::Data},       // ER_ROW_IS_REFERENCED_2
    CodeKind{1452, ErrorKind::Data},       // ER_NO_REFERENCED_ROW_2
    CodeKind{1690, ErrorKind::Data},       // ER_DATA_OUT_OF_RANGE
    CodeKind{4025, ErrorKind::Data},       // ER_CONSTRAINT_FAILED: a CHECK (JSON validity)
    CodeKind{2002, ErrorKind::Connect},    // CR_CONNECTION_ERROR: no socket
    CodeKind{2003, ErrorKind::Connect},    // CR_CONN_HOST_ERROR: cannot reach host:port
    CodeKind{2005, ErrorKind::Connect},    // CR_UNKNOWN_HOST
    CodeKind{2006, ErrorKind::Transient},  // CR_SERVER_GONE_ERROR
    CodeKind{2013, ErrorKind::Transient},  // CR_SERVER_LOST
    CodeKind{2026, ErrorKind::Connect},    // CR_SSL_CONNECTION_ERROR
    CodeKind{2055, ErrorKind::Transient},  // CR_SERVER_LOST_EXTENDED
};

}  // namespace

ErrorKind classify_mariadb_error(unsigned int code, std::string_view sqlstate) {
  const auto* hit = std::find_if(kCodeKinds.begin(), kCodeKinds.end(),
                                 [&](const CodeKind& k) { return k.code == code; });
  if (hit != kCodeKinds.end()) return hit->kind;
  const std::string_view cls = sqlstate.substr(0, std::min<size_t>(2, sqlstate.size()));
  if (cls == "22" || cls == "23") return ErrorKind::Data;
  if (cls == "08") return ErrorKind::Transient;
  if (cls == "40") return ErrorKind::Transient;  // serialization failure, rollback
  if (cls == "28") return ErrorKind::Connect;
  // Other client library errors (2000-2999) are about the session, not the job's SQL.
  if (code >= 2000 && code < 3000) return ErrorKind::Transient;
  return ErrorKind::Config;
}

std::string refused_value_hint(std::string_view message) {
  if (message.find("Incorrect uuid value") != std::string_view::npos) {
    return "; MariaDB's UUID type refuses UUIDs of version 8 and above whose variant bits are 0 "
           "(since 10.11.5), which other engines hold: create the target column as CHAR(36) or "
           "BINARY(16), or cast it to text in the source query";
  }
  return {};
}

Error make_mariadb_error(unsigned int code, std::string_view sqlstate, std::string_view message,
                         std::string_view where, std::string_view what, std::string_view sql,
                         std::string_view table) {
  ErrorContext context;
  context.engine = "mariadb";
  context.statement = std::string(sql.substr(0, 200));
  context.table = std::string(table);
  return Error(classify_mariadb_error(code, sqlstate),
               fmt::format("mariadb {}: {} failed: {} [{}]{}", where, what, message, code,
                           refused_value_hint(message)),
               std::to_string(code), std::move(context));
}

}  // namespace parmap::mariadb
