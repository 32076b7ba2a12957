// Single values through ODBC: a result's column descriptions and reading a cell with
// SQLGetData.
#pragma once

#include <sql.h>
#include <sqlext.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "connect/odbc/odbc_handles.h"
#include "parmap/batch.h"
#include "parmap/connection.h"

namespace parmap::odbc {

/// One column of a result as SQLDescribeCol and SQLColAttribute report it.
struct ResultColumn {
  std::string name;
  SQLSMALLINT sql_type = SQL_UNKNOWN_TYPE;
  SQLULEN size = 0;  ///< characters or bytes; 0 or a guess for long and unknown types
  SQLSMALLINT digits = 0;  ///< decimal digits (a DECIMAL's scale)
  std::string type_name;
  /// The declared type for a created table (declared_type_for; refined from the catalog by
  /// OdbcConnection); "" when the column type alone decides.
  std::string declared;
  /// The table column the result column reads, when the driver knows it (SQL_DESC_BASE_*):
  /// "" for an expression.
  std::string base_schema, base_table, base_column;
  bool is_unsigned = false;
  ColumnType type = ColumnType::Text;
  bool bits = false;  ///< MySQL BIT(n): its bytes, most significant first, read as an integer
  /// SQLite NUMERIC or DECIMAL (OdbcConnection::refine_from_catalog): read as exact text.
  bool sqlite_decimal = false;
};

/// The columns of the result of a prepared or executed statement; throws the classified Error.
std::vector<ResultColumn> describe_result(Statement& stmt, std::string_view sql);

/// The schema of a result (names, column types, the declared types for a created table).
TableSchema schema_of(const std::vector<ResultColumn>& columns);

/// Reads the whole value of column `index` (1-based) of the current row with SQLGetData in
/// pieces, as `c_type` (SQL_C_CHAR or SQL_C_BINARY); nullopt for NULL. `scratch` is the
/// caller's buffer for the pieces, kept from call to call so that a row costs no allocation.
std::optional<std::string> get_long_data(Statement& stmt, SQLUSMALLINT index, SQLSMALLINT c_type,
                                         std::string_view sql, std::string& scratch);

/// The value of a cell of the current row as query() returns it: int for integer and bit
/// types (and PostgreSQL's bool), double for floating types, Blob for binary ones, text for
/// everything else (dates and numerics as the driver renders them); an unsigned BIGINT past
/// int64 stays text.
Value read_value(Statement& stmt, SQLUSMALLINT index, const ResultColumn& column,
                 std::string_view sql, std::string& scratch);

}  // namespace parmap::odbc
