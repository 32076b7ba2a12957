// A session with one SQLite database file: the Connection of the embedded default engine.
#include "connect/sqlite/sqlite_connection.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <climits>
#include <cmath>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

#include "connect/driver_helpers.h"
#include "connect/sqlite/sqlite_cells.h"
#include "connect/sqlite/sqlite_errors.h"
#include "connect/sqlite/sqlite_local_copy.h"
#include "connect/sqlite/sqlite_statement.h"
#include "connect/sqlite/sqlite_types.h"
#include "parmap/error.h"
#include "plan/plan.h"

namespace parmap::sqlite {
namespace {

constexpr int kBusyTimeoutMs = 60'000;
constexpr size_t kReserveRows = 4096;

// URL params that are applied as "PRAGMA name = value"; anything else is a typo.
constexpr std::array<std::string_view, 6> kPragmaParams = {
    "journal_mode", "synchronous", "cache_size", "busy_timeout", "mmap_size", "temp_store"};

std::string to_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

ColumnType type_of_value(const Value& value, ColumnType if_null) {
  if (value.is_int()) return ColumnType::Int64;
  if (value.is_double()) return ColumnType::Double;
  if (value.is_text()) return ColumnType::Text;
  if (value.is_blob()) return ColumnType::Blob;
  return if_null;
}

Value read_value(sqlite3_stmt* stmt, int i) { return read_cell(StmtCell{stmt, i}); }

bool valid_pragma_value(std::string_view value) {
  if (value.empty()) return false;
  return std::all_of(value.begin(), value.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '+';
  });
}

// "(?,?,?)" for one row of `ncols` values.
std::string row_placeholders(size_t ncols) {
  std::string row = "(?";
  for (size_t c = 1; c < ncols; ++c) row += ",?";
  row += ')';
  return row;
}

// One mutex per database file for the life of the process: connections keep raw
// pointers to it, so entries are never erased.
std::mutex* writer_lock_for(const std::string& canonical_path) {
  static std::mutex registry_mu;
  static std::map<std::string, std::unique_ptr<std::mutex>> locks;
  std::lock_guard<std::mutex> guard(registry_mu);
  auto& slot = locks[canonical_path];
  if (!slot) slot = std::make_unique<std::mutex>();
  return slot.get();
}

std::string canonical_path(sqlite3* db) {
  // sqlite3_db_filename is already absolute; realpath also folds symlinks, so that two
  // names of one file share a writer lock.
  const char* name = sqlite3_db_filename(db, "main");
  if (name == nullptr || *name == '\0') return {};
  std::unique_ptr<char, decltype(&std::free)> resolved(realpath(name, nullptr), &std::free);
  return resolved ? std::string(resolved.get()) : std::string(name);
}

// ---------------------------------------------------------------------------------------

/// Steps one prepared statement, a batch at a time.
class SqliteRowSource final : public RowSource {
 public:
  SqliteRowSource(StmtPtr stmt, std::string path, std::string sql, size_t batch_rows,
                  size_t max_batch_bytes)
      : stmt_(std::move(stmt)),
        path_(std::move(path)),
        sql_(std::move(sql)),
        schema_(schema_of(stmt_.get())),
        batch_rows_(batch_rows),
        max_batch_bytes_(max_batch_bytes) {}

  bool next(Batch& out) override {
    start_batch(out, schema_, std::min(batch_rows_, kReserveRows));
    if (!stmt_) return false;
    sqlite3_stmt* stmt = stmt_.get();
    const int ncols = static_cast<int>(schema_.columns.size());
    size_t rows = 0;
    size_t bytes = 0;
    while (rows < batch_rows_) {
      const int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) {
        // Finalize now rather than at destruction: it releases the read lock.
        stmt_.reset();
        break;
      }
      if (rc != SQLITE_ROW) {
        Error error =
            make_sqlite_error(error_code(sqlite3_db_handle(stmt), rc),
                              sqlite3_errmsg(sqlite3_db_handle(stmt)), path_, "reading rows", sql_);
        stmt_.reset();
        throw error;
      }
      for (int i = 0; i < ncols; ++i) {
        bytes += append_cell(out.columns[i], schema_.columns[static_cast<size_t>(i)].type,
                             StmtCell{stmt, i}, path_, sql_);
      }
      ++rows;
      if (max_batch_bytes_ != 0 && bytes >= max_batch_bytes_) break;
    }
    return rows > 0;
  }

 private:
  StmtPtr stmt_;  // null once the rows are exhausted
  std::string path_;
  std::string sql_;
  TableSchema schema_;
  size_t batch_rows_;
  size_t max_batch_bytes_;
};

// ---------------------------------------------------------------------------------------

/// Inserts batches with prepared multi-row INSERT statements: one statement of
/// `rows_per_statement` rows, reused, and one for a batch's remainder.
class SqliteRowSink final : public RowSink {
 public:
  SqliteRowSink(sqlite3* db, std::string path, std::string table, std::string insert_head,
                size_t ncols, size_t rows_per_statement)
      : db_(db),
        path_(std::move(path)),
        table_(std::move(table)),
        insert_head_(std::move(insert_head)),
        ncols_(ncols),
        rows_per_statement_(rows_per_statement) {}

  void write(const Batch& batch) override {
    if (batch.num_columns() != ncols_) {
      throw Error(ErrorKind::Schema,
                  fmt::format("sqlite {}: insert into {}: the batch has {} columns, the sink {}",
                              path_, table_, batch.num_columns(), ncols_),
                  {}, sqlite_context({}, table_));
    }
    const size_t rows = batch.num_rows();
    size_t first = 0;
    while (rows - first >= rows_per_statement_) {
      if (!full_) full_ = prepare_insert(rows_per_statement_);
      insert_rows(full_.get(), batch, first, rows_per_statement_);
      first += rows_per_statement_;
    }
    const size_t rest = rows - first;
    if (rest > 0) {
      if (!tail_ || tail_rows_ != rest) {
        tail_.reset();
        tail_ = prepare_insert(rest);
        tail_rows_ = rest;
      }
      insert_rows(tail_.get(), batch, first, rest);
    }
  }

  int64_t finish() override { return written_; }

 private:
  std::string insert_sql(size_t rows) const {
    const std::string row = row_placeholders(ncols_);
    std::string sql = insert_head_;
    sql.reserve(sql.size() + rows * (row.size() + 1));
    for (size_t r = 0; r < rows; ++r) {
      if (r > 0) sql += ',';
      sql += row;
    }
    return sql;
  }

  StmtPtr prepare_insert(size_t rows) const {
    return prepare_statement(db_, insert_sql(rows), path_, fmt::format("insert into {}", table_),
                             table_);
  }

  static int bind_cell(sqlite3_stmt* stmt, int index, const Column& column, size_t row) {
    if (column.is_null(row)) return sqlite3_bind_null(stmt, index);
    switch (column.type) {
      case ColumnType::Bool:
      case ColumnType::Int64:
        return sqlite3_bind_int64(stmt, index, column.ints[row]);
      case ColumnType::Double:
        // Never NaN (refused by insert_rows), which SQLite would store as NULL.
        return sqlite3_bind_double(stmt, index, column.doubles[row]);
      case ColumnType::Text: {
        const std::string& s = column.strings[row];
        return sqlite3_bind_text64(stmt, index, s.data(), s.size(), SQLITE_STATIC, SQLITE_UTF8);
      }
      case ColumnType::Blob: {
        const std::string& b = column.strings[row];
        return sqlite3_bind_blob64(stmt, index, b.data(), b.size(), SQLITE_STATIC);
      }
      case ColumnType::Any:
        return bind_value(stmt, index, column.values[row]);
      case ColumnType::Date:
      case ColumnType::Time:
      case ColumnType::Timestamp:
      case ColumnType::TimestampTz: {
        // The canonical text, as Column::get() shows it; SQLite copies the temporary.
        const std::string text = column.get(row).as_text();
        return sqlite3_bind_text64(stmt, index, text.data(), text.size(), SQLITE_TRANSIENT,
                                   SQLITE_UTF8);
      }
      case ColumnType::Numeric:
      case ColumnType::Uuid:
      case ColumnType::Json:
      case ColumnType::Interval:
      case ColumnType::Array: {
        // Stored text is what get() returns; bound in place like Text.
        const std::string& s = column.strings[row];
        return sqlite3_bind_text64(stmt, index, s.data(), s.size(), SQLITE_STATIC, SQLITE_UTF8);
      }
    }
    return sqlite3_bind_null(stmt, index);
  }

  void insert_rows(sqlite3_stmt* stmt, const Batch& batch, size_t first, size_t count) {
    int index = 1;
    for (size_t r = first; r < first + count; ++r) {
      for (size_t c = 0; c < ncols_; ++c) {
        const Column& column = batch.columns[c];
        if (!column.is_null(r) &&
            ((column.type == ColumnType::Double && std::isnan(column.doubles[r])) ||
             (column.type == ColumnType::Any && column.values[r].is_double() &&
              std::isnan(column.values[r].as_double())))) {
          throw Error(ErrorKind::Data,
                      fmt::format("sqlite {}: insert into {}: column '{}' holds NaN, which SQLite "
                                  "cannot store (it would store NULL in its place)",
                                  path_, table_, column.name),
                      {}, sqlite_context({}, table_));
        }
        const int rc = bind_cell(stmt, index++, column, r);
        if (rc != SQLITE_OK) {
          throw_db_error(db_, rc, path_,
                         fmt::format("insert into {}: binding column {} of batch row {}", table_,
                                     batch.columns[c].name, r),
                         sqlite3_sql(stmt), table_);
        }
      }
    }
    const int rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) {
      // A failed INSERT undoes its own rows; the transaction stays open for the caller.
      Error error = make_sqlite_error(
          error_code(db_, rc), sqlite3_errmsg(db_), path_,
          fmt::format("insert into {} (batch rows {}..{})", table_, first, first + count - 1),
          sqlite3_sql(stmt), table_);
      sqlite3_reset(stmt);
      throw error;
    }
    // The bindings still point into the batch; harmless, since every use rebinds them all.
    sqlite3_reset(stmt);
    // The rows the statement itself inserted: fewer than sent when the table ignores some
    // (ON CONFLICT IGNORE), which the caller must hear of.
    written_ += sqlite3_changes64(db_);
  }

  sqlite3* db_;  // owned by the connection, which outlives the sink
  std::string path_;
  std::string table_;
  std::string insert_head_;  // "INSERT INTO t (a,b) VALUES "
  size_t ncols_;
  size_t rows_per_statement_;
  StmtPtr full_;
  StmtPtr tail_;
  size_t tail_rows_ = 0;
  int64_t written_ = 0;
};

}  // namespace

// ---------------------------------------------------------------------------------------

void DbCloser::operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }

void StmtFinalizer::operator()(sqlite3_stmt* stmt) const noexcept { sqlite3_finalize(stmt); }

std::unique_ptr<SqliteConnection> SqliteConnection::open(const ConnectionUrl& url) {
  const std::string& path = url.database;
  if (path.empty()) {
    throw Error(ErrorKind::Config,
                fmt::format("sqlite URL '{}' names no database file (sqlite:///abs/path.db, "
                            "sqlite://relative.db or sqlite://:memory:)",
                            url.masked()),
                {}, sqlite_context());
  }
  // Checked before opening, so that a typo does not leave a new empty file behind.
  std::vector<std::pair<std::string, std::string>> pragmas;
  for (const auto& [key, value] : url.params) {
    const std::string name = to_lower(key);
    if (std::find(kPragmaParams.begin(), kPragmaParams.end(), name) == kPragmaParams.end()) {
      throw_config(fmt::format("sqlite URL parameter '{}'", key), value,
                   "journal_mode, synchronous, cache_size, busy_timeout, mmap_size, temp_store");
    }
    if (!valid_pragma_value(value)) {
      throw_config(fmt::format("sqlite URL parameter '{}'", key), value,
                   "a word or a number (letters, digits, '_', '-', '+')");
    }
    pragmas.emplace_back(name, value);
  }

  sqlite3* raw = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  DbPtr db(raw);
  if (rc != SQLITE_OK) {
    const int code = raw != nullptr ? sqlite3_extended_errcode(raw) : rc;
    const std::string message = raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    throw Error(ErrorKind::Connect,
                fmt::format("sqlite: cannot open database file '{}': {}", path, message),
                sqlite_code_name(code), sqlite_context());
  }
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);

  // Reading the schema now makes a file that is not a database fail here, at open.
  char* err = nullptr;
  int check = sqlite3_exec(raw, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, &err);
  if (check != SQLITE_OK) {
    const std::string message = err != nullptr ? err : sqlite3_errstr(check);
    sqlite3_free(err);
    const int code = error_code(raw, check);
    const ErrorKind kind = classify_sqlite_error(code, message);
    throw Error(kind == ErrorKind::Transient ? kind : ErrorKind::Connect,
                fmt::format("sqlite: cannot open database file '{}': {}", path, message),
                sqlite_code_name(code), sqlite_context());
  }
  for (const auto& [name, value] : pragmas) {
    const std::string sql = fmt::format("PRAGMA {} = {}", name, value);
    check = sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, &err);
    if (check != SQLITE_OK) {
      const std::string message = err != nullptr ? err : sqlite3_errstr(check);
      sqlite3_free(err);
      throw Error(ErrorKind::Config,
                  fmt::format("sqlite {}: setting URL parameter {}={} failed: {}", path, name,
                              value, message),
                  sqlite_code_name(error_code(raw, check)), sqlite_context(sql));
    }
  }

  std::string canonical = canonical_path(raw);
  std::mutex* lock = canonical.empty() ? nullptr : writer_lock_for(canonical);
  std::string shown = canonical.empty() ? path : canonical;
  return std::make_unique<SqliteConnection>(Token{}, std::move(db), std::move(shown), lock);
}

SqliteConnection::SqliteConnection(Token /*only open() constructs*/, DbPtr db, std::string path,
                                   std::mutex* writer_lock)
    : db_(std::move(db)), handle_(db_.get()), path_(std::move(path)), writer_lock_(writer_lock) {}

SqliteConnection::~SqliteConnection() { close(); }

Capabilities SqliteConnection::capabilities() const {
  Capabilities caps;
  caps.concurrent_writers = false;
  caps.snapshot_export = false;
  caps.keys_counted = true;
  return caps;
}

std::string SqliteConnection::quote_identifier(std::string_view name) const {
  return quote_ansi_identifier(name);
}

sqlite3* SqliteConnection::db() const {
  if (!db_) {
    throw Error(ErrorKind::Connect, fmt::format("sqlite {}: the connection is closed", path_), {},
                sqlite_context());
  }
  if (interrupted_) {
    throw Error(
        ErrorKind::Transient,
        fmt::format("sqlite {}: the connection was interrupted and takes no more calls", path_),
        sqlite_code_name(SQLITE_INTERRUPT), sqlite_context());
  }
  return db_.get();
}

StmtPtr SqliteConnection::prepare(std::string_view sql, std::string_view what) const {
  return prepare_statement(db(), sql, path_, what);
}

void SqliteConnection::fail(int rc, std::string_view what, std::string_view sql,
                            std::string_view table) const {
  throw_db_error(db_.get(), rc, path_, what, sql, table);
}

void SqliteConnection::execute(std::string_view sql) {
  const std::string text(sql);
  char* err = nullptr;
  const int rc = sqlite3_exec(db(), text.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    const std::string message = err != nullptr ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw make_sqlite_error(error_code(db_.get(), rc), message, path_, "execute", sql);
  }
}

std::vector<std::vector<Value>> SqliteConnection::query(std::string_view sql,
                                                        const std::vector<Value>& params) {
  StmtPtr stmt = prepare(sql, "query");
  bind_params(stmt.get(), params, path_, sql);
  const int ncols = sqlite3_column_count(stmt.get());
  std::vector<std::vector<Value>> rows;
  for (;;) {
    const int rc = sqlite3_step(stmt.get());
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) fail(rc, "query", sql);
    std::vector<Value>& row = rows.emplace_back();
    row.reserve(static_cast<size_t>(ncols));
    for (int i = 0; i < ncols; ++i) row.push_back(read_value(stmt.get(), i));
  }
  return rows;
}

void SqliteConnection::begin() {
  const bool other_file = !attached_.empty() && attached_ != path_;
  const char* sql = other_file ? "BEGIN" : "BEGIN IMMEDIATE";
  const int rc = sqlite3_exec(db(), sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) fail(rc, "begin transaction", sql);
}

void SqliteConnection::commit() {
  const int rc = sqlite3_exec(db(), "COMMIT", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) fail(rc, "commit", "COMMIT");
}

void SqliteConnection::rollback() noexcept {
  if (!db_ || sqlite3_get_autocommit(db_.get()) != 0) return;
  sqlite3_exec(db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
}

TableSchema SqliteConnection::describe_query(std::string_view sql) {
  StmtPtr stmt = prepare(strip_sql(sql), "describe query");
  return schema_of(stmt.get());
}

std::optional<TableSchema> SqliteConnection::describe_table(const TableRef& table) {
  // The table-valued pragma takes the names as parameters, so nothing needs quoting. Its x
  // form lists generated columns too (hidden 2: virtual, 3: stored).
  constexpr std::string_view kSql =
      "SELECT name, type, \"notnull\", pk, hidden FROM pragma_table_xinfo(?1, ?2) "
      "WHERE hidden <> 1 ORDER BY cid";
  StmtPtr stmt = prepare(kSql, fmt::format("describe table {}", table.display()));
  sqlite3_bind_text64(stmt.get(), 1, table.name.data(), table.name.size(), SQLITE_STATIC,
                      SQLITE_UTF8);
  if (table.schema.empty()) {
    sqlite3_bind_null(stmt.get(), 2);
  } else {
    sqlite3_bind_text64(stmt.get(), 2, table.schema.data(), table.schema.size(), SQLITE_STATIC,
                        SQLITE_UTF8);
  }
  TableSchema schema;
  std::vector<std::pair<int, std::string>> key;  // (1-based place in the primary key, column)
  for (;;) {
    const int rc = sqlite3_step(stmt.get());
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) fail(rc, fmt::format("describe table {}", table.display()), kSql);
    ColumnInfo info;
    info.name = std::string(StmtCell{stmt.get(), 0}.text());
    // The table's own declared names (integer_primary_key reads them), not normalized.
    info.declared_type = std::string(StmtCell{stmt.get(), 1}.text());
    info.type = type_from_declared(info.declared_type);
    info.not_null = sqlite3_column_int(stmt.get(), 2) != 0;
    info.primary_key = sqlite3_column_int(stmt.get(), 3) != 0;
    info.generated = sqlite3_column_int(stmt.get(), 4) >= 2;
    if (info.primary_key) key.emplace_back(sqlite3_column_int(stmt.get(), 3), info.name);
    schema.columns.push_back(std::move(info));
  }
  if (schema.columns.empty()) return std::nullopt;
  std::sort(key.begin(), key.end());
  for (auto& [position, name] : key) schema.primary_key.push_back(std::move(name));
  return schema;
}

std::optional<std::string> SqliteConnection::integer_primary_key(const TableRef& table) {
  return single_integer_key(describe_table(table), [](const ColumnInfo& column) {
    return type_from_declared(column.declared_type) == ColumnType::Int64;
  });
}

int64_t SqliteConnection::estimate_rows(std::string_view sql) {
  // A plain table is counted from its b-tree's pages (SQLite's count optimisation), without
  // reading its rows: a third of the time of counting the query's rows.
  const std::optional<TableRef> table = simple_table_of(strip_sql(sql));
  const std::string count_sql =
      table ? fmt::format("SELECT count(*) FROM {}", quote_table(*table))
            : fmt::format("SELECT count(*) FROM ({}) AS src", strip_sql(sql));
  StmtPtr stmt = prepare(count_sql, "count rows");
  const int rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_ROW) fail(rc, "count rows", count_sql);
  return sqlite3_column_int64(stmt.get(), 0);
}

std::optional<std::string> SqliteConnection::range_filter_problem(std::string_view sql,
                                                                  std::string_view column) {
  // The query a chunk runs, with both bounds (their values do not change the plan).
  Chunk probe;
  probe.key = std::string(column);
  probe.range.lo = Value(int64_t{0});
  probe.range.hi = Value(int64_t{1});
  std::vector<Value> params;
  const std::string chunk_sql = chunk_query(strip_sql(sql), probe, params);
  std::vector<std::vector<Value>> steps;
  try {
    steps = query("EXPLAIN QUERY PLAN " + chunk_sql, params);
  } catch (const Error&) {
    return std::nullopt;  // the planner reports the query's own problem where it matters
  }
  // Each step's detail: "SEARCH t USING INDEX i (k>? AND k<?)", "SCAN t", "SCAN src", ...
  bool searches = false;
  std::string scanned;
  for (const auto& step : steps) {
    if (step.size() < 4 || !step[3].is_text()) continue;
    const std::string_view detail = step[3].as_text();
    if (detail.rfind("SEARCH ", 0) == 0) searches = true;
    if (scanned.empty() && detail.rfind("SCAN ", 0) == 0) scanned = detail.substr(5);
  }
  if (searches || scanned.empty()) return std::nullopt;
  return fmt::format(
      "no index on {} answers a key range (SQLite plans SCAN {}), so every chunk would read "
      "the whole query",
      column, scanned);
}

bool SqliteConnection::dense_rowid_keys(std::string_view sql, const std::string& column,
                                        int max_sample, KeyStats& stats) {
  // Only a plain table's rowid: never NULL, always an integer, unique, and its count, min and
  // max are read from the b-tree (its pages' cell counts, its two ends) without its rows.
  const std::optional<TableRef> table = simple_table_of(sql);
  if (!table) return false;
  const std::optional<TableSchema> schema = describe_table(*table);
  if (!schema || schema->primary_key.size() != 1 || schema->primary_key.front() != column) {
    return false;
  }
  const int index = schema->find(column);
  if (index < 0) return false;
  const std::string& declared = schema->columns[static_cast<size_t>(index)].declared_type;
  if (sqlite3_stricmp(declared.c_str(), "INTEGER") != 0) return false;
  // An INTEGER PRIMARY KEY is the rowid unless SQLite keeps the key in an index of its own (a
  // WITHOUT ROWID table, "INTEGER PRIMARY KEY DESC"): then any value may be in it.
  const std::string schema_name = table->schema.empty() ? "main" : table->schema;
  if (!query("SELECT 1 FROM pragma_index_list(?1, ?2) WHERE origin = 'pk'",
             {Value(table->name), Value(schema_name)})
           .empty()) {
    return false;
  }
  const std::string quoted_table = quote_table(*table);
  const std::string key = quote_identifier(column);
  const std::string ends_sql =
      fmt::format("SELECT (SELECT min({1}) FROM {0}), (SELECT max({1}) FROM {0})", quoted_table,
                  key);
  StmtPtr stmt = prepare(ends_sql, "key statistics");
  const int rc = sqlite3_step(stmt.get());
  if (rc != SQLITE_ROW) fail(rc, "key statistics", ends_sql);
  if (sqlite3_column_type(stmt.get(), 0) != SQLITE_INTEGER ||
      sqlite3_column_type(stmt.get(), 1) != SQLITE_INTEGER) {
    return false;  // no rows
  }
  const int64_t lo = sqlite3_column_int64(stmt.get(), 0);
  const int64_t hi = sqlite3_column_int64(stmt.get(), 1);
  const uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
  // Counting the table reads every page, as reading its keys does: first a few windows of
  // the range, each a seek and a page or two, must be full, or the keys are read instead.
  constexpr int kWindows = 4;
  constexpr int64_t kWindowKeys = 256;
  const std::string window_sql = fmt::format(
      "SELECT count(*) FROM (SELECT 1 FROM {0} WHERE {1} >= ?1 AND {1} <= ?2 LIMIT ?3)",
      quoted_table, key);
  for (int w = 0; w < kWindows && span >= static_cast<uint64_t>(kWindowKeys); ++w) {
    const auto first = static_cast<int64_t>(static_cast<uint64_t>(lo) +
                                            (span - kWindowKeys + 1) / (kWindows - 1) *
                                                static_cast<uint64_t>(w));
    const int64_t last = first + (kWindowKeys - 1);
    const auto counted = query(window_sql, {Value(first), Value(last), Value(kWindowKeys)});
    if (counted.empty() || counted[0][0] != Value(kWindowKeys)) return false;
  }
  const int64_t rows = estimate_rows(sql);  // a plain table's count, from its b-tree's pages
  // As many distinct integers as the range holds: every one of them is a key. (Rows written
  // or deleted since can make only the plan's estimates wrong, never which rows a chunk
  // copies: chunks are key ranges.)
  if (rows <= 0 || span != static_cast<uint64_t>(rows - 1)) return false;
  KeySampler sampler(max_sample);
  sampler.add_run(lo, rows);
  sampler.finish(stats);
  stats.type = ColumnType::Int64;
  stats.every_integer = true;
  return true;
}

KeyStats SqliteConnection::key_stats(std::string_view sql, std::string_view column,
                                     int max_sample) {
  const std::string_view inner = strip_sql(sql);
  const TableSchema schema = describe_query(inner);
  const int index = schema.find(column);
  if (index < 0) throw missing_key_column("sqlite " + path_, column, schema, sqlite_context(sql));
  const ColumnInfo& key = schema.columns[static_cast<size_t>(index)];
  const std::string quoted = quote_identifier(key.name);

  KeyStats stats;
  stats.column = key.name;
  if (dense_rowid_keys(inner, key.name, max_sample, stats)) return stats;

  // One pass over the keys in order (NULLs first, as SQLite sorts them, and in the order
  // min() and max() use).
  const std::string keys_sql =
      fmt::format("SELECT {0} FROM ({1}) AS src ORDER BY {0}", quoted, inner);
  StmtPtr stmt = prepare(keys_sql, "key statistics");
  KeySampler sampler(max_sample);
  for (;;) {
    const int rc = sqlite3_step(stmt.get());
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) fail(rc, "key statistics", keys_sql);
    if (sqlite3_column_type(stmt.get(), 0) == SQLITE_NULL) {
      sampler.add_null();
    } else {
      sampler.add(read_value(stmt.get(), 0));
    }
  }
  sampler.finish(stats);
  stats.type = type_of_value(stats.min, key.type);
  const ColumnType max_type = type_of_value(stats.max, key.type);
  if (max_type != stats.type) {
    // Integers and reals interleave in SQLite's order; anything else cannot be ranged.
    const bool numeric = (stats.type == ColumnType::Int64 || stats.type == ColumnType::Double) &&
                         (max_type == ColumnType::Int64 || max_type == ColumnType::Double);
    stats.type = numeric ? ColumnType::Double : ColumnType::Any;
  }
  return stats;
}

std::optional<PhysicalExtent> SqliteConnection::physical_extent(std::string_view sql) {
  const std::optional<TableRef> table = simple_table_of(strip_sql(sql));
  if (!table) return std::nullopt;
  const std::optional<TableSchema> schema = describe_table(*table);
  if (!schema) return std::nullopt;
  // A view's rowid is not its table's: only a table qualifies.
  const std::string master =
      table->schema.empty() ? "sqlite_master" : quote_identifier(table->schema) + ".sqlite_master";
  const std::string type_sql =
      fmt::format("SELECT 1 FROM {} WHERE type = 'table' AND name = ? COLLATE NOCASE", master);
  if (query(type_sql, {Value(table->name)}).empty()) return std::nullopt;
  // A real column may take a rowid alias's name; the next alias still means the rowid.
  std::string alias;
  for (const char* name : {"rowid", "_rowid_", "oid"}) {
    if (schema->find(name) < 0) {
      alias = name;
      break;
    }
  }
  if (alias.empty()) return std::nullopt;
  const std::string extent_sql =
      fmt::format("SELECT min({0}), max({0}) FROM {1}", alias, quote_table(*table));
  try {
    StmtPtr stmt = prepare(extent_sql, "rowid extent");
    const int rc = sqlite3_step(stmt.get());
    if (rc != SQLITE_ROW) fail(rc, "rowid extent", extent_sql);
    // A view's rowid is NULL, a WITHOUT ROWID table has none (the prepare fails).
    if (sqlite3_column_type(stmt.get(), 0) != SQLITE_INTEGER ||
        sqlite3_column_type(stmt.get(), 1) != SQLITE_INTEGER) {
      return std::nullopt;
    }
    const int64_t lo = sqlite3_column_int64(stmt.get(), 0);
    const int64_t hi = sqlite3_column_int64(stmt.get(), 1);
    if (hi == std::numeric_limits<int64_t>::max()) return std::nullopt;
    return PhysicalExtent{alias, lo, hi + 1};
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Schema || e.kind() == ErrorKind::Config) return std::nullopt;
    throw;
  }
}

bool SqliteConnection::schema_exists(const std::string& schema) {
  return !query("SELECT 1 FROM pragma_database_list WHERE name = ?", {Value(schema)}).empty();
}

void SqliteConnection::create_table(const TableRef& table, const TableSchema& schema) {
  const std::string sql = create_table_sql(*this, "sqlite " + path_, table, schema,
                                           [](const ColumnInfo& c) { return sqlite_type_name(c.type); });
  const int rc = sqlite3_exec(db(), sql.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK)
    fail(rc, fmt::format("create table {}", table.display()), sql, table.display());
}

std::unique_ptr<RowSource> SqliteConnection::open_source(std::string_view sql,
                                                         const std::vector<Value>& params,
                                                         size_t batch_rows,
                                                         size_t max_batch_bytes) {
  if (batch_rows == 0) {
    throw Error(ErrorKind::Config,
                fmt::format("sqlite {}: a source needs at least 1 row per batch", path_), {},
                sqlite_context(sql));
  }
  const std::string_view text = strip_sql(sql);
  StmtPtr stmt = prepare(text, "open query");
  bind_params(stmt.get(), params, path_, text);
  return std::make_unique<SqliteRowSource>(std::move(stmt), path_, std::string(text), batch_rows,
                                           max_batch_bytes);
}

std::unique_ptr<RowSink> SqliteConnection::open_sink(const TableRef& table,
                                                     const std::vector<std::string>& columns) {
  return open_insert_sink(table, columns, kMaxRowsPerInsert);
}

std::unique_ptr<RowSink> SqliteConnection::open_insert_sink(const TableRef& table,
                                                            const std::vector<std::string>& columns,
                                                            int max_rows_per_statement) {
  sqlite3* handle = db();
  const int max_params = sqlite3_limit(handle, SQLITE_LIMIT_VARIABLE_NUMBER, -1);
  if (columns.empty() || columns.size() > static_cast<size_t>(max_params)) {
    throw Error(ErrorKind::Config,
                fmt::format("sqlite {}: insert into {}: {} columns (1 to {} are possible)", path_,
                            table.display(), columns.size(), max_params),
                {}, sqlite_context({}, table.display()));
  }
  const size_t by_params = static_cast<size_t>(max_params) / columns.size();
  const size_t rows = std::max<size_t>(
      1, std::min(by_params, static_cast<size_t>(std::max(1, max_rows_per_statement))));
  std::string head = fmt::format("INSERT INTO {} (", quote_table(table));
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i > 0) head += ',';
    head += quote_identifier(columns[i]);
  }
  head += ") VALUES ";
  // Preparing one row now reports a missing table or column at open, not at first write.
  prepare_statement(handle, head + row_placeholders(columns.size()), path_,
                    fmt::format("insert into {}", table.display()), table.display());
  return std::make_unique<SqliteRowSink>(handle, path_, table.display(), std::move(head),
                                         columns.size(), rows);
}

void SqliteConnection::interrupt() noexcept {
  std::lock_guard lock(handle_mu_);
  interrupted_ = true;
  if (handle_ != nullptr) sqlite3_interrupt(handle_);
}

void SqliteConnection::close() noexcept {
  {
    // Before the handle is freed: interrupt() must not touch it afterwards.
    std::lock_guard lock(handle_mu_);
    handle_ = nullptr;
  }
  db_.reset();
  if (job_lock_fd_ >= 0) ::close(job_lock_fd_);
  job_lock_fd_ = -1;
}

bool SqliteConnection::try_lock_job(std::string_view key) {
  if (writer_lock_ == nullptr) return true;  // in-memory: private to this connection
  const std::string lock_path = path_ + "-parmap.lock";
  if (job_lock_fd_ < 0) {
    job_lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (job_lock_fd_ < 0) {
      throw Error(ErrorKind::Connect,
                  fmt::format("sqlite {}: cannot open the job lock file '{}': {}", path_,
                              lock_path, std::strerror(errno)),
                  {}, sqlite_context());
    }
  }
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  // One byte per job: different jobs on one database do not block each other.
  const std::vector<Value> parts{std::string(key)};
  lock.l_start = static_cast<off_t>(hash_row(parts) & 0x3fffffff);
  lock.l_len = 1;
  if (::fcntl(job_lock_fd_, F_OFD_SETLK, &lock) == 0) return true;
  if (errno == EAGAIN || errno == EACCES) return false;
  throw Error(ErrorKind::Connect,
              fmt::format("sqlite {}: cannot lock the job lock file '{}': {}", path_, lock_path,
                          std::strerror(errno)),
              {}, sqlite_context());
}

std::vector<TableRef> SqliteConnection::list_tables() {
  const auto rows = query(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
      "ESCAPE '\\' ORDER BY name");
  std::vector<TableRef> out;
  for (const auto& r : rows) out.push_back({"", r[0].as_text()});
  return out;
}

}  // namespace parmap::sqlite
