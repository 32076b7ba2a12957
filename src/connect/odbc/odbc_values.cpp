// Single values through ODBC: column descriptions and SQLGetData.
#include "connect/odbc/odbc_values.h"

#include <fmt/format.h>

#include <cctype>
#include <charconv>

namespace parmap::odbc {
namespace {

constexpr size_t kPieceBytes = 64 * 1024;

bool is_integer_type(SQLSMALLINT type) {
  return type == SQL_TINYINT || type == SQL_SMALLINT || type == SQL_INTEGER || type == SQL_BIGINT ||
         type == SQL_BIT;
}

bool is_float_type(SQLSMALLINT type) {
  return type == SQL_REAL || type == SQL_FLOAT || type == SQL_DOUBLE;
}

bool is_binary_type(SQLSMALLINT type) {
  return type == SQL_BINARY || type == SQL_VARBINARY || type == SQL_LONGVARBINARY;
}

// A text attribute of a result column; "" when the driver has none.
std::string text_attribute(Statement& stmt, SQLSMALLINT index, SQLUSMALLINT field) {
  SQLCHAR text[512] = {};
  SQLSMALLINT length = 0;
  if (!SQL_SUCCEEDED(SQLColAttribute(stmt.get(), static_cast<SQLUSMALLINT>(index), field, text,
                                     sizeof text, &length, nullptr))) {
    return {};
  }
  return reinterpret_cast<const char*>(text);
}

}  // namespace

std::vector<ResultColumn> describe_result(Statement& stmt, std::string_view sql) {
  SQLSMALLINT count = 0;
  stmt.check(SQLNumResultCols(stmt.get(), &count), "describe the result", sql);
  std::vector<ResultColumn> columns(static_cast<size_t>(count));
  for (SQLSMALLINT i = 1; i <= count; ++i) {
    ResultColumn& column = columns[static_cast<size_t>(i - 1)];
    SQLCHAR name[512] = {};
    SQLSMALLINT name_length = 0, digits = 0, nullable = 0;
    stmt.check(SQLDescribeCol(stmt.get(), static_cast<SQLUSMALLINT>(i), name, sizeof name,
                              &name_length, &column.sql_type, &column.size, &digits, &nullable),
               "describe the result", sql);
    column.name = reinterpret_cast<const char*>(name);
    if (column.name.empty()) column.name = fmt::format("column{}", i);
    SQLCHAR type_name[256] = {};
    SQLSMALLINT type_length = 0;
    SQLLEN numeric = 0;
    bool unsigned_integer = false;
    if (SQL_SUCCEEDED(SQLColAttribute(stmt.get(), static_cast<SQLUSMALLINT>(i), SQL_DESC_TYPE_NAME,
                                      type_name, sizeof type_name, &type_length, nullptr))) {
      column.type_name = reinterpret_cast<const char*>(type_name);
    }
    if (SQL_SUCCEEDED(SQLColAttribute(stmt.get(), static_cast<SQLUSMALLINT>(i), SQL_DESC_UNSIGNED,
                                      nullptr, 0, nullptr, &numeric))) {
      // Only integers matter here; drivers call text and dates "unsigned" too.
      unsigned_integer = numeric == SQL_TRUE && is_integer_type(column.sql_type);
      column.is_unsigned = unsigned_integer && column.sql_type == SQL_BIGINT;
    }
    column.type = column_type_for(column.sql_type, column.type_name, column.is_unsigned);
    const Dbms dbms = stmt.session().dbms();
    column.digits = digits;
    column.declared = declared_type_for(column.sql_type, column.type_name, column.size, digits,
                                        unsigned_integer, dbms);
    column.base_schema = text_attribute(stmt, i, SQL_DESC_SCHEMA_NAME);
    column.base_table = text_attribute(stmt, i, SQL_DESC_BASE_TABLE_NAME);
    column.base_column = text_attribute(stmt, i, SQL_DESC_BASE_COLUMN_NAME);
    if (column.type == ColumnType::Timestamp && (dbms == Dbms::PostgreSQL || dbms == Dbms::SQLite)) {
      // psqlODBC and the SQLite ODBC driver describe a timestamp with a time zone as a plain
      // one; its text carries the offset.
      std::string name = column.type_name;
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (name == "timestamptz" || name.find("with time zone") != std::string::npos) {
        column.type = ColumnType::TimestampTz;
      }
    }
    if (stmt.session().dbms() == Dbms::MySQL) {
      // MariaDB Connector/ODBC describes TIMESTAMP as a plain timestamp (the session is in
      // UTC: see OdbcConnection::open) and BIT(n) as bytes; the native driver reads them as
      // timestamptz and as an integer.
      std::string name = column.type_name;
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (name == "timestamp") {
        column.type = ColumnType::TimestampTz;
      } else if (name == "bit" && column.type == ColumnType::Blob) {
        column.type = ColumnType::Int64;
        column.bits = true;
      }
    }
  }
  return columns;
}

TableSchema schema_of(const std::vector<ResultColumn>& columns) {
  TableSchema schema;
  for (const ResultColumn& column : columns) {
    ColumnInfo info;
    info.name = column.name;
    info.type = column.type;
    info.declared_type = column.declared;
    schema.columns.push_back(std::move(info));
  }
  return schema;
}

std::optional<std::string> get_long_data(Statement& stmt, SQLUSMALLINT index, SQLSMALLINT c_type,
                                         std::string_view sql, std::string& scratch) {
  std::string out;
  if (scratch.size() < kPieceBytes) scratch.resize(kPieceBytes);
  // SQL_C_CHAR ends every piece with a terminator that is not data.
  const size_t usable = c_type == SQL_C_CHAR ? kPieceBytes - 1 : kPieceBytes;
  for (;;) {
    SQLLEN indicator = 0;
    const SQLRETURN rc = SQLGetData(stmt.get(), index, c_type, scratch.data(),
                                    static_cast<SQLLEN>(kPieceBytes), &indicator);
    if (rc == SQL_NO_DATA) break;
    stmt.check(rc, "read a value", sql);
    if (indicator == SQL_NULL_DATA) return std::nullopt;
    const bool whole = indicator != SQL_NO_TOTAL && static_cast<size_t>(indicator) <= usable;
    out.append(scratch.data(), whole ? static_cast<size_t>(indicator) : usable);
    if (rc == SQL_SUCCESS || whole) break;
  }
  return out;
}

Value read_value(Statement& stmt, SQLUSMALLINT index, const ResultColumn& column,
                 std::string_view sql, std::string& scratch) {
  if ((is_integer_type(column.sql_type) || column.type == ColumnType::Bool) &&
      !column.is_unsigned) {
    SQLBIGINT v = 0;
    SQLLEN indicator = 0;
    stmt.check(SQLGetData(stmt.get(), index, SQL_C_SBIGINT, &v, sizeof v, &indicator),
               "read a value", sql);
    if (indicator == SQL_NULL_DATA) return {};
    return Value(static_cast<int64_t>(v));
  }
  if (is_float_type(column.sql_type)) {
    double v = 0;
    SQLLEN indicator = 0;
    stmt.check(SQLGetData(stmt.get(), index, SQL_C_DOUBLE, &v, sizeof v, &indicator),
               "read a value", sql);
    if (indicator == SQL_NULL_DATA) return {};
    return Value(v);
  }
  if (is_binary_type(column.sql_type)) {
    std::optional<std::string> bytes = get_long_data(stmt, index, SQL_C_BINARY, sql, scratch);
    if (!bytes) return {};
    return Value(Blob{std::move(*bytes)});
  }
  std::optional<std::string> text = get_long_data(stmt, index, SQL_C_CHAR, sql, scratch);
  if (!text) return {};
  if (column.is_unsigned) {
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
    if (ec == std::errc() && end == text->data() + text->size()) return Value(v);
  }
  return Value(std::move(*text));
}

}  // namespace parmap::odbc
