// A session with one PostgreSQL server over libpq: the Connection of the PostgreSQL driver.
// Opening and closing the session, its statements, transactions and snapshots, and the
// streams that read and write through it.
#include "connect/postgres/pg_connection.h"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <charconv>
#include <cstdlib>
#include <system_error>

#include "connect/postgres/pg_connection_internal.h"
#include "connect/postgres/pg_errors.h"
#include "connect/postgres/pg_libpq.h"
#include "connect/postgres/pg_native_sink.h"
#include "connect/postgres/pg_native_source.h"
#include "connect/postgres/pg_row_sink.h"
#include "connect/postgres/pg_row_source.h"
#include "parmap/error.h"

namespace parmap::pg {

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

std::string_view cell(const PGresult* result, int row, int col) {
  return {PQgetvalue(result, row, col), static_cast<size_t>(PQgetlength(result, row, col))};
}

int64_t cell_int(const PGresult* result, int row, int col) {
  const std::string_view text = cell(result, row, col);
  int64_t v = 0;
  std::from_chars(text.data(), text.data() + text.size(), v);
  return v;
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
    if (count != params.size()) throw placeholders_mismatch(url_, sql, count, params.size());
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

void PgConnection::start_copy_out(const std::string& copy_sql, std::string_view table) {
  if (!heap_grown_) {
    // A binary COPY TO allocates about 1 KB a value for each row (every type's send function
    // starts a buffer of that size), freed when the next row starts: over 128 KB a row for a
    // table of 150 columns or more. A backend whose C library still has its first limits
    // gives that memory back to the system after each row and takes it again for the next
    // (brk 22,000 times in 3 s), and the page faults and TLB flushes made one pass over a
    // 200-column table of 100,000 rows take 15 s instead of 1.5 s on a 2-core server. One
    // allocation above those limits, freed, raises them for the rest of the session (glibc
    // adjusts its mmap and trim thresholds to the largest block freed, up to 32 MB).
    exec("SELECT length(repeat('x', 4194304))", PGRES_TUPLES_OK, "open query", table);
    heap_grown_ = true;
  }
  exec(copy_sql, PGRES_COPY_OUT, "open query", table);
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

void PgConnection::check_batch_rows(size_t batch_rows, std::string_view sql) const {
  // No rows a batch would read none, and a chunk would seem empty.
  if (batch_rows == 0) {
    throw Error(ErrorKind::Config,
                fmt::format("postgresql {}: a source needs at least 1 row per batch", url_), {},
                pg_context(sql));
  }
}

std::unique_ptr<RowSource> PgConnection::open_source(std::string_view sql,
                                                     const std::vector<Value>& params,
                                                     size_t batch_rows, size_t max_batch_bytes) {
  check_batch_rows(batch_rows, sql);
  ensure_read_snapshot();
  const std::string text = inline_params(strip_sql(sql), params);
  std::vector<PgColumn> columns = describe_columns(text);
  const std::string copy_sql = fmt::format("COPY ({}) TO STDOUT (FORMAT binary)", text);
  start_copy_out(copy_sql);
  return std::make_unique<PgRowSource>(session_, copy_sql, std::move(columns), batch_rows,
                                       max_batch_bytes);
}

std::unique_ptr<RowSource> PgConnection::decode_native_rows(std::string_view sql,
                                                            std::string_view header,
                                                            std::string_view rows,
                                                            size_t batch_rows,
                                                            size_t max_batch_bytes) {
  check_batch_rows(batch_rows, sql);
  ensure_read_snapshot();
  return std::make_unique<PgBytesRowSource>(describe_columns(strip_sql(sql)), header, rows,
                                            batch_rows, max_batch_bytes);
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

std::unique_ptr<NativeSource> PgConnection::open_native_source(std::string_view sql,
                                                               const std::vector<Value>& params) {
  ensure_read_snapshot();
  const std::string text = inline_params(strip_sql(sql), params);
  const std::string copy_sql = fmt::format("COPY ({}) TO STDOUT (FORMAT binary)", text);
  start_copy_out(copy_sql);
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
  heap_grown_ = false;
}

}  // namespace parmap::pg
