// Writes batches into a MariaDB table with multi-row INSERT statements.
#include "connect/mariadb/mariadb_row_sink.h"

#include <fmt/format.h>
#include <mysql.h>

#include <cmath>

#include "common/temporal.h"

namespace parmap::mariadb {
namespace {

// A date or timestamp MariaDB's DATE and DATETIME hold: years 0000 to 9999, no infinities.
bool fits_mariadb_calendar(const std::string& text) {
  return text.size() >= 10 && text[4] == '-' && text.find(" BC") == std::string::npos &&
         text.find("infinity") == std::string::npos;
}

}  // namespace

MariadbRowSink::MariadbRowSink(MariadbConnection& conn, std::string table,
                               std::string insert_head, size_t ncols)
    : conn_(conn), table_(std::move(table)), head_(std::move(insert_head)), ncols_(ncols) {}

void MariadbRowSink::append_cell(std::string& sql, const Column& column, size_t row) const {
  if (column.is_null(row)) {
    sql += "NULL";
    return;
  }
  auto refuse = [&](const std::string& value, const char* why) {
    throw Error(ErrorKind::Data,
                fmt::format("mariadb {}: insert into {}: column {}: value {} {}", conn_.where(),
                            table_, column.name, value, why),
                {}, ErrorContext{"mariadb", table_, {}, {}});
  };
  auto quoted = [&](std::string_view text) {
    sql += '\'';
    conn_.append_escaped(sql, text);
    sql += '\'';
  };
  switch (column.type) {
    case ColumnType::Bool:
    case ColumnType::Int64:
      sql += std::to_string(column.ints[row]);
      return;
    case ColumnType::Double: {
      const double v = column.doubles[row];
      if (!std::isfinite(v)) refuse(fmt::format("{}", v), "cannot be stored: MariaDB has no NaN or infinity");
      sql += fmt::format("{}", v);
      return;
    }
    case ColumnType::Date:
    case ColumnType::Timestamp:
    case ColumnType::TimestampTz: {
      // TIMESTAMP WITH TIME ZONE values are UTC, and so is the session's time zone.
      const std::string text = column.type == ColumnType::Date
                                   ? format_date(column.ints[row])
                                   : format_timestamp(column.ints[row], false);
      if (!fits_mariadb_calendar(text)) {
        refuse(text, "is outside MariaDB's calendar (years 0000 to 9999, no infinity)");
      }
      quoted(text);
      return;
    }
    case ColumnType::Time:
      quoted(format_time(column.ints[row]));
      return;
    case ColumnType::Blob:
      sql += "_binary'";
      conn_.append_escaped(sql, column.strings[row]);
      sql += '\'';
      return;
    case ColumnType::Any:
      conn_.append_literal(sql, column.values[row]);
      return;
    case ColumnType::Text:
    case ColumnType::Numeric:
    case ColumnType::Uuid:
    case ColumnType::Json:
    case ColumnType::Interval:
    case ColumnType::Array:
      quoted(column.strings[row]);
      return;
  }
}

void MariadbRowSink::write(const Batch& batch) {
  if (batch.num_columns() != ncols_) {
    throw Error(ErrorKind::Schema,
                fmt::format("mariadb {}: insert into {}: the batch has {} columns, the sink {}",
                            conn_.where(), table_, batch.num_columns(), ncols_),
                {}, ErrorContext{"mariadb", table_, {}, {}});
  }
  const size_t rows = batch.num_rows();
  size_t first = 0;
  sql_.assign(head_);
  for (size_t r = 0; r < rows; ++r) {
    if (r > first) sql_ += ',';
    sql_ += '(';
    for (size_t c = 0; c < ncols_; ++c) {
      if (c > 0) sql_ += ',';
      append_cell(sql_, batch.columns[c], r);
    }
    sql_ += ')';
    if (sql_.size() >= kStatementBytes) {
      send(sql_, first, r + 1 - first);
      first = r + 1;
      sql_.assign(head_);
    }
  }
  if (rows > first) send(sql_, first, rows - first);
}

void MariadbRowSink::send(std::string& sql, size_t first, size_t rows) {
  MYSQL* m = conn_.handle();
  if (mysql_real_query(m, sql.data(), sql.size()) != 0) {
    throw conn_.last_error(
        fmt::format("insert into {} (batch rows {}..{})", table_, first, first + rows - 1),
        sql, table_);
  }
  written_ += static_cast<int64_t>(rows);
}

}  // namespace parmap::mariadb
