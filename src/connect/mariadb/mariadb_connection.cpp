// A session with a MariaDB or MySQL server through libmariadb.
#include "connect/mariadb/mariadb_connection.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <mysql.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <limits>

#include "connect/driver_helpers.h"
#include "connect/mariadb/mariadb_errors.h"
#include "connect/mariadb/mariadb_row_sink.h"
#include "connect/mariadb/mariadb_row_source.h"
#include "parmap/error.h"
#include "plan/plan.h"

namespace parmap::mariadb {
namespace {

constexpr unsigned int kDefaultConnectTimeoutS = 10;

// Set at every connect: see the class comment. NO_BACKSLASH_ESCAPES stays off, since literals
// are escaped with backslashes (mysql_real_escape_string).
constexpr std::string_view kSessionSetup =
    "SET SESSION time_zone = '+00:00', "
    "sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,"
    "NO_ENGINE_SUBSTITUTION', "
    // A worker may hold a stream open while its target commits a large batch.
    "net_read_timeout = 3600, net_write_timeout = 3600";

bool parse_bool(const std::string& setting, const std::string& value) {
  if (value == "true" || value == "1" || value == "yes" || value == "on") return true;
  if (value == "false" || value == "0" || value == "no" || value == "off") return false;
  throw_config(setting, value, "true or false");
}

struct MysqlCloser {
  void operator()(MYSQL* m) const noexcept { mysql_close(m); }
};

}  // namespace

void ResultFree::operator()(MYSQL_RES* result) const noexcept { mysql_free_result(result); }

std::unique_ptr<MariadbConnection> MariadbConnection::open(const ConnectionUrl& url) {
  const std::string where = fmt::format("{}:{}/{}", url.host.empty() ? "localhost" : url.host,
                                        url.port.value_or(3306), url.database);
  ReadOptions read_options;
  unsigned int connect_timeout = kDefaultConnectTimeoutS;
  std::unique_ptr<MYSQL, MysqlCloser> m(mysql_init(nullptr));
  if (!m) throw Error(ErrorKind::Internal, "mariadb: out of memory for a new session");

  // Every parameter is checked before connecting, so that a typo fails as a usage error.
  my_bool yes = 1;
  for (const auto& [key, value] : url.params) {
    const std::string setting = fmt::format("mariadb URL parameter '{}'", key);
    if (key == "zero_dates") {
      read_options.zero_dates = parse_zero_dates(setting, value);
    } else if (key == "tinyint1_bool") {
      read_options.tinyint1_bool = parse_bool(setting, value);
    } else if (key == "connect_timeout") {
      char* end = nullptr;
      const long s = std::strtol(value.c_str(), &end, 10);
      if (end == value.c_str() || *end != '\0' || s <= 0 || s > 3600) {
        throw_config(setting, value, "seconds, 1 to 3600");
      }
      connect_timeout = static_cast<unsigned int>(s);
    } else if (key == "ssl") {
      if (parse_bool(setting, value)) mysql_optionsv(m.get(), MYSQL_OPT_SSL_ENFORCE, &yes);
    } else if (key == "ssl_verify_server_cert") {
      if (parse_bool(setting, value)) {
        mysql_optionsv(m.get(), MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &yes);
      }
    } else if (key == "ssl_ca") {
      mysql_optionsv(m.get(), MYSQL_OPT_SSL_CA, value.c_str());
    } else if (key == "ssl_cert") {
      mysql_optionsv(m.get(), MYSQL_OPT_SSL_CERT, value.c_str());
    } else if (key == "ssl_key") {
      mysql_optionsv(m.get(), MYSQL_OPT_SSL_KEY, value.c_str());
    } else if (key == "option_file") {
      mysql_optionsv(m.get(), MYSQL_READ_DEFAULT_FILE, value.c_str());
      if (url.params.count("option_group") == 0) {
        mysql_optionsv(m.get(), MYSQL_READ_DEFAULT_GROUP, "client");
      }
    } else if (key == "option_group") {
      mysql_optionsv(m.get(), MYSQL_READ_DEFAULT_GROUP, value.c_str());
    } else {
      throw_config(setting, value,
                   "ssl, ssl_ca, ssl_cert, ssl_key, ssl_verify_server_cert, connect_timeout, "
                   "option_file, option_group, zero_dates, tinyint1_bool");
    }
  }
  mysql_optionsv(m.get(), MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
  // For the sink's LOAD DATA LOCAL INFILE, whose "file" is always its own batch in memory
  // (MariadbRowSink's handler ignores the name the server asks for).
  unsigned int local_infile = 1;
  mysql_optionsv(m.get(), MYSQL_OPT_LOCAL_INFILE, &local_infile);
  mysql_optionsv(m.get(), MYSQL_SET_CHARSET_NAME, "utf8mb4");

  const char* password = nullptr;
  if (!url.password.empty()) {
    password = url.password.c_str();
  } else if (const char* env = std::getenv("MYSQL_PWD"); env != nullptr) {
    password = env;
  }
  const std::string host = url.host.empty() ? "localhost" : url.host;
  if (mysql_real_connect(m.get(), host.c_str(), url.user.empty() ? nullptr : url.user.c_str(),
                         password, url.database.empty() ? nullptr : url.database.c_str(),
                         static_cast<unsigned int>(url.port.value_or(0)), nullptr,
                         CLIENT_MULTI_STATEMENTS) == nullptr) {
    const unsigned int code = mysql_errno(m.get());
    Error e = make_mariadb_error(code, mysql_sqlstate(m.get()), mysql_error(m.get()), where,
                                 fmt::format("connect as '{}'", url.user));
    // A refused login or an unreachable server is a connect failure, whatever its number.
    throw Error(e.kind() == ErrorKind::Transient ? ErrorKind::Connect : e.kind(), e.what(),
                e.native_code(), e.context());
  }
  serve_no_local_files(m.get());
  if (mysql_real_query(m.get(), kSessionSetup.data(), kSessionSetup.size()) != 0) {
    throw make_mariadb_error(mysql_errno(m.get()), mysql_sqlstate(m.get()), mysql_error(m.get()),
                             where, "session setup", kSessionSetup);
  }
  return std::make_unique<MariadbConnection>(Token{}, m.release(), where, read_options);
}

MariadbConnection::MariadbConnection(Token /*only open() constructs*/, MYSQL* mysql,
                                     std::string where, ReadOptions read_options)
    : mysql_(mysql),
      where_(std::move(where)),
      read_options_(read_options),
      socket_(static_cast<int>(mysql_get_socket(mysql))) {}

MariadbConnection::~MariadbConnection() { close(); }

std::string MariadbConnection::refused_value_hint(const Value& value) const {
  return zero_date_hint(value, read_options_.zero_dates);
}

Capabilities MariadbConnection::capabilities() const {
  Capabilities caps;
  caps.concurrent_writers = true;
  caps.snapshot_export = false;
  caps.block_ranges = false;
  return caps;
}

std::string MariadbConnection::quote_identifier(std::string_view name) const {
  std::string quoted;
  quoted.reserve(name.size() + 2);
  quoted += '`';
  for (char c : name) {
    if (c == '`') quoted += '`';
    quoted += c;
  }
  quoted += '`';
  return quoted;
}

MYSQL* MariadbConnection::handle() const {
  if (mysql_ == nullptr) {
    throw Error(ErrorKind::Connect, fmt::format("mariadb {}: the connection is closed", where_),
                {}, ErrorContext{"mariadb", {}, {}, {}});
  }
  if (interrupted_) {
    throw Error(
        ErrorKind::Transient,
        fmt::format("mariadb {}: the connection was interrupted and takes no more calls", where_),
        {}, ErrorContext{"mariadb", {}, {}, {}});
  }
  return mysql_;
}

Error MariadbConnection::last_error(std::string_view what, std::string_view sql,
                               std::string_view table) const {
  if (mysql_ == nullptr) {
    return Error(ErrorKind::Connect, fmt::format("mariadb {}: {}: the connection is closed", where_, what));
  }
  if (interrupted_) {
    // The socket was shut down by the watchdog: whatever the library says, that is why.
    return Error(ErrorKind::Transient,
                 fmt::format("mariadb {}: {} was interrupted (the chunk ran too long or the run "
                             "is stopping)",
                             where_, what),
                 "2013", ErrorContext{"mariadb", std::string(table), {}, std::string(sql.substr(0, 200))});
  }
  return make_mariadb_error(mysql_errno(mysql_), mysql_sqlstate(mysql_), mysql_error(mysql_), where_,
                            what, sql, table);
}

void MariadbConnection::run(std::string_view sql, std::string_view what, std::string_view table) {
  MYSQL* m = handle();
  if (mysql_real_query(m, sql.data(), sql.size()) != 0) throw last_error(what, sql, table);
  for (;;) {
    ResultPtr result(mysql_store_result(m));
    if (!result && mysql_field_count(m) != 0) throw last_error(what, sql, table);
    const int status = mysql_next_result(m);
    if (status > 0) throw last_error(what, sql, table);
    if (status < 0) break;
  }
}

void MariadbConnection::execute(std::string_view sql) { run(sql, "execute"); }

std::vector<std::vector<Value>> MariadbConnection::fetch_all(std::string_view sql,
                                                             std::string_view what) {
  MYSQL* m = handle();
  if (mysql_real_query(m, sql.data(), sql.size()) != 0) throw last_error(what, sql);
  std::vector<std::vector<Value>> rows;
  bool first = true;
  for (;;) {
    ResultPtr result(mysql_store_result(m));
    if (!result && mysql_field_count(m) != 0) throw last_error(what, sql);
    if (result && first) {
      const unsigned int n = mysql_num_fields(result.get());
      const MYSQL_FIELD* fields = mysql_fetch_fields(result.get());
      while (MYSQL_ROW row = mysql_fetch_row(result.get())) {
        const unsigned long* lengths = mysql_fetch_lengths(result.get());
        std::vector<Value>& out = rows.emplace_back();
        out.reserve(n);
        for (unsigned int i = 0; i < n; ++i) out.push_back(value_of_cell(fields[i], row[i], lengths[i]));
      }
      first = false;
    }
    const int status = mysql_next_result(m);
    if (status > 0) throw last_error(what, sql);
    if (status < 0) break;
  }
  return rows;
}

std::vector<std::vector<Value>> MariadbConnection::query(std::string_view sql,
                                                         const std::vector<Value>& params) {
  return fetch_all(inline_params(sql, params), "query");
}

std::string MariadbConnection::inline_params(std::string_view sql,
                                             const std::vector<Value>& params) const {
  std::string out;
  out.reserve(sql.size() + params.size() * 16);
  size_t next = 0;
  for (size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (c == '\'' || c == '"' || c == '`') {
      // A quoted string or name: copied whole (a doubled quote or, in strings, a backslash
      // escapes the next character).
      out += c;
      for (++i; i < sql.size(); ++i) {
        out += sql[i];
        if (sql[i] == '\\' && c != '`' && i + 1 < sql.size()) {
          out += sql[++i];
        } else if (sql[i] == c) {
          if (i + 1 < sql.size() && sql[i + 1] == c) {
            out += sql[++i];
          } else {
            break;
          }
        }
      }
    } else if (c == '#' || (c == '-' && sql.substr(i, 3) == "-- ")) {
      const size_t end = sql.find('\n', i);
      const size_t stop = end == std::string_view::npos ? sql.size() : end;
      out.append(sql.substr(i, stop - i));
      i = stop - 1;
    } else if (c == '/' && sql.substr(i, 2) == "/*") {
      const size_t end = sql.find("*/", i + 2);
      const size_t stop = end == std::string_view::npos ? sql.size() : end + 2;
      out.append(sql.substr(i, stop - i));
      i = stop - 1;
    } else if (c == '?') {
      if (next >= params.size()) {
        throw Error(ErrorKind::Internal,
                    fmt::format("mariadb {}: the statement has more placeholders than the {} "
                                "parameters given: {}",
                                where_, params.size(), sql.substr(0, 200)));
      }
      append_literal(out, params[next++]);
    } else {
      out += c;
    }
  }
  if (next != params.size()) {
    throw Error(ErrorKind::Internal,
                fmt::format("mariadb {}: {} parameters for {} placeholders: {}", where_,
                            params.size(), next, sql.substr(0, 200)));
  }
  return out;
}

void MariadbConnection::append_escaped(std::string& out, std::string_view bytes) const {
  const size_t at = out.size();
  out.resize(at + bytes.size() * 2 + 1);
  const unsigned long n =
      mysql_real_escape_string(handle(), out.data() + at, bytes.data(), bytes.size());
  out.resize(at + n);
}

void MariadbConnection::append_literal(std::string& out, const Value& value) const {
  if (value.is_null()) {
    out += "NULL";
  } else if (value.is_int()) {
    out += std::to_string(value.as_int());
  } else if (value.is_double()) {
    // Shortest text that reads back as the same double; e-notation is valid MariaDB.
    out += fmt::format("{}", value.as_double());
  } else if (value.is_text()) {
    out += '\'';
    append_escaped(out, value.as_text());
    out += '\'';
  } else {
    out += "_binary'";
    append_escaped(out, value.as_blob().bytes);
    out += '\'';
  }
}

void MariadbConnection::begin() {
  MYSQL* m = handle();
  if (source_open_) {
    // A source stream's read snapshot: ended before the write transaction begins.
    run("COMMIT", "end the read snapshot");
    source_open_ = false;
  }
  if (mysql_autocommit(m, 0) != 0) throw last_error("begin transaction", "SET autocommit = 0");
  in_transaction_ = true;
}

void MariadbConnection::commit() {
  MYSQL* m = handle();
  if (mysql_commit(m) != 0) {
    Error e = last_error("commit", "COMMIT");
    // The commit may or may not have reached the server: only the ledger can tell.
    if (e.kind() == ErrorKind::Transient) {
      throw Error(ErrorKind::InDoubt, e.what(), e.native_code(), e.context());
    }
    throw e;
  }
  in_transaction_ = false;
  if (mysql_autocommit(m, 1) != 0) throw last_error("end transaction", "SET autocommit = 1");
}

void MariadbConnection::rollback() noexcept {
  if (mysql_ == nullptr || interrupted_ || (!in_transaction_ && !source_open_)) return;
  mysql_rollback(mysql_);
  mysql_autocommit(mysql_, 1);
  in_transaction_ = false;
  source_open_ = false;
}

std::string MariadbConnection::sql_type(LedgerType type, int max_chars) const {
  switch (type) {
    case LedgerType::Text:
      return "LONGTEXT";
    case LedgerType::BoundedText:
      return fmt::format("VARCHAR({})", max_chars);
    case LedgerType::BigInt:
      return "BIGINT";
  }
  return "LONGTEXT";
}

TableSchema MariadbConnection::describe_query(std::string_view sql) {
  const std::string text = fmt::format("SELECT * FROM ({}) AS src LIMIT 0", strip_sql(sql));
  MYSQL* m = handle();
  if (mysql_real_query(m, text.data(), text.size()) != 0) throw last_error("describe query", text);
  ResultPtr result(mysql_store_result(m));
  if (!result) throw last_error("describe query", text);
  return schema_of_result(result.get(), read_options_);
}

std::optional<TableSchema> MariadbConnection::describe_table(const TableRef& table) {
  const auto rows = query(
      "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY, COALESCE(GENERATION_EXPRESSION, "
      "'') <> '' FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
      {table.schema.empty() ? Value() : Value(table.schema), Value(table.name)});
  if (rows.empty()) return std::nullopt;
  TableSchema schema;
  for (const auto& r : rows) {
    ColumnInfo info;
    info.name = r[0].as_text();
    info.declared_type = r[1].as_text();
    info.type = type_from_declared(info.declared_type);
    info.not_null = r[2].is_text() && r[2].as_text() == "NO";
    info.primary_key = r[3].is_text() && r[3].as_text() == "PRI";
    info.generated = r[4].is_int() ? r[4].as_int() != 0 : r[4].is_text() && r[4].as_text() == "1";
    schema.columns.push_back(std::move(info));
  }
  // The key's own order, which need not be the columns'.
  const auto key = query(
      "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = "
      "COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY "
      "SEQ_IN_INDEX",
      {table.schema.empty() ? Value() : Value(table.schema), Value(table.name)});
  for (const auto& r : key) schema.primary_key.push_back(r[0].as_text());
  return schema;
}

std::optional<std::string> MariadbConnection::integer_primary_key(const TableRef& table) {
  return single_integer_key(describe_table(table), [](const ColumnInfo& column) {
    return column.type == ColumnType::Int64;
  });
}

int64_t MariadbConnection::estimate_rows(std::string_view sql) {
  const std::string_view inner = strip_sql(sql);
  // A plain table: InnoDB's own row estimate, which it keeps up to date as rows come and go,
  // instead of counting them (a quarter of a second a million rows). The plan then reads
  // every key anyway and counts them exactly; an estimate that says "small" is counted.
  if (const std::optional<TableRef> table = simple_table_of(inner)) {
    std::vector<std::vector<Value>> steps;
    try {
      steps = fetch_all(fmt::format("EXPLAIN SELECT * FROM {}", quote_table(*table)),
                        "estimate rows");
    } catch (const Error&) {
      steps.clear();  // counted below, where a real problem is reported
    }
    // Columns: id, select_type, table, type, possible_keys, key, key_len, ref, rows, Extra.
    // (An unsigned BIGINT: it comes back as decimal text.)
    if (steps.size() == 1 && steps[0].size() > 8) {
      const Value& rows = steps[0][8];
      int64_t n = -1;
      if (rows.is_int()) {
        n = rows.as_int();
      } else if (rows.is_text()) {
        const std::string& text = rows.as_text();
        if (std::from_chars(text.data(), text.data() + text.size(), n).ec != std::errc()) n = -1;
      }
      if (n >= 0) return n;
    }
  }
  const auto rows = fetch_all(fmt::format("SELECT COUNT(*) FROM ({}) AS src", inner), "count rows");
  return rows.empty() || !rows[0][0].is_int() ? 0 : rows[0][0].as_int();
}

KeyStats MariadbConnection::key_stats(std::string_view sql, std::string_view column,
                                      int max_sample) {
  const std::string_view inner = strip_sql(sql);
  const TableSchema schema = describe_query(inner);
  const int index = schema.find(column);
  if (index < 0) {
    throw missing_key_column("mariadb " + where_, column, schema,
                             ErrorContext{"mariadb", {}, {}, std::string(inner.substr(0, 200))});
  }
  const ColumnInfo& key = schema.columns[static_cast<size_t>(index)];
  const std::string quoted = quote_identifier(key.name);
  KeyStats stats;
  stats.column = key.name;
  stats.type = key.type;
  // The keys streamed in the server's order, every k-th kept here: an index (or one sort)
  // answers it, where ranking the keys on the server (ROW_NUMBER() OVER) took six times as
  // long for a million keys of a primary key.
  const std::string keys_sql =
      fmt::format("SELECT {0} FROM ({1}) AS src ORDER BY {0}", quoted, inner);
  MYSQL* m = handle();
  if (mysql_real_query(m, keys_sql.data(), keys_sql.size()) != 0) {
    throw last_error("key statistics", keys_sql);
  }
  ResultPtr result(mysql_use_result(m));
  if (!result) throw last_error("key statistics", keys_sql);
  const MYSQL_FIELD* field = mysql_fetch_field_direct(result.get(), 0);
  KeySampler sampler(max_sample);
  while (MYSQL_ROW row = mysql_fetch_row(result.get())) {
    if (row[0] == nullptr) {
      sampler.add_null();
    } else {
      sampler.add(value_of_cell(*field, row[0], mysql_fetch_lengths(result.get())[0]));
    }
  }
  // A stream cut short (the connection lost) ends as if complete: ask.
  if (mysql_errno(m) != 0) throw last_error("key statistics", keys_sql);
  sampler.finish(stats);
  return stats;
}

std::optional<std::string> MariadbConnection::range_filter_problem(std::string_view sql,
                                                                   std::string_view column) {
  const std::string_view inner = strip_sql(sql);
  TableSchema schema;
  try {
    schema = describe_query(inner);
  } catch (const Error&) {
    return std::nullopt;  // the planner reports the query's own problem where it matters
  }
  const int index = schema.find(column);
  if (index < 0) return std::nullopt;
  const ColumnInfo& key = schema.columns[static_cast<size_t>(index)];
  // Bounds of the key's own type, so that no conversion keeps an index out of the plan, and a
  // range few rows fall in: the optimizer reads a wide one by a full scan even with an index
  // (under a case-insensitive collation ['a', 'b') holds every key starting a, A, ä or Ä).
  Value lo, hi;
  switch (key.type) {
    case ColumnType::Int64:
      lo = Value(int64_t{0});
      hi = Value(int64_t{1});
      break;
    case ColumnType::Double:
      lo = Value(12345.678);
      hi = Value(12345.679);
      break;
    case ColumnType::Text:
      lo = Value(std::string("\x01"));
      hi = Value(std::string("\x02"));
      break;
    default:
      return std::nullopt;  // the engine cannot tell cheaply: ranges as planned
  }
  Chunk probe;
  probe.key = key.name;
  probe.range.lo = std::move(lo);
  probe.range.hi = std::move(hi);
  std::vector<Value> params;
  const std::string chunk_sql = chunk_query(inner, probe, params);
  std::vector<std::vector<Value>> steps;
  try {
    steps = query("EXPLAIN " + chunk_sql, params);
  } catch (const Error&) {
    return std::nullopt;
  }
  // Columns: id, select_type, table, type, possible_keys, key, key_len, ref, rows, Extra.
  bool looks_up = false;
  std::string scanned;
  for (const auto& step : steps) {
    if (step.size() < 4 || !step[3].is_text()) continue;
    const std::string& type = step[3].as_text();
    if (type == "ALL" || type == "index") {
      if (scanned.empty() && step[2].is_text()) scanned = step[2].as_text();
    } else {
      looks_up = true;
    }
  }
  if (looks_up || scanned.empty()) return std::nullopt;
  return fmt::format(
      "no index on {} answers a key range (MariaDB reads {} by a full scan), so every chunk "
      "would read the whole query",
      key.name, scanned);
}

bool MariadbConnection::schema_exists(const std::string& schema) {
  return !query("SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", {Value(schema)})
              .empty();
}

void MariadbConnection::create_schema(const std::string& schema) {
  run(fmt::format("CREATE DATABASE IF NOT EXISTS {}", quote_identifier(schema)),
      fmt::format("create database {}", schema));
}

void MariadbConnection::create_table(const TableRef& table, const TableSchema& schema) {
  run(create_table_sql(*this, "mariadb " + where_, table, schema, ddl_type,
                       " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"),
      fmt::format("create table {}", table.display()), table.display());
}

std::unique_ptr<RowSource> MariadbConnection::open_source(std::string_view sql,
                                                          const std::vector<Value>& params,
                                                          size_t batch_rows,
                                                          size_t max_batch_bytes) {
  if (batch_rows == 0) {
    throw Error(ErrorKind::Config,
                fmt::format("mariadb {}: a source needs at least 1 row per batch", where_));
  }
  const std::string text = inline_params(strip_sql(sql), params);
  if (!in_transaction_) {
    // The stream reads one consistent view, as of its own start.
    if (source_open_) run("COMMIT", "end the read snapshot");
    run("START TRANSACTION WITH CONSISTENT SNAPSHOT", "start a read snapshot");
    source_open_ = true;
  }
  MYSQL* m = handle();
  if (mysql_real_query(m, text.data(), text.size()) != 0) throw last_error("open query", text);
  ResultPtr result(mysql_use_result(m));
  if (!result) throw last_error("open query", text);
  return std::make_unique<MariadbRowSource>(*this, std::move(result), text, batch_rows,
                                            max_batch_bytes);
}

std::unique_ptr<RowSink> MariadbConnection::open_sink(const TableRef& table,
                                                      const std::vector<std::string>& columns) {
  if (columns.empty()) {
    throw Error(ErrorKind::Config,
                fmt::format("mariadb {}: insert into {}: no columns", where_, table.display()));
  }
  std::vector<std::string> quoted;
  for (const std::string& c : columns) quoted.push_back(quote_identifier(c));
  // A missing table or column is reported at open, not at the first write.
  run(fmt::format("SELECT {} FROM {} WHERE 1 = 0", fmt::join(quoted, ","), quote_table(table)),
      fmt::format("insert into {}", table.display()), table.display());
  const auto allowed = query("SELECT @@local_infile");
  const bool load = !allowed.empty() && allowed[0][0].is_int() && allowed[0][0].as_int() == 1;
  return std::make_unique<MariadbRowSink>(*this, table.display(), quote_table(table),
                                          std::move(quoted), load);
}

bool MariadbConnection::try_lock_job(std::string_view key) {
  // Lock names are at most 64 characters: the key's hash stands for it.
  const std::string name = fmt::format("parmap-{:016x}", hash_row({Value(std::string(key))}));
  const auto rows = query("SELECT GET_LOCK(?, 0)", {Value(name)});
  return !rows.empty() && rows[0][0].is_int() && rows[0][0].as_int() == 1;
}

void MariadbConnection::abandon() noexcept {
  interrupt();
}

void MariadbConnection::interrupt() noexcept {
  std::lock_guard lock(socket_mu_);
  interrupted_ = true;
  if (socket_ >= 0) ::shutdown(socket_, SHUT_RDWR);
}

void MariadbConnection::close() noexcept {
  {
    // Before the handle is freed: interrupt() must not touch its socket afterwards.
    std::lock_guard lock(socket_mu_);
    socket_ = -1;
  }
  if (mysql_ != nullptr) mysql_close(mysql_);
  mysql_ = nullptr;
}

std::vector<TableRef> MariadbConnection::list_tables() {
  const auto rows = query(
      "SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = "
      "DATABASE() AND table_type = 'BASE TABLE' ORDER BY 1");
  std::vector<TableRef> out;
  for (const auto& r : rows) {
    // The name comes back as text, or as bytes where the server gives it a binary collation.
    const Value& v = r[0];
    out.push_back({"", v.is_blob() ? v.as_blob().bytes : v.as_text()});
  }
  return out;
}

}  // namespace parmap::mariadb
