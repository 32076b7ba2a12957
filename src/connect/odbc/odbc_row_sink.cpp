// The ODBC RowSink: a prepared INSERT executed with parameter arrays of a batch's rows.
#include "connect/odbc/odbc_row_sink.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "common/temporal.h"
#include "connect/odbc/odbc_types.h"

namespace parmap::odbc {
namespace {

constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int64_t kSecondsPerDay = 86'400;
// Longer text and bytes go as LONGVARCHAR / LONGVARBINARY.
constexpr size_t kMaxVarcharBytes = 4000;
constexpr int kTimestampDigits = 6;
constexpr SQLULEN kTimestampChars = 26;

template <typename T>
void put(std::vector<char>& data, size_t row, const T& value) {
  std::memcpy(data.data() + row * sizeof(T), &value, sizeof(T));
}

// A value's text in a column bound as text: the canonical forms Column::get() gives, and
// numbers rendered exactly.
std::string text_of(const Value& value) {
  if (value.is_int()) return std::to_string(value.as_int());
  if (value.is_double()) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.17g", value.as_double());
    return buffer;
  }
  if (value.is_blob()) return value.as_blob().bytes;
  return value.as_text();
}

// Years 1 to 9999 only: a struct has no BC years, infinities or five-digit years.
bool date_fits(int64_t days) {
  constexpr int64_t kMaxDays = 3'000'000;
  if (days < -kMaxDays || days > kMaxDays) return false;
  int64_t year = 0;
  unsigned month = 0, day = 0;
  civil_from_days(days, year, month, day);
  return year >= 1 && year <= 9999;
}

// SQLite stores dates and times as text anyway; MariaDB's driver leaks the MYSQL_TIME it makes
// of each struct in a parameter array (40 bytes a value), and reads the text as well.
bool structs_for_temporals(Dbms dbms) { return dbms != Dbms::SQLite && dbms != Dbms::MySQL; }

SQL_TIMESTAMP_STRUCT timestamp_of(int64_t micros) {
  int64_t seconds = micros / kMicrosPerSecond;
  int64_t fraction = micros % kMicrosPerSecond;
  if (fraction < 0) {
    fraction += kMicrosPerSecond;
    --seconds;
  }
  int64_t days = seconds / kSecondsPerDay;
  int64_t of_day = seconds % kSecondsPerDay;
  if (of_day < 0) {
    of_day += kSecondsPerDay;
    --days;
  }
  int64_t year = 0;
  unsigned month = 0, day = 0;
  civil_from_days(days, year, month, day);
  SQL_TIMESTAMP_STRUCT ts{};
  ts.year = static_cast<SQLSMALLINT>(year);
  ts.month = static_cast<SQLUSMALLINT>(month);
  ts.day = static_cast<SQLUSMALLINT>(day);
  ts.hour = static_cast<SQLUSMALLINT>(of_day / 3600);
  ts.minute = static_cast<SQLUSMALLINT>(of_day / 60 % 60);
  ts.second = static_cast<SQLUSMALLINT>(of_day % 60);
  ts.fraction = static_cast<SQLUINTEGER>(fraction * 1000);
  return ts;
}

}  // namespace

OdbcRowSink::OdbcRowSink(std::unique_ptr<Statement> stmt, std::string sql, std::string table,
                         size_t ncols)
    : stmt_(std::move(stmt)),
      sql_(std::move(sql)),
      table_(std::move(table)),
      ncols_(ncols),
      buffers_(ncols) {
  SQLHSTMT h = stmt_->get();
  stmt_->check(SQLSetStmtAttr(h, SQL_ATTR_PARAM_BIND_TYPE,
                              reinterpret_cast<SQLPOINTER>(SQL_PARAM_BIND_BY_COLUMN), 0),
               "set column-wise parameters", sql_, table_);
  // A driver without parameter arrays refuses the size (HYC00): one row per execution then.
  if (!SQL_SUCCEEDED(SQLSetStmtAttr(h, SQL_ATTR_PARAMSET_SIZE,
                                    reinterpret_cast<SQLPOINTER>(paramset_rows_), 0))) {
    paramset_rows_ = 1;
  }
  status_.assign(paramset_rows_, 0);
  stmt_->check(SQLSetStmtAttr(h, SQL_ATTR_PARAM_STATUS_PTR, status_.data(), 0),
               "set the parameter status array", sql_, table_);
  stmt_->check(SQLSetStmtAttr(h, SQL_ATTR_PARAMS_PROCESSED_PTR, &processed_, 0),
               "set the parameters-processed counter", sql_, table_);
}

void OdbcRowSink::write(const Batch& batch) {
  if (batch.num_columns() != ncols_) {
    throw Error(ErrorKind::Schema,
                fmt::format("odbc {}: insert into {}: the batch has {} columns, the sink {}",
                            stmt_->session().display(), table_, batch.num_columns(), ncols_),
                {}, ErrorContext{"odbc", table_, {}, {}});
  }
  // The SQLite driver reads the length of every row's bytes in an array from the first row's
  // indicator (it stores each blob cut or padded to that length): bytes go one row at a time.
  size_t step = paramset_rows_;
  if (stmt_->session().dbms() == Dbms::SQLite) {
    for (const Column& column : batch.columns) {
      if (column.type == ColumnType::Blob) step = 1;
    }
  }
  const size_t total = batch.num_rows();
  for (size_t first = 0; first < total; first += step) {
    stmt_->session().check_interrupted();
    const size_t rows = std::min(step, total - first);
    for (size_t c = 0; c < ncols_; ++c) {
      bind_column(batch.columns[c], static_cast<SQLUSMALLINT>(c + 1), first, rows, buffers_[c]);
    }
    execute(rows, first);
  }
}

void OdbcRowSink::execute(size_t rows, size_t first) {
  SQLHSTMT h = stmt_->get();
  if (paramset_rows_ > 1) {
    stmt_->check(SQLSetStmtAttr(h, SQL_ATTR_PARAMSET_SIZE, reinterpret_cast<SQLPOINTER>(rows), 0),
                 "set the parameter array size", sql_, table_);
  }
  std::fill(status_.begin(), status_.end(), SQL_PARAM_UNUSED);
  const SQLRETURN rc = SQLExecute(h);
  const std::string what =
      fmt::format("insert into {} (batch rows {}..{})", table_, first, first + rows - 1);
  if (rc != SQL_NO_DATA) stmt_->check(rc, what, sql_, table_);
  // With SQL_SUCCESS_WITH_INFO some drivers carry on past a refused row: it must not pass.
  for (size_t r = 0; r < rows && r < processed_; ++r) {
    if (status_[r] == SQL_PARAM_ERROR) {
      throw stmt_->session().error(SQL_HANDLE_STMT, h, Phase::Statement,
                                   fmt::format("insert into {} (batch row {})", table_, first + r),
                                   sql_, table_);
    }
  }
  SQLFreeStmt(h, SQL_CLOSE);
  written_ += static_cast<int64_t>(rows);
}

void OdbcRowSink::bind_text(const Column& column, SQLUSMALLINT number, size_t first, size_t rows,
                            Buffer& buffer, bool binary) {
  // Text renders each value once; the buffer is as wide as the longest one.
  std::vector<std::string> rendered;
  const bool stored = stored_as_string(column.type);
  size_t width = 1;
  if (!stored) rendered.resize(rows);
  for (size_t r = 0; r < rows; ++r) {
    if (column.is_null(first + r)) continue;
    if (!stored) rendered[r] = text_of(column.get(first + r));
    width = std::max(width, stored ? column.strings[first + r].size() : rendered[r].size());
  }
  buffer.data.assign(width * rows, '\0');
  buffer.indicators.assign(rows, 0);
  for (size_t r = 0; r < rows; ++r) {
    if (column.is_null(first + r)) {
      buffer.indicators[r] = SQL_NULL_DATA;
      continue;
    }
    const std::string& v = stored ? column.strings[first + r] : rendered[r];
    std::memcpy(buffer.data.data() + r * width, v.data(), v.size());
    buffer.indicators[r] = static_cast<SQLLEN>(v.size());
  }
  const bool long_value = width > kMaxVarcharBytes;
  const SQLSMALLINT sql_type = binary ? (long_value ? SQL_LONGVARBINARY : SQL_VARBINARY)
                                      : (long_value ? SQL_LONGVARCHAR : SQL_VARCHAR);
  stmt_->check(
      SQLBindParameter(stmt_->get(), number, SQL_PARAM_INPUT, binary ? SQL_C_BINARY : SQL_C_CHAR,
                       sql_type, width, 0, buffer.data.data(), static_cast<SQLLEN>(width),
                       buffer.indicators.data()),
      fmt::format("bind column {}", column.name), sql_, table_);
}

void OdbcRowSink::bind_column(const Column& column, SQLUSMALLINT number, size_t first, size_t rows,
                              Buffer& buffer) {
  const Dbms dbms = stmt_->session().dbms();
  SQLSMALLINT c_type = 0, sql_type = 0;
  SQLULEN size = 0;
  SQLSMALLINT digits = 0;
  size_t width = 0;
  switch (column.type) {
    case ColumnType::Bool:
      c_type = SQL_C_BIT;
      sql_type = SQL_BIT;
      width = sizeof(SQLCHAR);
      break;
    case ColumnType::Int64:
      c_type = SQL_C_SBIGINT;
      sql_type = SQL_BIGINT;
      width = sizeof(SQLBIGINT);
      break;
    case ColumnType::Double:
      c_type = SQL_C_DOUBLE;
      sql_type = SQL_DOUBLE;
      size = 15;
      width = sizeof(double);
      break;
    case ColumnType::Date: {
      bool fits = structs_for_temporals(dbms);
      for (size_t r = 0; fits && r < rows; ++r) {
        fits = column.is_null(first + r) || date_fits(column.ints[first + r]);
      }
      if (!fits) return bind_text(column, number, first, rows, buffer, false);
      c_type = SQL_C_TYPE_DATE;
      sql_type = SQL_TYPE_DATE;
      size = 10;
      width = sizeof(SQL_DATE_STRUCT);
      break;
    }
    case ColumnType::Timestamp:
    case ColumnType::TimestampTz: {
      bool fits = structs_for_temporals(dbms) &&
                  !(column.type == ColumnType::TimestampTz && dbms == Dbms::PostgreSQL);
      for (size_t r = 0; fits && r < rows; ++r) {
        if (column.is_null(first + r)) continue;
        const int64_t micros = column.ints[first + r];
        fits = micros != kInfinity && micros != kMinusInfinity &&
               date_fits(micros / (kMicrosPerSecond * kSecondsPerDay));
      }
      if (!fits) return bind_text(column, number, first, rows, buffer, false);
      c_type = SQL_C_TYPE_TIMESTAMP;
      sql_type = SQL_TYPE_TIMESTAMP;
      size = kTimestampChars;
      digits = kTimestampDigits;
      width = sizeof(SQL_TIMESTAMP_STRUCT);
      break;
    }
    case ColumnType::Blob:
      return bind_text(column, number, first, rows, buffer, true);
    default:
      return bind_text(column, number, first, rows, buffer, false);
  }
  buffer.data.assign(width * rows, '\0');
  buffer.indicators.assign(rows, 0);
  for (size_t r = 0; r < rows; ++r) {
    const size_t row = first + r;
    if (column.is_null(row)) {
      buffer.indicators[r] = SQL_NULL_DATA;
      continue;
    }
    switch (column.type) {
      case ColumnType::Bool:
        put(buffer.data, r, static_cast<SQLCHAR>(column.ints[row] != 0 ? 1 : 0));
        break;
      case ColumnType::Int64:
        put(buffer.data, r, static_cast<SQLBIGINT>(column.ints[row]));
        break;
      case ColumnType::Double:
        put(buffer.data, r, column.doubles[row]);
        break;
      case ColumnType::Date: {
        int64_t year = 0;
        unsigned month = 0, day = 0;
        civil_from_days(column.ints[row], year, month, day);
        SQL_DATE_STRUCT d{};
        d.year = static_cast<SQLSMALLINT>(year);
        d.month = static_cast<SQLUSMALLINT>(month);
        d.day = static_cast<SQLUSMALLINT>(day);
        put(buffer.data, r, d);
        break;
      }
      default:
        put(buffer.data, r, timestamp_of(column.ints[row]));
        break;
    }
  }
  stmt_->check(
      SQLBindParameter(stmt_->get(), number, SQL_PARAM_INPUT, c_type, sql_type, size, digits,
                       buffer.data.data(), static_cast<SQLLEN>(width), buffer.indicators.data()),
      fmt::format("bind column {}", column.name), sql_, table_);
}

}  // namespace parmap::odbc
