// The in-engine path between SQLite files: the target's session ATTACHes the source's file and
// copies each chunk with one INSERT ... SELECT, so that rows never leave SQLite. An SQL function
// of the session sees each row on its way and hashes it as the typed path would have read it,
// which keeps the ledger's hashes, and so verify --ledger, the same whichever path ran.
#include <fmt/format.h>
#include <sqlite3.h>

#include <set>
#include <string>
#include <utility>

#include "connect/driver_helpers.h"
#include "connect/sqlite/sqlite_cells.h"
#include "connect/sqlite/sqlite_errors.h"
#include "connect/sqlite/sqlite_local_copy.h"
#include "connect/sqlite/sqlite_statement.h"
#include "plan/plan.h"

namespace parmap::sqlite {

namespace {

constexpr const char* kSourceSchema = "parmap_source";
constexpr const char* kTallyFunction = "parmap_tally";
// on_rows is called every this many rows.
constexpr int64_t kReportRows = 4096;

/// Adds one value to the row's hash as hash_rows would hash it from open_source's batch, and
/// returns its bytes. A column whose declared type needs checking (DATE, NUMERIC(10,2)) goes
/// through the source's own append_cell, which refuses a value not of that type; any other is
/// hashed by its storage class, as the batch would hold it.
size_t tally_value(RowHasher& h, Column& scratch, ColumnType declared, const ArgCell& cell,
                   const SqliteConnection::Tally& tally) {
  switch (declared) {
    case ColumnType::Date:
    case ColumnType::Time:
    case ColumnType::Timestamp:
    case ColumnType::TimestampTz:
    case ColumnType::Numeric: {
      scratch.clear();
      scratch.type = declared;  // a value of another spelling made it Any
      const size_t bytes = append_cell(scratch, declared, cell, tally.path, tally.sql);
      h.add(scratch.get(0));
      return bytes;
    }
    default:
      break;
  }
  switch (cell.type()) {
    case SQLITE_INTEGER:
      h.add_int(cell.integer());
      return kFixedValueBytes;
    case SQLITE_FLOAT:
      h.add_double(cell.real());
      return kFixedValueBytes;
    case SQLITE_TEXT: {
      const std::string_view text = cell.text();
      h.add_text(text);
      return kStringValueBytes + text.size();
    }
    case SQLITE_BLOB: {
      const std::string_view blob = cell.blob();
      h.add_blob(blob);
      return kStringValueBytes + blob.size();
    }
    default:
      h.add_null();
      return kFixedValueBytes;
  }
}

/// The SQL function: adds its arguments, one row, to the tally; returns 1 (the row passes).
void tally_row(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  auto* tally = static_cast<SqliteConnection::Tally*>(sqlite3_user_data(ctx));
  try {
    if (static_cast<size_t>(argc) != tally->schema.columns.size()) {
      throw Error(ErrorKind::Internal,
                  fmt::format("sqlite {}: in-engine copy: {} values for {} columns", tally->path,
                              argc, tally->schema.columns.size()));
    }
    RowHasher h;
    size_t bytes = 0;
    for (int i = 0; i < argc; ++i) {
      const size_t c = static_cast<size_t>(i);
      bytes += tally_value(h, tally->scratch[c], tally->schema.columns[c].type, ArgCell{argv[i]},
                           *tally);
    }
    tally->hash += h.finish();
    ++tally->rows;
    tally->unreported_bytes += static_cast<int64_t>(bytes);
    if (++tally->unreported_rows >= kReportRows) tally->report();
    sqlite3_result_int(ctx, 1);
  } catch (...) {
    // Rethrown by copy_local once the statement has stopped.
    tally->error = std::current_exception();
    sqlite3_result_error(ctx, "a row was refused", -1);
  }
}

/// An authorizer that records the database and name of every table a statement reads.
int record_reads(void* out, int action, const char* table, const char* /*column*/,
                 const char* database, const char* /*trigger*/) {
  if (action == SQLITE_READ && database != nullptr && table != nullptr) {
    static_cast<std::set<std::pair<std::string, std::string>>*>(out)->emplace(database, table);
  }
  return SQLITE_OK;
}

}  // namespace

void SqliteConnection::Tally::start(TableSchema columns) {
  schema = std::move(columns);
  scratch.assign(schema.columns.size(), Column{});
  for (size_t i = 0; i < schema.columns.size(); ++i) {
    scratch[i].name = schema.columns[i].name;
    scratch[i].declared_type = schema.columns[i].declared_type;
  }
  rows = 0;
  hash = 0;
  unreported_rows = 0;
  unreported_bytes = 0;
  error = nullptr;
}

void SqliteConnection::Tally::report() {
  if (unreported_rows > 0 && on_rows != nullptr && *on_rows) {
    (*on_rows)(unreported_rows, unreported_bytes);
  }
  unreported_rows = 0;
  unreported_bytes = 0;
}

AttachedSource SqliteConnection::attach_source(Connection& source, std::string_view sql,
                                               const TableRef& target) {
  auto refuse = [](std::string why) { return AttachedSource{"", std::move(why)}; };
  auto* from = dynamic_cast<SqliteConnection*>(&source);
  if (from == nullptr) return refuse(fmt::format("{} to sqlite has no in-engine copy", source.engine()));
  if (from->writer_lock_ == nullptr || writer_lock_ == nullptr) {
    return refuse("an in-memory database cannot be read by another session");
  }
  if (attached_ == from->path_ && checked_sql_ == sql) return {local_sql_, ""};
  sqlite3* handle = db();
  if (sqlite3_get_autocommit(handle) == 0) return refuse("the target's session is in a transaction");
  if (!tally_) {
    tally_ = std::make_unique<Tally>();
    const int rc = sqlite3_create_function_v2(handle, kTallyFunction, -1,
                                              SQLITE_UTF8 | SQLITE_DIRECTONLY, tally_.get(),
                                              tally_row, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) fail(rc, "register the in-engine copy's function", kTallyFunction);
  }
  const bool same_file = from->path_ == path_;
  if (!same_file && attached_ != from->path_) {
    detach_source();
    StmtPtr attach =
        prepare(fmt::format("ATTACH DATABASE ?1 AS {}", kSourceSchema), "attach the source");
    sqlite3_bind_text64(attach.get(), 1, from->path_.data(), from->path_.size(), SQLITE_STATIC,
                        SQLITE_UTF8);
    const int rc = sqlite3_step(attach.get());
    if (rc != SQLITE_DONE) fail(rc, "attach the source", from->path_);
  }
  attached_ = from->path_;

  // A plain table query names its table in the attached database, which no table of the
  // target's can shadow.
  std::string local(strip_sql(sql));
  const std::optional<TableRef> table = simple_table_of(local);
  if (!same_file && table && (table->schema.empty() || table->schema == "main")) {
    const std::optional<std::string> key = order_by_key(local);
    local = fmt::format("SELECT * FROM {}", quote_table(TableRef{kSourceSchema, table->name}));
    if (key) local += " ORDER BY " + quote_identifier(*key);
  }

  // Which database each table the query reads is in, as SQLite resolves the names here.
  std::set<std::pair<std::string, std::string>> reads;  // (database, table)
  sqlite3_set_authorizer(handle, record_reads, &reads);
  TableSchema columns;
  try {
    columns = schema_of(prepare(local, "check the query's tables").get());
  } catch (...) {
    sqlite3_set_authorizer(handle, nullptr, nullptr);
    detach_source();
    throw;
  }
  sqlite3_set_authorizer(handle, nullptr, nullptr);
  const std::string expected = same_file ? "main" : kSourceSchema;
  for (const auto& [database, name] : reads) {
    if (database != expected) {
      detach_source();
      return refuse(fmt::format("the query reads table {} of the target database", name));
    }
    if (!same_file && !table && sqlite3_stricmp(name.c_str(), target.name.c_str()) == 0) {
      // Not there yet, perhaps, but created before the first chunk: the name is the target's.
      detach_source();
      return refuse(fmt::format("the query reads a table named like the target table {}", name));
    }
  }
  // The typed path reads NUMERIC(p,s) as exact decimal text, where SQLite's own conversion
  // into a TEXT column would print a REAL with 15 digits: such a column is copied typed.
  for (const ColumnInfo& column : columns.columns) {
    if (column.type == ColumnType::Numeric) {
      detach_source();
      return refuse(fmt::format("column {} is declared {}, read as exact decimal text",
                                column.name, column.declared_type));
    }
  }
  checked_sql_ = std::string(sql);
  local_sql_ = local;
  return {local, ""};
}

void SqliteConnection::detach_source() {
  if (!attached_.empty() && attached_ != path_ && db_) {
    sqlite3_exec(db_.get(), "DETACH DATABASE parmap_source", nullptr, nullptr, nullptr);
  }
  attached_.clear();
  checked_sql_.clear();
  local_sql_.clear();
}

LocalCopyResult SqliteConnection::copy_local(const TableRef& table,
                                             const std::vector<std::string>& columns,
                                             std::string_view sql,
                                             const std::vector<Value>& params,
                                             const std::function<void(int64_t, int64_t)>& on_rows) {
  if (attached_.empty() || !tally_) {
    throw Error(ErrorKind::Internal,
                fmt::format("sqlite {}: in-engine copy without an attached source", path_));
  }
  const std::string_view inner = strip_sql(sql);
  Tally& tally = *tally_;
  tally.start(schema_of(prepare(inner, "describe the chunk's query").get()));
  if (tally.schema.columns.size() != columns.size()) {
    throw Error(ErrorKind::Schema,
                fmt::format("sqlite {}: insert into {}: the query has {} columns, the target {}",
                            path_, table.display(), tally.schema.columns.size(), columns.size()),
                {}, sqlite_context(sql, table.display()));
  }
  // The query's columns by position (their names may repeat or be expressions).
  std::string names, targets;
  for (size_t i = 0; i < columns.size(); ++i) {
    names += fmt::format("{}c{}", i > 0 ? "," : "", i + 1);
    targets += (i > 0 ? "," : "") + quote_identifier(columns[i]);
  }
  // Into the target's own database: an unqualified name absent there would resolve to the
  // source's table of that name.
  const TableRef into{table.schema.empty() ? "main" : table.schema, table.name};
  const std::string insert =
      fmt::format("WITH parmap_rows({0}) AS ({1}) INSERT INTO {2} ({3}) SELECT {0} FROM "
                  "parmap_rows WHERE {4}({0})",
                  names, inner, quote_table(into), targets, kTallyFunction);
  StmtPtr stmt = prepare_statement(db(), insert, path_, fmt::format("insert into {}", table.display()),
                                   table.display());
  bind_params(stmt.get(), params, path_, insert);

  tally.path = attached_;  // a refused value is the source's, as the source's reader names it
  tally.sql = inner;
  tally.on_rows = &on_rows;
  const int rc = sqlite3_step(stmt.get());
  if (rc == SQLITE_DONE && !tally.error) tally.report();
  tally.on_rows = nullptr;
  if (tally.error) std::rethrow_exception(std::exchange(tally.error, nullptr));
  if (rc != SQLITE_DONE) {
    throw_db_error(db_.get(), rc, path_, fmt::format("insert into {}", table.display()), insert,
                   table.display());
  }
  return LocalCopyResult{tally.rows, sqlite3_changes64(db()), tally.hash};
}

}  // namespace parmap::sqlite
