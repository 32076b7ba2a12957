// Prepared statements of the SQLite driver: preparing, binding, describing their columns, and
// the Error a failed call throws.
#include "connect/sqlite/sqlite_statement.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <climits>

#include "connect/sqlite/sqlite_errors.h"
#include "connect/sqlite/sqlite_types.h"
#include "parmap/error.h"

namespace parmap::sqlite {

int error_code(sqlite3* db, int rc) {
  if (db == nullptr) return rc;
  const int code = sqlite3_extended_errcode(db);
  return (code & 0xff) == (rc & 0xff) ? code : rc;
}

void throw_db_error(sqlite3* db, int rc, std::string_view path, std::string_view what,
                    std::string_view sql, std::string_view table) {
  const int code = error_code(db, rc);
  const char* message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  throw make_sqlite_error(code, message, path, what, sql, table);
}

StmtPtr prepare_statement(sqlite3* db, std::string_view sql, std::string_view path,
                          std::string_view what, std::string_view table) {
  if (sql.size() > static_cast<size_t>(INT_MAX)) {
    throw Error(ErrorKind::Config, fmt::format("sqlite {}: {}: statement too long", path, what), {},
                sqlite_context(sql, table));
  }
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &raw, nullptr);
  StmtPtr stmt(raw);
  if (rc != SQLITE_OK) throw_db_error(db, rc, path, what, sql, table);
  if (!stmt) {
    throw Error(ErrorKind::Config, fmt::format("sqlite {}: {}: the statement is empty", path, what),
                {}, sqlite_context(sql, table));
  }
  return stmt;
}

int bind_value(sqlite3_stmt* stmt, int index, const Value& value) {
  if (value.is_int()) return sqlite3_bind_int64(stmt, index, value.as_int());
  // NaN binds as NULL: SQLite has no NaN and stores NULL in its place.
  if (value.is_double()) return sqlite3_bind_double(stmt, index, value.as_double());
  if (value.is_text()) {
    const std::string& s = value.as_text();
    return sqlite3_bind_text64(stmt, index, s.data(), s.size(), SQLITE_STATIC, SQLITE_UTF8);
  }
  if (value.is_blob()) {
    // data() is never null, so an empty blob binds as a zero-length blob, not NULL.
    const std::string& b = value.as_blob().bytes;
    return sqlite3_bind_blob64(stmt, index, b.data(), b.size(), SQLITE_STATIC);
  }
  return sqlite3_bind_null(stmt, index);
}

void bind_params(sqlite3_stmt* stmt, const std::vector<Value>& params, std::string_view path,
                 std::string_view sql) {
  const int expected = sqlite3_bind_parameter_count(stmt);
  if (static_cast<size_t>(expected) != params.size()) {
    throw Error(ErrorKind::Config,
                fmt::format("sqlite {}: the statement takes {} parameters but {} were given", path,
                            expected, params.size()),
                {}, sqlite_context(sql));
  }
  for (size_t i = 0; i < params.size(); ++i) {
    const int rc = bind_value(stmt, static_cast<int>(i + 1), params[i]);
    if (rc != SQLITE_OK) {
      throw_db_error(sqlite3_db_handle(stmt), rc, path, fmt::format("bind parameter {}", i + 1),
                     sql);
    }
  }
}

TableSchema schema_of(sqlite3_stmt* stmt) {
  TableSchema schema;
  const int n = sqlite3_column_count(stmt);
  schema.columns.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    ColumnInfo info;
    const char* name = sqlite3_column_name(stmt, i);
    const char* declared = sqlite3_column_decltype(stmt, i);
    info.name = name != nullptr ? name : fmt::format("column{}", i + 1);
    info.type = type_from_declared(declared != nullptr ? declared : "", &info.declared_type);
    schema.columns.push_back(std::move(info));
  }
  return schema;
}

}  // namespace parmap::sqlite
