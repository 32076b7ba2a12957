// Small libpq helpers shared by the PostgreSQL driver's classes: error contexts, errors from
// results, and ending a command a source or sink left running.
#include "connect/postgres/pg_libpq.h"

#include <fmt/format.h>

#include <array>

#include "connect/postgres/pg_errors.h"

namespace parmap::pg {

ErrorContext pg_context(std::string_view sql, std::string_view table) {
  ErrorContext context;
  context.engine = "postgresql";
  context.table = std::string(table);
  context.statement = std::string(sql.substr(0, 200));
  return context;
}

std::string sqlstate_of(const PGresult* result) {
  if (result == nullptr) return {};
  const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  return state != nullptr ? state : "";
}

bool is_error_status(ExecStatusType status) {
  return status == PGRES_FATAL_ERROR || status == PGRES_NONFATAL_ERROR ||
         status == PGRES_BAD_RESPONSE;
}

[[noreturn]] void throw_closed(std::string_view url) {
  throw Error(ErrorKind::Connect, fmt::format("postgresql {}: the connection is closed", url), {},
              pg_context());
}

/// Throws the classified Error for a failed result (null: libpq could not even make one).
[[noreturn]] void throw_result_error(PGconn* conn, const PGresult* result, std::string_view url,
                                     std::string_view what, std::string_view sql,
                                     std::string_view table, bool committing) {
  if (result != nullptr && !is_error_status(PQresultStatus(result))) {
    throw Error(ErrorKind::Internal,
                fmt::format("postgresql {}: {}: unexpected result status {}", url, what,
                            PQresStatus(PQresultStatus(result))),
                {}, pg_context(sql, table));
  }
  const bool lost = conn == nullptr || PQstatus(conn) == CONNECTION_BAD;
  const std::string state = sqlstate_of(result);
  std::string message = result != nullptr ? PQresultErrorMessage(result) : "";
  if (message.empty() && conn != nullptr) message = PQerrorMessage(conn);
  throw make_pg_error(classify_failure(state, lost, committing), state, message, url, what, sql,
                      table);
}

/// Ends whatever command is still running on the connection (a COPY left half-way by a source
/// or sink that is being destroyed, or by an error) so that the session takes new commands.
void abandon_command(PGconn* conn) noexcept {
  // Each loop iteration consumes one result or ends one COPY; a handful always suffices.
  for (int i = 0; i < 16 && PQstatus(conn) == CONNECTION_OK; ++i) {
    PGresult* result = PQgetResult(conn);
    if (result == nullptr) return;
    const ExecStatusType status = PQresultStatus(result);
    PQclear(result);
    if (status == PGRES_COPY_IN) {
      PQputCopyEnd(conn, "parmap abandoned the COPY");
    } else if (status == PGRES_COPY_OUT) {
      // Ask the server to stop, then read what it had already sent.
      std::unique_ptr<PGcancel, CancelFree> cancel(PQgetCancel(conn));
      std::array<char, 256> errbuf{};
      if (cancel) PQcancel(cancel.get(), errbuf.data(), static_cast<int>(errbuf.size()));
      char* buffer = nullptr;
      while (PQgetCopyData(conn, &buffer, 0) > 0) PQfreemem(buffer);
    }
  }
}

/// Reads and frees the results left after a command ended (a COPY after its end).
void drain_results(PGconn* conn) noexcept {
  while (PGresult* result = PQgetResult(conn)) {
    const ExecStatusType status = PQresultStatus(result);
    PQclear(result);
    // Still in a COPY: PQgetResult would answer the same forever.
    if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT) {
      abandon_command(conn);
      return;
    }
  }
}

}  // namespace parmap::pg
