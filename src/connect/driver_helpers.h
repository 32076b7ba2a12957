// What every driver does the same way: the table DDL's shape, the single-column key of a
// table, the error for a key column the query does not have. A driver passes only what
// differs (its type names, what counts as an integer).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parmap/batch.h"
#include "parmap/connection.h"
#include "parmap/error.h"

namespace parmap {

/// Key statistics from one read of every key in the engine's order (NULLs anywhere): the
/// first key is the minimum, the last the maximum, nulls and keys are counted, and every k-th
/// key is kept, k doubling (the sample thinned to every other key) whenever the sample
/// reaches twice max_sample, so that it ends with at most max_sample keys evenly spread and
/// KeyStats::sample_every says k. Cheaper on the server than ranking the keys there.
class KeySampler {
 public:
  explicit KeySampler(int max_sample);
  void add_null() { ++null_rows_; }
  void add(Value key);
  /// What add() of the integer keys first, first + 1, ... first + count - 1 in turn would
  /// keep, in time proportional to the sample rather than to count (a table whose keys are
  /// known to be every integer of a range). Only before any other key.
  void add_run(int64_t first, int64_t count);
  /// Fills min, max, rows, null_rows, sample and sample_every of `stats`.
  void finish(KeyStats& stats);

 private:
  void thin();

  size_t limit_;
  int64_t every_ = 1, rows_ = 0, null_rows_ = 0;
  Value min_, max_;
  std::vector<Value> sample_;
};

/// The PostgreSQL type a created column of `type` gets, for the native driver and for
/// PostgreSQL reached through ODBC ("bigint", "numeric", "jsonb", "text[]" for Array).
const char* postgres_type_name(ColumnType type);

/// The narrowest integer type that PostgreSQL, MariaDB and SQLite all name alike and that holds
/// every value of an integer column `bytes` wide (MySQL's TINYINT 1, SMALLINT 2, MEDIUMINT 3,
/// INT 4, BIGINT 8): "smallint", "integer", "bigint", or "numeric(20)" for an unsigned BIGINT.
const char* integer_type_for_width(int bytes, bool is_unsigned);

/// The declared type a created SQLite column of `type` gets ("" for Any: BLOB affinity, which
/// stores every value as it was given), for the native driver and through ODBC.
const char* sqlite_type_name(ColumnType type);

/// CREATE TABLE <table> (<column> <type_of(column)> [NOT NULL], ..., PRIMARY KEY (...))
/// followed by `suffix`, with names quoted by `conn`. Throws Error(Config) naming the table
/// when there are no columns; `where` starts that message ("sqlite /tmp/a.db").
std::string create_table_sql(const Connection& conn, std::string_view where, const TableRef& table,
                             const TableSchema& schema,
                             const std::function<std::string(const ColumnInfo&)>& type_of,
                             std::string_view suffix = {});

/// The table's primary key when it is one column for which `is_integer` holds; nullopt for
/// no key, a composite key or another type.
std::optional<std::string> single_integer_key(
    const std::optional<TableSchema>& schema,
    const std::function<bool(const ColumnInfo&)>& is_integer);

/// What a MySQL/MariaDB value that other engines do not have (the zero date '0000-00-00', a
/// zero month or day) becomes when read, natively or through ODBC: left as its text, so that
/// a typed target refuses it as a data error naming the row (the default), or NULL (URL
/// parameter zero_dates=null, what MySQL migrations expect).
enum class ZeroDates { Refuse, Null };

/// The URL parameter zero_dates: "error" or "null"; Error(Config) naming `setting` otherwise.
ZeroDates parse_zero_dates(std::string_view setting, std::string_view value);

/// True when `text` is a zero date or has a zero month or day ("0000-00-00", "2024-00-10").
bool is_zero_date(std::string_view text);

/// The hint a reject record gives for a refused zero date read under ZeroDates::Refuse
/// ("'0000-00-00' is a MariaDB zero date ... zero_dates=null ..."); "" for any other value.
std::string zero_date_hint(const Value& value, ZeroDates zero_dates);

/// Appends a date, timestamp or timestamptz cell given as text ("2024-02-29", "infinity",
/// "0044-03-15 BC", "2024-02-29 12:00:00.500000", with or without a UTC offset: text without
/// one is UTC) to a Date, Timestamp or TimestampTz column. A MySQL zero date, and any text that
/// does not parse, is appended as its text, which turns the column into Any for the batch so
/// that nothing is silently changed; a zero date is NULL instead under ZeroDates::Null.
void append_temporal_text(Column& column, std::string_view text, ZeroDates zero_dates);

/// Error(Schema): "<where>: key column '<column>' is not a column of the query; its columns
/// are: a, b, c".
Error missing_key_column(std::string_view where, std::string_view column,
                         const TableSchema& schema, ErrorContext context);

/// Empties `out` into one column per `schema` column, typed by it (a previous batch may have
/// turned a column into Any; each batch starts typed), with room for `reserve` rows: the start
/// of a source's next batch.
void start_batch(Batch& out, const TableSchema& schema, size_t reserve);

/// `sql` without surrounding white space and trailing semicolons: the forms that wrap a
/// query ("SELECT ... FROM (<sql>) AS src") break on a trailing semicolon.
std::string_view strip_sql(std::string_view sql);

}  // namespace parmap
