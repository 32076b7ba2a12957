// One value of a row as SQLite hands it over (a statement's result column, or an argument of
// an SQL function), and how it is appended to a typed column: the same rules whether the row
// is read by a source or tallied inside an in-engine copy.
#pragma once

#include <fmt/format.h>
#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "connect/sqlite/sqlite_errors.h"
#include "connect/sqlite/sqlite_types.h"
#include "parmap/batch.h"
#include "parmap/error.h"

namespace parmap::sqlite {

// Per-value bookkeeping for the batch byte bound: the value slot plus its null-mask byte.
inline constexpr size_t kFixedValueBytes = sizeof(int64_t) + 1;
inline constexpr size_t kStringValueBytes = sizeof(std::string) + 1;

/// Column `i` of a statement's current row.
struct StmtCell {
  sqlite3_stmt* stmt;
  int i;
  int type() const { return sqlite3_column_type(stmt, i); }
  int64_t integer() const { return sqlite3_column_int64(stmt, i); }
  double real() const { return sqlite3_column_double(stmt, i); }
  std::string_view text() const {
    // sqlite3_column_text first, then _bytes: the byte count is of the converted value.
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, i));
    const int n = sqlite3_column_bytes(stmt, i);
    return p == nullptr ? std::string_view() : std::string_view(p, static_cast<size_t>(n));
  }
  std::string_view blob() const {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt, i));
    const int n = sqlite3_column_bytes(stmt, i);
    // A zero-length blob comes back as a null pointer.
    return p == nullptr ? std::string_view() : std::string_view(p, static_cast<size_t>(n));
  }
};

/// An argument of an application-defined SQL function.
struct ArgCell {
  sqlite3_value* value;
  int type() const { return sqlite3_value_type(value); }
  int64_t integer() const { return sqlite3_value_int64(value); }
  double real() const { return sqlite3_value_double(value); }
  std::string_view text() const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_value_text(value));
    const int n = sqlite3_value_bytes(value);
    return p == nullptr ? std::string_view() : std::string_view(p, static_cast<size_t>(n));
  }
  std::string_view blob() const {
    const auto* p = static_cast<const char*>(sqlite3_value_blob(value));
    const int n = sqlite3_value_bytes(value);
    return p == nullptr ? std::string_view() : std::string_view(p, static_cast<size_t>(n));
  }
};

/// The cell as SQLite stored it: int, double, text, Blob or null.
template <typename Cell>
Value read_cell(const Cell& cell) {
  switch (cell.type()) {
    case SQLITE_INTEGER:
      return Value(static_cast<int64_t>(cell.integer()));
    case SQLITE_FLOAT:
      return Value(cell.real());
    case SQLITE_TEXT:
      return Value(std::string(cell.text()));
    case SQLITE_BLOB:
      return Value(Blob{std::string(cell.blob())});
    default:
      return Value();
  }
}

/// Appends the cell with its storage class (a value of another class than the column's turns
/// the column into Any); returns its bytes for the batch byte bound.
template <typename Cell>
size_t append_stored(Column& column, const Cell& cell) {
  switch (cell.type()) {
    case SQLITE_NULL:
      column.append_null();
      return kFixedValueBytes;
    case SQLITE_INTEGER: {
      const int64_t v = cell.integer();
      if (column.type == ColumnType::Int64 ||
          (column.type == ColumnType::Bool && (v == 0 || v == 1))) {
        column.append_int(v);
      } else {
        // Column::append turns a Bool column holding 2 into Any: the integer stays as is.
        column.append(Value(v));
      }
      return kFixedValueBytes;
    }
    case SQLITE_FLOAT: {
      const double v = cell.real();
      if (column.type == ColumnType::Double) {
        column.append_double(v);
      } else {
        column.append(Value(v));
      }
      return kFixedValueBytes;
    }
    case SQLITE_TEXT: {
      const std::string_view v = cell.text();
      if (column.type == ColumnType::Text) {
        column.append_string(v);
      } else {
        column.append(Value(std::string(v)));
      }
      return kStringValueBytes + v.size();
    }
    case SQLITE_BLOB: {
      const std::string_view v = cell.blob();
      if (column.type == ColumnType::Blob) {
        column.append_string(v);
      } else {
        column.append(Value(Blob{std::string(v)}));
      }
      return kStringValueBytes + v.size();
    }
    default:
      column.append_null();
      return kFixedValueBytes;
  }
}

/// Appends the cell to `column`, whose declared type is `declared` (the column may have become
/// Any earlier in its batch); returns its bytes. A column whose declared type names values
/// SQLite does not check (DATE, NUMERIC(10,2)) refuses a value that is not of that type with
/// Error(Data) naming the column, since a typed target would store it changed (rounded, its
/// offset dropped) or not at all (see append_declared). `path` and `sql` name the read.
template <typename Cell>
size_t append_cell(Column& column, ColumnType declared, const Cell& cell, std::string_view path,
                   std::string_view sql) {
  switch (declared) {
    case ColumnType::Date:
    case ColumnType::Time:
    case ColumnType::Timestamp:
    case ColumnType::TimestampTz:
    case ColumnType::Numeric:
      break;
    default:
      return append_stored(column, cell);
  }
  const Value stored = read_cell(cell);
  if (!append_declared(column, declared, stored)) {
    const std::string shown = stored.to_display();
    throw Error(ErrorKind::Data,
                fmt::format("sqlite {}: column '{}' is declared {} but holds {}, which is not a "
                            "value of that type; cast the column in the query (CAST({} AS "
                            "TEXT)) to copy it as text",
                            path, column.name, column.declared_type,
                            shown.size() > 200 ? shown.substr(0, 200) + "..." : shown,
                            column.name),
                {}, sqlite_context(sql));
  }
  if (stored.is_text()) return kStringValueBytes + stored.as_text().size();
  if (stored.is_blob()) return kStringValueBytes + stored.as_blob().bytes.size();
  return kFixedValueBytes;
}

}  // namespace parmap::sqlite
