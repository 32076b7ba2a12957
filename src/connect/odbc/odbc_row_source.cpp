// The ODBC RowSource: block (array) fetches of an executed statement into typed batches.
#include "connect/odbc/odbc_row_source.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstring>

#include "common/temporal.h"

namespace parmap::odbc {
namespace {

// Per-value bookkeeping for the batch byte bound: the value slot plus its null-mask byte.
constexpr size_t kFixedValueBytes = sizeof(int64_t) + 1;
constexpr size_t kStringValueBytes = sizeof(std::string) + 1;
constexpr size_t kTimeChars = 40;
constexpr size_t kUuidChars = 40;
constexpr int64_t kMicrosPerSecond = 1'000'000;

bool is_varchar_type(SQLSMALLINT type) {
  return type == SQL_CHAR || type == SQL_VARCHAR || type == SQL_WCHAR || type == SQL_WVARCHAR;
}

// psqlODBC describes an unconstrained varchar as 255 characters and an unconstrained numeric
// as 28 digits, exactly as it does varchar(255) and numeric(28,6): only char(n) has a size that
// holds every value.
bool is_pg_bounded_text(const std::string& type_name) {
  return type_name == "bpchar" || type_name == "char" || type_name == "character";
}

bool size_is_bounded(SQLULEN size) { return size > 0 && size <= kMaxBoundChars; }

// from_chars rounds correctly; it takes "inf" and PostgreSQL's "Infinity", but not a leading
// '+'.
bool parse_double(std::string_view text, double& out) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

int64_t micros_of(const SQL_TIMESTAMP_STRUCT& ts) {
  const int64_t days = days_from_civil(ts.year, ts.month, ts.day);
  return ((days * 24 + ts.hour) * 60 + ts.minute) * 60 * kMicrosPerSecond +
         static_cast<int64_t>(ts.second) * kMicrosPerSecond +
         static_cast<int64_t>(ts.fraction) / 1000;
}

}  // namespace

OdbcRowSource::OdbcRowSource(std::unique_ptr<Statement> stmt, std::unique_ptr<ParamBinder> params,
                             std::string sql, size_t batch_rows, size_t max_batch_bytes,
                             std::vector<TextColumn> text_columns, ZeroDates zero_dates)
    : stmt_(std::move(stmt)),
      params_(std::move(params)),
      sql_(std::move(sql)),
      batch_rows_(batch_rows),
      max_batch_bytes_(max_batch_bytes),
      text_columns_(std::move(text_columns)),
      zero_dates_(zero_dates) {
  bind_columns();
}

OdbcRowSource::~OdbcRowSource() {
  // Ends a result read only in part, so that the statement is freed in a clean state.
  if (stmt_ && !done_) SQLFreeStmt(stmt_->get(), SQL_CLOSE);
}

void OdbcRowSource::bind_columns() {
  const Dbms dbms = stmt_->session().dbms();
  const std::vector<ResultColumn> described = describe_result(*stmt_, sql_);
  columns_.resize(described.size());
  bool all_bound = true;
  size_t row_bytes = 0;
  for (size_t i = 0; i < described.size(); ++i) {
    Bound& b = columns_[i];
    b.column = described[i];
    const ResultColumn& c = b.column;
    b.bound = true;
    const TextColumn tc = i < text_columns_.size() ? text_columns_[i] : TextColumn{};
    const ColumnType as_text = tc.form == TextColumn::Form::Exact ? tc.type : ColumnType::Any;
    if (tc.form == TextColumn::Form::Verbatim || tc.form == TextColumn::Form::Decimal) {
      // Text of any length: read with SQLGetData.
      b.column.type = tc.type;
      b.text = tc.form == TextColumn::Form::Decimal ? Bound::Text::Decimal : Bound::Text::No;
      b.precision = tc.precision;
      b.scale = tc.scale;
      b.c_type = SQL_C_CHAR;
      b.bound = false;
      b.width = 1;
      all_bound = false;
      continue;
    }
    if (as_text == ColumnType::Double && dbms == Dbms::SQLite) {
      // A SQLite REAL column may hold text of any length: read with SQLGetData.
      b.column.type = ColumnType::Double;
      b.text = Bound::Text::Double;
      b.c_type = SQL_C_CHAR;
      b.bound = false;
      b.width = 1;
      all_bound = false;
      continue;
    }
    // Values the driver would change, read as their text (see the class comment).
    const bool mysql_temporal = dbms == Dbms::MySQL && (c.type == ColumnType::Date ||
                                                        c.type == ColumnType::Timestamp ||
                                                        c.type == ColumnType::TimestampTz);
    if (as_text != ColumnType::Any || mysql_temporal || c.bits) {
      if (as_text != ColumnType::Any) b.column.type = as_text;
      b.text = c.bits                               ? Bound::Text::Bits
               : b.column.type == ColumnType::Double ? Bound::Text::Double
                                                     : Bound::Text::Temporal;
      b.c_type = c.bits ? SQL_C_BINARY : SQL_C_CHAR;
      b.width = c.bits ? sizeof(uint64_t) : kTimeChars;
      all_bound = all_bound && b.bound;
      row_bytes += b.width + sizeof(SQLLEN);
      continue;
    }
    switch (c.type) {
      case ColumnType::Bool:
      case ColumnType::Int64:
        b.c_type = SQL_C_SBIGINT;
        b.width = sizeof(SQLBIGINT);
        break;
      case ColumnType::Double:
        b.c_type = SQL_C_DOUBLE;
        b.width = sizeof(double);
        break;
      case ColumnType::Date:
        b.c_type = SQL_C_TYPE_DATE;
        b.width = sizeof(SQL_DATE_STRUCT);
        break;
      case ColumnType::Timestamp:
      case ColumnType::TimestampTz:
        b.c_type = SQL_C_TYPE_TIMESTAMP;
        b.width = sizeof(SQL_TIMESTAMP_STRUCT);
        break;
      case ColumnType::Time:
        // As text: ODBC's time struct has no fraction of a second.
        b.c_type = SQL_C_CHAR;
        b.width = kTimeChars;
        break;
      case ColumnType::Uuid:
        b.c_type = SQL_C_CHAR;
        b.width = kUuidChars;
        break;
      case ColumnType::Blob:
        b.c_type = SQL_C_BINARY;
        b.bound = dbms != Dbms::SQLite && dbms != Dbms::PostgreSQL &&
                  (c.sql_type == SQL_BINARY || c.sql_type == SQL_VARBINARY) &&
                  size_is_bounded(c.size);
        b.width = c.size;
        break;
      case ColumnType::Numeric:
        // Digits, a sign, a point and the terminator.
        b.c_type = SQL_C_CHAR;
        b.bound = dbms != Dbms::SQLite && dbms != Dbms::PostgreSQL && size_is_bounded(c.size);
        b.width = c.size + 3;
        break;
      default:
        // Up to four UTF-8 bytes a character, and the terminator.
        b.c_type = SQL_C_CHAR;
        b.bound = dbms != Dbms::SQLite && is_varchar_type(c.sql_type) && size_is_bounded(c.size) &&
                  (dbms != Dbms::PostgreSQL || is_pg_bounded_text(c.type_name));
        b.width = c.size * 4 + 1;
        break;
    }
    all_bound = all_bound && b.bound;
    row_bytes += b.width + sizeof(SQLLEN);
  }
  // SQLGetData works on one-row rowsets on every driver; with a column that needs it, every
  // column is read that way (in order, which every driver allows).
  if (!all_bound) {
    rowset_rows_ = 1;
    for (Bound& b : columns_) b.bound = false;
  } else {
    rowset_rows_ = std::clamp<size_t>(kRowsetBytes / std::max<size_t>(row_bytes, 1), 1,
                                      std::min(kMaxRowsetRows, std::max<size_t>(batch_rows_, 1)));
  }
  SQLHSTMT h = stmt_->get();
  for (size_t i = 0; i < columns_.size(); ++i) {
    Bound& b = columns_[i];
    // An unbound text or byte column is read into scratch_: its width (a LONGTEXT's 4 GiB)
    // is not allocated.
    const bool variable = b.c_type == SQL_C_CHAR || b.c_type == SQL_C_BINARY;
    const size_t rows = b.bound ? rowset_rows_ : 1;
    b.data.assign(b.bound || !variable ? b.width * rows : 0, '\0');
    b.indicators.assign(rows, 0);
    if (!b.bound) continue;
    stmt_->check(SQLBindCol(h, static_cast<SQLUSMALLINT>(i + 1), b.c_type, b.data.data(),
                            static_cast<SQLLEN>(b.width), b.indicators.data()),
                 fmt::format("bind column {}", b.column.name), sql_);
  }
  row_status_.assign(rowset_rows_, 0);
  if (rowset_rows_ > 1) {
    stmt_->check(SQLSetStmtAttr(h, SQL_ATTR_ROW_BIND_TYPE,
                                reinterpret_cast<SQLPOINTER>(SQL_BIND_BY_COLUMN), 0),
                 "set column-wise binding", sql_);
    stmt_->check(
        SQLSetStmtAttr(h, SQL_ATTR_ROW_ARRAY_SIZE, reinterpret_cast<SQLPOINTER>(rowset_rows_), 0),
        "set the rowset size", sql_);
  }
  stmt_->check(SQLSetStmtAttr(h, SQL_ATTR_ROW_STATUS_PTR, row_status_.data(), 0),
               "set the row status array", sql_);
  stmt_->check(SQLSetStmtAttr(h, SQL_ATTR_ROWS_FETCHED_PTR, &fetched_, 0),
               "set the rows-fetched counter", sql_);
}

bool OdbcRowSource::fetch_rowset() {
  stmt_->session().check_interrupted();
  position_ = 0;
  fetched_ = 0;
  const SQLRETURN rc = SQLFetch(stmt_->get());
  if (rc == SQL_NO_DATA) {
    done_ = true;
    SQLFreeStmt(stmt_->get(), SQL_CLOSE);
    return false;
  }
  stmt_->check(rc, "read rows", sql_);
  return fetched_ > 0;
}

bool OdbcRowSource::next(Batch& out) {
  out.columns.resize(columns_.size());
  for (size_t i = 0; i < columns_.size(); ++i) {
    Column& column = out.columns[i];
    column.clear();
    column.name = columns_[i].column.name;
    // A previous batch may have turned the column into Any; each batch starts typed.
    column.type = columns_[i].column.type;
    column.declared_type = columns_[i].column.type_name;
    column.reserve(std::min(batch_rows_, kMaxRowsetRows));
  }
  size_t rows = 0;
  size_t bytes = 0;
  while (!done_ && rows < batch_rows_) {
    if (position_ >= fetched_ && !fetch_rowset()) break;
    for (size_t i = 0; i < columns_.size(); ++i) {
      bytes += append_cell(out.columns[i], i, position_);
    }
    ++position_;
    ++rows;
    if (max_batch_bytes_ != 0 && bytes >= max_batch_bytes_) break;
  }
  return rows > 0;
}

size_t OdbcRowSource::append_cell(Column& column, size_t index, size_t row) {
  Bound& b = columns_[index];
  const auto number = static_cast<SQLUSMALLINT>(index + 1);
  std::string_view bytes;
  std::optional<std::string> long_value;
  SQLLEN indicator = 0;
  const char* cell = b.data.data() + (b.bound ? row * b.width : 0);
  const bool variable = b.c_type == SQL_C_CHAR || b.c_type == SQL_C_BINARY;
  if (b.bound) {
    indicator = b.indicators[row];
  } else if (variable) {
    long_value = get_long_data(*stmt_, number, b.c_type, sql_, scratch_);
    indicator = long_value ? static_cast<SQLLEN>(long_value->size()) : SQL_NULL_DATA;
  } else {
    stmt_->check(SQLGetData(stmt_->get(), number, b.c_type, b.data.data(),
                            static_cast<SQLLEN>(b.width), &b.indicators[0]),
                 "read a value", sql_);
    indicator = b.indicators[0];
  }
  if (indicator == SQL_NULL_DATA) {
    column.append_null();
    return kFixedValueBytes;
  }
  if (variable) {
    if (long_value) {
      bytes = *long_value;
    } else {
      const size_t room = b.c_type == SQL_C_CHAR ? b.width - 1 : b.width;
      if (indicator == SQL_NO_TOTAL || static_cast<size_t>(indicator) > room) {
        throw Error(ErrorKind::Internal,
                    fmt::format("odbc {}: column {} holds a value longer than the {} bytes its "
                                "driver described",
                                stmt_->session().display(), b.column.name, room),
                    {}, ErrorContext{"odbc", {}, {}, sql_.substr(0, 200)});
      }
      bytes = std::string_view(cell, static_cast<size_t>(indicator));
    }
  }
  if (b.text == Bound::Text::Decimal) return append_decimal(column, b, bytes);
  if (b.text == Bound::Text::Temporal) {
    append_temporal_text(column, bytes, zero_dates_);
    return kFixedValueBytes;
  }
  if (b.text == Bound::Text::Bits) {
    uint64_t bits = 0;
    for (const char c : bytes) bits = (bits << 8) | static_cast<unsigned char>(c);
    column.append_int(static_cast<int64_t>(bits));
    return kFixedValueBytes;
  }
  switch (b.column.type) {
    case ColumnType::Bool:
    case ColumnType::Int64: {
      SQLBIGINT v = 0;
      std::memcpy(&v, cell, sizeof v);
      if (b.column.type == ColumnType::Int64 || v == 0 || v == 1) {
        column.append_int(v);
      } else {
        // Column::append turns a Bool column holding 2 into Any: the integer stays as is.
        column.append(Value(static_cast<int64_t>(v)));
      }
      return kFixedValueBytes;
    }
    case ColumnType::Double: {
      double v = 0;
      if (b.text == Bound::Text::No) {
        std::memcpy(&v, cell, sizeof v);
      } else if (!parse_double(bytes, v)) {
        column.append(Value(std::string(bytes)));
        return kStringValueBytes + bytes.size();
      }
      column.append_double(v);
      return kFixedValueBytes;
    }
    case ColumnType::Date: {
      SQL_DATE_STRUCT d{};
      std::memcpy(&d, cell, sizeof d);
      column.append_int(days_from_civil(d.year, d.month, d.day));
      return kFixedValueBytes;
    }
    case ColumnType::Timestamp:
    case ColumnType::TimestampTz: {
      SQL_TIMESTAMP_STRUCT ts{};
      std::memcpy(&ts, cell, sizeof ts);
      column.append_int(micros_of(ts));
      return kFixedValueBytes;
    }
    case ColumnType::Time: {
      if (const std::optional<int64_t> micros = parse_time(bytes)) {
        column.append_int(*micros);
      } else {
        column.append(Value(std::string(bytes)));
      }
      return kFixedValueBytes;
    }
    case ColumnType::Uuid: {
      std::string text(bytes);
      for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      column.append_string(text);
      return kStringValueBytes + bytes.size();
    }
    default:
      column.append_string(bytes);
      return kStringValueBytes + bytes.size();
  }
}

size_t OdbcRowSource::append_decimal(Column& column, const Bound& b, std::string_view bytes) {
  std::string text(bytes.substr(std::min<size_t>(1, bytes.size())));
  if (!bytes.empty() && bytes.front() == 'r') {
    // A REAL: its shortest decimal that reads back as the same double, as the native SQLite
    // driver writes it (12.5, not 12.50 or 12.4999...).
    double v = 0;
    char buf[400];
    if (parse_double(text, v) && std::isfinite(v)) {
      const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
      if (ec == std::errc()) text.assign(buf, end);
      if (text == "-0") text = "0";
    }
  }
  if (b.column.type != ColumnType::Numeric) {
    column.append_string(text);
    return kStringValueBytes + text.size();
  }
  // Significant digits before the point and digits after it of a plain decimal ("-012.50":
  // 2 and 1; trailing zeros change no value).
  size_t whole = 0, fraction = 0, digits = 0, i = 0;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) != 0; ++i, ++digits) {
    if (whole > 0 || text[i] != '0') ++whole;
  }
  if (i < text.size() && text[i] == '.') {
    const size_t point = i;
    for (++i; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) != 0; ++i) {
      ++digits;
      if (text[i] != '0') fraction = i - point;
    }
  }
  const bool plain = i == text.size() && digits > 0;
  if (!plain || (b.precision > 0 && (whole > static_cast<size_t>(b.precision - b.scale) ||
                                     fraction > static_cast<size_t>(b.scale)))) {
    throw Error(ErrorKind::Data,
                fmt::format("odbc {}: column {} holds '{}', which is not a decimal that "
                            "numeric({},{}) holds unchanged; cast the column in the query "
                            "(CAST({} AS TEXT)) to copy it as it is",
                            stmt_->session().display(), b.column.name, text.substr(0, 100),
                            b.precision, b.scale, b.column.name),
                {}, ErrorContext{"odbc", {}, {}, sql_.substr(0, 200)});
  }
  column.append_string(text);
  return kStringValueBytes + text.size();
}

}  // namespace parmap::odbc
