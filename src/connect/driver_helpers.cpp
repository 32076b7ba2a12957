// What every driver does the same way (see driver_helpers.h).
#include "connect/driver_helpers.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <utility>

#include "common/temporal.h"
#include "plan/plan.h"

namespace parmap {

KeySampler::KeySampler(int max_sample) : limit_(static_cast<size_t>(std::max(max_sample, 0))) {}

void KeySampler::add(Value key) {
  if (rows_++ == 0) min_ = key;
  if (limit_ > 0 && (rows_ - 1) % every_ == 0) {
    sample_.push_back(key);
    if (sample_.size() >= 2 * limit_) thin();
  }
  max_ = std::move(key);
}

void KeySampler::add_run(int64_t first, int64_t count) {
  if (count <= 0) return;
  if (rows_ != 0 || null_rows_ != 0) {
    throw Error(ErrorKind::Internal, "KeySampler::add_run after other keys");
  }
  rows_ = count;
  min_ = Value(first);
  max_ = Value(first + (count - 1));
  if (limit_ == 0) return;
  // add() would end keeping the keys at every k-th position from the first, k the smallest
  // power of two that leaves at most limit_ of them (finish() thins to that).
  const auto limit = static_cast<int64_t>(limit_);
  while ((count + every_ - 1) / every_ > limit) every_ *= 2;
  sample_.reserve(static_cast<size_t>((count + every_ - 1) / every_));
  for (int64_t i = 0; i < count; i += every_) sample_.emplace_back(int64_t{first + i});
}

void KeySampler::thin() {
  // Keeps the 1st, 3rd, 5th ... keys: every k-th becomes every 2k-th.
  size_t out = 0;
  for (size_t i = 0; i < sample_.size(); i += 2) sample_[out++] = std::move(sample_[i]);
  sample_.resize(out);
  every_ *= 2;
}

void KeySampler::finish(KeyStats& stats) {
  while (sample_.size() > limit_) thin();
  stats.min = std::move(min_);
  stats.max = std::move(max_);
  stats.rows = rows_;
  stats.null_rows = null_rows_;
  stats.sample_every = sample_.empty() ? 0 : every_;
  stats.sample = std::move(sample_);
}

ZeroDates parse_zero_dates(std::string_view setting, std::string_view value) {
  if (value == "error") return ZeroDates::Refuse;
  if (value == "null") return ZeroDates::Null;
  throw_config(std::string(setting), std::string(value),
               "error (a zero date is a refused value) or null");
}

bool is_zero_date(std::string_view text) {
  if (text.size() < 10 || text[4] != '-' || text[7] != '-') return false;
  return text.substr(5, 2) == "00" || text.substr(8, 2) == "00" || text.substr(0, 4) == "0000";
}

std::string zero_date_hint(const Value& value, ZeroDates zero_dates) {
  if (zero_dates != ZeroDates::Refuse || !value.is_text() || !is_zero_date(value.as_text())) {
    return {};
  }
  return fmt::format("'{}' is a MariaDB zero date, which other engines do not have; the source "
                     "URL parameter zero_dates=null reads zero dates as NULL",
                     value.as_text());
}

void append_temporal_text(Column& column, std::string_view text, ZeroDates zero_dates) {
  if (is_zero_date(text)) {
    if (zero_dates == ZeroDates::Null) {
      column.append_null();
    } else {
      column.append(Value(std::string(text)));
    }
    return;
  }
  std::optional<int64_t> v;
  if (column.type == ColumnType::Date) {
    v = parse_date(text);
  } else if (column.type == ColumnType::Timestamp) {
    v = parse_timestamp(text, false);
  } else {
    v = parse_timestamp(text, true);
    if (!v) v = parse_timestamp(std::string(text) + "+00", true);
  }
  if (v) {
    column.append_int(*v);
  } else {
    column.append(Value(std::string(text)));
  }
}

std::string create_table_sql(const Connection& conn, std::string_view where, const TableRef& table,
                             const TableSchema& schema,
                             const std::function<std::string(const ColumnInfo&)>& type_of,
                             std::string_view suffix) {
  if (schema.columns.empty()) {
    throw Error(ErrorKind::Config, fmt::format("{}: cannot create table {} with no columns",
                                               where, table.display()));
  }
  std::string sql = fmt::format("CREATE TABLE {} (", conn.quote_table(table));
  std::string primary_key;
  for (size_t i = 0; i < schema.columns.size(); ++i) {
    const ColumnInfo& column = schema.columns[i];
    if (i > 0) sql += ", ";
    sql += conn.quote_identifier(column.name);
    const std::string type = type_of(column);
    if (!type.empty()) sql += ' ' + type;
    if (column.not_null) sql += " NOT NULL";
    if (column.primary_key && schema.primary_key.empty()) {
      if (!primary_key.empty()) primary_key += ", ";
      primary_key += conn.quote_identifier(column.name);
    }
  }
  for (const std::string& name : schema.primary_key) {
    if (!primary_key.empty()) primary_key += ", ";
    primary_key += conn.quote_identifier(name);
  }
  if (!primary_key.empty()) sql += fmt::format(", PRIMARY KEY ({})", primary_key);
  sql += ')';
  sql += suffix;
  return sql;
}

std::optional<std::string> single_integer_key(
    const std::optional<TableSchema>& schema,
    const std::function<bool(const ColumnInfo&)>& is_integer) {
  if (!schema) return std::nullopt;
  const ColumnInfo* key = nullptr;
  for (const ColumnInfo& column : schema->columns) {
    if (!column.primary_key) continue;
    if (key != nullptr) return std::nullopt;  // composite key
    key = &column;
  }
  if (key == nullptr || !is_integer(*key)) return std::nullopt;
  return key->name;
}

Error missing_key_column(std::string_view where, std::string_view column,
                         const TableSchema& schema, ErrorContext context) {
  std::string names;
  for (const ColumnInfo& info : schema.columns) {
    if (!names.empty()) names += ", ";
    names += info.name;
  }
  return Error(ErrorKind::Schema,
               fmt::format("{}: key column '{}' is not a column of the query; its columns are: {}",
                           where, column, names),
               {}, std::move(context));
}

const char* integer_type_for_width(int bytes, bool is_unsigned) {
  // The largest value needs bytes * 8 bits, one more when signed types must hold it.
  const int bits = bytes * 8 + (is_unsigned ? 1 : 0);
  if (bits <= 16) return "smallint";
  if (bits <= 32) return "integer";
  if (bits <= 64) return "bigint";
  return "numeric(20)";
}

const char* postgres_type_name(ColumnType type) {
  switch (type) {
    case ColumnType::Int64:
      return "bigint";
    case ColumnType::Double:
      return "double precision";
    case ColumnType::Blob:
      return "bytea";
    case ColumnType::Bool:
      return "boolean";
    case ColumnType::Date:
      return "date";
    case ColumnType::Time:
      return "time";
    case ColumnType::Timestamp:
      return "timestamp";
    case ColumnType::TimestampTz:
      return "timestamptz";
    case ColumnType::Numeric:
      return "numeric";
    case ColumnType::Uuid:
      return "uuid";
    case ColumnType::Json:
      return "jsonb";
    case ColumnType::Interval:
      return "interval";
    case ColumnType::Array:
      return "text[]";
    case ColumnType::Text:
    case ColumnType::Any:
      return "text";
  }
  return "text";
}

const char* sqlite_type_name(ColumnType type) {
  switch (type) {
    case ColumnType::Bool:
      return "BOOLEAN";
    case ColumnType::Int64:
      return "INTEGER";
    case ColumnType::Double:
      return "REAL";
    case ColumnType::Text:
      return "TEXT";
    case ColumnType::Blob:
      return "BLOB";
    // No declared type means BLOB affinity: values are stored exactly as given. "ANY"
    // would mean NUMERIC affinity and turn the text '007' into the integer 7.
    case ColumnType::Any:
      return "";
    // ISO text such as '2024-02-29' or '13:45:00' does not look like a number, so the
    // NUMERIC affinity these names get leaves it as text.
    case ColumnType::Date:
      return "DATE";
    case ColumnType::Time:
      return "TIME";
    case ColumnType::Timestamp:
      return "TIMESTAMP";
    case ColumnType::TimestampTz:
      return "TIMESTAMPTZ";
    // TEXT, not NUMERIC: NUMERIC affinity would store '12.50' as the real 12.5.
    case ColumnType::Numeric:
    case ColumnType::Uuid:
    case ColumnType::Json:
    case ColumnType::Interval:
    case ColumnType::Array:
      return "TEXT";
  }
  return "";
}

std::string_view strip_sql(std::string_view sql) {
  const std::string_view whole = sql;
  while (!sql.empty() &&
         (std::isspace(static_cast<unsigned char>(sql.back())) != 0 || sql.back() == ';')) {
    sql.remove_suffix(1);
  }
  // A `--` comment on the last line runs to its line break, which stays: SQL put after the
  // query would be commented out without it.
  if (ends_in_line_comment(sql)) {
    const size_t end = whole.find('\n', sql.size());
    if (end != std::string_view::npos) sql = whole.substr(0, end + 1);
  }
  while (!sql.empty() && std::isspace(static_cast<unsigned char>(sql.front())) != 0) {
    sql.remove_prefix(1);
  }
  return sql;
}

void start_batch(Batch& out, const TableSchema& schema, size_t reserve) {
  out.columns.resize(schema.columns.size());
  for (size_t i = 0; i < schema.columns.size(); ++i) {
    Column& column = out.columns[i];
    column.clear();
    column.name = schema.columns[i].name;
    column.type = schema.columns[i].type;
    column.declared_type = schema.columns[i].declared_type;
    column.reserve(reserve);
  }
}

}  // namespace parmap
