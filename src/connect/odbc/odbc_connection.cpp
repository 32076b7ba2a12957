// A session with one ODBC data source (unixODBC): the Connection of the ODBC driver.
#include "connect/odbc/odbc_connection.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>

#include "connect/driver_helpers.h"
#include "connect/odbc/odbc_params.h"
#include "connect/odbc/odbc_row_sink.h"
#include "connect/odbc/odbc_row_source.h"
#include "connect/odbc/odbc_url.h"
#include "connect/odbc/odbc_values.h"
#include "parmap/error.h"

namespace parmap::odbc {
namespace {

// Columns of the result of SQLColumns and SQLPrimaryKeys (0-based), as ODBC fixes them.
constexpr size_t kColumnsSchema = 1;
constexpr size_t kColumnsTable = 2;
constexpr size_t kColumnsName = 3;
constexpr size_t kColumnsDataType = 4;
constexpr size_t kColumnsTypeName = 5;
constexpr size_t kColumnsSize = 6;
constexpr size_t kColumnsDigits = 8;
constexpr size_t kColumnsNullable = 10;
constexpr size_t kKeysSchema = 1;
constexpr size_t kKeysTable = 2;
constexpr size_t kKeysColumn = 3;
constexpr size_t kKeysSeq = 4;

// One mutex per SQLite database for the life of the process: connections keep raw pointers
// to it, so entries are never erased.
std::mutex* writer_lock_for(const std::string& identity) {
  static std::mutex registry_mu;
  static std::map<std::string, std::unique_ptr<std::mutex>> locks;
  std::lock_guard guard(registry_mu);
  auto& slot = locks[identity];
  if (!slot) slot = std::make_unique<std::mutex>();
  return slot.get();
}

ErrorContext odbc_context(std::string_view sql = {}, std::string_view table = {}) {
  return ErrorContext{"odbc", std::string(table), {}, std::string(sql.substr(0, 200))};
}

std::string text_of(const Value& value) {
  if (value.is_text()) return value.as_text();
  if (value.is_int()) return std::to_string(value.as_int());
  return {};
}

// A catalog function's text argument: nullptr (any) for "", else the name.
SQLCHAR* name_arg(const std::string& name) {
  return name.empty() ? nullptr : reinterpret_cast<SQLCHAR*>(const_cast<char*>(name.c_str()));
}

SQLSMALLINT name_length(const std::string& name) {
  return name.empty() ? 0 : static_cast<SQLSMALLINT>(name.size());
}

}  // namespace

std::unique_ptr<OdbcConnection> OdbcConnection::open(const ConnectionUrl& url) {
  if (url.host.empty() && url.params.empty()) {
    throw Error(ErrorKind::Config,
                fmt::format("odbc URL '{}' names no data source: expected odbc://user:password@DSN "
                            "or odbc:///?driver=...&server=...&database=...",
                            url.masked()),
                {}, odbc_context());
  }
  // One connect at a time in the process: psqlODBC calls setlocale() while it connects, which
  // is process-wide state, and two workers connecting at once raced on it.
  // parmap's own parameters are read here and not passed to the driver.
  ConnectionUrl driver_url = url;
  ZeroDates zero_dates = ZeroDates::Refuse;
  if (const auto it = driver_url.params.find("zero_dates"); it != driver_url.params.end()) {
    zero_dates = parse_zero_dates("odbc URL parameter 'zero_dates'", it->second);
    driver_url.params.erase(it);
  }
  static std::mutex connect_mu;
  std::shared_ptr<Session> session;
  {
    std::lock_guard lock(connect_mu);
    session = Session::connect(connection_string(driver_url), url.masked(), url.password);
  }
  std::mutex* lock = session->dbms() == Dbms::SQLite ? writer_lock_for(identity_of(url)) : nullptr;
  auto conn = std::make_unique<OdbcConnection>(Token{}, std::move(session), lock, zero_dates);
  // As the native driver's sessions: timestamps with a time zone in UTC, and (MySQL) a value
  // the column cannot hold is an error, never truncated or changed. PostgreSQL's values read
  // as text are in parmap's canonical forms (ISO dates, ISO 8601 intervals).
  if (conn->dbms() == Dbms::MySQL) {
    conn->execute(
        "SET SESSION time_zone = '+00:00', sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,"
        "NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'");
  } else if (conn->dbms() == Dbms::PostgreSQL) {
    conn->execute("SET TimeZone = 'UTC'");
    conn->execute("SET DateStyle = 'ISO, YMD'");
    conn->execute("SET IntervalStyle = 'iso_8601'");
  }
  return conn;
}

OdbcConnection::OdbcConnection(Token /*only open() constructs*/, std::shared_ptr<Session> session,
                               std::mutex* writer_lock, ZeroDates zero_dates)
    : session_(std::move(session)),
      display_(session_->display()),
      dbms_(session_->dbms()),
      dbms_name_(session_->dbms_name()),
      quote_(session_->quote()),
      writer_lock_(writer_lock),
      zero_dates_(zero_dates) {}

OdbcConnection::~OdbcConnection() { close(); }

std::string OdbcConnection::refused_value_hint(const Value& value) const {
  return dbms_ == Dbms::MySQL ? zero_date_hint(value, zero_dates_) : std::string();
}

Capabilities OdbcConnection::capabilities() const {
  Capabilities caps;
  caps.concurrent_writers = dbms_ != Dbms::SQLite;
  return caps;
}

std::string OdbcConnection::quote_identifier(std::string_view name) const {
  std::string quoted(1, quote_);
  for (char c : name) {
    if (c == quote_) quoted += quote_;
    quoted += c;
  }
  quoted += quote_;
  return quoted;
}

std::shared_ptr<Session> OdbcConnection::session() const {
  std::shared_ptr<Session> session;
  {
    std::lock_guard lock(session_mu_);
    session = session_;
  }
  if (!session) {
    throw Error(ErrorKind::Connect, fmt::format("odbc {}: the connection is closed", display_), {},
                odbc_context());
  }
  session->check_interrupted();
  return session;
}

std::unique_ptr<Statement> OdbcConnection::statement() const {
  return std::make_unique<Statement>(session());
}

void OdbcConnection::execute(std::string_view sql) {
  auto stmt = statement();
  std::string text(sql);
  const SQLRETURN rc = SQLExecDirect(stmt->get(), reinterpret_cast<SQLCHAR*>(text.data()), SQL_NTS);
  // SQL_NO_DATA: a searched UPDATE or DELETE that touched no row.
  if (rc != SQL_NO_DATA) stmt->check(rc, "execute", sql);
}

std::vector<std::vector<Value>> OdbcConnection::read_all(Statement& stmt, std::string_view sql) {
  const std::vector<ResultColumn> columns = describe_result(stmt, sql);
  std::vector<std::vector<Value>> rows;
  if (columns.empty()) return rows;
  std::string scratch;
  for (;;) {
    const SQLRETURN rc = SQLFetch(stmt.get());
    if (rc == SQL_NO_DATA) break;
    stmt.check(rc, "read rows", sql);
    std::vector<Value>& row = rows.emplace_back();
    row.reserve(columns.size());
    for (size_t i = 0; i < columns.size(); ++i) {
      row.push_back(read_value(stmt, static_cast<SQLUSMALLINT>(i + 1), columns[i], sql, scratch));
    }
  }
  SQLFreeStmt(stmt.get(), SQL_CLOSE);
  return rows;
}

std::vector<std::vector<Value>> OdbcConnection::query(std::string_view sql,
                                                      const std::vector<Value>& params) {
  auto stmt = statement();
  const ParamBinder binder(*stmt, params, sql);
  std::string text(sql);
  const SQLRETURN rc = SQLExecDirect(stmt->get(), reinterpret_cast<SQLCHAR*>(text.data()), SQL_NTS);
  if (rc == SQL_NO_DATA) return {};
  stmt->check(rc, "query", sql);
  return read_all(*stmt, sql);
}

void OdbcConnection::begin() {
  auto s = session();
  s->check(SQLSetConnectAttr(s->dbc(), SQL_ATTR_AUTOCOMMIT,
                             reinterpret_cast<SQLPOINTER>(SQL_AUTOCOMMIT_OFF), 0),
           SQL_HANDLE_DBC, s->dbc(), "begin transaction (autocommit off)");
  in_transaction_ = true;
}

void OdbcConnection::commit() {
  auto s = session();
  const SQLRETURN rc = SQLEndTran(SQL_HANDLE_DBC, s->dbc(), SQL_COMMIT);
  if (!SQL_SUCCEEDED(rc)) throw s->error(SQL_HANDLE_DBC, s->dbc(), Phase::Commit, "commit");
  in_transaction_ = false;
  s->check(SQLSetConnectAttr(s->dbc(), SQL_ATTR_AUTOCOMMIT,
                             reinterpret_cast<SQLPOINTER>(SQL_AUTOCOMMIT_ON), 0),
           SQL_HANDLE_DBC, s->dbc(), "autocommit on");
}

void OdbcConnection::rollback() noexcept {
  std::shared_ptr<Session> s;
  {
    std::lock_guard lock(session_mu_);
    s = session_;
  }
  if (!s || !in_transaction_) return;
  in_transaction_ = false;
  SQLEndTran(SQL_HANDLE_DBC, s->dbc(), SQL_ROLLBACK);
  SQLSetConnectAttr(s->dbc(), SQL_ATTR_AUTOCOMMIT, reinterpret_cast<SQLPOINTER>(SQL_AUTOCOMMIT_ON),
                    0);
}

TableSchema OdbcConnection::describe_query(std::string_view sql) {
  return schema_of(describe_columns(sql));
}

std::vector<ResultColumn> OdbcConnection::describe_columns(std::string_view sql) {
  std::vector<ResultColumn> columns;
  {
    auto stmt = statement();
    std::string text(strip_sql(sql));
    stmt->check(SQLPrepare(stmt->get(), reinterpret_cast<SQLCHAR*>(text.data()), SQL_NTS),
                "describe query", text);
    columns = describe_result(*stmt, text);
  }
  if (dbms_ == Dbms::PostgreSQL || dbms_ == Dbms::SQLite) {
    refine_from_catalog(columns);
  }
  return columns;
}

void OdbcConnection::refine_from_catalog(std::vector<ResultColumn>& columns) {
  if (dbms_ == Dbms::PostgreSQL) {
    // psqlODBC names json, jsonb, interval and arrays "unknown" and sizes an unconstrained
    // numeric or varchar as numeric(28,6) and varchar(255): the catalog has each column's type.
    // One query for the result's columns.
    std::string values;
    std::vector<Value> params;
    for (size_t i = 0; i < columns.size(); ++i) {
      const ResultColumn& c = columns[i];
      if (c.base_table.empty() || c.base_column.empty()) continue;
      values += fmt::format("{}({}, ?, ?, ?)", values.empty() ? "" : ", ", i);
      params.insert(params.end(),
                    {Value(c.base_schema), Value(c.base_table), Value(c.base_column)});
    }
    if (params.empty()) return;
    const auto rows = query(
        fmt::format(
            "SELECT v.i, pg_catalog.format_type(a.atttypid, a.atttypmod), t.typcategory::text "
            "FROM (VALUES {}) AS v(i, s, r, c) "
            "JOIN pg_catalog.pg_class r ON r.relname = v.r "
            "JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace "
            "AND (n.nspname = v.s OR (v.s = '' AND pg_catalog.pg_table_is_visible(r.oid))) "
            "JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attname = v.c "
            "AND a.attnum > 0 AND NOT a.attisdropped "
            "JOIN pg_catalog.pg_type t ON t.oid = a.atttypid",
            values),
        params);
    for (const auto& row : rows) {
      if (row.size() < 3 || !row[0].is_int()) continue;
      const auto i = static_cast<size_t>(row[0].as_int());
      if (i >= columns.size()) continue;
      ResultColumn& column = columns[i];
      column.declared = text_of(row[1]);
      const std::string category = text_of(row[2]);
      const ColumnType type =
          pg_catalog_column_type(column.declared, category.empty() ? '\0' : category[0]);
      if (type != ColumnType::Any) column.type = type;
    }
    return;
  }
  // SQLite: the driver reads a NUMERIC or DECIMAL column as a double (or text) and drops its
  // precision from the type name; the table's declared type has both.
  std::map<std::pair<std::string, std::string>, std::map<std::string, std::string>> tables;
  for (ResultColumn& column : columns) {
    if (column.base_table.empty() || column.base_column.empty()) continue;
    const std::string schema = column.base_schema.empty() ? "main" : column.base_schema;
    auto key = std::make_pair(schema, column.base_table);
    auto it = tables.find(key);
    if (it == tables.end()) {
      it = tables.emplace(key, std::map<std::string, std::string>()).first;
      for (const auto& row : query("SELECT name, type FROM pragma_table_info(?, ?)",
                                   {Value(column.base_table), Value(schema)})) {
        if (row.size() >= 2) it->second[text_of(row[0])] = text_of(row[1]);
      }
    }
    const auto declared_it = it->second.find(column.base_column);
    if (declared_it == it->second.end()) continue;
    const std::string& declared = declared_it->second;
    std::string base;
    for (char c : declared) {
      if (c == '(' || c == ' ') break;
      base += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (base != "numeric" && base != "decimal") continue;
    if (const auto ps = decimal_precision(declared)) {
      column.type = ColumnType::Numeric;
      column.declared = fmt::format("numeric({},{})", ps->first, ps->second);
    } else {
      // As the native SQLite driver: NUMERIC without a precision holds any value, untyped.
      column.type = ColumnType::Text;
      column.declared.clear();
    }
    column.sqlite_decimal = true;
  }
}

const std::string& OdbcConnection::default_schema() {
  if (!default_schema_) {
    default_schema_ = std::string();
    if (dbms_ == Dbms::PostgreSQL) {
      const auto rows = query("SELECT current_schema()");
      if (!rows.empty() && !rows[0].empty()) default_schema_ = text_of(rows[0][0]);
    }
  }
  return *default_schema_;
}

std::optional<TableSchema> OdbcConnection::describe_table(const TableRef& table) {
  // MySQL's drivers call a database a catalog; SQLite has one schema per file.
  std::string catalog, schema;
  if (dbms_ == Dbms::MySQL) {
    catalog = table.schema;
  } else if (dbms_ != Dbms::SQLite) {
    schema = table.schema.empty() ? default_schema() : table.schema;
  }
  std::string name = table.name;
  auto stmt = statement();
  const std::string what = fmt::format("describe table {}", table.display());
  stmt->check(SQLColumns(stmt->get(), name_arg(catalog), name_length(catalog), name_arg(schema),
                         name_length(schema), name_arg(name), name_length(name), nullptr, 0),
              what, {}, table.display());
  // The name is a pattern ('_' matches any character): only exact matches count, and of one
  // schema when the driver returns several.
  std::optional<TableSchema> out;
  std::optional<std::string> seen_schema;
  for (const auto& row : read_all(*stmt, what)) {
    if (row.size() <= kColumnsNullable || text_of(row[kColumnsTable]) != table.name) continue;
    const std::string row_schema = text_of(row[kColumnsSchema]);
    if (!schema.empty() && row_schema != schema) continue;
    if (!seen_schema) seen_schema = row_schema;
    if (row_schema != *seen_schema) continue;
    if (!out) out.emplace();
    ColumnInfo info;
    info.name = text_of(row[kColumnsName]);
    const std::string type_name = text_of(row[kColumnsTypeName]);
    const int sql_type = row[kColumnsDataType].is_int()
                             ? static_cast<int>(row[kColumnsDataType].as_int())
                             : SQL_VARCHAR;
    info.type = column_type_for(sql_type, type_name, false);
    const int64_t size = row[kColumnsSize].is_int() ? row[kColumnsSize].as_int() : 0;
    const int64_t digits = row[kColumnsDigits].is_int() ? row[kColumnsDigits].as_int() : -1;
    info.declared_type =
        declared_type_for(sql_type, type_name, static_cast<uint64_t>(std::max<int64_t>(size, 0)),
                          static_cast<int>(digits), false, dbms_);
    info.not_null =
        row[kColumnsNullable].is_int() && row[kColumnsNullable].as_int() == SQL_NO_NULLS;
    out->columns.push_back(std::move(info));
  }
  if (!out) return out;

  auto keys = statement();
  const std::string key_schema = seen_schema.value_or(schema);
  keys->check(
      SQLPrimaryKeys(keys->get(), name_arg(catalog), name_length(catalog), name_arg(key_schema),
                     name_length(key_schema), name_arg(name), name_length(name)),
      what, {}, table.display());
  std::vector<std::pair<int64_t, std::string>> key;  // (KEY_SEQ, column)
  for (const auto& row : read_all(*keys, what)) {
    if (row.size() <= kKeysColumn || text_of(row[kKeysTable]) != table.name) continue;
    if (!key_schema.empty() && text_of(row[kKeysSchema]) != key_schema) continue;
    const int index = out->find(text_of(row[kKeysColumn]));
    if (index < 0) continue;
    out->columns[static_cast<size_t>(index)].primary_key = true;
    const int64_t seq = row.size() > kKeysSeq && row[kKeysSeq].is_int()
                            ? row[kKeysSeq].as_int()
                            : static_cast<int64_t>(key.size()) + 1;
    key.emplace_back(seq, out->columns[static_cast<size_t>(index)].name);
  }
  std::sort(key.begin(), key.end());
  for (auto& [seq, column] : key) out->primary_key.push_back(std::move(column));
  return out;
}

std::optional<std::string> OdbcConnection::integer_primary_key(const TableRef& table) {
  const std::optional<TableSchema> schema = describe_table(table);
  if (!schema) return std::nullopt;
  const ColumnInfo* key = nullptr;
  for (const ColumnInfo& column : schema->columns) {
    if (!column.primary_key) continue;
    if (key != nullptr) return std::nullopt;  // composite key
    key = &column;
  }
  if (key == nullptr || key->type != ColumnType::Int64) return std::nullopt;
  return key->name;
}

int64_t OdbcConnection::estimate_rows(std::string_view sql) {
  const auto rows = query(fmt::format("SELECT COUNT(*) FROM ({}) AS src", strip_sql(sql)));
  if (rows.empty() || rows[0].empty() || !rows[0][0].is_int()) {
    throw Error(ErrorKind::Internal,
                fmt::format("odbc {}: count rows: no count came back", display_), {},
                odbc_context(sql));
  }
  return rows[0][0].as_int();
}

KeyStats OdbcConnection::key_stats(std::string_view sql, std::string_view column, int max_sample) {
  const std::string_view inner = strip_sql(sql);
  const TableSchema schema = describe_query(inner);
  const int index = schema.find(column);
  if (index < 0) {
    std::string names;
    for (const ColumnInfo& info : schema.columns) {
      if (!names.empty()) names += ", ";
      names += info.name;
    }
    throw Error(ErrorKind::Schema,
                fmt::format("odbc {}: key column '{}' is not a column of the query; its columns "
                            "are: {}",
                            display_, column, names),
                {}, odbc_context(sql));
  }
  const ColumnInfo& key = schema.columns[static_cast<size_t>(index)];
  const std::string quoted = quote_identifier(key.name);
  KeyStats stats;
  stats.column = key.name;
  stats.type = key.type;
  const auto rows = query(
      fmt::format("SELECT MIN({0}), MAX({0}), COUNT({0}), COUNT(*) - COUNT({0}) FROM ({1}) AS src",
                  quoted, inner));
  if (rows.empty() || rows[0].size() < 4) {
    throw Error(ErrorKind::Internal,
                fmt::format("odbc {}: key statistics: no row came back", display_), {},
                odbc_context(sql));
  }
  stats.min = rows[0][0];
  stats.max = rows[0][1];
  stats.rows = rows[0][2].is_int() ? rows[0][2].as_int() : 0;
  stats.null_rows = rows[0][3].is_int() ? rows[0][3].as_int() : 0;
  if (max_sample <= 0 || stats.rows == 0 || stats.rows > kMaxSampledRows) return stats;

  const int64_t every = (stats.rows + max_sample - 1) / max_sample;
  const std::string sample_sql =
      fmt::format("SELECT {0} FROM ({1}) AS src WHERE {0} IS NOT NULL ORDER BY {0}", quoted, inner);
  auto stmt = statement();
  std::string text = sample_sql;
  stmt->check(SQLExecDirect(stmt->get(), reinterpret_cast<SQLCHAR*>(text.data()), SQL_NTS),
              "key sample", sample_sql);
  const std::vector<ResultColumn> columns = describe_result(*stmt, sample_sql);
  std::string scratch;
  for (int64_t i = 0; static_cast<int64_t>(stats.sample.size()) < max_sample; ++i) {
    const SQLRETURN rc = SQLFetch(stmt->get());
    if (rc == SQL_NO_DATA) break;
    stmt->check(rc, "key sample", sample_sql);
    if (i % every == 0)
      stats.sample.push_back(read_value(*stmt, 1, columns[0], sample_sql, scratch));
  }
  SQLFreeStmt(stmt->get(), SQL_CLOSE);
  return stats;
}

std::string OdbcConnection::sql_type(LedgerType type, int max_chars) const {
  if (dbms_ == Dbms::MySQL && type == LedgerType::Text) return "LONGTEXT";
  return Connection::sql_type(type, max_chars);
}

void OdbcConnection::create_table(const TableRef& table, const TableSchema& schema) {
  if (schema.columns.empty()) {
    throw Error(
        ErrorKind::Config,
        fmt::format("odbc {}: cannot create table {} with no columns", display_, table.display()),
        {}, odbc_context({}, table.display()));
  }
  std::string sql = fmt::format("CREATE TABLE {} (", quote_table(table));
  std::string primary_key;
  for (size_t i = 0; i < schema.columns.size(); ++i) {
    const ColumnInfo& column = schema.columns[i];
    if (i > 0) sql += ", ";
    sql += quote_identifier(column.name);
    const std::string type = ddl_type(column.type, dbms_, column.primary_key);
    if (!type.empty()) sql += ' ' + type;
    if (column.not_null) sql += " NOT NULL";
    if (column.primary_key && schema.primary_key.empty()) {
      if (!primary_key.empty()) primary_key += ", ";
      primary_key += quote_identifier(column.name);
    }
  }
  for (const std::string& name : schema.primary_key) {
    if (!primary_key.empty()) primary_key += ", ";
    primary_key += quote_identifier(name);
  }
  if (!primary_key.empty()) sql += fmt::format(", PRIMARY KEY ({})", primary_key);
  sql += ')';
  execute(sql);
}

std::unique_ptr<RowSource> OdbcConnection::open_source(std::string_view sql,
                                                       const std::vector<Value>& params,
                                                       size_t batch_rows, size_t max_batch_bytes) {
  if (batch_rows == 0) {
    throw Error(ErrorKind::Config,
                fmt::format("odbc {}: a source needs at least 1 row per batch", display_), {},
                odbc_context(sql));
  }
  std::string text(strip_sql(sql));
  std::vector<TextColumn> text_columns;
  text = exact_text_query(text, text_columns);
  auto stmt = statement();
  auto binder = std::make_unique<ParamBinder>(*stmt, params, text);
  stmt->check(SQLExecDirect(stmt->get(), reinterpret_cast<SQLCHAR*>(text.data()), SQL_NTS),
              "open query", text);
  return std::make_unique<OdbcRowSource>(std::move(stmt), std::move(binder), std::move(text),
                                         batch_rows, max_batch_bytes, std::move(text_columns),
                                         zero_dates_);
}

std::string OdbcConnection::exact_text_query(const std::string& sql,
                                             std::vector<TextColumn>& text_columns) {
  text_columns.clear();
  if (dbms_ != Dbms::SQLite && dbms_ != Dbms::PostgreSQL) return sql;
  const std::vector<ResultColumn> columns = describe_columns(sql);
  text_columns.assign(columns.size(), TextColumn{});
  std::string list;
  bool wrap = false, any = false;
  for (size_t i = 0; i < columns.size(); ++i) {
    const ResultColumn& c = columns[i];
    const std::string name = quote_identifier(c.name);
    TextColumn& tc = text_columns[i];
    tc.type = c.type;
    tc.form = TextColumn::Form::Exact;
    if (i > 0) list += ", ";
    if (c.sqlite_decimal) {
      // Tagged, so that a REAL (whose 20 digits are made the shortest decimal of its double)
      // is told from text that looks like one.
      list += fmt::format(
          "CASE WHEN typeof({0}) = 'real' THEN 'r' || printf('%!.20g', {0}) "
          "ELSE 't' || CAST({0} AS TEXT) END AS {0}",
          name);
      tc.form = TextColumn::Form::Decimal;
      if (const auto ps = decimal_precision(c.declared)) {
        tc.precision = ps->first;
        tc.scale = ps->second;
      }
    } else if (dbms_ == Dbms::SQLite && c.type == ColumnType::Double) {
      // SQLite's own printf with the '!' flag writes the digits that its driver's conversions
      // lose; only real values: a REAL column may hold text or NULL.
      list += fmt::format(
          "CASE WHEN typeof({0}) = 'real' THEN printf('%!.20g', {0}) ELSE {0} END AS {0}", name);
    } else if (dbms_ == Dbms::PostgreSQL && c.type_name == "float4") {
      list += fmt::format("{0}::float8::text AS {0}", name);
    } else if (dbms_ == Dbms::PostgreSQL &&
               (c.type == ColumnType::Date || c.type == ColumnType::Timestamp ||
                c.type == ColumnType::TimestampTz)) {
      list += fmt::format("{0}::text AS {0}", name);
    } else if (dbms_ == Dbms::SQLite &&
               (c.type == ColumnType::Date || c.type == ColumnType::Timestamp ||
                c.type == ColumnType::TimestampTz)) {
      // The SQLite ODBC driver drops a timestamp's UTC offset and reads a date that does not
      // exist as NULL: the stored text instead.
      list += fmt::format("CAST({0} AS TEXT) AS {0}", name);
    } else if (dbms_ == Dbms::PostgreSQL &&
               (c.type == ColumnType::Json || c.type == ColumnType::Interval ||
                c.type == ColumnType::Array)) {
      // The driver's text is the value (ISO 8601 for an interval: see open()); its type is the
      // catalog's.
      list += name;
      tc.form = TextColumn::Form::Verbatim;
      any = true;
      continue;
    } else {
      list += name;
      tc = TextColumn{};
      continue;
    }
    wrap = any = true;
  }
  if (!any) text_columns.clear();
  if (!wrap) return sql;
  return fmt::format("SELECT {} FROM ({}) AS src", list, sql);
}

std::unique_ptr<RowSink> OdbcConnection::open_sink(const TableRef& table,
                                                   const std::vector<std::string>& columns) {
  if (columns.empty()) {
    throw Error(ErrorKind::Config,
                fmt::format("odbc {}: insert into {}: no columns", display_, table.display()), {},
                odbc_context({}, table.display()));
  }
  std::string sql = fmt::format("INSERT INTO {} (", quote_table(table));
  std::string marks;
  for (size_t i = 0; i < columns.size(); ++i) {
    sql += (i > 0 ? "," : "") + quote_identifier(columns[i]);
    marks += i > 0 ? ",?" : "?";
  }
  sql += ") VALUES (" + marks + ')';
  auto stmt = statement();
  stmt->check(SQLPrepare(stmt->get(), reinterpret_cast<SQLCHAR*>(sql.data()), SQL_NTS),
              fmt::format("insert into {}", table.display()), sql, table.display());
  return std::make_unique<OdbcRowSink>(std::move(stmt), sql, table.display(), columns.size());
}

bool OdbcConnection::try_lock_job(std::string_view key) {
  const std::vector<Value> parts{std::string(key)};
  const uint64_t hash = hash_row(parts);
  if (dbms_ == Dbms::PostgreSQL) {
    // The native PostgreSQL driver's lock: the same id for the same key.
    const auto rows =
        query("SELECT pg_try_advisory_lock(?::bigint)::int", {Value(static_cast<int64_t>(hash))});
    return !rows.empty() && rows[0][0] == Value(1);
  }
  if (dbms_ == Dbms::MySQL) {
    const auto rows = query("SELECT GET_LOCK(?, 0)", {Value(fmt::format("parmap-{:016x}", hash))});
    return !rows.empty() && rows[0][0] == Value(1);
  }
  if (dbms_ != Dbms::SQLite) return true;
  std::string file;
  for (const auto& row : query("PRAGMA database_list")) {
    if (row.size() >= 3 && row[1] == Value("main")) file = text_of(row[2]);
  }
  if (file.empty()) return true;  // in memory: no other process can see it
  const std::string lock_path = file + "-parmap.lock";
  if (job_lock_fd_ < 0) {
    job_lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (job_lock_fd_ < 0) {
      throw Error(ErrorKind::Connect,
                  fmt::format("odbc {}: cannot open the job lock file '{}': {}", display_,
                              lock_path, std::strerror(errno)),
                  {}, odbc_context());
    }
  }
  // One byte per job, at the offset the native SQLite driver uses for the same key.
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  lock.l_start = static_cast<off_t>(hash & 0x3fffffff);
  lock.l_len = 1;
  if (::fcntl(job_lock_fd_, F_OFD_SETLK, &lock) == 0) return true;
  if (errno == EAGAIN || errno == EACCES) return false;
  throw Error(ErrorKind::Connect,
              fmt::format("odbc {}: cannot lock the job lock file '{}': {}", display_, lock_path,
                          std::strerror(errno)),
              {}, odbc_context());
}

void OdbcConnection::interrupt() noexcept {
  std::lock_guard lock(session_mu_);
  if (session_) session_->interrupt();
}

void OdbcConnection::close() noexcept {
  std::shared_ptr<Session> dropped;
  {
    std::lock_guard lock(session_mu_);
    dropped = std::move(session_);
    session_.reset();
  }
  // The last owner disconnects, outside the lock: a disconnect may wait for the server.
  if (dropped && in_transaction_) {
    in_transaction_ = false;
    SQLEndTran(SQL_HANDLE_DBC, dropped->dbc(), SQL_ROLLBACK);
  }
  if (job_lock_fd_ >= 0) ::close(job_lock_fd_);
  job_lock_fd_ = -1;
}

}  // namespace parmap::odbc
