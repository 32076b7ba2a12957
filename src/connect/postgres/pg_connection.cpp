// A session with one PostgreSQL server over libpq: the Connection of the PostgreSQL driver.
#include "connect/postgres/pg_connection.h"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <system_error>

#include "connect/driver_helpers.h"
#include "connect/postgres/pg_errors.h"
#include "connect/postgres/pg_libpq.h"
#include "connect/postgres/pg_native_sink.h"
#include "connect/postgres/pg_native_source.h"
#include "connect/postgres/pg_row_sink.h"
#include "connect/postgres/pg_row_source.h"
#include "parmap/error.h"
#include "plan/plan.h"

namespace parmap::pg {


namespace {

// Rows above which a query's keys are not read in full (for the sample or the null count);
// the planner then splits [min, max] evenly.
constexpr int64_t kSmallQueryRows = 1'000'000;
// Tables above this many rows (estimated) are sampled by blocks (TABLESAMPLE); such a sample
// is trusted when it holds at least kMinBlockSample keys.
constexpr int64_t kBlockSampleRows = 200'000;
constexpr int64_t kMinBlockSample = 500;
constexpr std::string_view kGuardSavepoint = "parmap_guard";
constexpr std::string_view kProbeStatement = "parmap_range_probe";
// undefined_function: what ORDER BY and >= raise for a type with no ordering.
constexpr std::string_view kUndefinedFunction = "42883";
// The first release with the TID range scan: before it a ctid range reads the whole table.
constexpr int kTidRangeScanVersion = 140000;

// The wrapped forms ("SELECT ... FROM (<sql>) AS src") break on a trailing semicolon.
std::string_view strip_sql(std::string_view sql) {
  while (!sql.empty() &&
         (std::isspace(static_cast<unsigned char>(sql.back())) != 0 || sql.back() == ';')) {
    sql.remove_suffix(1);
  }
  while (!sql.empty() && std::isspace(static_cast<unsigned char>(sql.front())) != 0) {
    sql.remove_prefix(1);
  }
  return sql;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '$' ||
         static_cast<unsigned char>(c) >= 0x80;
}

std::string format_double(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  std::array<char, 64> buf{};
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  return std::string(buf.data(), ec == std::errc() ? end : buf.data());
}

std::string hex_bytea(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\\x";
  out.reserve(2 + bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  }
  return out;
}

/// A parameter's text form, as PostgreSQL's input functions read it.
std::string param_text(const Value& value) {
  if (value.is_int()) return std::to_string(value.as_int());
  if (value.is_double()) return format_double(value.as_double());
  if (value.is_blob()) return hex_bytea(value.as_blob().bytes);
  return value.as_text();
}

Value read_value(const PGresult* result, int row, int col) {
  if (PQgetisnull(result, row, col) != 0) return {};
  const char* text = PQgetvalue(result, row, col);
  const auto len = static_cast<size_t>(PQgetlength(result, row, col));
  switch (PQftype(result, col)) {
    case oid::kInt2:
    case oid::kInt4:
    case oid::kInt8: {
      int64_t v = 0;
      const auto [end, ec] = std::from_chars(text, text + len, v);
      if (ec == std::errc() && end == text + len) return Value(v);
      return Value(std::string(text, len));
    }
    case oid::kFloat4:
    case oid::kFloat8: {
      double v = 0;
      const auto [end, ec] = std::from_chars(text, text + len, v);
      if (ec == std::errc() && end == text + len) return Value(v);
      return Value(std::string(text, len));
    }
    case oid::kBool:
      return Value(int64_t{text[0] == 't' ? 1 : 0});
    case oid::kBytea: {
      size_t n = 0;
      std::unique_ptr<unsigned char, void (*)(void*)> bytes(
          PQunescapeBytea(reinterpret_cast<const unsigned char*>(text), &n),
          [](void* p) { PQfreemem(p); });
      if (!bytes) return Value(Blob{});
      return Value(Blob{std::string(reinterpret_cast<const char*>(bytes.get()), n)});
    }
    default:
      return Value(std::string(text, len));
  }
}

/// A partition key's value as a chunk bound: read_value, except that a bool stays the text
/// "false"/"true", because a bound is inlined into the chunk's query and an integer literal
/// does not compare with a bool column.
Value key_value(const PGresult* result, int row, int col) {
  if (PQftype(result, col) == oid::kBool && PQgetisnull(result, row, col) == 0) {
    return Value(PQgetvalue(result, row, col)[0] == 't' ? "true" : "false");
  }
  return read_value(result, row, col);
}

std::string_view cell(const PGresult* result, int row, int col) {
  return {PQgetvalue(result, row, col), static_cast<size_t>(PQgetlength(result, row, col))};
}

int64_t cell_int(const PGresult* result, int row, int col) {
  const std::string_view text = cell(result, row, col);
  int64_t v = 0;
  std::from_chars(text.data(), text.data() + text.size(), v);
  return v;
}

double cell_double(const PGresult* result, int row, int col) {
  const std::string_view text = cell(result, row, col);
  double v = 0;
  std::from_chars(text.data(), text.data() + text.size(), v);
  return v;
}

/// True when `declared` has the shape of a type name as format_type writes it: lower case
/// words, typmods in parentheses, [] suffixes, quoted or schema-qualified names. Other
/// engines' names ("INTEGER", "DATETIME") fail this and get the mapped type instead.
bool looks_like_format_type(std::string_view declared) {
  if (declared.empty() || declared.size() > 200) return false;
  int depth = 0;
  bool quoted = false;
  for (char c : declared) {
    if (c == '"') {
      quoted = !quoted;
      continue;
    }
    if (quoted) continue;
    const auto u = static_cast<unsigned char>(c);
    if (c == '(') {
      ++depth;
    } else if (c == ')') {
      if (--depth < 0) return false;
    } else if (!(std::islower(u) != 0 || std::isdigit(u) != 0 || c == '_' || c == ' ' || c == ',' ||
                 c == '[' || c == ']' || c == '.')) {
      return false;
    }
  }
  return depth == 0 && !quoted;
}

/// The first plan node (top-down) that applies a condition mentioning $1 without being a
/// scan of a relation, or "" when every such condition sits in a scan.
std::string node_filtering_above_scan(const nlohmann::json& node) {
  static constexpr std::array<std::string_view, 10> kScans = {
      "Seq Scan", "Index Scan",     "Index Only Scan", "Bitmap Index Scan", "Bitmap Heap Scan",
      "Tid Scan", "Tid Range Scan", "Sample Scan",     "Foreign Scan",      "Custom Scan"};
  static constexpr std::array<std::string_view, 8> kConditions = {
      "Filter",   "Join Filter", "Index Cond",      "Recheck Cond",
      "TID Cond", "Hash Cond",   "One-Time Filter", "Run Condition"};
  if (!node.is_object()) return {};
  const std::string type = node.value("Node Type", std::string());
  const bool scan = std::find(kScans.begin(), kScans.end(), type) != kScans.end();
  if (!scan) {
    for (std::string_view key : kConditions) {
      const auto it = node.find(std::string(key));
      if (it != node.end() && it->is_string() &&
          it->get<std::string>().find("$1") != std::string::npos) {
        return type;
      }
    }
  }
  const auto plans = node.find("Plans");
  if (plans != node.end() && plans->is_array()) {
    for (const nlohmann::json& child : *plans) {
      std::string found = node_filtering_above_scan(child);
      if (!found.empty()) return found;
    }
  }
  return {};
}

/// The relation of the first sequential scan (top-down) that applies a condition mentioning
/// $1 as a filter, or "" when there is none.
std::string relation_scanned_for_filter(const nlohmann::json& node) {
  if (!node.is_object()) return {};
  if (node.value("Node Type", std::string()) == "Seq Scan") {
    const auto filter = node.find("Filter");
    if (filter != node.end() && filter->is_string() &&
        filter->get<std::string>().find("$1") != std::string::npos) {
      return node.value("Relation Name", std::string("a table"));
    }
  }
  const auto plans = node.find("Plans");
  if (plans != node.end() && plans->is_array()) {
    for (const nlohmann::json& child : *plans) {
      std::string found = relation_scanned_for_filter(child);
      if (!found.empty()) return found;
    }
  }
  return {};
}

/// "Plan Rows" of the top node of an EXPLAIN (FORMAT JSON) document.
int64_t plan_rows(std::string_view json_text) {
  const nlohmann::json doc = nlohmann::json::parse(json_text, nullptr, false);
  if (doc.is_discarded() || !doc.is_array() || doc.empty() || !doc[0].contains("Plan")) return -1;
  const nlohmann::json& plan = doc[0]["Plan"];
  const auto rows = plan.find("Plan Rows");
  if (rows == plan.end() || !rows->is_number()) return -1;
  return std::llround(rows->get<double>());
}

/// Whether a query's column is `name` (exact first, then case-insensitive).
int find_column(const std::vector<PgColumn>& columns, std::string_view name) {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == name) return static_cast<int>(i);
  }
  for (size_t i = 0; i < columns.size(); ++i) {
    if (iequals(columns[i].name, name)) return static_cast<int>(i);
  }
  return -1;
}

std::string column_names(const std::vector<PgColumn>& columns) {
  std::string names;
  for (const PgColumn& c : columns) {
    if (!names.empty()) names += ", ";
    names += c.name;
  }
  return names;
}

}  // namespace

// ---------------------------------------------------------------------------------------

std::string rewrite_placeholders(std::string_view sql, size_t& count,
                                 const std::function<std::string(size_t)>& replace) {
  std::string out;
  out.reserve(sql.size() + 16);
  count = 0;
  const size_t n = sql.size();
  size_t i = 0;
  // Copies sql[from, to) and moves on.
  auto copy_to = [&](size_t to) {
    out.append(sql.substr(i, std::min(to, n) - i));
    i = std::min(to, n);
  };
  while (i < n) {
    const char c = sql[i];
    const char next = i + 1 < n ? sql[i + 1] : '\0';
    if (c == '\'') {
      // E'...' strings take backslash escapes; '' is a quote in both kinds.
      const bool escapes = i > 0 && (sql[i - 1] == 'e' || sql[i - 1] == 'E') &&
                           (i < 2 || !is_ident_char(sql[i - 2]));
      size_t j = i + 1;
      while (j < n) {
        if (escapes && sql[j] == '\\') {
          j += 2;
        } else if (sql[j] == '\'') {
          if (j + 1 < n && sql[j + 1] == '\'') {
            j += 2;
          } else {
            ++j;
            break;
          }
        } else {
          ++j;
        }
      }
      copy_to(j);
    } else if (c == '"') {
      const size_t close = sql.find('"', i + 1);
      copy_to(close == std::string_view::npos ? n : close + 1);
    } else if (c == '-' && next == '-') {
      const size_t eol = sql.find('\n', i);
      copy_to(eol == std::string_view::npos ? n : eol + 1);
    } else if (c == '/' && next == '*') {
      // Block comments nest in PostgreSQL.
      size_t j = i + 2;
      int depth = 1;
      while (j < n && depth > 0) {
        if (sql[j] == '/' && j + 1 < n && sql[j + 1] == '*') {
          ++depth;
          j += 2;
        } else if (sql[j] == '*' && j + 1 < n && sql[j + 1] == '/') {
          --depth;
          j += 2;
        } else {
          ++j;
        }
      }
      copy_to(j);
    } else if (c == '$' && (i == 0 || !is_ident_char(sql[i - 1]))) {
      // $tag$ ... $tag$ (the tag may be empty); $1 and a lone $ are not quotes.
      size_t j = i + 1;
      while (j < n && is_ident_char(sql[j]) && sql[j] != '$') ++j;
      const bool tag_ok = j < n && sql[j] == '$' &&
                          (j == i + 1 || std::isdigit(static_cast<unsigned char>(sql[i + 1])) == 0);
      if (tag_ok) {
        const std::string_view tag = sql.substr(i, j - i + 1);
        const size_t close = sql.find(tag, j + 1);
        copy_to(close == std::string_view::npos ? n : close + tag.size());
      } else {
        copy_to(i + 1);
      }
    } else if (c == '?') {
      out += replace(count++);
      ++i;
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------

std::unique_ptr<PgConnection> PgConnection::open(const ConnectionUrl& url) {
  const std::string masked = url.masked();
  auto params = connect_params(url);
  // PGCONNECT_TIMEOUT is the user's own choice: libpq reads it when no parameter is given.
  if (url.params.count("connect_timeout") == 0 && std::getenv("PGCONNECT_TIMEOUT") != nullptr) {
    std::erase_if(params, [](const auto& kv) { return kv.first == "connect_timeout"; });
  }
  std::vector<const char*> keywords;
  std::vector<const char*> values;
  for (const auto& [key, value] : params) {
    keywords.push_back(key.c_str());
    values.push_back(value.c_str());
  }
  keywords.push_back(nullptr);
  values.push_back(nullptr);
  ConnPtr conn(PQconnectdbParams(keywords.data(), values.data(), /*expand_dbname=*/0));
  if (!conn) {
    throw Error(ErrorKind::Internal,
                fmt::format("postgresql {}: cannot connect: out of memory", masked), {},
                pg_context());
  }
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    const std::string message = mask_password(one_line(PQerrorMessage(conn.get())));
    throw Error(classify_connect_message(message),
                fmt::format("postgresql {}: cannot connect: {}", masked, message), {},
                pg_context());
  }
  // Server notices (DROP ... IF EXISTS "skipping", cascades) go to the debug log, not stderr.
  PQsetNoticeProcessor(
      conn.get(),
      [](void* /*arg*/, const char* message) {
        spdlog::debug("postgresql notice: {}", one_line(message));
      },
      nullptr);
  auto session = std::make_shared<Session>();
  session->conn = std::move(conn);
  session->url = masked;
  return std::make_unique<PgConnection>(Token{}, std::move(session));
}

PgConnection::PgConnection(Token /*only open() constructs*/, std::shared_ptr<Session> session)
    : session_(std::move(session)), socket_(PQsocket(session_->conn.get())), url_(session_->url) {}

PgConnection::~PgConnection() { close(); }

namespace {

// A table's extent in blocks, for splitting it by block ranges, and whether it can be split
// so: an ordinary table or materialized view by its own pages; a partitioned table by its
// largest leaf partition's, since a ctid range on the parent reads that block range of every
// partition (a TID range scan on each). A partition that is not an ordinary table (a foreign
// table) has no blocks to read by, and neither has a partitioned table with no partitions.
constexpr std::string_view kBlocksSql =
    "SELECT CASE WHEN c.relkind = 'p' THEN (SELECT max(pg_catalog.pg_relation_size(t.relid)) "
    "FROM pg_catalog.pg_partition_tree(c.oid) t WHERE t.isleaf) "
    "ELSE pg_catalog.pg_relation_size(c.oid) END / current_setting('block_size')::int8, "
    "CASE WHEN c.relkind IN ('r', 'm') THEN true "
    "WHEN c.relkind = 'p' THEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_partition_tree(c.oid) t "
    "JOIN pg_catalog.pg_class l ON l.oid = t.relid WHERE t.isleaf AND l.relkind <> 'r') "
    "AND EXISTS (SELECT 1 FROM pg_catalog.pg_partition_tree(c.oid) t WHERE t.isleaf) "
    "ELSE false END "
    "FROM pg_catalog.pg_class c WHERE c.oid = to_regclass($1)";

// The files that hold a table's rows, as text: its relfilenode, or a partitioned table's leaf
// partitions' in partition order. Another value after a rewrite, or a partition attached or
// detached, means that the positions a plan cut may have moved.
constexpr std::string_view kFilesExpr =
    "CASE WHEN c.relkind = 'p' THEN (SELECT string_agg(l.relfilenode::text, '.' ORDER BY l.oid) "
    "FROM pg_catalog.pg_partition_tree(c.oid) t JOIN pg_catalog.pg_class l ON l.oid = t.relid "
    "WHERE t.isleaf) ELSE c.relfilenode::text END";

}  // namespace

std::optional<std::string> block_ranges_problem(int server_version) {
  if (server_version >= kTidRangeScanVersion) return std::nullopt;
  return fmt::format(
      "the server's server_version_num is {}, older than PostgreSQL 14 ({}), which added the "
      "TID range scan: every ctid block range would read the whole table",
      server_version, kTidRangeScanVersion);
}

Capabilities PgConnection::capabilities() const {
  Capabilities caps;
  caps.concurrent_writers = true;
  caps.snapshot_export = true;
  caps.position_key = "ctid";
  caps.block_ranges = !block_ranges_problem(server_version());
  return caps;
}

int PgConnection::server_version() const {
  return session_ && session_->conn ? PQserverVersion(session_->conn.get()) : 0;
}

std::string PgConnection::quote_identifier(std::string_view name) const {
  return quote_ansi_identifier(name);
}

pg_conn* PgConnection::conn() const {
  if (!session_ || !session_->conn) throw_closed(url_);
  return session_->conn.get();
}

void PgConnection::fail(const pg_result* result, std::string_view what, std::string_view sql,
                        std::string_view table, bool committing) const {
  throw_result_error(session_ ? session_->conn.get() : nullptr, result, url_, what, sql, table,
                     committing);
}

ResultPtr PgConnection::exec(std::string_view sql, int expected, std::string_view what,
                             std::string_view table, bool committing) {
  const std::string text(sql);
  PGconn* c = conn();
  ResultPtr result(PQexec(c, text.c_str()));
  if (!result || PQresultStatus(result.get()) != static_cast<ExecStatusType>(expected)) {
    // A statement that started a COPY we did not ask for would block the session.
    if (result && (PQresultStatus(result.get()) == PGRES_COPY_IN ||
                   PQresultStatus(result.get()) == PGRES_COPY_OUT)) {
      abandon_command(c);
    }
    fail(result.get(), what, sql, table, committing);
  }
  return result;
}

ResultPtr PgConnection::exec_params(std::string_view sql, const std::vector<Value>& params,
                                    std::string_view what, std::string_view table) {
  PGconn* c = conn();
  std::vector<std::string> texts(params.size());
  std::vector<const char*> values(params.size(), nullptr);
  std::vector<Oid> types(params.size(), 0);
  for (size_t i = 0; i < params.size(); ++i) {
    const Value& v = params[i];
    if (v.is_null()) continue;
    texts[i] = param_text(v);
    if (v.is_text() && texts[i].find('\0') != std::string::npos) {
      throw Error(ErrorKind::Data,
                  fmt::format("postgresql {}: {}: parameter {} holds a NUL byte, which "
                              "PostgreSQL text cannot store",
                              url_, what, i + 1),
                  {}, pg_context(sql, table));
    }
    // Untyped, like a quoted literal: the server reads the text as whatever type the
    // context needs (a date key, a numeric bound). Bytes are typed so they stay bytes.
    if (v.is_blob()) types[i] = oid::kBytea;
    values[i] = texts[i].c_str();
  }
  const std::string text(sql);
  ResultPtr result(PQexecParams(c, text.c_str(), static_cast<int>(params.size()), types.data(),
                                values.data(), nullptr, nullptr, 0));
  const ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT) abandon_command(c);
    fail(result.get(), what, sql, table);
  }
  return result;
}

template <typename Fn>
auto PgConnection::guarded(Fn&& fn) {
  if (PQtransactionStatus(conn()) != PQTRANS_INTRANS) return fn();
  const std::string savepoint = fmt::format("SAVEPOINT {}", kGuardSavepoint);
  exec(savepoint, PGRES_COMMAND_OK, "savepoint", {});
  try {
    auto result = fn();
    exec(fmt::format("RELEASE SAVEPOINT {}", kGuardSavepoint), PGRES_COMMAND_OK, "savepoint");
    return result;
  } catch (...) {
    if (session_ && session_->conn && PQstatus(session_->conn.get()) == CONNECTION_OK) {
      const std::string undo =
          fmt::format("ROLLBACK TO SAVEPOINT {0}; RELEASE SAVEPOINT {0}", kGuardSavepoint);
      ResultPtr ignored(PQexec(session_->conn.get(), undo.c_str()));
    }
    throw;
  }
}

void PgConnection::ensure_read_snapshot() {
  if (!snapshot_) return;
  PGconn* c = conn();
  const PGTransactionStatusType status = PQtransactionStatus(c);
  if (snapshot_txn_ && status == PQTRANS_INTRANS) return;
  if (snapshot_txn_ && status == PQTRANS_INERROR) {
    // A failed read ended the snapshot's transaction; start it again with the same snapshot.
    ResultPtr ignored(PQexec(c, "ROLLBACK"));
  } else if (status != PQTRANS_IDLE) {
    // The caller's own transaction (a write, or an export): reads run inside it.
    return;
  }
  snapshot_txn_ = false;
  exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", PGRES_COMMAND_OK, "begin snapshot");
  PqBuffer literal(PQescapeLiteral(c, snapshot_->c_str(), snapshot_->size()));
  const std::string sql =
      fmt::format("SET TRANSACTION SNAPSHOT {}", literal ? literal.get() : "''");
  ResultPtr result(PQexec(c, sql.c_str()));
  if (!result || PQresultStatus(result.get()) != PGRES_COMMAND_OK) {
    const bool lost = PQstatus(c) == CONNECTION_BAD;
    const std::string state = sqlstate_of(result.get());
    const std::string message = result ? PQresultErrorMessage(result.get()) : PQerrorMessage(c);
    ResultPtr ignored(PQexec(c, "ROLLBACK"));
    // An unknown snapshot means the exporting transaction has ended: no retry can help, and
    // reading without it would break the one-instant copy the run promised.
    const ErrorKind kind = lost ? ErrorKind::Transient : ErrorKind::Internal;
    throw make_pg_error(kind, state,
                        message + " (the run's snapshot is gone: the coordinator's session that "
                                  "exported it has ended; the run stops, and a rerun of the same "
                                  "command resumes it with a new snapshot)",
                        url_, fmt::format("importing snapshot {}", *snapshot_), sql);
  }
  snapshot_txn_ = true;
}

void PgConnection::execute(std::string_view sql) {
  auto run = [&] {
    const std::string text(sql);
    PGconn* c = conn();
    ResultPtr result(PQexec(c, text.c_str()));
    const ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_EMPTY_QUERY) {
      if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT) abandon_command(c);
      fail(result.get(), "execute", sql);
    }
    return true;
  };
  if (exported_) {
    guarded(run);
  } else {
    run();
  }
}

std::vector<std::vector<Value>> PgConnection::query(std::string_view sql,
                                                    const std::vector<Value>& params) {
  ensure_read_snapshot();
  std::string text(sql);
  if (!params.empty()) {
    size_t count = 0;
    text = rewrite_placeholders(sql, count, [](size_t i) { return fmt::format("${}", i + 1); });
    if (count != params.size()) {
      throw Error(ErrorKind::Config,
                  fmt::format("postgresql {}: the statement has {} '?' placeholders but {} "
                              "parameters were given",
                              url_, count, params.size()),
                  {}, pg_context(sql));
    }
  }
  auto run = [&] {
    ResultPtr result = exec_params(text, params, "query");
    std::vector<std::vector<Value>> rows;
    const int nrows = PQntuples(result.get());
    const int ncols = PQnfields(result.get());
    rows.reserve(static_cast<size_t>(nrows));
    for (int r = 0; r < nrows; ++r) {
      std::vector<Value>& row = rows.emplace_back();
      row.reserve(static_cast<size_t>(ncols));
      for (int c = 0; c < ncols; ++c) row.push_back(read_value(result.get(), r, c));
    }
    return rows;
  };
  return exported_ ? guarded(run) : run();
}

void PgConnection::begin() {
  PGconn* c = conn();
  if (snapshot_txn_ && PQtransactionStatus(c) != PQTRANS_IDLE) {
    // The snapshot's transaction is read-only: end it; the next read starts a new one.
    ResultPtr ignored(PQexec(c, "ROLLBACK"));
  }
  snapshot_txn_ = false;
  exec("BEGIN", PGRES_COMMAND_OK, "begin transaction");
}

void PgConnection::commit() {
  ResultPtr result = exec("COMMIT", PGRES_COMMAND_OK, "commit", {}, /*committing=*/true);
  snapshot_txn_ = false;
  exported_ = false;
  // COMMIT of a transaction that had already failed succeeds as a ROLLBACK.
  if (std::string_view(PQcmdStatus(result.get())) != "COMMIT") {
    throw Error(ErrorKind::Transient,
                fmt::format("postgresql {}: commit failed: the transaction had failed earlier and "
                            "was rolled back",
                            url_),
                {}, pg_context("COMMIT"));
  }
}

void PgConnection::rollback() noexcept {
  snapshot_txn_ = false;
  exported_ = false;
  if (!session_ || !session_->conn) return;
  PGconn* c = session_->conn.get();
  if (PQstatus(c) != CONNECTION_OK) return;
  if (PQtransactionStatus(c) == PQTRANS_ACTIVE) abandon_command(c);
  if (PQtransactionStatus(c) == PQTRANS_IDLE) return;
  ResultPtr ignored(PQexec(c, "ROLLBACK"));
}

// ---------------------------------------------------------------------------------------

std::vector<PgColumn> PgConnection::describe_columns(std::string_view sql) {
  PGconn* c = conn();
  const std::string text(strip_sql(sql));
  ResultPtr prepared(PQprepare(c, "", text.c_str(), 0, nullptr));
  if (!prepared || PQresultStatus(prepared.get()) != PGRES_COMMAND_OK) {
    fail(prepared.get(), "describe query", text);
  }
  ResultPtr described(PQdescribePrepared(c, ""));
  if (!described || PQresultStatus(described.get()) != PGRES_COMMAND_OK) {
    fail(described.get(), "describe query", text);
  }
  std::vector<PgColumn> columns;
  const int n = PQnfields(described.get());
  columns.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    PgColumn column;
    const char* name = PQfname(described.get(), i);
    column.name = name != nullptr ? name : fmt::format("column{}", i + 1);
    column.type_oid = PQftype(described.get(), i);
    column.typmod = PQfmod(described.get(), i);
    columns.push_back(std::move(column));
  }
  resolve_type_names(columns);
  return columns;
}

void PgConnection::resolve_type_names(std::vector<PgColumn>& columns) {
  std::string oids;
  std::string mods;
  for (const PgColumn& column : columns) {
    if (type_names_.count({column.type_oid, column.typmod}) != 0) continue;
    oids += fmt::format("{}{}", oids.empty() ? "" : ",", column.type_oid);
    mods += fmt::format("{}{}", mods.empty() ? "" : ",", column.typmod);
  }
  if (!oids.empty()) {
    constexpr std::string_view kSql =
        "SELECT t.o::int8, t.m, format_type(t.o, t.m) "
        "FROM unnest($1::oid[], $2::int4[]) AS t(o, m)";
    ResultPtr result =
        exec_params(kSql, {Value("{" + oids + "}"), Value("{" + mods + "}")}, "type names");
    for (int r = 0; r < PQntuples(result.get()); ++r) {
      const auto type_oid = static_cast<uint32_t>(cell_int(result.get(), r, 0));
      const auto typmod = static_cast<int32_t>(cell_int(result.get(), r, 1));
      type_names_[{type_oid, typmod}] = std::string(cell(result.get(), r, 2));
    }
  }
  for (PgColumn& column : columns) {
    const auto it = type_names_.find({column.type_oid, column.typmod});
    if (it != type_names_.end()) column.type_name = it->second;
  }
}

TableSchema PgConnection::describe_query(std::string_view sql) {
  ensure_read_snapshot();
  auto run = [&] {
    TableSchema schema;
    for (PgColumn& column : describe_columns(sql)) {
      ColumnInfo info;
      info.name = std::move(column.name);
      info.type = column_type_for_oid(column.type_oid);
      info.declared_type = std::move(column.type_name);
      schema.columns.push_back(std::move(info));
    }
    return schema;
  };
  return exported_ ? guarded(run) : run();
}

std::optional<std::vector<PgConnection::TableColumn>> PgConnection::table_columns(
    const TableRef& table) {
  // to_regclass takes the quoted name, so an empty schema resolves through the search_path
  // and a missing table (or schema) is NULL rather than an error.
  constexpr std::string_view kSql =
      "SELECT a.attname, a.atttypid::int8, a.atttypmod, format_type(a.atttypid, a.atttypmod), "
      "a.attnotnull, COALESCE(a.attnum = ANY (i.indkey::int2[]), false), "
      "COALESCE((SELECT k.n FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, n) "
      "WHERE k.attnum = a.attnum), 0) "
      "FROM pg_catalog.pg_attribute a "
      "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
      "LEFT JOIN pg_catalog.pg_index i ON i.indrelid = c.oid AND i.indisprimary "
      "WHERE c.oid = to_regclass($1) AND c.relkind IN ('r', 'v', 'm', 'f', 'p') "
      "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum";
  ResultPtr result =
      exec_params(kSql, {Value(quote_table(table))},
                  fmt::format("describe table {}", table.display()), table.display());
  const int rows = PQntuples(result.get());
  if (rows == 0) return std::nullopt;
  std::vector<TableColumn> columns;
  columns.reserve(static_cast<size_t>(rows));
  for (int r = 0; r < rows; ++r) {
    TableColumn column;
    column.info.name = std::string(cell(result.get(), r, 0));
    column.type_oid = static_cast<uint32_t>(cell_int(result.get(), r, 1));
    column.typmod = static_cast<int32_t>(cell_int(result.get(), r, 2));
    column.info.declared_type = std::string(cell(result.get(), r, 3));
    column.info.type = column_type_for_oid(column.type_oid);
    column.info.not_null = cell(result.get(), r, 4) == "t";
    column.info.primary_key = cell(result.get(), r, 5) == "t";
    column.key_position = static_cast<int>(cell_int(result.get(), r, 6));
    columns.push_back(std::move(column));
  }
  return columns;
}

std::optional<TableSchema> PgConnection::describe_table(const TableRef& table) {
  ensure_read_snapshot();
  auto run = [&] {
    std::optional<TableSchema> schema;
    if (auto columns = table_columns(table)) {
      schema.emplace();
      std::vector<std::pair<int, std::string>> key;  // (position in the key, column)
      for (TableColumn& column : *columns) {
        if (column.key_position > 0) key.emplace_back(column.key_position, column.info.name);
        schema->columns.push_back(std::move(column.info));
      }
      std::sort(key.begin(), key.end());
      for (auto& [position, name] : key) schema->primary_key.push_back(std::move(name));
    }
    return schema;
  };
  return exported_ ? guarded(run) : run();
}

std::optional<std::string> PgConnection::integer_primary_key(const TableRef& table) {
  return single_integer_key(describe_table(table), [](const ColumnInfo& column) {
    const std::string& t = column.declared_type;
    return t == "smallint" || t == "integer" || t == "bigint";
  });
}

int64_t PgConnection::estimate_rows(std::string_view sql) {
  ensure_read_snapshot();
  auto run = [&] {
    const std::string text = fmt::format("EXPLAIN (FORMAT JSON) {}", strip_sql(sql));
    ResultPtr result = exec(text, PGRES_TUPLES_OK, "estimate rows");
    std::string json;
    for (int r = 0; r < PQntuples(result.get()); ++r) json += cell(result.get(), r, 0);
    const int64_t rows = plan_rows(json);
    if (rows < 0) {
      throw Error(ErrorKind::Internal,
                  fmt::format("postgresql {}: estimate rows: no \"Plan Rows\" in the plan", url_),
                  {}, pg_context(text));
    }
    return rows;
  };
  return exported_ ? guarded(run) : run();
}

KeyStats PgConnection::key_stats(std::string_view sql, std::string_view column, int max_sample) {
  ensure_read_snapshot();
  auto run = [&]() -> KeyStats {
    const std::string inner(strip_sql(sql));
    const std::optional<TableRef> table = simple_table_of(inner);
    KeyStats stats;

    if (column == "ctid") {
      // Block numbers of the table: chunk_query turns [lo, hi) into a TID range scan.
      if (!table) {
        throw Error(ErrorKind::Config,
                    fmt::format("postgresql {}: the key ctid needs a query of the form SELECT * "
                                "FROM <table>",
                                url_),
                    {}, pg_context(inner));
      }
      if (auto problem = block_ranges_problem(server_version())) {
        throw Error(ErrorKind::Config,
                    fmt::format("postgresql {}: cannot split by ctid: {}", url_, *problem), {},
                    pg_context(inner));
      }
      ResultPtr result =
          exec_params(kBlocksSql, {Value(quote_table(*table))}, "table pages", table->display());
      if (PQntuples(result.get()) == 0 || cell(result.get(), 0, 1) != "t") {
        throw Error(ErrorKind::Config,
                    fmt::format("postgresql {}: the key ctid needs a table (or a partitioned "
                                "table whose partitions are tables); {} is not one",
                                url_, table->display()),
                    {}, pg_context(inner, table->display()));
      }
      stats.column = "ctid";
      stats.type = ColumnType::Int64;
      stats.min = Value(int64_t{0});
      stats.max = Value(cell_int(result.get(), 0, 0));
      stats.rows = estimate_rows(inner);
      return stats;
    }

    const std::vector<PgColumn> columns = describe_columns(inner);
    const int index = find_column(columns, column);
    if (index < 0) {
      throw Error(ErrorKind::Schema,
                  fmt::format("postgresql {}: key column '{}' is not a column of the query; its "
                              "columns are: {}",
                              url_, column, column_names(columns)),
                  {}, pg_context(inner));
    }
    const PgColumn& key = columns[static_cast<size_t>(index)];
    const std::string quoted = quote_identifier(key.name);
    stats.column = key.name;
    stats.type = column_type_for_oid(key.type_oid);

    // The least and greatest keys by ORDER BY ... LIMIT 1 rather than min()/max(), which
    // uuid, bool and many other ordered types do not have. Through the wrapper PostgreSQL
    // pulls the subquery up and reads the ends of an index on the key when there is one.
    // A type with no ordering (json, xml, point) fails here: its rows are not split.
    bool unordered = false;
    try {
      guarded([&] {
        for (const char* direction : {"", " DESC"}) {
          const std::string end_sql = fmt::format(
              "SELECT {0} FROM ({1}) AS src WHERE {0} IS NOT NULL ORDER BY {0}{2} LIMIT 1",
              quoted, inner, direction);
          ResultPtr result = exec_params(end_sql, {}, "key statistics");
          Value end = PQntuples(result.get()) == 0 ? Value() : key_value(result.get(), 0, 0);
          (*direction == '\0' ? stats.min : stats.max) = std::move(end);
        }
        return true;
      });
    } catch (const Error& e) {
      if (e.native_code() != kUndefinedFunction) throw;
      unordered = true;
    }
    const int64_t estimate = estimate_rows(inner);

    // A plain table (not a view) has statistics and can be sampled by blocks.
    //
    // NULL keys: the planner gives them a chunk only when null_rows > 0, so an estimate of 0
    // where NULLs are possible would lose those rows. 0 is reported only when it is certain
    // (a NOT NULL column, or an exact count); an estimate from statistics, which may be stale,
    // is at least 1.
    bool plain_table = false;
    std::optional<int64_t> null_rows;
    if (table) {
      constexpr std::string_view kStatsSql =
          "SELECT c.relkind, "
          "(SELECT a.attnotnull FROM pg_catalog.pg_attribute a "
          " WHERE a.attrelid = c.oid AND a.attname = $2 AND NOT a.attisdropped), "
          "(SELECT s.null_frac::float8 FROM pg_catalog.pg_stats s "
          " WHERE s.schemaname = n.nspname AND s.tablename = c.relname AND s.attname = $2 "
          " LIMIT 1) "
          "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
          "WHERE c.oid = to_regclass($1)";
      ResultPtr result = exec_params(kStatsSql, {Value(quote_table(*table)), Value(key.name)},
                                     "key statistics", table->display());
      if (PQntuples(result.get()) == 1) {
        const std::string_view kind = cell(result.get(), 0, 0);
        plain_table = kind == "r" || kind == "m" || kind == "p";
        if (cell(result.get(), 0, 1) == "t") {
          null_rows = 0;
        } else if (PQgetisnull(result.get(), 0, 2) == 0) {
          const double frac = cell_double(result.get(), 0, 2);
          null_rows = std::max<int64_t>(1, std::llround(frac * static_cast<double>(estimate)));
        }
      }
    }
    if (!null_rows) {
      if (estimate < kSmallQueryRows) {
        const std::string count_sql =
            fmt::format("SELECT count(*) FROM ({1}) AS src WHERE {0} IS NULL", quoted, inner);
        ResultPtr result = exec_params(count_sql, {}, "count null keys");
        null_rows = cell_int(result.get(), 0, 0);
      } else {
        // Counting would read the whole large query, and there are no statistics to go by:
        // report 1 (not 0) so that the NULL-key chunk is planned and no NULL key is lost.
        null_rows = 1;
      }
    }
    stats.null_rows = std::max<int64_t>(0, *null_rows);
    if (unordered) {
      // No bounds: the planner reads every non-null key as one chunk (IS NOT NULL), and the
      // NULL keys as another, which needs no ordering either.
      spdlog::warn("postgresql {}: key '{}' has type {}, which has no ordering (no btree "
                   "operator class): its rows are not split into ranges",
                   url_, key.name, key.type_name);
      stats.min = stats.max = Value();
      stats.rows = std::max<int64_t>(0, estimate - stats.null_rows);
      return stats;
    }
    if (stats.min.is_null()) {
      stats.rows = 0;
      return stats;
    }
    stats.rows = std::max<int64_t>(1, estimate - stats.null_rows);

    if (max_sample <= 0) return stats;
    auto take_sample = [&](const std::string& sample_sql) {
      ResultPtr result = exec_params(sample_sql, {}, "key sample");
      const int n = PQntuples(result.get());
      // TABLESAMPLE's size is approximate: thin it evenly to max_sample.
      const int every = std::max(1, (n + max_sample - 1) / max_sample);
      stats.sample.clear();
      stats.sample.reserve(static_cast<size_t>(std::min(n, max_sample)));
      for (int r = 0; r < n && static_cast<int>(stats.sample.size()) < max_sample; r += every) {
        stats.sample.push_back(key_value(result.get(), r, 0));
      }
    };
    // A table of some size: TABLESAMPLE SYSTEM reads a share of its blocks, not every key
    // (reading every key of a 1,000,000-row table took half a second, 5% of its copy). At
    // least 1% of the table or 50,000 rows' worth, whichever is less, so that the sample
    // comes from many blocks; more when max_sample asks for it.
    if (plain_table && estimate > kBlockSampleRows) {
      const double rows = static_cast<double>(estimate);
      const double percent =
          std::min(100.0, std::max(100.0 * max_sample / rows, std::min(1.0, 100.0 * 50000 / rows)));
      take_sample(fmt::format(
          "SELECT {0} FROM {1} TABLESAMPLE SYSTEM ({2}) WHERE {0} IS NOT NULL ORDER BY {0}", quoted,
          quote_table(*table), format_double(percent)));
      // Page sampling can come back nearly empty (stale statistics, a table mostly empty
      // pages): then the exact sample below, where the query is small enough to read.
      if (static_cast<int64_t>(stats.sample.size()) >= kMinBlockSample) return stats;
    }
    if (estimate <= kSmallQueryRows) {
      // Every k-th key of the sorted keys, picked by the server so that only the sample
      // crosses the wire.
      const int64_t every = std::max<int64_t>(1, (estimate + max_sample - 1) / max_sample);
      take_sample(fmt::format(
          "SELECT k FROM (SELECT {0} AS k, row_number() OVER (ORDER BY {0}) - 1 AS rn "
          "FROM ({1}) AS src WHERE {0} IS NOT NULL) AS s WHERE rn % {2} = 0 ORDER BY k",
          quoted, inner, every));
    }
    // A large query that is not a table: reading its keys would cost as much as the copy.
    // No sample; the planner splits [min, max] evenly.
    return stats;
  };
  return exported_ ? guarded(run) : run();
}

std::optional<PhysicalExtent> PgConnection::physical_extent(std::string_view sql) {
  const std::optional<TableRef> table = simple_table_of(strip_sql(sql));
  if (!table || block_ranges_problem(server_version())) return std::nullopt;
  ensure_read_snapshot();
  auto run = [&]() -> std::optional<PhysicalExtent> {
    ResultPtr result =
        exec_params(kBlocksSql, {Value(quote_table(*table))}, "table pages", table->display());
    if (PQntuples(result.get()) == 0 || PQgetisnull(result.get(), 0, 0) != 0 ||
        cell(result.get(), 0, 1) != "t") {
      return std::nullopt;
    }
    return PhysicalExtent{"ctid", 0, std::max<int64_t>(1, cell_int(result.get(), 0, 0))};
  };
  return exported_ ? guarded(run) : run();
}

std::string PgConnection::position_token(std::string_view sql) {
  const std::optional<TableRef> table = simple_table_of(strip_sql(sql));
  if (!table) return {};
  ensure_read_snapshot();
  auto run = [&]() -> std::string {
    // The snapshot's xmin: every transaction older than it had ended, so a row whose xmin is
    // older was visible to the plan; a newer one may not have been.
    const std::string token_sql = fmt::format(
        "SELECT {}, pg_snapshot_xmin(pg_current_snapshot())::text::int8 "
        "FROM pg_catalog.pg_class c WHERE c.oid = to_regclass($1)",
        kFilesExpr);
    ResultPtr result =
        exec_params(token_sql, {Value(quote_table(*table))}, "table positions", table->display());
    if (PQntuples(result.get()) == 0 || PQgetisnull(result.get(), 0, 0) != 0) return {};
    return fmt::format("{}:{}", cell(result.get(), 0, 0), cell_int(result.get(), 0, 1));
  };
  return exported_ ? guarded(run) : run();
}

std::optional<std::string> PgConnection::positions_moved(std::string_view sql,
                                                         const std::string& token) {
  const std::optional<TableRef> table = simple_table_of(strip_sql(sql));
  const size_t colon = token.find(':');
  if (!table || colon == std::string::npos) return std::nullopt;
  const std::string relfilenode = token.substr(0, colon);
  const int64_t xmin = std::stoll(token.substr(colon + 1));
  ensure_read_snapshot();
  auto run = [&]() -> std::optional<std::string> {
    ResultPtr file = exec_params(
        fmt::format("SELECT {} FROM pg_catalog.pg_class c WHERE c.oid = to_regclass($1)",
                    kFilesExpr),
        {Value(quote_table(*table))}, "table positions", table->display());
    if (PQntuples(file.get()) == 0 || std::string(cell(file.get(), 0, 0)) != relfilenode) {
      return fmt::format("{} was rewritten since the plan was made (VACUUM FULL, CLUSTER, "
                         "TRUNCATE, an ALTER TABLE that rewrites it, or a partition attached "
                         "or detached)",
                         table->display());
    }
    // Transaction ids wrap at 2^32: "x is not older than the token's xmin" is the forward
    // distance from it being under 2^31.
    const int64_t x32 = xmin % (int64_t{1} << 32);
    const std::string newer_sql = fmt::format(
        "SELECT count(*) FROM (SELECT 1 FROM {} WHERE ((xmin::text::int8 - {}) % 4294967296 + "
        "4294967296) % 4294967296 < 2147483648 LIMIT 1000000) AS moved",
        quote_table(*table), x32);
    ResultPtr newer = exec_params(newer_sql, {}, "rows changed since the plan", table->display());
    const int64_t rows = cell_int(newer.get(), 0, 0);
    if (rows == 0) return std::nullopt;
    return fmt::format("{}{} row(s) of {} were inserted or updated since the plan was made, which "
                       "puts them in other blocks",
                       rows >= 1000000 ? "at least " : "", rows, table->display());
  };
  return exported_ ? guarded(run) : run();
}

uint32_t PgConnection::declared_type_oid(const std::string& declared) {
  try {
    return guarded([&] {
      // A pseudo-type ("unknown", which psqlODBC reports for jsonb) names no column type.
      ResultPtr result = exec_params(
          "SELECT t.oid::int8 FROM pg_catalog.pg_type t WHERE t.oid = to_regtype($1) "
          "AND t.typtype <> 'p'",
          {Value(declared)}, "check type");
      if (PQntuples(result.get()) != 1 || PQgetisnull(result.get(), 0, 0) != 0) return uint32_t{0};
      return static_cast<uint32_t>(cell_int(result.get(), 0, 0));
    });
  } catch (const Error& e) {
    // A name PostgreSQL cannot parse ("int(11)") is not one of its types.
    if (e.kind() == ErrorKind::Config) return 0;
    throw;
  }
}

void PgConnection::create_table(const TableRef& table, const TableSchema& schema) {
  const std::string sql =
      create_table_sql(*this, "postgresql " + url_, table, schema, [&](const ColumnInfo& column) {
        // Keep the source's exact type (numeric(12,2), varchar(20), integer[]) when it came
        // from PostgreSQL, which this server confirms and which stores the same kind of value.
        if (looks_like_format_type(column.declared_type)) {
          const uint32_t type_oid = declared_type_oid(column.declared_type);
          if (type_oid != 0 && column_type_for_oid(type_oid) == column.type) {
            return column.declared_type;
          }
        }
        return std::string(postgres_type_name(column.type));
      });
  exec(sql, PGRES_COMMAND_OK, fmt::format("create table {}", table.display()), table.display());
}

// ---------------------------------------------------------------------------------------

std::string PgConnection::inline_params(std::string_view sql, const std::vector<Value>& params) {
  if (params.empty()) return std::string(sql);
  PGconn* c = conn();
  auto literal = [&](const Value& v) -> std::string {
    if (v.is_null()) return "NULL";
    if (v.is_int()) {
      // Parenthesised so that "x -?" cannot become the comment "x --5".
      return v.as_int() < 0 ? fmt::format("({})", v.as_int()) : std::to_string(v.as_int());
    }
    if (v.is_double()) {
      const double d = v.as_double();
      if (!std::isfinite(d)) return fmt::format("'{}'::float8", format_double(d));
      const std::string text = format_double(d);
      return d < 0 ? "(" + text + ")" : text;
    }
    const std::string text = param_text(v);
    if (v.is_text() && text.find('\0') != std::string::npos) {
      throw Error(ErrorKind::Data,
                  fmt::format("postgresql {}: a parameter holds a NUL byte, which PostgreSQL "
                              "text cannot store",
                              url_),
                  {}, pg_context(sql));
    }
    PqBuffer escaped(PQescapeLiteral(c, text.c_str(), text.size()));
    if (!escaped) {
      throw Error(ErrorKind::Data,
                  fmt::format("postgresql {}: cannot quote a parameter: {}", url_,
                              one_line(PQerrorMessage(c))),
                  {}, pg_context(sql));
    }
    return v.is_blob() ? std::string(escaped.get()) + "::bytea" : std::string(escaped.get());
  };
  size_t count = 0;
  std::string out = rewrite_placeholders(sql, count, [&](size_t i) {
    return i < params.size() ? literal(params[i]) : std::string("?");
  });
  if (count != params.size()) {
    throw Error(ErrorKind::Config,
                fmt::format("postgresql {}: the statement has {} '?' placeholders but {} "
                            "parameters were given",
                            url_, count, params.size()),
                {}, pg_context(sql));
  }
  return out;
}

std::unique_ptr<RowSource> PgConnection::open_source(std::string_view sql,
                                                     const std::vector<Value>& params,
                                                     size_t batch_rows, size_t max_batch_bytes) {
  if (batch_rows == 0) {
    throw Error(ErrorKind::Config,
                fmt::format("postgresql {}: a source needs at least 1 row per batch", url_), {},
                pg_context(sql));
  }
  ensure_read_snapshot();
  const std::string text = inline_params(strip_sql(sql), params);
  std::vector<PgColumn> columns = describe_columns(text);
  const std::string copy_sql = fmt::format("COPY ({}) TO STDOUT (FORMAT binary)", text);
  exec(copy_sql, PGRES_COPY_OUT, "open query");
  return std::make_unique<PgRowSource>(session_, copy_sql, std::move(columns), batch_rows,
                                       max_batch_bytes);
}

std::vector<PgColumn> PgConnection::sink_columns(const TableRef& table,
                                                 const std::vector<std::string>& columns) {
  if (columns.empty()) {
    throw Error(ErrorKind::Config,
                fmt::format("postgresql {}: copy into {}: no columns", url_, table.display()), {},
                pg_context({}, table.display()));
  }
  const std::optional<std::vector<TableColumn>> existing = table_columns(table);
  if (!existing) {
    throw Error(
        ErrorKind::Schema,
        fmt::format("postgresql {}: copy into {}: the table does not exist", url_, table.display()),
        "42P01", pg_context({}, table.display()));
  }
  std::vector<PgColumn> all;
  for (const TableColumn& c : *existing) {
    all.push_back(PgColumn{c.info.name, c.type_oid, c.typmod, c.info.declared_type});
  }
  std::vector<PgColumn> target;
  for (const std::string& name : columns) {
    const int index = find_column(all, name);
    if (index < 0) {
      throw Error(ErrorKind::Schema,
                  fmt::format("postgresql {}: copy into {}: no column '{}'; the table has: {}",
                              url_, table.display(), name, column_names(all)),
                  "42703", pg_context({}, table.display()));
    }
    target.push_back(all[static_cast<size_t>(index)]);
  }
  return target;
}

std::unique_ptr<RowSink> PgConnection::open_sink(const TableRef& table,
                                                 const std::vector<std::string>& columns) {
  std::vector<PgColumn> target = sink_columns(table, columns);
  std::string head = fmt::format("COPY {} (", quote_table(table));
  for (size_t i = 0; i < target.size(); ++i) {
    if (i > 0) head += ", ";
    head += quote_identifier(target[i].name);
  }
  head += ") FROM STDIN";
  return std::make_unique<PgRowSink>(session_, std::move(head), table.display(), std::move(target));
}

std::string PgConnection::chunk_query(std::string_view sql, const Chunk& chunk,
                                      std::vector<Value>& params) const {
  const size_t first = params.size();
  std::string out = block_chunk_query(sql, chunk, params);
  // Integer bounds go as untyped literals ('1'), which the server reads as the key's own type:
  // a bare 1 does not compare with a boolean key (the planner's probes read bools as 0/1).
  for (size_t i = first; i < params.size(); ++i) {
    if (params[i].is_int()) params[i] = Value(std::to_string(params[i].as_int()));
  }
  return out;
}

std::string PgConnection::block_chunk_query(std::string_view sql, const Chunk& chunk,
                                            std::vector<Value>& params) const {
  const bool block_slice = chunk.slice && chunk.slice->position == "ctid";
  if (chunk.key != "ctid" && !block_slice) return Connection::chunk_query(sql, chunk, params);
  const std::optional<TableRef> table = simple_table_of(sql);
  if (!table) {
    throw Error(ErrorKind::Config,
                fmt::format("postgresql {}: the key ctid needs a query of the form SELECT * FROM "
                            "<table>",
                            url_),
                {}, pg_context(sql));
  }
  std::string where;
  KeyRange blocks = chunk.range;
  if (block_slice) {
    // One key value's rows, by block ranges of the table: a TID range scan or the key's
    // index, whichever the planner finds cheaper.
    const std::string key = quote_identifier(chunk.key);
    if (chunk.slice->value.is_null()) {
      where = key + " IS NULL";
    } else {
      where = key + " = ?";
      params.push_back(chunk.slice->value);
    }
    blocks = chunk.slice->range;
  }
  auto bound = [&](const Value& v, const char* op) {
    if (v.is_null()) return;
    if (!v.is_int() || v.as_int() < 0) {
      throw Error(ErrorKind::Internal,
                  fmt::format("postgresql {}: ctid chunk bound {} is not a block number", url_,
                              v.to_display()),
                  {}, pg_context(sql));
    }
    where += fmt::format("{}ctid {} '({},0)'::tid", where.empty() ? "" : " AND ", op, v.as_int());
  };
  bound(blocks.lo, ">=");
  bound(blocks.hi, "<");
  std::string out = fmt::format("SELECT * FROM {}", quote_table(*table));
  if (!where.empty()) out += " WHERE " + where;
  return out;
}

std::optional<std::string> PgConnection::range_filter_problem(std::string_view sql,
                                                              std::string_view column) {
  ensure_read_snapshot();
  const std::string inner(strip_sql(sql));
  std::vector<PgColumn> columns;
  try {
    columns = guarded([&] { return describe_columns(inner); });
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::Config || e.kind() == ErrorKind::Schema) return std::nullopt;
    throw;
  }
  const int index = find_column(columns, column);
  if (index < 0) return std::nullopt;
  const PgColumn& key = columns[static_cast<size_t>(index)];

  // A generic plan keeps $1 and $2 parameters, as a chunk's bounds are, so the plan shows
  // where the filter lands; constants could be folded or estimated away. With sequential
  // scans disabled the planner takes any index that can answer the range: a sequential scan
  // left filtering on $1 means that none can, and every chunk would read the whole table.
  const std::string quoted_key = quote_identifier(key.name);
  const std::string probe = fmt::format("SELECT * FROM ({}) AS src WHERE {} >= $1 AND {} < $2",
                                        inner, quoted_key, quoted_key);
  bool prepared = false;
  bool generic = false;
  auto run = [&]() -> std::string {
    PGconn* c = conn();
    const std::array<Oid, 2> types = {key.type_oid, key.type_oid};
    const std::string name(kProbeStatement);
    ResultPtr result(PQprepare(c, name.c_str(), probe.c_str(), 2, types.data()));
    if (!result || PQresultStatus(result.get()) != PGRES_COMMAND_OK) {
      fail(result.get(), "check the key-range filter", probe);
    }
    prepared = true;
    exec("SET plan_cache_mode = force_generic_plan", PGRES_COMMAND_OK, "plan cache mode");
    exec("SET enable_seqscan = off", PGRES_COMMAND_OK, "planner setting");
    generic = true;
    ResultPtr plan =
        exec(fmt::format("EXPLAIN (FORMAT JSON) EXECUTE {}(NULL, NULL)", kProbeStatement),
             PGRES_TUPLES_OK, "check the key-range filter");
    std::string json;
    for (int r = 0; r < PQntuples(plan.get()); ++r) json += cell(plan.get(), r, 0);
    exec("RESET plan_cache_mode", PGRES_COMMAND_OK, "plan cache mode");
    exec("RESET enable_seqscan", PGRES_COMMAND_OK, "planner setting");
    generic = false;
    exec(fmt::format("DEALLOCATE {}", kProbeStatement), PGRES_COMMAND_OK, "deallocate");
    prepared = false;
    return json;
  };
  std::string json;
  try {
    json = guarded(run);
  } catch (const Error& e) {
    // Undo what a failure left behind: prepared statements outlive a rolled-back savepoint,
    // and outside a transaction the SET stays.
    if (session_ && session_->conn && PQstatus(session_->conn.get()) == CONNECTION_OK &&
        PQtransactionStatus(session_->conn.get()) != PQTRANS_INERROR) {
      PGconn* c = session_->conn.get();
      if (prepared) {
        ResultPtr ignored(PQexec(c, fmt::format("DEALLOCATE {}", kProbeStatement).c_str()));
      }
      if (generic && PQtransactionStatus(c) == PQTRANS_IDLE) {
        ResultPtr ignored(PQexec(c, "RESET plan_cache_mode"));
        ResultPtr ignored_too(PQexec(c, "RESET enable_seqscan"));
      }
    }
    if (e.native_code() == kUndefinedFunction) {
      return fmt::format(
          "the key {} has type {}, which PostgreSQL cannot order or compare with >= (no btree "
          "operator class), so it cannot be cut into ranges",
          key.name, key.type_name);
    }
    if (e.kind() == ErrorKind::Config || e.kind() == ErrorKind::Schema) return std::nullopt;
    throw;
  }
  const nlohmann::json doc = nlohmann::json::parse(json, nullptr, false);
  if (doc.is_discarded() || !doc.is_array() || doc.empty() || !doc[0].contains("Plan")) {
    return std::nullopt;
  }
  const std::string node = node_filtering_above_scan(doc[0]["Plan"]);
  if (!node.empty()) {
    return fmt::format(
        "the key-range filter on {} cannot be pushed into the query (PostgreSQL plans a {} "
        "with the filter on top), so every chunk would run the whole query",
        key.name, node);
  }
  const std::string scanned = relation_scanned_for_filter(doc[0]["Plan"]);
  if (scanned.empty()) return std::nullopt;
  return fmt::format(
      "no index on {} answers a key range ({} is read by a sequential scan), so every chunk "
      "would read all of it",
      key.name, scanned);
}

// ---------------------------------------------------------------------------------------

std::optional<std::string> PgConnection::export_snapshot() {
  PGconn* c = conn();
  if (PQtransactionStatus(c) != PQTRANS_IDLE) {
    throw Error(ErrorKind::Internal,
                fmt::format("postgresql {}: export_snapshot needs a connection with no open "
                            "transaction",
                            url_),
                {}, pg_context());
  }
  // This session holds the run's snapshot, idle in its transaction until the workers are
  // done: a server's idle_in_transaction_session_timeout must not end it (statement and idle
  // session timeouts do not apply to an idle transaction).
  exec("SET idle_in_transaction_session_timeout = 0", PGRES_COMMAND_OK, "protect snapshot");
  exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", PGRES_COMMAND_OK, "begin snapshot");
  ResultPtr result = exec("SELECT pg_export_snapshot()", PGRES_TUPLES_OK, "export snapshot");
  exported_ = true;
  snapshot_txn_ = false;
  return std::string(cell(result.get(), 0, 0));
}

void PgConnection::import_snapshot(const std::string& id) {
  // Called before every chunk: keep a transaction that already reads this snapshot.
  if (id == snapshot_ && snapshot_txn_ && session_ && session_->conn &&
      PQtransactionStatus(session_->conn.get()) == PQTRANS_INTRANS) {
    return;
  }
  if (snapshot_txn_ && session_ && session_->conn &&
      PQtransactionStatus(session_->conn.get()) != PQTRANS_IDLE) {
    // A transaction with another (or the same, after a reconnect elsewhere) snapshot: the
    // next read starts one with this id.
    ResultPtr ignored(PQexec(session_->conn.get(), "ROLLBACK"));
  }
  snapshot_txn_ = false;
  snapshot_ = id;
}

std::unique_ptr<NativeSource> PgConnection::open_native_source(std::string_view sql,
                                                               const std::vector<Value>& params) {
  ensure_read_snapshot();
  const std::string text = inline_params(strip_sql(sql), params);
  const std::string copy_sql = fmt::format("COPY ({}) TO STDOUT (FORMAT binary)", text);
  exec(copy_sql, PGRES_COPY_OUT, "open query");
  return std::make_unique<PgNativeSource>(session_, copy_sql);
}

std::unique_ptr<NativeSink> PgConnection::open_native_sink(
    const TableRef& table, const std::vector<std::string>& columns) {
  const std::vector<PgColumn> target = sink_columns(table, columns);
  std::string sql = fmt::format("COPY {} (", quote_table(table));
  for (size_t i = 0; i < target.size(); ++i) {
    if (i > 0) sql += ", ";
    sql += quote_identifier(target[i].name);
  }
  sql += ") FROM STDIN (FORMAT binary)";
  return std::make_unique<PgNativeSink>(session_, table.display(), std::move(sql));
}

bool PgConnection::try_lock_job(std::string_view key) {
  const std::vector<Value> parts{std::string(key)};
  const auto id = static_cast<int64_t>(hash_row(parts));
  const auto rows = query("SELECT pg_try_advisory_lock(?::bigint)::int", {Value(id)});
  return !rows.empty() && rows[0][0] == Value(1);
}

void PgConnection::interrupt() noexcept {
  std::lock_guard lock(socket_mu_);
  // Not close(): libpq still owns the descriptor. Reads now see end of file, writes fail.
  if (socket_ >= 0) ::shutdown(socket_, SHUT_RDWR);
}

void PgConnection::close() noexcept {
  {
    // Before PQfinish closes the descriptor: interrupt() must not shut down a reused number.
    std::lock_guard lock(socket_mu_);
    socket_ = -1;
  }
  if (!session_) return;
  // Sources and sinks hold weak references: they see the session gone and fail cleanly.
  session_.reset();
  snapshot_txn_ = false;
  exported_ = false;
}

std::vector<TableRef> PgConnection::list_tables() {
  // Ordinary and partitioned tables (not the partitions: their parent reads them) of every
  // schema but the system's.
  const auto rows = query(
      "SELECT n.nspname::text, c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = "
      "c.relnamespace WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname NOT "
      "IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, 2");
  std::vector<TableRef> out;
  for (const auto& r : rows) out.push_back({r[0].as_text(), r[1].as_text()});
  return out;
}

}  // namespace parmap::pg
