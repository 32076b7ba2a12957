// Prepared statements of the SQLite driver: preparing, binding, describing their columns, and
// the Error a failed call throws.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "connect/sqlite/sqlite_connection.h"

namespace parmap::sqlite {

/// The handle's extended code, unless the handle has since moved on to another error (then
/// the code the call returned is the better witness).
int error_code(sqlite3* db, int rc);

/// Throws the classified Error for a failed call returning `rc` on `db` (may be null).
[[noreturn]] void throw_db_error(sqlite3* db, int rc, std::string_view path, std::string_view what,
                                 std::string_view sql, std::string_view table = {});

/// Prepares the first statement of `sql`; throws a classified Error naming `what`, and
/// Error(Config) for an empty or overlong statement.
StmtPtr prepare_statement(sqlite3* db, std::string_view sql, std::string_view path,
                          std::string_view what, std::string_view table = {});

/// Binds one value at `index` (1-based). Text and blobs are bound SQLITE_STATIC: the caller
/// keeps them alive until the step. NaN binds as NULL (SQLite has no NaN).
int bind_value(sqlite3_stmt* stmt, int index, const Value& value);

/// Binds `params` positionally; Error(Config) when their number is not the statement's.
void bind_params(sqlite3_stmt* stmt, const std::vector<Value>& params, std::string_view path,
                 std::string_view sql);

/// The statement's result columns: names, and types from their declared types.
TableSchema schema_of(sqlite3_stmt* stmt);

}  // namespace parmap::sqlite
